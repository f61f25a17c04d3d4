//! Active Directory over LDAP (LDAPS or StartTLS), with the `ldap3` crate.
//!
//! - Accounts are found by a correlation attribute holding the Stroom person id, never
//!   by name (`employeeNumber` by default: AD limits `employeeID` to 16 characters and
//!   Nmbrs ids are 36-character GUIDs).
//! - Every value put in a search filter is escaped (RFC 4515) and every value put in
//!   a DN is escaped (RFC 4514): a name like `O'Brien (Jr)*` or an id like `*` can
//!   never widen a search or name another object.
//! - New accounts are added disabled (`userAccountControl` 514), get a generated
//!   password (sent once as `unicodePwd` over the encrypted connection, never logged
//!   or stored), and are enabled by the plan's own `enable_account` step.
//! - Group membership is the group's `member` attribute; adding a member who is in, or
//!   removing one who is not, counts as success.

use super::{AccountRef, Entitlement, Target, TargetError, TargetResult};
use crate::model::group::{GroupScope, GroupSettings, GroupType};
use crate::rules::program::{Kind, OpKind};
use crate::secret::Secret;
use ldap3::{
    dn_escape, ldap_escape, LdapConn, LdapConnSettings, LdapError, Mod, Scope, SearchEntry,
};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// A `[targets.NAME]` section of kind `ad` in stroom.toml (`[targets.ad]` for the
/// built-in name). The bind password comes from `bind_password_file` or the
/// environment, never from the file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdConfig {
    /// `ldaps://dc.acme.nl:636` (or `ldap://...` with `starttls = true`).
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// Accept an unverifiable certificate (test directories only).
    #[serde(default)]
    pub accept_invalid_certificates: bool,
    /// The service account.
    pub bind_dn: String,
    /// File holding its password (or STROOM_AD_PASSWORD).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Where accounts live.
    pub users_dn: String,
    /// Where groups are found (default: `users_dn`).
    #[serde(default)]
    pub groups_dn: Option<String>,
    /// Disabled accounts are moved here.
    #[serde(default)]
    pub disabled_dn: Option<String>,
    /// Attribute holding the person id.
    #[serde(default = "default_correlation")]
    pub correlation_attribute: String,
    /// Time limit of one operation.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Entries per page when reading the directory (`stroom reconcile`); AD answers at
    /// most its MaxPageSize (1,000 by default).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_page_size() -> u32 {
    500
}

/// `employeeNumber` (up to 512 characters) holds the Stroom person id, which for Nmbrs
/// is a 36-character GUID: `employeeID` allows only 16 in AD's schema, so it stays free
/// for the rules (e.g. the Nmbrs employee number).
fn default_correlation() -> String {
    "employeeNumber".into()
}

fn default_timeout() -> u64 {
    30
}

impl AdConfig {
    /// The target's settings, for the target named `name`.
    pub fn settings(&self, name: &str, bind_password: Secret) -> AdSettings {
        AdSettings {
            name: name.into(),
            url: self.url.clone(),
            starttls: self.starttls,
            accept_invalid_certificates: self.accept_invalid_certificates,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            users_dn: self.users_dn.clone(),
            groups_dn: self
                .groups_dn
                .clone()
                .unwrap_or_else(|| self.users_dn.clone()),
            disabled_dn: self.disabled_dn.clone(),
            correlation_attribute: self.correlation_attribute.clone(),
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
            page_size: self.page_size.clamp(1, 1000),
        }
    }
}

/// How to reach and use the directory.
#[derive(Debug, Clone)]
pub struct AdSettings {
    /// Target name in the rules (usually `ad`).
    pub name: String,
    /// `ldaps://dc.example.nl:636`, or `ldap://...:389` with `starttls`.
    pub url: String,
    /// Upgrade a plain `ldap://` connection with StartTLS.
    pub starttls: bool,
    /// Accept a certificate that does not verify (test directories only).
    pub accept_invalid_certificates: bool,
    /// The service account (DN or `user@domain`).
    pub bind_dn: String,
    /// Its password.
    pub bind_password: Secret,
    /// Where accounts are created and searched (e.g. `OU=Users,DC=acme,DC=nl`).
    pub users_dn: String,
    /// Where groups are searched.
    pub groups_dn: String,
    /// Disabled accounts are moved here, when set.
    pub disabled_dn: Option<String>,
    /// The attribute holding the person id.
    pub correlation_attribute: String,
    /// Time limit of one operation.
    pub timeout: Duration,
    /// Entries per page when reading the directory.
    pub page_size: u32,
}

/// An Active Directory target.
pub struct ActiveDirectory {
    settings: AdSettings,
    pool: Mutex<Vec<LdapConn>>,
    /// Group name → DN: groups are few and looked up for every grant.
    groups: Mutex<std::collections::HashMap<String, String>>,
}

