//! A simulator of one Microsoft 365 tenant as Stroom sees it: the identity platform's
//! token endpoint (client credentials), Microsoft Graph v1.0 (users, manager, groups,
//! licences, `$batch`, `@odata.nextLink` paging, advanced queries) and the Exchange
//! Online admin API's `InvokeCommand` (mailboxes, permissions, distribution groups).
//!
//! It behaves as the vendors document: Graph's error body `{"error": {"code",
//! "message"}}` and messages, 429 with `Retry-After`, 404 for an object made moments
//! ago (replication lag), filter results that lag behind writes (the index), licences
//! that need a usage location, soft delete; a user mailbox appears only some time after
//! a licence with Exchange in it, exceptions come as `|Type|message`. Faults are set
//! with [`MicrosoftSim::set_faults`].

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Faults and delays. Counters are over API calls (Graph and Exchange, not tokens).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every Nth API call answers 429 with `Retry-After`.
    pub throttle_every: u32,
    /// Seconds in that `Retry-After` (Graph always sends one).
    pub retry_after_seconds: u64,
    /// Every Nth API call answers 503.
    pub server_error_every: u32,
    /// Every Nth request inside a `$batch` answers 429 (the batch itself is 200).
    pub batch_throttle_every: u32,
    /// A new user answers 404 to reads and writes for this long.
    pub replication_lag_ms: u64,
    /// A new user (or a changed property) shows in `$filter` results after this long.
    pub index_lag_ms: u64,
    /// A user mailbox appears this long after its Exchange licence.
    pub mailbox_delay_ms: u64,
    /// Lifetime of access tokens.
    pub token_lifetime_seconds: u64,
}

/// What the tenant holds at the start.
#[derive(Debug, Clone)]
pub struct TenantSetup {
    /// The tenant id in URLs.
    pub tenant_id: String,
    /// The app registration.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Verified domains (UPNs must use one).
    pub domains: Vec<String>,
    /// Assigned security groups.
    pub groups: Vec<String>,
    /// Groups with dynamic membership.
    pub dynamic_groups: Vec<String>,
    /// Subscriptions: (skuPartNumber, units, includes Exchange).
    pub skus: Vec<(String, u32, bool)>,
    /// Shared mailboxes (their primary address).
    pub shared_mailboxes: Vec<String>,
    /// Distribution groups (their name).
    pub distribution_groups: Vec<String>,
    /// The Temporary Access Pass policy's lifetime bounds, in minutes.
    pub tap_minutes: (u64, u64),
}

impl Default for TenantSetup {
    fn default() -> Self {
        Self {
            tenant_id: "00000000-0000-4000-8000-00000000beef".into(),
            client_id: "stroom-app".into(),
            client_secret: "sim-secret".into(),
            domains: vec!["vandijkgroep.nl".into(), "example.nl".into()],
            groups: ["All Staff", "GitHub-Users", "GG-Externals", "Sales Team"]
                .map(String::from)
                .to_vec(),
            dynamic_groups: vec!["Dynamic Everyone".into()],
            skus: vec![
                ("SPE_E3".into(), 1_000_000, true),
                ("SPE_F3".into(), 1_000_000, true),
                ("POWER_BI_PRO".into(), 2, false),
            ],
            shared_mailboxes: vec![
                "klantenservice@vandijkgroep.nl".into(),
                "sales@vandijkgroep.nl".into(),
            ],
            distribution_groups: vec!["Nieuwsbrief".into()],
            tap_minutes: (60, 43_200),
        }
    }
}

struct User {
    id: String,
    props: Map<String, Value>,
    created: Instant,
    indexed: Instant,
    manager: Option<String>,
    licences: BTreeSet<String>,
    revocations: u32,
    /// The user's Temporary Access Pass (a user has one at most).
    tap: Option<Tap>,
}

/// A Temporary Access Pass as Graph keeps it.
#[derive(Clone)]
struct Tap {
    id: String,
    pass: String,
    start: String,
    minutes: u64,
}

struct Group {
    id: String,
    name: String,
    dynamic: bool,
    members: BTreeSet<String>,
    /// Set when made through the API (an upsert's key).
    unique_name: Option<String>,
    mail_nickname: String,
    description: Option<String>,
    /// A Microsoft 365 group (`groupTypes: ["Unified"]`).
    unified: bool,
    /// When it was made: invisible by id for the replication lag, in filtered lists
    /// until `indexed`.
    created: Instant,
    indexed: Instant,
}

impl Group {
    fn json(&self) -> Value {
        let types = if self.dynamic {
            json!(["DynamicMembership"])
        } else if self.unified {
            json!(["Unified"])
        } else {
            json!([])
        };
        json!({"id": self.id, "displayName": self.name, "mailNickname": self.mail_nickname,
               "securityEnabled": !self.unified, "mailEnabled": self.unified,
               "groupTypes": types, "description": self.description,
               "uniqueName": self.unique_name})
    }
}

/// Graph's checks of a new group's body: the properties it requires, a mail alias of
/// the allowed characters, and the two kinds it can make (security groups and
/// Microsoft 365 groups; not mail-enabled security or distribution groups).
/// What a valid new group's body says.
struct NewGroup {
    name: String,
    nick: String,
    unified: bool,
    description: Option<String>,
}

fn check_new_group(body: &Value) -> Result<NewGroup, (u16, Value)> {
    let bad = |m: &str| Err(error(400, "Request_BadRequest", m));
    let name = text(body.get("displayName"));
    let nick = text(body.get("mailNickname"));
    let (Some(mail), Some(security)) = (
        body.get("mailEnabled").and_then(Value::as_bool),
        body.get("securityEnabled").and_then(Value::as_bool),
    ) else {
        return bad("A value is required for property 'mailEnabled' or 'securityEnabled' of resource 'Group'.");
    };
    if name.is_empty() || name.chars().count() > 256 {
        return bad("Invalid value specified for property 'displayName' of resource 'Group'.");
    }
    if nick.is_empty()
        || nick.len() > 64
        || !nick
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c))
    {
        return bad("Invalid value specified for property 'mailNickname' of resource 'Group'.");
    }
    let unified = body
        .get("groupTypes")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == "Unified"));
    if unified != mail || (!unified && !security) {
        return bad("The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or is set to false.");
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(NewGroup {
        name: name.to_string(),
        nick: nick.to_string(),
        unified,
        description,
    })
}

struct Sku {
    id: String,
    part: String,
    units: u32,
    exchange: bool,
}

struct Mailbox {
    guid: String,
    /// The Entra user, for user mailboxes.
    user: Option<String>,
    addresses: Vec<String>,
    hidden: bool,
    kind: String,
    visible: Instant,
}

/// Lookups by key, so that a tenant of 50,000 users answers as fast as a small one.
/// Rebuilt after a removal or a change of a key; extended on every addition.
#[derive(Default)]
struct Index {
    fresh: bool,
    /// User id, and lower-case UPN → position.
    users: HashMap<String, usize>,
    /// Lower-case `mail` → position.
    mail: HashMap<String, usize>,
    /// Mailbox Guid, user id, lower-case addresses and owner UPN → position.
    mailboxes: HashMap<String, usize>,
    /// `property\0lower-case value` → users, for the filterable properties.
    values: HashMap<String, Vec<usize>>,
}

/// User properties a `$filter` is answered from the index for (others are scanned).
const FILTERABLE: &[&str] = &["employeeId", "mail", "userPrincipalName", "displayName"];

fn filterable(property: &str) -> bool {
    FILTERABLE.contains(&property) || property.starts_with("onPremisesExtensionAttributes")
}

fn value_key(property: &str, value: &str) -> String {
    format!("{property}\0{}", value.to_lowercase())
}

fn bare(address: &str) -> String {
    address
        .split_once(':')
        .map_or(address, |(_, v)| v)
        .to_lowercase()
}

#[derive(Default)]
struct Tenant {
    index: Index,
    users: Vec<User>,
    deleted: Vec<User>,
    groups: Vec<Group>,
    skus: Vec<Sku>,
    mailboxes: Vec<Mailbox>,
    /// (mailbox guid, trustee guid, right)
    permissions: BTreeSet<(String, String, String)>,
    /// Distribution group name → member guids.
    distribution: BTreeMap<String, BTreeSet<String>>,
    domains: Vec<String>,
    next_id: u64,
}

