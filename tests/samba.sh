#!/usr/bin/env bash
# Starts a Samba AD domain controller on loopback for the tests (once per machine; a
# running one that answers is reused). Needs root and the Debian packages samba and
# ldap-utils, which it installs when missing. Prints nothing on success.
#   realm STROOM.TEST, base DC=stroom,DC=test, Administrator / $PASS, LDAPS on 636.
set -euo pipefail
D=${STROOM_SAMBA_DIR:-/tmp/stroom-samba}
PASS='Str00m-Test-Pass!'
answers() {
  LDAPTLS_REQCERT=never ldapsearch -H ldaps://127.0.0.1:636 -D "Administrator@STROOM.TEST" \
    -w "$PASS" -b "DC=stroom,DC=test" -s base dn >/dev/null 2>&1
}
if answers; then exit 0; fi
if ! command -v samba-tool >/dev/null || ! command -v ldapsearch >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba ldap-utils >/dev/null
  else
    echo "Samba is needed for the AD tests: (sudo) apt-get install samba ldap-utils" >&2; exit 1
  fi
fi
if [ -f "$D/run/samba.pid" ]; then kill "$(cat "$D/run/samba.pid")" 2>/dev/null || true; sleep 1; fi
rm -rf "$D"; mkdir -p "$D/log" "$D/run"
samba-tool domain provision --realm=STROOM.TEST --domain=STROOM --server-role=dc \
  --use-rfc2307 --dns-backend=NONE --host-name=dc1 --adminpass="$PASS" --targetdir="$D" \
  --option="interfaces=lo" --option="bind interfaces only=yes" \
  --option="log file=$D/log/log.%m" --option="pid directory=$D/run" >"$D/provision.log" 2>&1 \
  || { tail -20 "$D/provision.log" >&2; exit 1; }
samba -s "$D/etc/smb.conf" -D -M single --option="server services=rpc, ldap, cldap, kdc, drepl, kcc"
for _ in $(seq 1 60); do
  if answers; then exit 0; fi
  sleep 1
done
echo "Samba did not answer on ldaps://127.0.0.1:636 within 60 s; see $D/log" >&2
exit 1