/// LDAP result codes that matter here.
mod rc {
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
    pub const ENTRY_ALREADY_EXISTS: u32 = 68;
}

fn result_code(e: &LdapError) -> Option<u32> {
    match e {
        LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

fn classify(e: LdapError, what: &str) -> TargetError {
    match &e {
        LdapError::LdapResult { result } => {
            let text = format!("{what}: LDAP error {} ({})", result.rc, result.text.trim());
            match result.rc {
                rc::BUSY | rc::UNAVAILABLE => TargetError::transient(text),
                rc::INVALID_CREDENTIALS => TargetError::fatal(format!(
                    "{text}\n  help: check the service account and its password"
                )),
                _ => TargetError::refused(text),
            }
        }
        // Connection trouble: worth another try on a fresh connection.
        _ => TargetError::transient(format!("{what}: {e}")),
    }
}

/// `unicodePwd`: the password in double quotes, UTF-16LE.
fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn values_of(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(values_of).collect(),
        other => vec![other.to_string()],
    }
}

/// Attributes that steer the adapter instead of being written as they are.
const CONTAINER: &str = "ou";
const NAME: &str = "cn";
const MANAGER: &str = "manager";

impl ActiveDirectory {
    /// An AD target; connects on first use. Refuses unencrypted settings: AD only
    /// takes passwords over an encrypted connection.
    pub fn new(settings: AdSettings) -> TargetResult<Self> {
        if !settings.url.starts_with("ldaps://") && !settings.starttls {
            return Err(TargetError::fatal(format!(
                "{}: the connection must be encrypted: use ldaps:// or set starttls",
                settings.url
            )));
        }
        Ok(Self {
            settings,
            pool: Mutex::new(Vec::new()),
            groups: Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn connect(&self) -> TargetResult<LdapConn> {
        let s = &self.settings;
        let conn_settings = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls)
            .set_no_tls_verify(s.accept_invalid_certificates);
        let mut conn = LdapConn::with_settings(conn_settings, &s.url)
            .map_err(|e| TargetError::transient(format!("cannot connect to {}: {e}", s.url)))?;
        conn.with_timeout(s.timeout);
        conn.simple_bind(&s.bind_dn, s.bind_password.expose())
            .and_then(|r| r.success())
            .map_err(|e| classify(e, &format!("bind as {}", s.bind_dn)))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection; a connection that failed below LDAP is dropped.
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut LdapConn) -> ldap3::result::Result<T>,
    ) -> TargetResult<T> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        match f(&mut conn) {
            Ok(v) => {
                self.pool
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(conn);
                Ok(v)
            }
            Err(e) => {
                if result_code(&e).is_some() {
                    self.pool
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(conn);
                }
                Err(classify(e, what))
            }
        }
    }

    /// Like [`Self::with`], but these result codes count as success.
    fn tolerant(
        &self,
        what: &str,
        ok: &[u32],
        f: impl FnOnce(&mut LdapConn) -> ldap3::result::Result<()>,
    ) -> TargetResult<()> {
        let ok = ok.to_vec();
        self.with(what, |c| match f(c) {
            Err(e) if result_code(&e).is_some_and(|code| ok.contains(&code)) => Ok(()),
            other => other,
        })
    }

    fn search_one(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        what: &str,
    ) -> TargetResult<Option<SearchEntry>> {
        let found = self.with(what, |c| {
            let (entries, _) = c
                .search(base, Scope::Subtree, filter, attrs.to_vec())?
                .success()?;
            Ok(entries)
        })?;
        let mut entries: Vec<SearchEntry> = found.into_iter().map(SearchEntry::construct).collect();
        match entries.len() {
            0 => Ok(None),
            1 => Ok(entries.pop()),
            n => Err(TargetError::refused(format!(
                "{what}: {n} objects match; correlation must be unique"
            ))),
        }
    }

    fn group_dn(&self, name: &str) -> TargetResult<Option<String>> {
        if let Some(dn) = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(Some(dn.clone()));
        }
        let n = ldap_escape(name);
        let filter = format!("(&(objectClass=group)(|(cn={n})(sAMAccountName={n})))");
        let found = self
            .search_one(
                &self.settings.groups_dn,
                &filter,
                &["cn"],
                &format!("find group {name:?}"),
            )?
            .map(|e| e.dn);
        if let Some(dn) = &found {
            self.groups
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), dn.clone());
        }
        Ok(found)
    }

    fn manager_dn(&self, value: &Value) -> TargetResult<Option<String>> {
        match value.as_str() {
            Some(person) if !person.is_empty() => Ok(self.correlate(person)?.map(|a| a.id)),
            _ => Ok(None),
        }
    }

    fn user_account_control(&self, dn: &str) -> TargetResult<i64> {
        let entry = self.search_one(
            dn,
            "(objectClass=user)",
            &["userAccountControl"],
            "read userAccountControl",
        )?;
        Ok(entry
            .and_then(|e| {
                e.attrs
                    .get("userAccountControl")
                    .and_then(|v| v.first())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(512))
    }

    /// Sets a password (sent as `unicodePwd` over the encrypted connection); with
    /// `change_first`, `pwdLastSet` 0 makes the person choose their own at first sign-in.
    fn set_password(&self, dn: &str, password: &str, change_first: bool) -> TargetResult<()> {
        let mut mods = vec![Mod::Replace(
            b"unicodePwd".to_vec(),
            HashSet::from([unicode_pwd(password)]),
        )];
        if change_first {
            mods.push(Mod::Replace(
                b"pwdLastSet".to_vec(),
                HashSet::from([b"0".to_vec()]),
            ));
        }
        self.with("set the password", |c| {
            c.modify(dn, mods)?.success().map(|_| ())
        })
    }

    fn set_uac(&self, dn: &str, disabled: bool) -> TargetResult<()> {
        let uac = self.user_account_control(dn)?;
        let new = if disabled { uac | 2 } else { uac & !2 };
        if new == uac {
            return Ok(());
        }
        self.with("set userAccountControl", |c| {
            c.modify(
                dn,
                vec![Mod::Replace(
                    "userAccountControl".to_string(),
                    HashSet::from([new.to_string()]),
                )],
            )?
            .success()
            .map(|_| ())
        })
    }

    /// Every entry under `base` that matches, a page at a time on one connection (a
    /// paging cookie belongs to its connection); returns the number of pages.
    fn paged_search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[String],
        each: &mut dyn FnMut(SearchEntry),
    ) -> TargetResult<u64> {
        use ldap3::controls::{PagedResults, RawControl};
        const PAGED: &str = "1.2.840.113556.1.4.319";
        let size = self.settings.page_size.clamp(1, 1000) as i32;
        self.with(&format!("read {base}"), |c| {
            let mut cookie = Vec::new();
            let mut pages = 0u64;
            loop {
                pages += 1;
                let control: RawControl = PagedResults {
                    size,
                    cookie: std::mem::take(&mut cookie),
                }
                .into();
                let ldap3::SearchResult(entries, result) = c.with_controls(control).search(
                    base,
                    Scope::Subtree,
                    filter,
                    attrs.to_vec(),
                )?;
                let next = result
                    .ctrls
                    .iter()
                    .find(|ctrl| ctrl.1.ctype == PAGED)
                    .and_then(|ctrl| ctrl.1.val.as_deref())
                    .and_then(paged_cookie);
                result.success()?;
                for e in entries {
                    each(SearchEntry::construct(e));
                }
                match next {
                    Some(k) if !k.is_empty() && pages < 1_000_000 => cookie = k,
                    _ => return Ok(pages),
                }
            }
        })
    }

    /// All values of an attribute of one entry, following ranged retrieval
    /// (`member;range=0-1499`, as AD answers for large groups).
    fn all_values(
        &self,
        dn: &str,
        attr: &str,
        first: &SearchEntry,
        calls: &mut u64,
    ) -> TargetResult<Vec<String>> {
        let ranged = |e: &SearchEntry| -> Option<(Vec<String>, Option<u64>)> {
            let prefix = format!("{};range=", attr.to_lowercase());
            let (key, values) = e
                .attrs
                .iter()
                .find(|(k, _)| k.to_lowercase().starts_with(&prefix))?;
            let end = key.rsplit('-').next()?;
            Some((values.clone(), end.parse().ok()))
        };
        let plain = first
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(attr))
            .map(|(_, v)| v.clone());
        let Some((mut out, mut end)) = ranged(first) else {
            return Ok(plain.unwrap_or_default());
        };
        while let Some(last) = end {
            *calls += 1;
            let want = format!("{attr};range={}-*", last + 1);
            let entry = self.search_one(
                dn,
                "(objectClass=*)",
                &[want.as_str()],
                &format!("read {attr} of {dn}"),
            )?;
            match entry.as_ref().and_then(ranged) {
                Some((more, next)) if !more.is_empty() => {
                    out.extend(more);
                    end = next;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    fn inventory(
        &self,
        request: &crate::model::live::ReadRequest,
    ) -> TargetResult<crate::model::live::Inventory> {
        use crate::model::live::{Holding, Inventory, LiveAccount};
        let s = &self.settings;
        let mut attrs: Vec<String> = [
            "sAMAccountName",
            "userAccountControl",
            "whenCreated",
            "lastLogonTimestamp",
        ]
        .map(String::from)
        .to_vec();
        attrs.push(s.correlation_attribute.clone());
        for a in request.attributes {
            if ![NAME, CONTAINER].contains(&a.as_str()) {
                attrs.push(a.clone());
            }
        }
        attrs.sort_by_key(|a| a.to_lowercase());
        attrs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let mut inv = Inventory {
            target: s.name.clone(),
            ..Inventory::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
        let bases: Vec<&String> = std::iter::once(&s.users_dn)
            .chain(s.disabled_dn.iter())
            .collect();
        let filter = "(&(objectCategory=person)(objectClass=user))";
        for base in bases {
            let mut entries = Vec::new();
            let pages = self.paged_search(base, filter, &attrs, &mut |e| entries.push(e))?;
            inv.calls += pages;
            for e in entries {
                if !seen.insert(e.dn.to_lowercase()) {
                    continue;
                }
                let first = |k: &str| {
                    e.attrs
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(k))
                        .and_then(|(_, v)| v.first())
                        .cloned()
                };
                let uac: Option<i64> = first("userAccountControl").and_then(|v| v.parse().ok());
                let mut attributes = std::collections::BTreeMap::new();
                for a in request.attributes {
                    let value =
                        match a.as_str() {
                            NAME => Some(Value::from(rdn_value(&e.dn))),
                            CONTAINER => Some(Value::from(parent_dn(&e.dn))),
                            _ => e.attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(a)).map(
                                |(_, v)| match v.as_slice() {
                                    [one] => Value::from(one.clone()),
                                    many => Value::from(many.to_vec()),
                                },
                            ),
                        };
                    if let Some(v) = value {
                        attributes.insert(a.clone(), v);
                    }
                }
                inv.accounts.push(LiveAccount {
                    name: first("sAMAccountName").unwrap_or_else(|| rdn_value(&e.dn)),
                    person: first(&s.correlation_attribute).filter(|p| !p.trim().is_empty()),
                    enabled: uac.map(|u| u & 2 == 0),
                    created: first("whenCreated").as_deref().and_then(generalized_time),
                    last_logon: first("lastLogonTimestamp").as_deref().and_then(filetime),
                    attributes,
                    id: e.dn,
                });
            }
        }
        if let Some(groups) = request.managed.of(Kind::Group) {
            let by_dn: std::collections::HashMap<String, usize> = inv
                .accounts
                .iter()
                .enumerate()
                .map(|(k, a)| (a.id.to_lowercase(), k))
                .collect();
            let mut found = Vec::new();
            let pages = self.paged_search(
                &s.groups_dn,
                "(objectClass=group)",
                &["cn".to_string(), "member".to_string()],
                &mut |e| found.push(e),
            )?;
            inv.calls += pages;
            for g in found {
                let Some(name) = g.attrs.get("cn").and_then(|v| v.first()).cloned() else {
                    continue;
                };
                if !groups.covers(&name) {
                    continue;
                }
                let mut calls = 0;
                let members = self.all_values(&g.dn, "member", &g, &mut calls)?;
                inv.calls += calls;
                for m in members {
                    if let Some(&k) = by_dn.get(&m.to_lowercase()) {
                        inv.holdings.push(Holding {
                            account: inv.accounts[k].id.clone(),
                            kind: Kind::Group,
                            name: name.clone(),
                            on: None,
                        });
                    }
                }
            }
        }
        inv.holdings.sort();
        inv.holdings.dedup();
        Ok(inv)
    }

    fn rdn(cn: &str) -> String {
        format!("CN={}", dn_escape(cn))
    }

    /// The DN and attributes of a new managed group: in the declaration's OU (which
    /// must lie under `groups_dn`, where grants look for groups), `groupType` from its
    /// scope and type.
    fn group_entry(
        &self,
        name: &str,
        settings: &GroupSettings,
    ) -> TargetResult<(String, LdapEntry)> {
        let groups_dn = &self.settings.groups_dn;
        let parent = settings.ou.as_deref().unwrap_or(groups_dn);
        if !dn_within(parent, groups_dn) {
            return Err(TargetError::refused(format!(
                "group {name:?} would be made in {parent}, outside groups_dn {groups_dn} \
                 where grants look for groups\n  help: choose an `ou` under {groups_dn} in \
                 the `group` declaration, or widen groups_dn in stroom.toml"
            )));
        }
        // Scope bits, and the security bit (as the signed 32-bit number AD stores).
        let scope: i64 = match settings.scope.unwrap_or_default() {
            GroupScope::Global => 0x2,
            GroupScope::DomainLocal => 0x4,
            GroupScope::Universal => 0x8,
        };
        let group_type = match settings.group_type {
            GroupType::Security => scope - 0x8000_0000,
            GroupType::Distribution => scope,
            GroupType::Microsoft365 => {
                return Err(TargetError::refused(format!(
                    "group {name:?}: Active Directory has no Microsoft 365 groups\n  help: \
                     declare `type security` or `type distribution`, or make it in entra"
                )))
            }
        };
        // The pre-Windows 2000 name may not hold these characters; `cn` keeps the name.
        let sam: String = name
            .chars()
            .map(|c| {
                if "\"/\\[]:;|=,+*?<>@".contains(c) {
                    '_'
                } else {
                    c
                }
            })
            .take(256)
            .collect();
        let mut entry: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                ["top", "group"].map(String::from).into(),
            ),
            ("sAMAccountName".into(), HashSet::from([sam])),
            ("groupType".into(), HashSet::from([group_type.to_string()])),
        ];
        if let Some(d) = settings.description.as_ref().filter(|d| !d.is_empty()) {
            entry.push(("description".into(), HashSet::from([d.clone()])));
        }
        Ok((format!("{},{parent}", Self::rdn(name)), entry))
    }

    /// The DN after moving `dn` under `parent`.
    fn moved(dn: &str, parent: &str) -> String {
        let rdn = first_rdn(dn);
        format!("{rdn},{parent}")
    }
}