/// The simulator's shared state.
pub struct MicrosoftSim {
    tenant: Mutex<Tenant>,
    faults: Mutex<Faults>,
    setup: TenantSetup,
    /// token → (audience, expiry).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    calls: AtomicU64,
    batch_items: AtomicU64,
    by_call: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Graph's error body.
fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": message,
               "innerError": {"date": chrono::Utc::now().to_rfc3339(), "request-id": "sim"}}}),
    )
}

fn unsupported(method: &str, path: &str) -> (u16, Value) {
    error(
        400,
        "BadRequest",
        &format!("Unsupported request: {method} {path}"),
    )
}

fn not_found(what: &str) -> (u16, Value) {
    error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{what}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// Exchange's error body: the exception type between bars.
fn exo_error(status: u16, exception: &str, message: &str) -> (u16, Value) {
    error(status, "BadRequest", &format!("|{exception}|{message}"))
}

fn exo_not_found(what: &str) -> (u16, Value) {
    exo_error(
        404,
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        &format!("The operation couldn't be performed because object '{what}' couldn't be found on 'AM0PR01A001DC01.EURPRD01.PROD.OUTLOOK.COM'."),
    )
}

/// User properties Stroom may write (a subset of Graph's, enough to catch typos).
const WRITABLE: &[&str] = &[
    "accountEnabled",
    "businessPhones",
    "city",
    "companyName",
    "country",
    "department",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeType",
    "givenName",
    "jobTitle",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesExtensionAttributes",
    "passwordProfile",
    "postalCode",
    "preferredLanguage",
    "state",
    "streetAddress",
    "surname",
    "usageLocation",
    "userPrincipalName",
];

/// `prop eq 'value'` with `''` for a quote; `None` when the filter has another form.
fn parse_eq(filter: &str) -> Option<(String, String)> {
    let (prop, rest) = filter.trim().split_once(" eq ")?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    // A lone quote inside would have ended the literal: the filter is malformed.
    if inner.replace("''", "").contains('\'') {
        return None;
    }
    Some((prop.trim().to_string(), inner.replace("''", "'")))
}

fn password_ok(p: &str) -> bool {
    let classes = [
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    p.chars().count() >= 8 && classes.iter().filter(|c| **c).count() >= 3
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

impl User {
    fn upn(&self) -> &str {
        text(self.props.get("userPrincipalName"))
    }

    fn get(&self, property: &str) -> Option<&Value> {
        match property.split_once('/') {
            Some((a, b)) => self.props.get(a).and_then(|v| v.get(b)),
            None => self.props.get(property),
        }
    }

    fn json(&self) -> Value {
        let mut v = self.props.clone();
        v.remove("passwordProfile");
        v.insert("id".into(), Value::from(self.id.clone()));
        Value::Object(v)
    }
}

/// Only the `$select`ed properties (and the id), as Graph answers.
fn selected(v: Value, params: &HashMap<String, String>) -> Value {
    let Some(select) = params.get("$select") else {
        return v;
    };
    let keep: Vec<&str> = select.split(',').map(str::trim).collect();
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| k == "id" || keep.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

impl Tenant {
    /// A user as Graph shows it: its properties and its licences (`assignedLicenses`).
    fn user_json(&self, u: &User) -> Value {
        let mut v = u.json();
        v["assignedLicenses"] = Value::Array(
            u.licences
                .iter()
                .map(|sku| json!({"skuId": sku, "disabledPlans": []}))
                .collect(),
        );
        v
    }

    fn new_id(&mut self, kind: u16) -> String {
        self.next_id += 1;
        format!(
            "{:08x}-{kind:04x}-4000-8000-{:012x}",
            self.next_id, self.next_id
        )
    }

    fn index_user(&mut self, i: usize) {
        let u = &self.users[i];
        self.index.users.insert(u.id.clone(), i);
        self.index.users.insert(u.upn().to_lowercase(), i);
        let mail = text(u.props.get("mail")).to_lowercase();
        if !mail.is_empty() {
            self.index.mail.insert(mail, i);
        }
        let mut keys = Vec::new();
        for p in FILTERABLE {
            if let Some(v) = u.props.get(*p).and_then(Value::as_str) {
                keys.push(value_key(p, v));
            }
        }
        if let Some(Value::Object(ext)) = u.props.get("onPremisesExtensionAttributes") {
            for (k, v) in ext {
                if let Some(v) = v.as_str() {
                    keys.push(value_key(&format!("onPremisesExtensionAttributes/{k}"), v));
                }
            }
        }
        for k in keys {
            self.index.values.entry(k).or_default().push(i);
        }
    }

    /// Users whose `property` equals `value` (any case).
    fn users_with(&mut self, property: &str, value: &str) -> Vec<usize> {
        if !filterable(property) {
            return (0..self.users.len())
                .filter(|&i| text(self.users[i].get(property)).eq_ignore_ascii_case(value))
                .collect();
        }
        self.refresh();
        let mut found: Vec<usize> = self
            .index
            .values
            .get(&value_key(property, value))
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| {
                self.users
                    .get(i)
                    .is_some_and(|u| text(u.get(property)).eq_ignore_ascii_case(value))
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    fn index_mailbox(&mut self, i: usize) {
        let m = &self.mailboxes[i];
        let mut keys = vec![m.guid.to_lowercase()];
        keys.extend(m.addresses.iter().map(|a| bare(a)));
        if let Some(id) = &m.user {
            keys.push(id.clone());
            if let Some(u) = self.index.users.get(id).and_then(|&u| self.users.get(u)) {
                keys.push(u.upn().to_lowercase());
            }
        }
        for k in keys {
            self.index.mailboxes.insert(k, i);
        }
    }

    /// Makes the index whole again when something was removed or renamed.
    fn refresh(&mut self) {
        if self.index.fresh {
            return;
        }
        self.index = Index {
            fresh: true,
            ..Index::default()
        };
        for i in 0..self.users.len() {
            self.index_user(i);
        }
        for i in 0..self.mailboxes.len() {
            self.index_mailbox(i);
        }
    }

    fn user_index(&mut self, key: &str, now: Instant, lag: Duration) -> Option<usize> {
        self.refresh();
        let i = self
            .index
            .users
            .get(key)
            .or_else(|| self.index.users.get(&key.to_lowercase()))
            .copied()?;
        self.users
            .get(i)
            .filter(|u| now >= u.created + lag)
            .map(|_| i)
    }

    /// The user with this id (the index may be behind; then a scan).
    fn user_by_id(&self, id: &str) -> Option<&User> {
        self.index
            .users
            .get(id)
            .and_then(|&i| self.users.get(i))
            .filter(|u| u.id == id)
            .or_else(|| self.users.iter().find(|u| u.id == id))
    }

    fn check_props(&self, body: &Map<String, Value>) -> Result<(), (u16, Value)> {
        for (k, v) in body {
            if !WRITABLE.contains(&k.as_str()) {
                return Err(error(
                    400,
                    "Request_BadRequest",
                    &format!("Property '{k}' does not exist as a declared property or extension property."),
                ));
            }
            if k == "employeeId" && text(Some(v)).chars().count() > 16 {
                return Err(error(
                    400,
                    "Request_BadRequest",
                    "Invalid value specified for property 'employeeId' of resource 'User'.",
                ));
            }
            if k == "userPrincipalName" {
                let upn = text(Some(v));
                let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                if !self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    return Err(error(
                        400,
                        "Request_BadRequest",
                        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
                    ));
                }
            }
        }
        Ok(())
    }

    fn taken(&mut self, property: &str, value: &str, except: Option<&str>) -> bool {
        if value.is_empty() {
            return false;
        }
        self.refresh();
        let map = if property == "mail" {
            &self.index.mail
        } else {
            &self.index.users
        };
        map.get(&value.to_lowercase())
            .and_then(|&i| self.users.get(i))
            .is_some_and(|u| Some(u.id.as_str()) != except)
    }

    fn sync_mailbox(&mut self, user: usize, now: Instant, delay: Duration) {
        self.refresh();
        let u = &self.users[user];
        let exchange = u
            .licences
            .iter()
            .any(|l| self.skus.iter().any(|s| &s.id == l && s.exchange));
        let id = u.id.clone();
        let has = self
            .index
            .mailboxes
            .get(&id)
            .and_then(|&i| self.mailboxes.get(i))
            .is_some_and(|m| m.user.as_deref() == Some(&id));
        if exchange && !has {
            let upn = u.upn().to_string();
            let mail = text(u.props.get("mail")).to_string();
            let nick = text(u.props.get("mailNickname")).to_string();
            let primary = if mail.is_empty() { upn.clone() } else { mail };
            let mut addresses = vec![format!("SMTP:{primary}")];
            let routing = format!("smtp:{nick}@simtenant.onmicrosoft.com");
            addresses.push(routing);
            let guid = self.new_id(0xb0c5);
            self.mailboxes.push(Mailbox {
                guid,
                user: Some(id),
                addresses,
                hidden: false,
                kind: "UserMailbox".into(),
                visible: now + delay,
            });
            self.index_mailbox(self.mailboxes.len() - 1);
        } else if !exchange && has {
            self.mailboxes.retain(|m| m.user.as_deref() != Some(&id));
            self.index.fresh = false;
        }
    }

    fn mailbox_json(&self, m: &Mailbox) -> Value {
        let user = m.user.as_ref().and_then(|id| self.user_by_id(id));
        let primary = m
            .addresses
            .iter()
            .find_map(|a| a.strip_prefix("SMTP:"))
            .unwrap_or("");
        let mut v = json!({
            "Guid": m.guid,
            "ExchangeGuid": m.guid,
            "ExternalDirectoryObjectId": m.user.clone().unwrap_or_default(),
            "UserPrincipalName": user.map(User::upn).unwrap_or(primary),
            "PrimarySmtpAddress": primary,
            "EmailAddresses": m.addresses,
            "RecipientTypeDetails": m.kind,
            "HiddenFromAddressListsEnabled": m.hidden,
            "DisplayName": user.map(|u| text(u.props.get("displayName"))).unwrap_or(primary),
        });
        for n in 1..=15 {
            let value = user
                .and_then(|u| {
                    u.get(&format!(
                        "onPremisesExtensionAttributes/extensionAttribute{n}"
                    ))
                })
                .cloned()
                .unwrap_or(Value::from(""));
            v[format!("CustomAttribute{n}")] = value;
        }
        v
    }

    /// A visible mailbox by Guid, UPN, address or object id.
    fn find_mailbox(&mut self, key: &str, now: Instant) -> Option<usize> {
        self.refresh();
        let key = key.trim();
        let i = self
            .index
            .mailboxes
            .get(key)
            .or_else(|| self.index.mailboxes.get(&bare(key)))
            .copied()?;
        self.mailboxes
            .get(i)
            .filter(|m| now >= m.visible)
            .map(|_| i)
    }

    /// The value of `CustomAttributeN` of a mailbox (its user's extension attribute).
    fn custom_attribute(&self, m: &Mailbox, n: u8) -> &str {
        m.user
            .as_ref()
            .and_then(|id| self.user_by_id(id))
            .and_then(|u| {
                u.get(&format!(
                    "onPremisesExtensionAttributes/extensionAttribute{n}"
                ))
            })
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

impl MicrosoftSim {
    /// A tenant as `setup` says, without users.
    pub fn new(setup: TenantSetup) -> Arc<Self> {
        let mut tenant = Tenant {
            domains: setup.domains.clone(),
            ..Tenant::default()
        };
        for (name, dynamic) in setup
            .groups
            .iter()
            .map(|g| (g, false))
            .chain(setup.dynamic_groups.iter().map(|g| (g, true)))
        {
            let id = tenant.new_id(0x6701);
            let made = Instant::now();
            tenant.groups.push(Group {
                id,
                name: name.clone(),
                dynamic,
                members: BTreeSet::new(),
                unique_name: None,
                mail_nickname: name.replace(' ', ""),
                description: None,
                unified: false,
                created: made,
                indexed: made,
            });
        }
        for (part, units, exchange) in &setup.skus {
            let id = tenant.new_id(0x5c00);
            tenant.skus.push(Sku {
                id,
                part: part.clone(),
                units: *units,
                exchange: *exchange,
            });
        }
        for address in &setup.shared_mailboxes {
            let guid = tenant.new_id(0x5a4e);
            tenant.mailboxes.push(Mailbox {
                guid,
                user: None,
                addresses: vec![format!("SMTP:{address}")],
                hidden: false,
                kind: "SharedMailbox".into(),
                visible: Instant::now(),
            });
        }
        for name in &setup.distribution_groups {
            tenant.distribution.insert(name.clone(), BTreeSet::new());
        }
        Arc::new(Self {
            tenant: Mutex::new(tenant),
            faults: Mutex::new(Faults::default()),
            setup,
            tokens: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
            batch_items: AtomicU64::new(0),
            by_call: Mutex::new(BTreeMap::new()),
        })
    }

    /// Serves it on a loopback port; returns the base URL (authority, Graph and
    /// Exchange all live there).
    pub fn start(self: &Arc<Self>) -> std::io::Result<String> {
        super::spawn(self.clone().router())
    }

    /// The routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/:tenant/oauth2/v2.0/token", post(token))
            .route("/adminapi/beta/:tenant/InvokeCommand", post(invoke_command))
            .fallback(graph)
            .with_state(self)
    }

    /// Client settings that sign in to this simulator at `base` (from [`Self::start`])
    /// for Graph (`exchange` false) or Exchange Online, with short test backoffs.
    pub fn api_settings(
        &self,
        base: &str,
        exchange: bool,
    ) -> crate::targets::microsoft::MicrosoftSettings {
        let scope = if exchange {
            "https://outlook.office365.com/.default"
        } else {
            "https://graph.microsoft.com/.default"
        };
        let mut s = crate::targets::microsoft::MicrosoftSettings::new(
            base,
            &self.setup.tenant_id,
            &self.setup.client_id,
            crate::secret::Secret::new(self.setup.client_secret.clone()),
            base,
            scope,
        );
        s.backoff_base = Duration::from_millis(5);
        s.backoff_max = Duration::from_millis(200);
        s.max_attempts = 8;
        s
    }

    /// The tenant setup.
    pub fn setup(&self) -> &TenantSetup {
        &self.setup
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// API calls answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Requests inside `$batch` calls so far.
    pub fn batch_items(&self) -> u64 {
        self.batch_items.load(Ordering::Relaxed)
    }

    /// Calls per kind (`POST /v1.0/users`, `cmdlet Set-Mailbox`, ...).
    pub fn calls_by_kind(&self) -> BTreeMap<String, u64> {
        lock(&self.by_call).clone()
    }

    /// Every access token stops working (as after a key rollover).
    pub fn revoke_tokens(&self) {
        lock(&self.tokens).clear();
    }

    /// The users, as Graph shows them (plus `manager`, `licenses`, `memberOf` and
    /// `revocations` for tests).
    pub fn users(&self) -> Vec<Value> {
        let t = lock(&self.tenant);
        t.users
            .iter()
            .map(|u| {
                let mut v = u.json();
                let manager = u
                    .manager
                    .as_ref()
                    .and_then(|m| t.users.iter().find(|x| &x.id == m))
                    .map(|m| m.upn().to_string());
                v["manager"] = json!(manager);
                v["licenses"] = json!(u
                    .licences
                    .iter()
                    .filter_map(|l| t.skus.iter().find(|s| &s.id == l))
                    .map(|s| s.part.clone())
                    .collect::<Vec<_>>());
                v["memberOf"] = json!(t
                    .groups
                    .iter()
                    .filter(|g| g.members.contains(&u.id))
                    .map(|g| g.name.clone())
                    .collect::<Vec<_>>());
                v["revocations"] = json!(u.revocations);
                v
            })
            .collect()
    }

    /// Soft-deleted users (UPNs).
    pub fn deleted(&self) -> Vec<String> {
        lock(&self.tenant)
            .deleted
            .iter()
            .map(|u| u.upn().to_string())
            .collect()
    }

    /// Puts a user in a group, as an admin did before Stroom (for large set-ups that
    /// would take a Graph call each); false when there is no such group.
    pub fn add_member(&self, group: &str, user: &str) -> bool {
        let mut t = lock(&self.tenant);
        match t.groups.iter_mut().find(|g| g.name == group) {
            Some(g) => {
                g.members.insert(user.to_string());
                true
            }
            None => false,
        }
    }

    /// The Temporary Access Pass of the user with this UPN: its pass, start and lifetime.
    pub fn tap(&self, upn: &str) -> Option<Value> {
        let t = lock(&self.tenant);
        t.users
            .iter()
            .find(|u| text(u.props.get("userPrincipalName")).eq_ignore_ascii_case(upn))
            .and_then(|u| u.tap.as_ref())
            .map(|p| json!({"id": p.id, "pass": p.pass, "startDateTime": p.start, "lifetimeInMinutes": p.minutes}))
    }

    /// Every group: its Graph properties and `members` (user ids).
    pub fn groups(&self) -> Vec<Value> {
        let t = lock(&self.tenant);
        t.groups
            .iter()
            .map(|g| {
                let mut v = g.json();
                v["members"] = json!(g.members);
                v
            })
            .collect()
    }

    /// A user made outside Stroom (for conflict tests); returns its id.
    pub fn add_user(&self, props: Value) -> String {
        let mut t = lock(&self.tenant);
        let id = t.new_id(0x0005);
        let now = Instant::now();
        t.users.push(User {
            id: id.clone(),
            props: props.as_object().cloned().unwrap_or_default(),
            created: now - Duration::from_secs(3600),
            indexed: now - Duration::from_secs(3600),
            manager: None,
            licences: BTreeSet::new(),
            revocations: 0,
            tap: None,
        });
        let last = t.users.len() - 1;
        t.index_user(last);
        id
    }

    /// Mailboxes as `Get-Mailbox` shows them, visible or not yet.
    pub fn mailboxes(&self) -> Vec<Value> {
        let t = lock(&self.tenant);
        t.mailboxes.iter().map(|m| t.mailbox_json(m)).collect()
    }

    /// Mailbox permissions: (mailbox primary address, trustee UPN, right).
    pub fn permissions(&self) -> Vec<(String, String, String)> {
        let t = lock(&self.tenant);
        let name = |guid: &str| {
            t.mailboxes
                .iter()
                .find(|m| m.guid == guid)
                .map(|m| t.mailbox_json(m))
                .map(|v| {
                    (
                        text(v.get("PrimarySmtpAddress")).to_string(),
                        text(v.get("UserPrincipalName")).to_string(),
                    )
                })
                .unwrap_or_default()
        };
        t.permissions
            .iter()
            .map(|(m, u, r)| (name(m).0, name(u).1, r.clone()))
            .collect()
    }

    /// Members (UPNs) of a distribution group.
    pub fn distribution_members(&self, group: &str) -> Vec<String> {
        let t = lock(&self.tenant);
        t.distribution
            .get(group)
            .into_iter()
            .flatten()
            .filter_map(|g| t.mailboxes.iter().find(|m| &m.guid == g))
            .map(|m| text(t.mailbox_json(m).get("UserPrincipalName")).to_string())
            .collect()
    }

    fn count(&self, kind: String) {
        *lock(&self.by_call).entry(kind).or_default() += 1;
    }

    /// The fault for this API call, if any: (status, Retry-After).
    fn fault(&self) -> Option<(u16, u64)> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let f = lock(&self.faults).clone();
        if f.throttle_every > 0 && n.is_multiple_of(u64::from(f.throttle_every)) {
            return Some((429, f.retry_after_seconds));
        }
        if f.server_error_every > 0 && n.is_multiple_of(u64::from(f.server_error_every)) {
            return Some((503, f.retry_after_seconds));
        }
        None
    }

    /// Checks the bearer token for an audience.
    fn authorized(&self, headers: &HeaderMap, audience: &str) -> Result<(), (u16, Value)> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        match lock(&self.tokens).get(token) {
            Some((aud, until)) if aud == audience && Instant::now() < *until => Ok(()),
            Some((aud, _)) if aud != audience => Err(error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )),
            _ => Err(error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            )),
        }
    }
}

fn reply(status: u16, body: Value, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if body.is_null() {
        code.into_response()
    } else {
        (code, axum::Json(body)).into_response()
    };
    if let Some(s) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            response.headers_mut().insert("Retry-After", v);
        }
    }
    response
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

async fn token(
    State(sim): State<Arc<MicrosoftSim>>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let refuse = |status: u16, error: &str, description: &str| {
        reply(
            status,
            json!({"error": error, "error_description": description, "error_codes": [0]}),
            None,
        )
    };
    if tenant != sim.setup.tenant_id {
        return refuse(400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if form.grant_type.as_deref() != Some("client_credentials") {
        return refuse(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.client_id.as_deref() != Some(sim.setup.client_id.as_str()) {
        return refuse(
            400,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if form.client_secret.as_deref() != Some(sim.setup.client_secret.as_str()) {
        return refuse(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
    }
    let scope = form.scope.unwrap_or_default();
    let audience = if scope == "https://graph.microsoft.com/.default" {
        "graph"
    } else if scope == "https://outlook.office365.com/.default" {
        "exchange"
    } else {
        return refuse(
            400,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    };
    let lifetime = match lock(&sim.faults).token_lifetime_seconds {
        0 => 3599,
        n => n,
    };
    let token = format!(
        "sim-{audience}-{:016x}{:016x}",
        crate::random::random_u64(),
        crate::random::random_u64()
    );
    lock(&sim.tokens).insert(
        token.clone(),
        (
            audience.to_string(),
            Instant::now() + Duration::from_secs(lifetime),
        ),
    );
    reply(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
        None,
    )
}

async fn graph(
    State(sim): State<Arc<MicrosoftSim>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/v1.0") else {
        return reply(
            404,
            json!({"error": {"code": "NotFound", "message": "no such API"}}),
            None,
        );
    };
    if let Err((s, b)) = sim.authorized(&headers, "graph") {
        return reply(s, b, None);
    }
    if let Some((status, after)) = sim.fault() {
        let (code, message) = if status == 429 {
            (
                "TooManyRequests",
                "Too many requests. Please retry after the time in Retry-After.",
            )
        } else {
            (
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            )
        };
        let (s, b) = error(status, code, message);
        return reply(s, b, Some(after));
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                let (s, b) = error(400, "BadRequest", "Unable to read JSON request payload.");
                return reply(s, b, None);
            }
        }
    };
    let eventual = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
    );
    let query = query.unwrap_or_default();
    if method == Method::POST && path == "/$batch" {
        sim.count("POST /v1.0/$batch".into());
        let (s, b) = sim.batch(&body, &base);
        return reply(s, b, None);
    }
    let prefer_create = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("create-if-missing"));
    let (s, b) = sim.dispatch(
        method.as_str(),
        path,
        &query,
        &body,
        eventual,
        prefer_create,
        &base,
    );
    reply(s, b, None)
}

/// The kind of a Graph call for counting: ids replaced by `{id}`.
fn kind_of(method: &str, path: &str) -> String {
    let shape: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.starts_with("groups(uniqueName=") {
                "groups(uniqueName={key})"
            } else if seg.contains('-') && seg.len() >= 32 || seg.contains('@') {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} /v1.0{}", shape.join("/"))
}

impl MicrosoftSim {
    fn batch(&self, body: &Value, base: &str) -> (u16, Value) {
        let Some(requests) = body.get("requests").and_then(Value::as_array) else {
            return error(400, "BadRequest", "Invalid batch payload format.");
        };
        if requests.len() > 20 {
            return error(
                400,
                "BadRequest",
                "Invalid batch payload format: the number of requests exceeds the limit of 20.",
            );
        }
        let every = lock(&self.faults).batch_throttle_every;
        let mut statuses: HashMap<String, u16> = HashMap::new();
        let mut responses = Vec::new();
        for r in requests {
            let n = self.batch_items.fetch_add(1, Ordering::Relaxed) + 1;
            let id = text(r.get("id")).to_string();
            let failed_dependency = r
                .get("dependsOn")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|d| statuses.get(d).is_none_or(|s| *s >= 400));
            let (status, body, headers) = if failed_dependency {
                let (s, b) = error(
                    424,
                    "FailedDependency",
                    "The request failed because it depended on a failed request.",
                );
                (s, b, json!({}))
            } else if every > 0 && n.is_multiple_of(u64::from(every)) {
                let (s, b) = error(429, "TooManyRequests", "Too many requests.");
                (s, b, json!({"Retry-After": "1"}))
            } else {
                let url = text(r.get("url"));
                let (path, query) = url.split_once('?').unwrap_or((url, ""));
                let method = text(r.get("method")).to_ascii_uppercase();
                let body = r.get("body").cloned().unwrap_or(Value::Null);
                let prefer_create = r
                    .pointer("/headers/Prefer")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.contains("create-if-missing"));
                let (s, b) = self.dispatch(&method, path, query, &body, false, prefer_create, base);
                (s, b, json!({}))
            };
            statuses.insert(id.clone(), status);
            let mut response = json!({"id": id, "status": status, "headers": headers});
            if !body.is_null() {
                response["body"] = body;
            }
            responses.push(response);
        }
        // Graph answers in any order.
        responses.reverse();
        (200, json!({ "responses": responses }))
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &Value,
        eventual: bool,
        prefer_create: bool,
        base: &str,
    ) -> (u16, Value) {
        self.count(kind_of(method, path));
        let params: HashMap<String, String> = reqwest::Url::parse(&format!("http://x/?{query}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let faults = lock(&self.faults).clone();
        let lag = Duration::from_millis(faults.replication_lag_ms);
        let now = Instant::now();
        let mut t = lock(&self.tenant);
        let decoded: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let object_id = |v: &Value| -> String {
            text(v.get("@odata.id"))
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        };
        match (method, segments.as_slice()) {
            ("GET", ["users"]) => {
                let filter = params.get("$filter").cloned().unwrap_or_default();
                // `$expand=manager($select=id)`: each user with its manager's id.
                let expand = params
                    .get("$expand")
                    .is_some_and(|e| e.starts_with("manager"));
                let with_manager = |u: &User, mut v: Value| {
                    if expand {
                        v["manager"] = match &u.manager {
                            Some(m) => json!({ "id": m }),
                            None => Value::Null,
                        };
                    }
                    v
                };
                if filter.is_empty() {
                    // Lists lag behind writes too: a user made moments ago is missing.
                    let visible: Vec<&User> = t.users.iter().filter(|u| now >= u.indexed).collect();
                    return page_of(
                        visible,
                        |u| with_manager(u, selected(t.user_json(u), &params)),
                        &params,
                        &format!("{base}/v1.0/users"),
                        query,
                    );
                }
                let items: Vec<Value> = {
                    let Some((prop, value)) = parse_eq(&filter) else {
                        return error(
                            400,
                            "Request_UnsupportedQuery",
                            "Unsupported or invalid query filter clause specified.",
                        );
                    };
                    let advanced = prop.starts_with("onPremisesExtensionAttributes/");
                    if advanced && !(eventual && params.get("$count").is_some_and(|c| c == "true"))
                    {
                        return error(400, "Request_UnsupportedQuery", &format!("Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'."));
                    }
                    t.users_with(&prop, &value)
                        .into_iter()
                        .map(|i| &t.users[i])
                        .filter(|u| now >= u.indexed)
                        .map(|u| t.user_json(u))
                        .map(|v| selected(v, &params))
                        .collect()
                };
                page(items, &params, &format!("{base}/v1.0/users"), query)
            }
            ("POST", ["users"]) => {
                let Some(props) = body.as_object() else {
                    return error(400, "BadRequest", "Empty Payload. JSON content expected.");
                };
                if let Err(e) = t.check_props(props) {
                    return e;
                }
                for required in [
                    "accountEnabled",
                    "displayName",
                    "mailNickname",
                    "userPrincipalName",
                ] {
                    if props.get(required).is_none_or(Value::is_null) {
                        return error(
                            400,
                            "Request_BadRequest",
                            &format!("Property '{required}' is required when creating the entity."),
                        );
                    }
                }
                let password = text(body.pointer("/passwordProfile/password"));
                if !password_ok(password) {
                    return error(400, "Request_BadRequest", "The specified password does not comply with password complexity requirements. Please provide a different password.");
                }
                if t.taken(
                    "userPrincipalName",
                    text(props.get("userPrincipalName")),
                    None,
                ) {
                    return error(400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.");
                }
                if t.taken("mail", text(props.get("mail")), None) {
                    return error(400, "Request_BadRequest", "Another object with the same value for property proxyAddresses already exists.");
                }
                let id = t.new_id(0x0001);
                let mut props = props.clone();
                props.insert(
                    "createdDateTime".into(),
                    Value::from(
                        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                );
                let user = User {
                    id: id.clone(),
                    props,
                    created: now,
                    indexed: now + Duration::from_millis(faults.index_lag_ms),
                    manager: None,
                    licences: BTreeSet::new(),
                    revocations: 0,
                    tap: None,
                };
                let json = user.json();
                t.users.push(user);
                let last = t.users.len() - 1;
                t.index_user(last);
                (201, json)
            }
            (_, ["users", key, rest @ ..]) => {
                let key = key.to_string();
                let Some(i) = t.user_index(&key, now, lag) else {
                    return not_found(&key);
                };
                let uid = t.users[i].id.clone();
                match (method, rest) {
                    ("GET", []) => (200, t.users[i].json()),
                    ("PATCH", []) => {
                        let Some(props) = body.as_object() else {
                            return error(
                                400,
                                "BadRequest",
                                "Empty Payload. JSON content expected.",
                            );
                        };
                        if let Err(e) = t.check_props(props) {
                            return e;
                        }
                        if t.taken(
                            "userPrincipalName",
                            text(props.get("userPrincipalName")),
                            Some(&uid),
                        ) {
                            return error(400, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.");
                        }
                        let user = &mut t.users[i];
                        for (k, v) in props {
                            match (k.as_str(), v) {
                                ("onPremisesExtensionAttributes", Value::Object(m)) => {
                                    let slot =
                                        user.props.entry(k.clone()).or_insert_with(|| json!({}));
                                    for (a, b) in m {
                                        slot[a] = b.clone();
                                    }
                                }
                                _ => {
                                    user.props.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        user.indexed = now + Duration::from_millis(faults.index_lag_ms);
                        if props.keys().any(|k| filterable(k)) {
                            t.index.fresh = false;
                        }
                        (204, Value::Null)
                    }
                    ("DELETE", []) => {
                        let user = t.users.remove(i);
                        t.index.fresh = false;
                        for g in &mut t.groups {
                            g.members.remove(&uid);
                        }
                        for u in &mut t.users {
                            if u.manager.as_deref() == Some(uid.as_str()) {
                                u.manager = None;
                            }
                        }
                        t.mailboxes
                            .retain(|m| m.user.as_deref() != Some(uid.as_str()));
                        t.deleted.push(user);
                        (204, Value::Null)
                    }
                    ("PUT", ["manager", "$ref"]) => {
                        let manager = object_id(body);
                        if t.user_index(&manager, now, lag).is_none() {
                            return not_found(&manager);
                        }
                        if manager == uid {
                            return error(
                                400,
                                "Request_BadRequest",
                                "A user cannot be their own manager.",
                            );
                        }
                        t.users[i].manager = Some(manager);
                        (204, Value::Null)
                    }
                    ("DELETE", ["manager", "$ref"]) => match t.users[i].manager.take() {
                        Some(_) => (204, Value::Null),
                        None => not_found("manager"),
                    },
                    ("GET", ["manager"]) => {
                        let m = t.users[i].manager.clone();
                        match m.and_then(|m| t.users.iter().find(|u| u.id == m)) {
                            Some(u) => (200, u.json()),
                            None => not_found("manager"),
                        }
                    }
                    ("POST", ["authentication", "temporaryAccessPassMethods"]) => {
                        // The tenant's Temporary Access Pass policy: lifetime within
                        // its bounds, a start no earlier than now.
                        let minutes = body
                            .get("lifetimeInMinutes")
                            .and_then(Value::as_u64)
                            .unwrap_or(60);
                        let (min, max) = (self.setup.tap_minutes.0, self.setup.tap_minutes.1);
                        if !(min..=max).contains(&minutes) {
                            return error(
                                400,
                                "badRequest",
                                &format!("The lifetime must be between {min} and {max} minutes as the Temporary Access Pass policy sets."),
                            );
                        }
                        let start = match body.get("startDateTime").and_then(Value::as_str) {
                            None => chrono::Utc::now(),
                            Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                                Ok(t)
                                    if t.with_timezone(&chrono::Utc)
                                        + chrono::Duration::minutes(5)
                                        >= chrono::Utc::now() =>
                                {
                                    t.with_timezone(&chrono::Utc)
                                }
                                _ => {
                                    return error(
                                        400,
                                        "badRequest",
                                        "startDateTime must be a time in the future.",
                                    )
                                }
                            },
                        };
                        let id = t.new_id(0x7a90);
                        // A pass of letters and digits, new each time.
                        let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
                        let pass: String = (0..16)
                            .map(|_| {
                                alphabet[crate::random::random_u64() as usize % alphabet.len()]
                                    as char
                            })
                            .collect();
                        let tap = Tap {
                            id: id.clone(),
                            pass: pass.clone(),
                            start: start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            minutes,
                        };
                        // Graph: a new pass replaces the one there is.
                        t.users[i].tap = Some(tap.clone());
                        (
                            201,
                            json!({"id": id, "temporaryAccessPass": pass, "startDateTime": tap.start,
                                     "lifetimeInMinutes": minutes, "isUsableOnce": body.get("isUsableOnce").cloned().unwrap_or(json!(false)),
                                     "isUsable": false, "methodUsabilityReason": "NotYetValid"}),
                        )
                    }
                    ("DELETE", ["authentication", "temporaryAccessPassMethods", tid]) => {
                        if t.users[i].tap.as_ref().is_some_and(|p| p.id == *tid) {
                            t.users[i].tap = None;
                            (204, Value::Null)
                        } else {
                            not_found(tid)
                        }
                    }
                    ("POST", ["revokeSignInSessions"]) => {
                        t.users[i].revocations += 1;
                        (200, json!({"value": true}))
                    }
                    ("POST", ["assignLicense"]) => self.assign(&mut t, i, body, now),
                    ("GET", ["licenseDetails"]) => {
                        let items: Vec<Value> = t.users[i]
                            .licences
                            .iter()
                            .filter_map(|l| t.skus.iter().find(|s| &s.id == l))
                            .map(|s| json!({"id": s.id, "skuId": s.id, "skuPartNumber": s.part}))
                            .collect();
                        (200, json!({ "value": items }))
                    }
                    ("GET", ["memberOf", ..]) => {
                        let items: Vec<Value> = t
                            .groups
                            .iter()
                            .filter(|g| g.members.contains(&uid))
                            .map(|g| json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.name}))
                            .collect();
                        (200, json!({ "value": items }))
                    }
                    _ => unsupported(method, path),
                }
            }
            ("GET", ["groups"]) => {
                let filter = params.get("$filter").cloned().unwrap_or_default();
                let wanted = parse_eq(&filter);
                if !filter.is_empty() && wanted.as_ref().is_none_or(|(p, _)| p != "displayName") {
                    return error(
                        400,
                        "Request_UnsupportedQuery",
                        "Unsupported or invalid query filter clause specified.",
                    );
                }
                // A filter reads the index, which lags behind writes.
                let items: Vec<Value> = t
                    .groups
                    .iter()
                    .filter(|g| {
                        wanted
                            .as_ref()
                            .is_none_or(|(_, v)| g.name.eq_ignore_ascii_case(v) && now >= g.indexed)
                    })
                    .map(|g| selected(g.json(), &params))
                    .collect();
                page(items, &params, &format!("{base}/v1.0/groups"), query)
            }
            (_, [key]) if key.starts_with("groups(uniqueName=") => {
                let unique = key
                    .trim_start_matches("groups(uniqueName=")
                    .trim_end_matches(')')
                    .trim_matches('\'')
                    .to_string();
                let found = t.groups.iter().position(|g| {
                    g.unique_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&unique))
                });
                match (method, found) {
                    ("GET", Some(g)) if now >= t.groups[g].created + lag => {
                        (200, selected(t.groups[g].json(), &params))
                    }
                    ("GET", _) => not_found(&unique),
                    ("PATCH", Some(g)) => {
                        let new = match check_new_group(body) {
                            Ok(v) => v,
                            Err(e) => return e,
                        };
                        let group = &mut t.groups[g];
                        (group.name, group.mail_nickname, group.unified) =
                            (new.name, new.nick, new.unified);
                        group.description = new.description;
                        (204, Value::Null)
                    }
                    ("PATCH", None) if !prefer_create => not_found(&unique),
                    ("PATCH", None) => {
                        let new = match check_new_group(body) {
                            Ok(v) => v,
                            Err(e) => return e,
                        };
                        let id = t.new_id(0x6702);
                        t.groups.push(Group {
                            id,
                            name: new.name,
                            dynamic: false,
                            members: BTreeSet::new(),
                            unique_name: Some(unique),
                            mail_nickname: new.nick,
                            description: new.description,
                            unified: new.unified,
                            created: now,
                            indexed: now + Duration::from_millis(faults.index_lag_ms),
                        });
                        (201, t.groups[t.groups.len() - 1].json())
                    }
                    _ => unsupported(method, path),
                }
            }
            (_, ["groups", gid, "members", rest @ ..]) => {
                // A group made moments ago is not found by id yet.
                let Some(g) = t
                    .groups
                    .iter()
                    .position(|g| g.id == *gid && now >= g.created + lag)
                else {
                    return not_found(gid);
                };
                match (method, rest) {
                    ("POST", ["$ref"]) => {
                        let member = object_id(body);
                        let Some(u) = t.user_index(&member, now, lag) else {
                            return not_found(&member);
                        };
                        if t.groups[g].dynamic {
                            return error(
                                400,
                                "Request_BadRequest",
                                "Insufficient privileges to complete the operation.",
                            );
                        }
                        let uid = t.users[u].id.clone();
                        if !t.groups[g].members.insert(uid) {
                            return error(400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.");
                        }
                        (204, Value::Null)
                    }
                    ("DELETE", [member, "$ref"]) => {
                        if t.groups[g].members.remove(*member) {
                            (204, Value::Null)
                        } else {
                            not_found(member)
                        }
                    }
                    ("GET", []) => {
                        let items: Vec<&User> = t.groups[g]
                            .members
                            .iter()
                            .filter_map(|m| t.index.users.get(m).map(|&i| &t.users[i]))
                            .collect();
                        page_of(
                            items,
                            |u| selected(t.user_json(u), &params),
                            &params,
                            &format!("{base}/v1.0/groups/{gid}/members"),
                            query,
                        )
                    }
                    _ => unsupported(method, path),
                }
            }
            ("GET", ["subscribedSkus"]) => {
                let items: Vec<Value> = t
                    .skus
                    .iter()
                    .map(|s| {
                        let used = t
                            .users
                            .iter()
                            .filter(|u| u.licences.contains(&s.id))
                            .count();
                        json!({"skuId": s.id, "skuPartNumber": s.part, "consumedUnits": used,
                               "prepaidUnits": {"enabled": s.units, "suspended": 0, "warning": 0}})
                    })
                    .collect();
                (200, json!({ "value": items }))
            }
            _ => error(
                400,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    segments.first().unwrap_or(&"")
                ),
            ),
        }
    }

    fn assign(&self, t: &mut Tenant, i: usize, body: &Value, now: Instant) -> (u16, Value) {
        let add: Vec<String> = body
            .get("addLicenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| text(l.get("skuId")).to_string())
            .collect();
        let remove: Vec<String> = body
            .get("removeLicenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        for sku in add.iter().chain(&remove) {
            if !t.skus.iter().any(|s| &s.id == sku) {
                return error(
                    400,
                    "Request_BadRequest",
                    &format!("License {sku} does not correspond to a valid company License."),
                );
            }
        }
        if !add.is_empty() && text(t.users[i].props.get("usageLocation")).is_empty() {
            return error(
                400,
                "Request_BadRequest",
                "License assignment failed because of invalid usage location.",
            );
        }
        for sku in &remove {
            if !t.users[i].licences.contains(sku) {
                return error(
                    400,
                    "Request_BadRequest",
                    "User does not have a corresponding license.",
                );
            }
        }
        for sku in &add {
            let used = t.users.iter().filter(|u| u.licences.contains(sku)).count() as u32;
            let units = t.skus.iter().find(|s| &s.id == sku).map_or(0, |s| s.units);
            if !t.users[i].licences.contains(sku) && used >= units {
                return error(
                    400,
                    "Request_BadRequest",
                    &format!("Subscription {sku} does not have any available licenses."),
                );
            }
        }
        for sku in remove {
            t.users[i].licences.remove(&sku);
        }
        for sku in add {
            t.users[i].licences.insert(sku);
        }
        let delay = Duration::from_millis(lock(&self.faults).mailbox_delay_ms);
        t.sync_mailbox(i, now, delay);
        (200, t.users[i].json())
    }
}

/// A path segment with `%XX` escapes decoded (as Graph reads `users/a%40b.nl`).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One page of a list, with `@odata.nextLink` when more follow.
fn page(
    items: Vec<Value>,
    params: &HashMap<String, String>,
    url: &str,
    query: &str,
) -> (u16, Value) {
    page_of(items, |v| v, params, url, query)
}

/// One page of a list whose items are made (`make`) only for the page: a tenant of
/// 50,000 users answers each page without turning every user into JSON.
fn page_of<T>(
    items: Vec<T>,
    make: impl FnMut(T) -> Value,
    params: &HashMap<String, String>,
    url: &str,
    query: &str,
) -> (u16, Value) {
    let top = params
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(100);
    if top == 0 || top > 999 {
        return error(
            400,
            "Request_BadRequest",
            "Invalid page size specified: must be between 1 and 999.",
        );
    }
    let skip = params
        .get("$skiptoken")
        .and_then(|s| s.strip_prefix("X'"))
        .and_then(|s| s.trim_end_matches('\'').parse::<usize>().ok())
        .unwrap_or(0);
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(skip).take(top).map(make).collect();
    let mut out = json!({ "value": slice });
    if params.get("$count").is_some_and(|c| c == "true") {
        out["@odata.count"] = json!(total);
    }
    if skip + top < total {
        let kept: String = query
            .split('&')
            .filter(|p| !p.starts_with("%24skiptoken") && !p.starts_with("$skiptoken"))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if kept.is_empty() { "" } else { "&" };
        out["@odata.nextLink"] = json!(format!("{url}?{kept}{sep}$skiptoken=X'{}'", skip + top));
    }
    (200, out)
}

async fn invoke_command(
    State(sim): State<Arc<MicrosoftSim>>,
    Path(tenant): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((s, b)) = sim.authorized(&headers, "exchange") {
        return reply(s, b, None);
    }
    if tenant != sim.setup.tenant_id {
        let (s, b) = error(404, "NotFound", "Tenant not found.");
        return reply(s, b, None);
    }
    if !headers
        .get("x-anchormailbox")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"))
    {
        let (s, b) = error(
            400,
            "BadRequest",
            "The X-AnchorMailbox header is missing or invalid.",
        );
        return reply(s, b, None);
    }
    if let Some((status, after)) = sim.fault() {
        let (s, b) = error(
            status,
            if status == 429 {
                "TooManyRequests"
            } else {
                "ServiceUnavailable"
            },
            "The server is busy. Please retry later.",
        );
        return reply(s, b, Some(after));
    }
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = text(input.pointer("/CmdletInput/CmdletName")).to_string();
    let params = input
        .pointer("/CmdletInput/Parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    sim.count(format!("cmdlet {name}"));
    // Long answers come in pages, the next one at `@odata.nextLink` (the same POST).
    let skip = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| {
            p.strip_prefix("$skiptoken=")
                .or_else(|| p.strip_prefix("%24skiptoken="))
        })
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let here = format!(
        "http://{}{}",
        headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost"),
        uri.path()
    );
    let (s, mut b) = sim.cmdlet(&name, &params);
    if let Some(Value::Array(items)) = b.get_mut("value") {
        if items.len() > skip + EXO_PAGE || skip > 0 {
            let total = items.len();
            let page: Vec<Value> = items.drain(..).skip(skip).take(EXO_PAGE).collect();
            *items = page;
            if skip + EXO_PAGE < total {
                b["@odata.nextLink"] = json!(format!("{here}?$skiptoken={}", skip + EXO_PAGE));
            }
        }
    }
    reply(s, b, None)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Parameters each cmdlet takes.
/// Items per page of a cmdlet's answer.
const EXO_PAGE: usize = 1000;

const CMDLETS: &[(&str, &[&str])] = &[
    (
        "Get-Mailbox",
        &["Identity", "Filter", "ResultSize", "RecipientTypeDetails"],
    ),
    ("Get-MailboxPermission", &["Identity", "ResultSize"]),
    ("Get-RecipientPermission", &["Identity", "ResultSize"]),
    ("Get-DistributionGroupMember", &["Identity", "ResultSize"]),
    (
        "Set-Mailbox",
        &[
            "Identity",
            "EmailAddresses",
            "HiddenFromAddressListsEnabled",
            "Type",
            "AuditEnabled",
            "DeliverToMailboxAndForward",
            "DisplayName",
            "ForwardingSmtpAddress",
            "LitigationHoldEnabled",
            "MessageCopyForSendOnBehalfEnabled",
            "MessageCopyForSentAsEnabled",
            "Office",
            "RetentionPolicy",
        ],
    ),
    (
        "Add-MailboxPermission",
        &[
            "Identity",
            "User",
            "AccessRights",
            "InheritanceType",
            "AutoMapping",
        ],
    ),
    (
        "Remove-MailboxPermission",
        &[
            "Identity",
            "User",
            "AccessRights",
            "InheritanceType",
            "Confirm",
        ],
    ),
    (
        "Add-RecipientPermission",
        &["Identity", "Trustee", "AccessRights", "Confirm"],
    ),
    (
        "Remove-RecipientPermission",
        &["Identity", "Trustee", "AccessRights", "Confirm"],
    ),
    (
        "Add-DistributionGroupMember",
        &["Identity", "Member", "BypassSecurityGroupManagerCheck"],
    ),
    (
        "Remove-DistributionGroupMember",
        &[
            "Identity",
            "Member",
            "BypassSecurityGroupManagerCheck",
            "Confirm",
        ],
    ),
];

impl MicrosoftSim {
    fn cmdlet(&self, name: &str, params: &Map<String, Value>) -> (u16, Value) {
        let Some((_, allowed)) = CMDLETS.iter().find(|(n, _)| *n == name) else {
            return exo_error(400, "System.Management.Automation.CommandNotFoundException", &format!("The term '{name}' is not recognized as a name of a cmdlet, function, script file, or executable program."));
        };
        // Set-Mailbox also takes CustomAttribute1..15.
        let custom = |k: &str| {
            name == "Set-Mailbox"
                && k.strip_prefix("CustomAttribute")
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (1..=15).contains(&n))
        };
        if let Some(bad) = params
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && !custom(k))
        {
            return exo_error(
                400,
                "System.Management.Automation.ParameterBindingException",
                &format!("A parameter cannot be found that matches parameter name '{bad}'."),
            );
        }
        let now = Instant::now();
        let mut t = lock(&self.tenant);
        let identity = text(params.get("Identity")).to_string();
        let ok = |value: Vec<Value>| {
            (
                200,
                json!({"@odata.context": "https://outlook.office365.com/adminapi/beta/$metadata#Collection(Exchange.GenericHashTable)", "value": value}),
            )
        };
        let mailbox =
            |t: &mut Tenant, key: &str| t.find_mailbox(key, now).ok_or_else(|| exo_not_found(key));
        match name {
            "Get-Mailbox" => {
                if let Some(filter) = params.get("Filter").and_then(Value::as_str) {
                    let parsed = filter.split_once(" -eq ").and_then(|(attr, v)| {
                        let n = attr
                            .trim()
                            .strip_prefix("CustomAttribute")?
                            .parse::<u8>()
                            .ok()?;
                        let v = v.trim().strip_prefix('\'')?.strip_suffix('\'')?;
                        (!v.replace("''", "").contains('\'')).then(|| (n, v.replace("''", "'")))
                    });
                    let Some((n, value)) = parsed else {
                        return exo_error(400, "Microsoft.Exchange.Management.Tasks.InvalidFilterException", &format!("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"Invalid filter syntax: {filter}\""));
                    };
                    let property = format!("onPremisesExtensionAttributes/extensionAttribute{n}");
                    let users = if value.is_empty() {
                        Vec::new()
                    } else {
                        t.users_with(&property, &value)
                    };
                    let found: Vec<Value> = users
                        .into_iter()
                        .filter_map(|u| t.index.mailboxes.get(&t.users[u].id).copied())
                        .filter_map(|i| t.mailboxes.get(i))
                        .filter(|m| now >= m.visible && t.custom_attribute(m, n) == value)
                        .map(|m| t.mailbox_json(m))
                        .collect();
                    return ok(found);
                }
                if identity.is_empty() {
                    // Every visible mailbox (of one type, when asked).
                    let kind = params.get("RecipientTypeDetails").and_then(Value::as_str);
                    let all: Vec<Value> = t
                        .mailboxes
                        .iter()
                        .filter(|m| now >= m.visible && kind.is_none_or(|k| m.kind == k))
                        .map(|m| t.mailbox_json(m))
                        .collect();
                    return ok(all);
                }
                match mailbox(&mut t, &identity) {
                    Ok(i) => ok(vec![t.mailbox_json(&t.mailboxes[i])]),
                    Err(e) => e,
                }
            }
            "Get-MailboxPermission" | "Get-RecipientPermission" => {
                let on = match mailbox(&mut t, &identity) {
                    Ok(i) => t.mailboxes[i].guid.clone(),
                    Err(e) => return e,
                };
                let send_as = name == "Get-RecipientPermission";
                let rows: Vec<Value> = t
                    .permissions
                    .iter()
                    .filter(|(m, _, r)| *m == on && (r == "SendAs") == send_as)
                    .filter_map(|(_, trustee, right)| {
                        let who = t.mailboxes.iter().find(|m| &m.guid == trustee)?;
                        let upn = text(t.mailbox_json(who).get("UserPrincipalName")).to_string();
                        Some(if send_as {
                            json!({"Identity": identity, "Trustee": upn, "AccessRights": [right], "AccessControlType": "Allow", "IsInherited": false})
                        } else {
                            json!({"Identity": identity, "User": upn, "AccessRights": [right], "Deny": false, "IsInherited": false})
                        })
                    })
                    .collect();
                ok(rows)
            }
            "Get-DistributionGroupMember" => {
                let Some(members) = t
                    .distribution
                    .iter()
                    .find(|(g, _)| g.eq_ignore_ascii_case(&identity))
                    .map(|(_, m)| m.clone())
                else {
                    return exo_not_found(&identity);
                };
                let rows: Vec<Value> = members
                    .iter()
                    .filter_map(|guid| t.mailboxes.iter().find(|m| &m.guid == guid))
                    .map(|m| t.mailbox_json(m))
                    .collect();
                ok(rows)
            }
            "Set-Mailbox" => {
                let i = match mailbox(&mut t, &identity) {
                    Ok(i) => i,
                    Err(e) => return e,
                };
                if let Some(addresses) = params.get("EmailAddresses") {
                    let list = strings(Some(addresses));
                    if list.iter().filter(|a| a.starts_with("SMTP:")).count() != 1 {
                        return exo_error(400, "Microsoft.Exchange.Data.DataValidationException", "There must be exactly one primary SMTP address (SMTP:) in EmailAddresses.");
                    }
                    let own = t.mailboxes[i].guid.clone();
                    for a in &list {
                        let bare = a.split_once(':').map_or(a.as_str(), |(_, v)| v);
                        if let Some(other) = t.mailboxes.iter().find(|m| {
                            m.guid != own
                                && m.addresses.iter().any(|x| {
                                    x.split_once(':')
                                        .map_or(x.as_str(), |(_, v)| v)
                                        .eq_ignore_ascii_case(bare)
                                })
                        }) {
                            return exo_error(400, "Microsoft.Exchange.Management.Tasks.ProxyAddressExistsException", &format!("The proxy address \"{a}\" is already being used by the proxy addresses or LegacyExchangeDN of \"{}\". Please choose another proxy address.", other.guid));
                        }
                    }
                    t.mailboxes[i].addresses = list;
                    t.index.fresh = false;
                }
                if let Some(h) = params
                    .get("HiddenFromAddressListsEnabled")
                    .and_then(Value::as_bool)
                {
                    t.mailboxes[i].hidden = h;
                }
                if let Some(kind) = params.get("Type").and_then(Value::as_str) {
                    let details = match kind {
                        "Regular" => "UserMailbox",
                        "Shared" => "SharedMailbox",
                        "Room" => "RoomMailbox",
                        "Equipment" => "EquipmentMailbox",
                        other => return exo_error(400, "System.Management.Automation.ParameterBindingException", &format!("Cannot bind parameter 'Type'. Cannot convert value \"{other}\" to type \"ConvertibleMailboxSubType\".")),
                    };
                    t.mailboxes[i].kind = details.into();
                }
                for n in 1..=15 {
                    if let Some(v) = params.get(&format!("CustomAttribute{n}")) {
                        let user = t.mailboxes[i].user.clone();
                        if let Some(u) = user.and_then(|id| t.users.iter_mut().find(|u| u.id == id))
                        {
                            let slot = u
                                .props
                                .entry("onPremisesExtensionAttributes".to_string())
                                .or_insert_with(|| json!({}));
                            slot[format!("extensionAttribute{n}")] = v.clone();
                        }
                        t.index.fresh = false;
                    }
                }
                ok(Vec::new())
            }
            "Add-MailboxPermission"
            | "Remove-MailboxPermission"
            | "Add-RecipientPermission"
            | "Remove-RecipientPermission" => {
                let trustee_key = if name.contains("Mailbox") {
                    "User"
                } else {
                    "Trustee"
                };
                let on = match mailbox(&mut t, &identity) {
                    Ok(i) => t.mailboxes[i].guid.clone(),
                    Err(e) => return e,
                };
                let trustee = match mailbox(&mut t, text(params.get(trustee_key))) {
                    Ok(i) => t.mailboxes[i].guid.clone(),
                    Err(e) => return e,
                };
                let rights = strings(params.get("AccessRights"));
                let valid: &[&str] = if name.contains("Mailbox") {
                    &["FullAccess", "ReadPermission"]
                } else {
                    &["SendAs"]
                };
                if rights.is_empty() || rights.iter().any(|r| !valid.contains(&r.as_str())) {
                    return exo_error(
                        400,
                        "System.Management.Automation.ParameterBindingException",
                        &format!("Cannot bind parameter 'AccessRights' to the value {rights:?}."),
                    );
                }
                for r in rights {
                    let key = (on.clone(), trustee.clone(), r);
                    if name.starts_with("Add") {
                        t.permissions.insert(key);
                    } else {
                        t.permissions.remove(&key);
                    }
                }
                ok(vec![
                    json!({"Identity": identity, "User": trustee, "IsValid": true}),
                ])
            }
            "Add-DistributionGroupMember" | "Remove-DistributionGroupMember" => {
                let member_key = text(params.get("Member")).to_string();
                let member = match mailbox(&mut t, &member_key) {
                    Ok(i) => t.mailboxes[i].guid.clone(),
                    Err(e) => return e,
                };
                let Some(group) = t.distribution.get_mut(&identity) else {
                    return exo_not_found(&identity);
                };
                if name.starts_with("Add") {
                    if !group.insert(member) {
                        return exo_error(400, "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", &format!("The recipient \"{member_key}\" is already a member of the group \"{identity}\"."));
                    }
                } else if !group.remove(&member) {
                    return exo_error(400, "Microsoft.Exchange.Management.Tasks.MemberNotFoundException", &format!("Couldn't find object \"{member_key}\". Please make sure that it was spelled correctly or specify a different object. It isn't a member of the group \"{identity}\"."));
                }
                ok(Vec::new())
            }
            _ => ok(Vec::new()),
        }
    }
}
