#!/usr/bin/env bash
# Starts Stoplight Prism in dynamic mode on the official Nmbrs OpenAPI file: a mock that
# Stroom's authors did not write, answering with data generated from the file's own
# schemas (nulls, absent optional fields, odd numbers). Installs @stoplight/prism-cli
# from npm into target/prism when missing. Prints the base URL for STROOM_PRISM_URL;
# Prism keeps running in the background (its log: target/prism/prism.log).
set -euo pipefail
cd "$(dirname "$0")/.."
spec="${STROOM_NMBRS_OPENAPI:-../shared/nmbrs/nmbrs-openapi.yaml}"
port="${STROOM_PRISM_PORT:-4010}"
dir=target/prism
if [ ! -f "$spec" ]; then
  echo "tests/prism.sh: the OpenAPI file $spec is missing (set STROOM_NMBRS_OPENAPI)" >&2
  exit 1
fi
if [ ! -x "$dir/node_modules/.bin/prism" ]; then
  if ! command -v npm >/dev/null; then
    apt-get install -y -qq nodejs npm >/dev/null
  fi
  mkdir -p "$dir"
  (cd "$dir" && npm install --no-audit --no-fund --silent @stoplight/prism-cli@5 >&2)
fi
url="http://127.0.0.1:$port"
if ! curl -s -o /dev/null "$url/api/debtors" 2>/dev/null; then
  nohup "$dir/node_modules/.bin/prism" mock -d -h 127.0.0.1 -p "$port" "$spec" \
    >"$dir/prism.log" 2>&1 &
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$url/api/debtors"; then break; fi
    sleep 0.5
  done
fi
curl -s -o /dev/null "$url/api/debtors" || { echo "tests/prism.sh: Prism did not start; see $dir/prism.log" >&2; exit 1; }
echo "$url"