/// The cookie of a simple paged results control (RFC 2696: a SEQUENCE of the size and
/// the cookie), read without trusting the server: `None` when it is malformed.
fn paged_cookie(val: &[u8]) -> Option<Vec<u8>> {
    /// One BER element: its tag, its content and what follows it.
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let (0x30, seq, _) = element(val)? else {
        return None;
    };
    let (0x02, _, rest) = element(seq)? else {
        return None;
    };
    let (0x04, cookie, _) = element(rest)? else {
        return None;
    };
    Some(cookie.to_vec())
}

/// A FILETIME (100 ns since 1601) as an RFC 3339 time; 0 and the largest value mean
/// never.
fn filetime(v: &str) -> Option<String> {
    let ticks: i64 = v.trim().parse().ok()?;
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    let unix = ticks / 10_000_000 - 11_644_473_600;
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.to_rfc3339())
}

/// LDAP generalized time (`20261201120000.0Z`) as RFC 3339.
fn generalized_time(v: &str) -> Option<String> {
    let digits = v.get(..14)?;
    chrono::NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc().to_rfc3339())
}

/// The attributes of an entry to add.
type LdapEntry = Vec<(String, HashSet<String>)>;

/// True if `dn` is `base` or lies under it (RDNs compared without regard to case or
/// the spaces around commas).
fn dn_within(dn: &str, base: &str) -> bool {
    let norm = |d: &str| {
        d.split(',')
            .map(|p| p.trim().to_lowercase())
            .collect::<Vec<_>>()
    };
    let (dn, base) = (norm(dn), norm(base));
    dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..]
}

/// The parent of a DN (`CN=a,OU=X,DC=b` → `OU=X,DC=b`).
fn parent_dn(dn: &str) -> &str {
    dn[first_rdn(dn).len()..].trim_start_matches(',')
}

/// The value of a first RDN without its type and escapes (`CN=Berg\, Jan` → `Berg, Jan`).
fn rdn_value(dn: &str) -> String {
    let rdn = first_rdn(dn);
    let raw = rdn.split_once('=').map_or(rdn, |(_, v)| v);
    let bytes = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut k = 0;
    while k < bytes.len() {
        if bytes[k] == b'\\' && k + 1 < bytes.len() {
            let hex = raw
                .get(k + 1..k + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    k += 3;
                }
                None => {
                    out.push(bytes[k + 1]);
                    k += 2;
                }
            }
        } else {
            out.push(bytes[k]);
            k += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first RDN of a DN, honouring escapes (`CN=Berg\, Jan,OU=...` → `CN=Berg\, Jan`).
fn first_rdn(dn: &str) -> &str {
    let bytes = dn.as_bytes();
    let mut k = 0;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b',' => return &dn[..k],
            _ => k += 1,
        }
    }
    dn
}

impl Target for ActiveDirectory {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn preview(&self, a: &crate::plan::read::PlannedAction) -> Option<String> {
        let s = &self.settings;
        let who = format!(
            "the account with {}={}",
            s.correlation_attribute,
            ldap_escape(a.person.as_str())
        );
        let pairs = |m: &Option<Map<String, Value>>, new_only: bool| {
            m.iter()
                .flatten()
                .map(|(k, v)| {
                    let v = if new_only {
                        v.get(1).cloned().unwrap_or(Value::Null)
                    } else {
                        v.clone()
                    };
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        Some(match a.op {
            OpKind::Create => {
                let attrs = a.attributes.clone().unwrap_or_default();
                let cn = [NAME, "displayName", "sAMAccountName"]
                    .iter()
                    .find_map(|k| attrs.get(*k).and_then(Value::as_str))
                    .unwrap_or(&a.person)
                    .to_string();
                let parent = attrs
                    .get(CONTAINER)
                    .and_then(Value::as_str)
                    .unwrap_or(&s.users_dn);
                format!(
                    "LDAP add {},{parent} (user, userAccountControl=514, {}={}) {}; then set unicodePwd (generated, never shown)",
                    Self::rdn(&cn),
                    s.correlation_attribute,
                    a.person,
                    pairs(&a.attributes, false)
                )
            }
            OpKind::Update => format!("LDAP modify {who}: replace {}", pairs(&a.changes, true)),
            OpKind::Enable => format!("LDAP modify {who}: clear bit 0x2 of userAccountControl"),
            OpKind::Disable => match &s.disabled_dn {
                Some(d) => {
                    format!("LDAP modify {who}: set bit 0x2 of userAccountControl; move to {d}")
                }
                None => format!("LDAP modify {who}: set bit 0x2 of userAccountControl"),
            },
            OpKind::Delete => format!("LDAP delete {who}"),
            OpKind::Grant => format!(
                "LDAP modify group {:?} under {}: add member = {who}",
                a.name.as_deref().unwrap_or(""),
                s.groups_dn
            ),
            OpKind::Revoke => format!(
                "LDAP modify group {:?} under {}: delete member = {who}",
                a.name.as_deref().unwrap_or(""),
                s.groups_dn
            ),
            OpKind::CreateGroup => {
                let name = a.name.as_deref().unwrap_or("");
                let settings = a.group.clone().unwrap_or_default();
                match self.group_entry(name, &settings) {
                    Ok((dn, entry)) => format!(
                        "LDAP search {} for group {name:?}; if absent, LDAP add {dn}: {}",
                        s.groups_dn,
                        entry
                            .iter()
                            .map(|(k, v)| {
                                let mut v: Vec<&str> = v.iter().map(String::as_str).collect();
                                v.sort_unstable();
                                format!("{k} = {}", v.join("|"))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Err(e) => format!("refused: {e}"),
                }
            }
            OpKind::Link => format!(
                "LDAP read {dn}: refused if {attr} holds another person id; LDAP modify {dn}: replace {attr} = {}",
                a.person,
                dn = a.account.as_ref().map_or("(the account)", |r| r.id.as_str()),
                attr = s.correlation_attribute
            ),
            _ => return None,
        })
    }

    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        let filter = format!(
            "(&(objectClass=user)({}={}))",
            self.settings.correlation_attribute,
            ldap_escape(person)
        );
        // Disabled accounts may have been moved out of the users OU.
        let mut entry = None;
        for base in std::iter::once(&self.settings.users_dn).chain(self.settings.disabled_dn.iter())
        {
            entry = self.search_one(
                base,
                &filter,
                &["userAccountControl"],
                &format!("correlate {person}"),
            )?;
            if entry.is_some() {
                break;
            }
        }
        Ok(entry.map(|e| {
            let uac: Option<i64> = e
                .attrs
                .get("userAccountControl")
                .and_then(|v| v.first())
                .and_then(|v| v.parse().ok());
            AccountRef {
                id: e.dn,
                enabled: uac.map(|u| u & 2 == 0),
            }
        }))
    }

    fn read_inventory(
        &self,
        request: &crate::model::live::ReadRequest,
    ) -> TargetResult<crate::model::live::Inventory> {
        self.inventory(request)
    }

    fn link(&self, account: &AccountRef, person: &str) -> TargetResult<()> {
        let attr = self.settings.correlation_attribute.clone();
        let entry = self
            .search_one(
                &account.id,
                "(objectClass=user)",
                &[attr.as_str()],
                &format!("link {}", account.id),
            )?
            .ok_or_else(|| {
                TargetError::refused(format!(
                    "link: {} is not there any more; run stroom reconcile again",
                    account.id
                ))
            })?;
        let holder = entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&attr))
            .and_then(|(_, v)| v.first())
            .cloned()
            .unwrap_or_default();
        if holder == person {
            return Ok(());
        }
        if !holder.trim().is_empty() {
            return Err(TargetError::refused(format!(
                "link: {} carries person id {holder:?} in {attr}, not {person:?}; it is someone else's\n  help: run stroom reconcile again and resolve the conflict",
                account.id
            )));
        }
        self.with(&format!("link {}", account.id), |c| {
            c.modify(
                &account.id,
                vec![Mod::Replace(
                    attr.clone(),
                    HashSet::from([person.to_string()]),
                )],
            )?
            .success()
            .map(|_| ())
        })
    }

    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        let filter = format!(
            "(&(objectClass=group)(member={}))",
            ldap_escape(account.id.as_str())
        );
        let groups = self.with("read groups", |c| {
            let (entries, _) = c
                .search(
                    &self.settings.groups_dn,
                    Scope::Subtree,
                    &filter,
                    vec!["cn"],
                )?
                .success()?;
            Ok(entries)
        })?;
        Ok(groups
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| e.attrs.get("cn").and_then(|v| v.first()).cloned())
            .map(|cn| ("group".to_string(), cn))
            .collect())
    }

    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef> {
        let s = &self.settings;
        let cn = [NAME, "displayName", "sAMAccountName"]
            .iter()
            .find_map(|k| attributes.get(*k).and_then(Value::as_str))
            .unwrap_or(person)
            .to_string();
        let parent = attributes
            .get(CONTAINER)
            .and_then(Value::as_str)
            .unwrap_or(&s.users_dn)
            .to_string();
        let dn = format!("{},{parent}", Self::rdn(&cn));
        let mut entry: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                ["top", "person", "organizationalPerson", "user"]
                    .map(String::from)
                    .into(),
            ),
            (
                s.correlation_attribute.clone(),
                HashSet::from([person.to_string()]),
            ),
            (
                "userAccountControl".into(),
                HashSet::from(["514".to_string()]),
            ),
        ];
        for (k, v) in attributes {
            if [CONTAINER, NAME].contains(&k.as_str())
                || k.eq_ignore_ascii_case(&s.correlation_attribute)
            {
                continue;
            }
            let values: HashSet<String> = if k == MANAGER {
                // The manager may have no account yet; a later update sets it.
                self.manager_dn(v)?.into_iter().collect()
            } else {
                values_of(v).into_iter().collect()
            };
            if !values.is_empty() {
                entry.push((k.clone(), values));
            }
        }
        let added = self.with(&format!("create {dn}"), |c| {
            c.add(&dn, entry)?.success().map(|_| ())
        });
        if let Err(e) = added {
            // Created by an interrupted run? Then it correlates: adopt it.
            if let Some(existing) = self.correlate(person)? {
                return Ok(existing);
            }
            if e.message
                .contains(&format!("LDAP error {}", rc::ENTRY_ALREADY_EXISTS))
            {
                return Err(TargetError::refused(format!(
                    "{dn} already exists and belongs to someone else; make `cn` unique in the rules (e.g. unique [...] with the employee number)"
                )));
            }
            return Err(e);
        }
        self.set_password(&dn, &super::generate_password(), false)?;
        Ok(AccountRef {
            id: dn,
            enabled: Some(false),
        })
    }

    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        let mut dn = account.id.clone();
        let mut mods: Vec<Mod<String>> = Vec::new();
        for (k, v) in values {
            match k.as_str() {
                NAME => {
                    let Some(cn) = v.as_str() else { continue };
                    let rdn = Self::rdn(cn);
                    if first_rdn(&dn).eq_ignore_ascii_case(&rdn) {
                        continue;
                    }
                    let parent = dn[first_rdn(&dn).len()..]
                        .trim_start_matches(',')
                        .to_string();
                    let from = dn.clone();
                    self.with(&format!("rename {from}"), |c| {
                        c.modifydn(&from, &rdn, true, None)?.success().map(|_| ())
                    })?;
                    dn = format!("{rdn},{parent}");
                }
                CONTAINER => {
                    let Some(parent) = v.as_str() else { continue };
                    let target = Self::moved(&dn, parent);
                    if target.eq_ignore_ascii_case(&dn) {
                        continue;
                    }
                    let (from, rdn) = (dn.clone(), first_rdn(&dn).to_string());
                    self.with(&format!("move {from}"), |c| {
                        c.modifydn(&from, &rdn, true, Some(parent))?
                            .success()
                            .map(|_| ())
                    })?;
                    dn = target;
                }
                MANAGER => match self.manager_dn(v)? {
                    Some(m) => mods.push(Mod::Replace(k.clone(), HashSet::from([m]))),
                    None => mods.push(Mod::Replace(k.clone(), HashSet::new())),
                },
                _ => {
                    let vals: HashSet<String> = values_of(v).into_iter().collect();
                    mods.push(Mod::Replace(k.clone(), vals));
                }
            }
        }
        if mods.is_empty() {
            return Ok(());
        }
        self.tolerant(&format!("update {dn}"), &[rc::NO_SUCH_ATTRIBUTE], |c| {
            c.modify(&dn, mods)?.success().map(|_| ())
        })
    }

    fn enable(&self, account: &AccountRef) -> TargetResult<()> {
        self.set_uac(&account.id, false)
    }

    fn disable(&self, account: &AccountRef) -> TargetResult<()> {
        self.set_uac(&account.id, true)?;
        if let Some(parent) = &self.settings.disabled_dn {
            let target = Self::moved(&account.id, parent);
            if !target.eq_ignore_ascii_case(&account.id) {
                let rdn = first_rdn(&account.id).to_string();
                self.with("move to the disabled OU", |c| {
                    c.modifydn(&account.id, &rdn, true, Some(parent))?
                        .success()
                        .map(|_| ())
                })?;
            }
        }
        Ok(())
    }

    fn delete(&self, account: &AccountRef) -> TargetResult<()> {
        self.tolerant(
            &format!("delete {}", account.id),
            &[rc::NO_SUCH_OBJECT],
            |c| c.delete(&account.id)?.success().map(|_| ()),
        )
    }

    fn grant(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        if e.kind != Kind::Group {
            return Err(TargetError::refused(format!(
                "Active Directory has no {}s; grant them in entra or exchange",
                e.kind
            )));
        }
        let Some(group) = self.group_dn(e.name)? else {
            return Err(TargetError::refused(format!(
                "group {:?} does not exist under {}\n  help: create it, correct the rule, or \
                 let Stroom create it with `group {:?} in {} {{ ... }}` in the rules",
                e.name,
                self.settings.groups_dn,
                e.name,
                self.name()
            )));
        };
        self.tolerant(
            &format!("add to {group}"),
            &[rc::ENTRY_ALREADY_EXISTS, rc::ATTRIBUTE_OR_VALUE_EXISTS],
            |c| {
                c.modify(
                    &group,
                    vec![Mod::Add(
                        "member".to_string(),
                        HashSet::from([account.id.clone()]),
                    )],
                )?
                .success()
                .map(|_| ())
            },
        )
    }

    fn issue_credential(
        &self,
        account: &AccountRef,
        _from: Option<chrono::NaiveDate>,
        _valid_days: Option<u32>,
    ) -> TargetResult<super::Credential> {
        // A new initial password, to be changed at the first sign-in.
        let password = super::generate_password();
        self.set_password(&account.id, &password, true)?;
        Ok(super::Credential {
            secret: crate::secret::Secret::new(password),
            kind: "initial password",
            valid_until: None,
            id: None,
        })
    }

    fn withdraw_credential(
        &self,
        account: &AccountRef,
        _credential: &super::Credential,
    ) -> TargetResult<()> {
        // A password nobody received is replaced by one nobody knows.
        self.set_password(&account.id, &super::generate_password(), true)
    }

    fn create_group(&self, name: &str, settings: &GroupSettings) -> TargetResult<String> {
        if let Some(dn) = self.group_dn(name)? {
            return Ok(dn);
        }
        let (dn, entry) = self.group_entry(name, settings)?;
        let added = self.with(&format!("create group {dn}"), |c| {
            c.add(&dn, entry)?.success().map(|_| ())
        });
        match added {
            Ok(()) => {
                self.groups
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), dn.clone());
                Ok(dn)
            }
            // Made meanwhile (a resumed run, a colleague)? Then it is found now.
            Err(e) => match self.group_dn(name)? {
                Some(dn) => Ok(dn),
                None => Err(e),
            },
        }
    }

    fn revoke(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        if e.kind != Kind::Group {
            return Ok(());
        }
        let Some(group) = self.group_dn(e.name)? else {
            return Ok(());
        };
        self.tolerant(
            &format!("remove from {group}"),
            &[
                rc::NO_SUCH_ATTRIBUTE,
                rc::UNWILLING_TO_PERFORM,
                rc::NO_SUCH_OBJECT,
            ],
            |c| {
                c.modify(
                    &group,
                    vec![Mod::Delete(
                        "member".to_string(),
                        HashSet::from([account.id.clone()]),
                    )],
                )?
                .success()
                .map(|_| ())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdn_split_honours_escapes() {
        assert_eq!(first_rdn("CN=Berg\\2c Jan,OU=X,DC=a"), "CN=Berg\\2c Jan");
        assert_eq!(first_rdn("CN=a\\,b,OU=X"), "CN=a\\,b");
        assert_eq!(first_rdn("CN=solo"), "CN=solo");
    }

    #[test]
    fn paged_cookies_are_read_without_trusting_the_server() {
        // SEQUENCE { INTEGER 0, OCTET STRING "ab" }
        assert_eq!(
            paged_cookie(&[0x30, 0x07, 0x02, 0x01, 0x00, 0x04, 0x02, b'a', b'b']),
            Some(b"ab".to_vec())
        );
        assert_eq!(
            paged_cookie(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x04, 0x00]),
            Some(Vec::new())
        );
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x09, 0x02],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x04, 0x00],
        ] {
            assert_eq!(paged_cookie(bad), None);
        }
    }

    #[test]
    fn directory_times_and_names_read_back() {
        assert_eq!(filetime("0"), None);
        assert_eq!(filetime("9223372036854775807"), None);
        assert_eq!(
            filetime("133801632000000000").as_deref(),
            Some("2025-01-01T00:00:00+00:00")
        );
        assert_eq!(
            generalized_time("20261201120000.0Z").as_deref(),
            Some("2026-12-01T12:00:00+00:00")
        );
        assert_eq!(rdn_value("CN=Berg\\, Jan,OU=X"), "Berg, Jan");
        assert_eq!(rdn_value("CN=J\\c3\\a9r\\c3\\b4me,OU=X"), "Jérôme");
        assert_eq!(parent_dn("CN=a\\,b,OU=X,DC=y"), "OU=X,DC=y");
    }

    #[test]
    fn passwords_are_strong_and_encoded_for_ad() {
        let p = crate::targets::generate_password();
        assert_eq!(p.len(), 24);
        assert_ne!(p, crate::targets::generate_password());
        assert_eq!(unicode_pwd("ab"), vec![b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
    }
}
