//! Microsoft Entra ID over Microsoft Graph v1.0: users, manager, group membership and
//! licences, with an app-only token (client credentials).
//!
//! - **Correlation**: the person id is kept in one user property, by default
//!   `onPremisesExtensionAttributes/extensionAttribute1` (1,024 characters; Exchange
//!   shows it as `CustomAttribute1`, so the Exchange target finds the mailbox by it).
//!   Graph's `employeeId` holds only 16 characters and Nmbrs ids are 36: it stays free
//!   for the rules (the employee number). Filters on extension attributes are advanced
//!   queries (`ConsistencyLevel: eventual`, `$count=true`), whose index lags behind
//!   writes; hence the next two points.
//! - **No duplicates**: `userPrincipalName` is unique in a tenant. A create that finds
//!   it taken reads that user: when it carries this person's id it is adopted (made by
//!   an interrupted run), otherwise the create is refused and names the holder.
//! - **Eventual consistency**: a user made seconds ago can answer 404 to a read or a
//!   write. Such 404s are retried a few times ([`EntraSettings::settle_attempts`])
//!   before they count; object ids never change, so the engine keeps them.
//! - **Round trips**: a disable (account off + sign-in sessions revoked) and an update
//!   that also changes the manager go as one `$batch`; group and licence names are
//!   looked up once per run.

use super::microsoft::{quoted, runtime, Answer, Method, MicrosoftClient};
use super::{AccountRef, Entitlement, Target, TargetError, TargetResult};
use crate::http::encode;
use crate::model::group::{GroupSettings, GroupType};
use crate::model::live::{Holding, Inventory, LiveAccount, ReadRequest};
use crate::plan::read::PlannedAction;
use crate::rules::program::{Kind, OpKind};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The rules' name of the relation to the manager (a person id; in Graph a user).
const MANAGER: &str = "manager";

/// The most pages one list may take (100,000 × 999 users is far past any tenant).
const MAX_PAGES: u64 = 100_000;

/// Where correlation lives by default.
pub const DEFAULT_CORRELATION: &str = "onPremisesExtensionAttributes/extensionAttribute1";

/// A `[targets.NAME]` section of kind `entra` in stroom.toml (`[targets.entra]` for
/// the built-in name). The client secret comes from `client_secret_file` or the
/// environment, never from the file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The directory (tenant) id.
    pub tenant_id: String,
    /// The app registration's client id.
    pub client_id: String,
    /// File holding its client secret (or STROOM_ENTRA_CLIENT_SECRET).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The sign-in authority.
    #[serde(default = "super::microsoft::default_authority")]
    pub authority: String,
    /// The Graph base URL.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The token scope (another only for national clouds).
    #[serde(default = "default_graph_scope")]
    pub scope: String,
    /// The user property holding the person id.
    #[serde(default = "default_entra_correlation")]
    pub correlation_property: String,
    /// Revoke sign-in sessions on disable.
    #[serde(default = "yes")]
    pub revoke_sessions_on_disable: bool,
    /// Time limit of one call.
    #[serde(default = "super::microsoft::default_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per call on 429, 5xx and broken connections.
    #[serde(default = "super::microsoft::default_attempts")]
    pub max_attempts: u32,
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
}

fn default_graph_scope() -> String {
    "https://graph.microsoft.com/.default".into()
}

fn default_entra_correlation() -> String {
    DEFAULT_CORRELATION.into()
}

fn yes() -> bool {
    true
}

impl EntraConfig {
    /// The target's settings, for the target named `name`.
    pub fn settings(&self, name: &str, client_secret: crate::secret::Secret) -> EntraSettings {
        let mut api = super::microsoft::MicrosoftSettings::new(
            &self.authority,
            &self.tenant_id,
            &self.client_id,
            client_secret,
            &self.graph_url,
            &self.scope,
        );
        api.timeout = Duration::from_secs(self.timeout_seconds.max(1));
        api.max_attempts = self.max_attempts.max(1);
        EntraSettings {
            name: name.into(),
            correlation_property: self.correlation_property.clone(),
            revoke_sessions_on_disable: self.revoke_sessions_on_disable,
            ..EntraSettings::new(api)
        }
    }
}

/// How the Entra target works.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// The target's name in rules (`entra`).
    pub name: String,
    /// Sign-in and Graph base (`https://graph.microsoft.com`).
    pub api: super::microsoft::MicrosoftSettings,
    /// The user property holding the person id: `employeeId` or
    /// `onPremisesExtensionAttributes/extensionAttribute1` .. `15`.
    pub correlation_property: String,
    /// Tries of a call that answers 404 for an object made moments ago.
    pub settle_attempts: u32,
    /// First wait between those tries (doubled each time).
    pub settle_delay: Duration,
    /// Revoke the user's sign-in sessions when the account is disabled.
    pub revoke_sessions_on_disable: bool,
}

impl EntraSettings {
    /// Settings with the defaults: target `entra`, correlation in
    /// [`DEFAULT_CORRELATION`], 404s after a create tried 6 times from half a second,
    /// sessions revoked on disable.
    pub fn new(api: super::microsoft::MicrosoftSettings) -> Self {
        Self {
            name: "entra".into(),
            api,
            correlation_property: DEFAULT_CORRELATION.into(),
            settle_attempts: 6,
            settle_delay: Duration::from_millis(500),
            revoke_sessions_on_disable: true,
        }
    }

    /// Checks the correlation property.
    pub fn validate(&self) -> Result<(), TargetError> {
        let p = self.correlation_property.as_str();
        let extension = p
            .strip_prefix("onPremisesExtensionAttributes/extensionAttribute")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=15).contains(&n));
        if p == "employeeId" || extension {
            Ok(())
        } else {
            Err(TargetError::fatal(format!(
                "entra: correlation_property {p:?} cannot hold the person id\n  help: use \
                 {DEFAULT_CORRELATION:?} (or extensionAttribute2..15), or \"employeeId\" when \
                 person ids have at most 16 characters"
            )))
        }
    }
}

/// The Entra ID target.
pub struct EntraId {
    client: MicrosoftClient,
    runtime: tokio::runtime::Runtime,
    settings: EntraSettings,
    /// Group display name → object id, none, or why it cannot be used.
    groups: Mutex<HashMap<String, Result<Option<String>, String>>>,
    /// skuPartNumber → skuId.
    skus: Mutex<Option<HashMap<String, String>>>,
    /// Person → object id of accounts made or found by this process: the filter index
    /// may not show them yet.
    known: Mutex<HashMap<String, String>>,
}

/// A request inside a `$batch`.
struct BatchItem {
    method: Method,
    url: String,
    body: Option<Value>,
}

/// Graph's message when a create finds the name taken.
fn is_taken(answer: &Answer, property: &str) -> bool {
    answer.status == 400
        && answer.message().contains("same value for property")
        && answer.message().contains(property)
}

/// Splits `onPremisesExtensionAttributes/extensionAttribute1` into parent and child.
fn nested(property: &str) -> Option<(&str, &str)> {
    property.split_once('/')
}

/// Puts `value` at `property` (which may be `parent/child`) in a user body.
fn put(body: &mut Map<String, Value>, property: &str, value: Value) {
    match nested(property) {
        Some((parent, child)) => {
            let slot = body
                .entry(parent.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = slot {
                m.insert(child.to_string(), value);
            }
        }
        None => {
            body.insert(property.to_string(), value);
        }
    }
}

/// `mailNickname` from a UPN or address: its local part, with only the characters
/// Exchange takes.
fn nickname(upn: &str) -> String {
    let local = upn.split('@').next().unwrap_or(upn);
    let nick: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let nick = nick.trim_matches('.').to_string();
    if nick.is_empty() {
        "user".into()
    } else {
        nick.chars().take(64).collect()
    }
}

impl EntraId {
    /// An Entra target; nothing is called until the first operation.
    pub fn new(settings: EntraSettings) -> TargetResult<Self> {
        settings.validate()?;
        let client = MicrosoftClient::new(settings.api.clone(), "Graph")?;
        Ok(Self {
            client,
            runtime: runtime("Graph")?,
            settings,
            groups: Mutex::new(HashMap::new()),
            skus: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Calls made so far (token calls and retries included).
    pub fn calls(&self) -> u64 {
        self.client
            .stats
            .calls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn v1(&self) -> String {
        format!("{}/v1.0", self.client.base_url())
    }

    fn remember(&self, person: &str, id: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(person.to_string(), id.to_string());
    }

    fn forget(&self, id: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, v| v != id);
    }

    /// Sends a call; a 404 is tried again a few times first (a new object may not be
    /// visible yet).
    async fn settled(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TargetResult<Answer> {
        let mut delay = self.settings.settle_delay;
        let mut tries = 0;
        loop {
            tries += 1;
            let answer = self.client.send(method, path, body, &[]).await?;
            if answer.status != 404 || tries >= self.settings.settle_attempts.max(1) {
                return Ok(answer);
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }

    /// Every item of a list, following `@odata.nextLink` (on the Graph host only).
    async fn list(&self, path: &str, eventual: bool) -> TargetResult<Vec<Value>> {
        let mut out = Vec::new();
        self.pages(path, eventual, |items| out.extend(items))
            .await?;
        Ok(out)
    }

    /// Hands each page of a list to `each`, following `@odata.nextLink`; returns the
    /// number of pages. A list that never ends (a server that keeps linking) stops
    /// with an error after 100,000 pages instead of running forever.
    async fn pages(
        &self,
        path: &str,
        eventual: bool,
        mut each: impl FnMut(Vec<Value>),
    ) -> TargetResult<u64> {
        let headers: &[(&str, &str)] = if eventual {
            &[("ConsistencyLevel", "eventual")]
        } else {
            &[]
        };
        let mut next = path.to_string();
        let mut pages = 0u64;
        loop {
            pages += 1;
            let mut answer = self.client.send(Method::Get, &next, None, headers).await?;
            if !answer.ok() {
                return Err(self
                    .client
                    .refused(&format!("GET {}", path_only(path)), &answer));
            }
            match answer.body.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => each(items),
                _ => {
                    return Err(TargetError::transient(format!(
                        "Graph: GET {}: the answer has no `value` list",
                        path_only(path)
                    )))
                }
            }
            match answer.body.get("@odata.nextLink").and_then(Value::as_str) {
                Some(_) if pages >= MAX_PAGES => {
                    return Err(TargetError::fatal(format!(
                        "Graph: GET {}: still more after {MAX_PAGES} pages; the list does not end",
                        path_only(path)
                    )))
                }
                Some(link) => next = link.to_string(),
                None => return Ok(pages),
            }
        }
    }

    /// Sends up to 20 requests in one `$batch`; items answered 429/5xx (or 424, their
    /// dependency failed) go again after the longest Retry-After among them.
    async fn batch(&self, items: &[BatchItem]) -> TargetResult<Vec<Answer>> {
        let mut answers: Vec<Option<Answer>> = vec![None; items.len()];
        for attempt in 1..=self.client.settings().max_attempts {
            let pending: Vec<usize> = (0..items.len()).filter(|i| answers[*i].is_none()).collect();
            if pending.is_empty() {
                break;
            }
            let requests: Vec<Value> = pending
                .iter()
                .map(|&i| {
                    let item = &items[i];
                    let mut r = json!({
                        "id": (i + 1).to_string(),
                        "method": item.method.as_str(),
                        "url": item.url,
                    });
                    if let Some(b) = &item.body {
                        r["body"] = b.clone();
                        r["headers"] = json!({"Content-Type": "application/json"});
                    }
                    // Keep the order: each waits for the one before, when both go.
                    if i > 0 && pending.contains(&(i - 1)) {
                        r["dependsOn"] = json!([i.to_string()]);
                    }
                    r
                })
                .collect();
            let answer = self
                .client
                .send(
                    Method::Post,
                    "/v1.0/$batch",
                    Some(&json!({ "requests": requests })),
                    &[],
                )
                .await?;
            if !answer.ok() {
                return Err(self.client.refused("POST /$batch", &answer));
            }
            let mut wait = Duration::ZERO;
            for r in answer
                .body
                .get("responses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(i) = r
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .filter(|i| *i < items.len())
                else {
                    continue;
                };
                let status = r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
                if super::microsoft::retryable(status) || status == 424 || status == 0 {
                    let after = r
                        .pointer("/headers/Retry-After")
                        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
                        .map(Duration::from_secs)
                        .unwrap_or(Duration::ZERO);
                    wait = wait.max(after);
                    continue;
                }
                answers[i] = Some(Answer {
                    status,
                    body: r.get("body").cloned().unwrap_or(Value::Null),
                });
            }
            if answers.iter().any(Option::is_none) {
                let s = self.client.settings();
                tokio::time::sleep(crate::http::backoff(
                    s.backoff_base,
                    s.backoff_max,
                    attempt,
                    (!wait.is_zero()).then_some(wait),
                ))
                .await;
            }
        }
        answers
            .into_iter()
            .zip(items)
            .map(|(a, item)| {
                a.ok_or_else(|| {
                    TargetError::transient(format!(
                        "Graph: {} {} (in $batch): still throttled or failing after {} attempts",
                        item.method.as_str(),
                        path_only(&item.url),
                        self.client.settings().max_attempts
                    ))
                })
            })
            .collect()
    }

    async fn find(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        let filter = format!(
            "{} eq {}",
            self.settings.correlation_property,
            quoted(person)
        );
        let path = format!(
            "/v1.0/users?$filter={}&$select=id,accountEnabled,userPrincipalName&$count=true&$top=999",
            encode(&filter)
        );
        let found = self.list(&path, true).await?;
        match found.as_slice() {
            [] => {
                let known = self
                    .known
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(person)
                    .cloned();
                Ok(known.map(|id| AccountRef { id, enabled: None }))
            }
            [user] => {
                let id = user
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| TargetError::transient("Graph: a user without an id"))?;
                self.remember(person, id);
                Ok(Some(AccountRef {
                    id: id.to_string(),
                    enabled: user.get("accountEnabled").and_then(Value::as_bool),
                }))
            }
            many => Err(TargetError::refused(format!(
                "Graph: {} users have {} = {person:?}; correlation must be unique\n  help: \
                 clear the property on all but the person's own account",
                many.len(),
                self.settings.correlation_property
            ))),
        }
    }

    /// The object id of the person's manager, when the manager has an account.
    async fn manager_id(&self, value: &Value) -> TargetResult<Option<String>> {
        match value.as_str() {
            Some(person) if !person.is_empty() => Ok(self.find(person).await?.map(|a| a.id)),
            _ => Ok(None),
        }
    }

    fn manager_item(&self, user: &str, manager: Option<String>) -> BatchItem {
        match manager {
            Some(m) => BatchItem {
                method: Method::Put,
                url: format!("/users/{user}/manager/$ref"),
                body: Some(json!({"@odata.id": format!("{}/directoryObjects/{m}", self.v1())})),
            },
            None => BatchItem {
                method: Method::Delete,
                url: format!("/users/{user}/manager/$ref"),
                body: None,
            },
        }
    }

    /// The user body for attributes from a rule; `manager` is taken out.
    fn user_body<'v>(
        &self,
        values: &'v Map<String, Value>,
    ) -> (Map<String, Value>, Option<&'v Value>) {
        let mut body = Map::new();
        let mut manager = None;
        for (k, v) in values {
            if k == "manager" {
                manager = Some(v);
            } else {
                put(&mut body, k, v.clone());
            }
        }
        (body, manager)
    }

    async fn create_user(
        &self,
        person: &str,
        attributes: &Map<String, Value>,
    ) -> TargetResult<AccountRef> {
        if let Some(existing) = self.find(person).await? {
            return Ok(existing);
        }
        let (mut body, manager) = self.user_body(attributes);
        let upn = attributes
            .get("userPrincipalName")
            .or_else(|| attributes.get("mail"))
            .and_then(Value::as_str)
            .filter(|s| s.contains('@'))
            .ok_or_else(|| {
                TargetError::refused(
                    "Graph: create: no userPrincipalName (or mail) to give the account\n  help: \
                     set userPrincipalName (or mail) in the rule's `account in entra` block",
                )
            })?
            .to_string();
        if self.settings.correlation_property == "employeeId" && person.chars().count() > 16 {
            return Err(TargetError::refused(format!(
                "Graph: create: the person id {person:?} is longer than employeeId's 16 characters\n  \
                 help: set correlation_property = {DEFAULT_CORRELATION:?} in [targets.entra]"
            )));
        }
        body.insert("userPrincipalName".into(), Value::from(upn.clone()));
        body.entry("mailNickname")
            .or_insert_with(|| Value::from(nickname(&upn)));
        body.entry("displayName")
            .or_insert_with(|| Value::from(upn.clone()));
        body.insert("accountEnabled".into(), Value::Bool(false));
        body.insert(
            "passwordProfile".into(),
            json!({"password": super::generate_password(), "forceChangePasswordNextSignIn": true}),
        );
        put(
            &mut body,
            &self.settings.correlation_property,
            Value::from(person),
        );
        let answer = self
            .client
            .send(Method::Post, "/v1.0/users", Some(&Value::Object(body)), &[])
            .await?;
        let id = if answer.ok() {
            answer
                .body
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| TargetError::transient("Graph: POST /users: no id in the answer"))?
                .to_string()
        } else if is_taken(&answer, "userPrincipalName") {
            self.adopt(person, &upn).await?
        } else {
            return Err(self.client.refused("POST /users", &answer));
        };
        self.remember(person, &id);
        if let Some(m) = manager {
            if let Some(manager) = self.manager_id(m).await? {
                let item = self.manager_item(&id, Some(manager));
                let answer = self
                    .settled(
                        item.method,
                        &format!("/v1.0{}", item.url),
                        item.body.as_ref(),
                    )
                    .await?;
                if !answer.ok() {
                    return Err(self.client.refused("PUT /users/{id}/manager/$ref", &answer));
                }
            }
        }
        Ok(AccountRef {
            id,
            enabled: Some(false),
        })
    }

    /// A user (by id or UPN): its object id and the person id it carries ("" for none).
    async fn holder(&self, key: &str, what: &str) -> TargetResult<(String, String)> {
        let property = &self.settings.correlation_property;
        let select = nested(property).map_or(property.as_str(), |(p, _)| p);
        let answer = self
            .settled(
                Method::Get,
                &format!("/v1.0/users/{}?$select=id,{select}", encode(key)),
                None,
            )
            .await?;
        if !answer.ok() {
            return Err(self
                .client
                .refused(&format!("{what}: GET /users/{{id}}"), &answer));
        }
        let text = |pointer: &str| {
            answer
                .body
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok((text("/id"), text(&format!("/{property}"))))
    }

    /// The user holding `upn`, when it carries this person's id.
    async fn adopt(&self, person: &str, upn: &str) -> TargetResult<String> {
        let (id, holder) = self.holder(upn, "create").await?;
        if holder == person && !id.is_empty() {
            return Ok(id);
        }
        Err(TargetError::refused(format!(
            "Graph: create: userPrincipalName {upn:?} belongs to another account ({id}), which \
             is not linked to this person\n  help: give the rule's unique expression another \
             candidate, or link that account by setting {} to {person:?}",
            self.settings.correlation_property
        )))
    }

    /// Adoption: writes the person id into the user's correlation property, after
    /// checking that it carries no other person's id.
    async fn link_user(&self, id: &str, person: &str) -> TargetResult<()> {
        let property = &self.settings.correlation_property;
        let (_, holder) = self.holder(id, "link").await?;
        if holder == person {
            self.remember(person, id);
            return Ok(());
        }
        if !holder.is_empty() {
            return Err(TargetError::refused(format!(
                "Graph: link: user {id} carries person id {holder:?}, not {person:?}; it is \
                 someone else's\n  help: run stroom reconcile again and resolve the conflict"
            )));
        }
        let mut body = Map::new();
        put(&mut body, property, Value::from(person));
        self.run_items(
            &[BatchItem {
                method: Method::Patch,
                url: format!("/users/{id}"),
                body: Some(Value::Object(body)),
            }],
            "link",
        )
        .await?;
        self.remember(person, id);
        Ok(())
    }

    /// Every user (with the asked attributes), and the memberships of the managed
    /// groups and licences: `/users` with `$select` and `$top=999` following
    /// `@odata.nextLink`, `/subscribedSkus` once, and the members of each managed group.
    async fn inventory(&self, request: &ReadRequest<'_>) -> TargetResult<Inventory> {
        let property = &self.settings.correlation_property;
        let top_of = |p: &str| nested(p).map_or(p.to_string(), |(parent, _)| parent.to_string());
        let licences = request.managed.of(Kind::License);
        let mut select: Vec<String> = [
            "id",
            "userPrincipalName",
            "accountEnabled",
            "createdDateTime",
        ]
        .map(String::from)
        .to_vec();
        select.push(top_of(property));
        if licences.is_some() {
            select.push("assignedLicenses".into());
        }
        // The manager is a relation, not a property: expanded, its id only.
        let manager = request.attributes.iter().any(|a| a == MANAGER);
        for a in request.attributes.iter().filter(|a| *a != MANAGER) {
            select.push(top_of(a));
        }
        select.sort();
        select.dedup();
        let sku_names: HashMap<String, String> = if licences.is_some() {
            self.list("/v1.0/subscribedSkus", false)
                .await?
                .iter()
                .filter_map(|s| {
                    Some((
                        s.get("skuId")?.as_str()?.to_lowercase(),
                        s.get("skuPartNumber")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        } else {
            HashMap::new()
        };
        let mut inv = Inventory {
            target: self.settings.name.clone(),
            ..Inventory::default()
        };
        let expand = if manager {
            "&$expand=manager($select=id)"
        } else {
            ""
        };
        let path = format!("/v1.0/users?$select={}{expand}&$top=999", select.join(","));
        let pointer = |p: &str| format!("/{p}");
        let mut holdings = Vec::new();
        inv.calls += self
            .pages(&path, false, |users| {
                for u in users {
                    let Some(id) = u.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    let mut attributes = std::collections::BTreeMap::new();
                    for a in request.attributes {
                        let at = if a == MANAGER {
                            "/manager/id".to_string()
                        } else {
                            pointer(a)
                        };
                        if let Some(v) = u.pointer(&at).filter(|v| !v.is_null()) {
                            attributes.insert(a.clone(), v.clone());
                        }
                    }
                    if let Some(names) = licences {
                        for l in u
                            .get("assignedLicenses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let sku = l.get("skuId").and_then(Value::as_str).unwrap_or("");
                            if let Some(part) = sku_names.get(&sku.to_lowercase()) {
                                if names.covers(part) {
                                    holdings.push(Holding {
                                        account: id.to_string(),
                                        kind: Kind::License,
                                        name: part.clone(),
                                        on: None,
                                    });
                                }
                            }
                        }
                    }
                    let text =
                        |key: &str| u.pointer(key).and_then(Value::as_str).map(str::to_string);
                    inv.accounts.push(LiveAccount {
                        id: id.to_string(),
                        name: text("/userPrincipalName").unwrap_or_else(|| id.to_string()),
                        person: text(&pointer(property)).filter(|p| !p.is_empty()),
                        enabled: u.get("accountEnabled").and_then(Value::as_bool),
                        created: text("/createdDateTime"),
                        last_logon: text("/signInActivity/lastSignInDateTime"),
                        attributes,
                    });
                }
            })
            .await?;
        if let Some(groups) = request.managed.of(Kind::Group) {
            let mut managed: Vec<(String, String)> = Vec::new();
            inv.calls += self
                .pages(
                    "/v1.0/groups?$select=id,displayName&$top=999",
                    false,
                    |page| {
                        for g in page {
                            let (Some(id), Some(name)) = (
                                g.get("id").and_then(Value::as_str),
                                g.get("displayName").and_then(Value::as_str),
                            ) else {
                                continue;
                            };
                            if groups.covers(name) {
                                managed.push((id.to_string(), name.to_string()));
                            }
                        }
                    },
                )
                .await?;
            let users: std::collections::HashSet<&str> =
                inv.accounts.iter().map(|a| a.id.as_str()).collect();
            for (gid, name) in &managed {
                let path = format!("/v1.0/groups/{gid}/members?$select=id&$top=999");
                inv.calls += self
                    .pages(&path, false, |members| {
                        for m in members {
                            if let Some(uid) = m.get("id").and_then(Value::as_str) {
                                if users.contains(uid) {
                                    holdings.push(Holding {
                                        account: uid.to_string(),
                                        kind: Kind::Group,
                                        name: name.clone(),
                                        on: None,
                                    });
                                }
                            }
                        }
                    })
                    .await?;
            }
        }
        holdings.sort();
        holdings.dedup();
        inv.holdings = holdings;
        Ok(inv)
    }

    async fn update_user(&self, id: &str, values: &Map<String, Value>) -> TargetResult<()> {
        let (body, manager) = self.user_body(values);
        let mut items = Vec::new();
        if !body.is_empty() {
            items.push(BatchItem {
                method: Method::Patch,
                url: format!("/users/{id}"),
                body: Some(Value::Object(body)),
            });
        }
        if let Some(m) = manager {
            items.push(self.manager_item(id, self.manager_id(m).await?));
        }
        self.run_items(&items, "update").await
    }

    /// Sends the items (one call, or a `$batch` for several); 404 on removing a
    /// manager that is not set is success.
    async fn run_items(&self, items: &[BatchItem], what: &str) -> TargetResult<()> {
        let answers = match items {
            [] => return Ok(()),
            [one] => vec![
                self.settled(one.method, &format!("/v1.0{}", one.url), one.body.as_ref())
                    .await?,
            ],
            many => {
                let mut answers = self.batch(many).await?;
                // A 404 inside a batch may be the new user not visible yet: once more.
                if answers.iter().any(|a| a.status == 404) {
                    tokio::time::sleep(self.settings.settle_delay).await;
                    answers = self.batch(many).await?;
                }
                answers
            }
        };
        for (item, answer) in items.iter().zip(&answers) {
            let removing_absent = answer.status == 404 && item.method == Method::Delete;
            if !answer.ok() && !removing_absent {
                return Err(self.client.refused(
                    &format!("{what}: {} {}", item.method.as_str(), path_only(&item.url)),
                    answer,
                ));
            }
        }
        Ok(())
    }

    /// The group's object id (`None`: no such group), looked up once per run.
    async fn group_id(&self, name: &str) -> TargetResult<Option<String>> {
        let cached = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        let outcome = match cached {
            Some(known) => known,
            None => {
                let found = self.find_group(name).await?;
                self.groups
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), found.clone());
                found
            }
        };
        outcome.map_err(TargetError::refused)
    }

    /// Asks Graph for the group: its id, none, or why it cannot be used.
    async fn find_group(&self, name: &str) -> TargetResult<Result<Option<String>, String>> {
        let filter = format!("displayName eq {}", quoted(name));
        let found = self
            .list(
                &format!(
                    "/v1.0/groups?$filter={}&$select=id,displayName,groupTypes",
                    encode(&filter)
                ),
                false,
            )
            .await?;
        Ok(match found.as_slice() {
            [] => Ok(None),
            [g] if g
                .get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|t| t == "DynamicMembership")) =>
            {
                Err(format!(
                    "Graph: group {name:?} has dynamic membership; its members come from its \
                     rule, not from Stroom\n  help: grant another group, or make it assigned"
                ))
            }
            [g] => g
                .get("id")
                .and_then(Value::as_str)
                .map(|id| Some(id.to_string()))
                .ok_or_else(|| "Graph: a group without an id".to_string()),
            many => Err(format!(
                "Graph: {} groups are named {name:?}\n  help: rename them apart",
                many.len()
            )),
        })
    }

    /// Makes a managed group unless one of that name exists. The group is made by an
    /// upsert on a `uniqueName` derived from its name, so a call repeated after a lost
    /// answer updates the group it made instead of making a second one (Graph allows
    /// many groups of one display name).
    async fn make_group(&self, name: &str, settings: &GroupSettings) -> TargetResult<String> {
        let existing = self.find_group(name).await?.map_err(TargetError::refused)?;
        let id = match existing {
            Some(id) => id,
            None => {
                let body = group_body(name, settings)?;
                let path = format!("/v1.0/groups(uniqueName='{}')", unique_name(name));
                let answer = self
                    .client
                    .send(
                        Method::Patch,
                        &path,
                        Some(&body),
                        &[("Prefer", "create-if-missing")],
                    )
                    .await?;
                if !answer.ok() {
                    return Err(self
                        .client
                        .refused("PATCH /groups(uniqueName=...)", &answer));
                }
                match answer.body.get("id").and_then(Value::as_str) {
                    Some(id) => id.to_string(),
                    // 204: it was there (made by an earlier try); ask for its id.
                    None => {
                        let answer = self
                            .settled(Method::Get, &format!("{path}?$select=id"), None)
                            .await?;
                        answer
                            .body
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| {
                                self.client.refused("GET /groups(uniqueName=...)", &answer)
                            })?
                    }
                }
            }
        };
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Ok(Some(id.clone())));
        Ok(id)
    }

    async fn sku_id(&self, name: &str) -> TargetResult<String> {
        let cached = self.skus.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let skus = match cached {
            Some(s) => s,
            None => {
                let list = self.list("/v1.0/subscribedSkus", false).await?;
                let map: HashMap<String, String> = list
                    .iter()
                    .filter_map(|s| {
                        Some((
                            s.get("skuPartNumber")?.as_str()?.to_string(),
                            s.get("skuId")?.as_str()?.to_string(),
                        ))
                    })
                    .collect();
                *self.skus.lock().unwrap_or_else(|e| e.into_inner()) = Some(map.clone());
                map
            }
        };
        if let Some(id) = skus.get(name) {
            return Ok(id.clone());
        }
        let mut names: Vec<&str> = skus.keys().map(String::as_str).collect();
        names.sort_unstable();
        let hint = crate::suggest::did_you_mean(name, names.iter().copied())
            .map(|s| format!("did you mean {s:?}? "))
            .unwrap_or_default();
        Err(TargetError::refused(format!(
            "Graph: the tenant has no subscription {name:?}\n  help: {hint}licences are named by \
             skuPartNumber; the tenant has: {}",
            names.join(", ")
        )))
    }

    async fn licence(&self, id: &str, name: &str, grant: bool) -> TargetResult<()> {
        let sku = self.sku_id(name).await?;
        let body = if grant {
            json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []})
        } else {
            json!({"addLicenses": [], "removeLicenses": [sku]})
        };
        let answer = self
            .settled(
                Method::Post,
                &format!("/v1.0/users/{id}/assignLicense"),
                Some(&body),
            )
            .await?;
        let message = answer.message().to_ascii_lowercase();
        if answer.ok() || (!grant && message.contains("does not have a corresponding license")) {
            return Ok(());
        }
        let help = if message.contains("usage location") {
            "\n  help: set usageLocation (a country code such as \"NL\") in the rule's `account \
             in entra` block; licences need it"
        } else if message.contains("available licenses") {
            "\n  help: all licences of this subscription are in use: buy more or free some"
        } else if message.contains("inherited from a group") {
            "\n  help: this licence comes from a group; revoke the group instead"
        } else {
            ""
        };
        let mut e = self
            .client
            .refused("POST /users/{id}/assignLicense", &answer);
        e.message.push_str(help);
        Err(e)
    }

    async fn membership(&self, id: &str, group: &str, grant: bool) -> TargetResult<()> {
        let Some(gid) = self.group_id(group).await? else {
            if grant {
                return Err(TargetError::refused(format!(
                    "Graph: there is no group named {group:?}\n  help: create it in Entra ID, \
                     fix the name in the rule, or let Stroom create it with \
                     `group {group:?} in {} {{ ... }}` in the rules",
                    self.name()
                )));
            }
            return Ok(());
        };
        if grant {
            let body = json!({"@odata.id": format!("{}/directoryObjects/{id}", self.v1())});
            let answer = self
                .settled(
                    Method::Post,
                    &format!("/v1.0/groups/{gid}/members/$ref"),
                    Some(&body),
                )
                .await?;
            if answer.ok() || (answer.status == 400 && answer.message().contains("already exist")) {
                return Ok(());
            }
            Err(self
                .client
                .refused("POST /groups/{id}/members/$ref", &answer))
        } else {
            let answer = self
                .client
                .send(
                    Method::Delete,
                    &format!("/v1.0/groups/{gid}/members/{id}/$ref"),
                    None,
                    &[],
                )
                .await?;
            if answer.ok() || answer.status == 404 {
                return Ok(());
            }
            Err(self
                .client
                .refused("DELETE /groups/{id}/members/{id}/$ref", &answer))
        }
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> TargetResult<()> {
        let mut items = vec![BatchItem {
            method: Method::Patch,
            url: format!("/users/{id}"),
            body: Some(json!({ "accountEnabled": enabled })),
        }];
        if !enabled && self.settings.revoke_sessions_on_disable {
            items.push(BatchItem {
                method: Method::Post,
                url: format!("/users/{id}/revokeSignInSessions"),
                body: Some(json!({})),
            });
        }
        self.run_items(&items, if enabled { "enable" } else { "disable" })
            .await
    }

    async fn grants(&self, id: &str) -> TargetResult<Vec<(String, String)>> {
        let groups = format!("/v1.0/users/{id}/memberOf/microsoft.graph.group?$select=displayName");
        let licences = format!("/v1.0/users/{id}/licenseDetails?$select=skuPartNumber");
        let (groups, licences) =
            tokio::join!(self.list(&groups, false), self.list(&licences, false));
        let pick = |items: Vec<Value>, key: &str, kind: &str| -> Vec<(String, String)> {
            items
                .iter()
                .filter_map(|v| v.get(key).and_then(Value::as_str))
                .map(|n| (kind.to_string(), n.to_string()))
                .collect()
        };
        let mut out = pick(groups?, "displayName", "group");
        out.extend(pick(licences?, "skuPartNumber", "license"));
        Ok(out)
    }
}

/// The path of a URL or path, without its query.
fn path_only(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

impl Target for EntraId {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn stable_ids(&self) -> bool {
        true
    }

    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        self.runtime.block_on(self.find(person))
    }

    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        self.runtime.block_on(self.grants(&account.id))
    }

    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef> {
        self.runtime.block_on(self.create_user(person, attributes))
    }

    fn link(&self, account: &AccountRef, person: &str) -> TargetResult<()> {
        self.runtime.block_on(self.link_user(&account.id, person))
    }

    fn read_inventory(&self, request: &ReadRequest) -> TargetResult<Inventory> {
        self.runtime.block_on(self.inventory(request))
    }

    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        self.runtime.block_on(self.update_user(&account.id, values))
    }

    fn enable(&self, account: &AccountRef) -> TargetResult<()> {
        self.runtime.block_on(self.set_enabled(&account.id, true))
    }

    fn disable(&self, account: &AccountRef) -> TargetResult<()> {
        self.runtime.block_on(self.set_enabled(&account.id, false))
    }

    fn delete(&self, account: &AccountRef) -> TargetResult<()> {
        self.runtime.block_on(async {
            let answer = self
                .client
                .send(
                    Method::Delete,
                    &format!("/v1.0/users/{}", account.id),
                    None,
                    &[],
                )
                .await?;
            if answer.ok() || answer.status == 404 {
                self.forget(&account.id);
                return Ok(());
            }
            Err(self.client.refused("DELETE /users/{id}", &answer))
        })
    }

    fn grant(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.runtime.block_on(async {
            match e.kind {
                Kind::Group => self.membership(&account.id, e.name, true).await,
                Kind::License => self.licence(&account.id, e.name, true).await,
                other => Err(unsupported(other.as_str())),
            }
        })
    }

    fn create_group(&self, name: &str, settings: &GroupSettings) -> TargetResult<String> {
        self.runtime.block_on(self.make_group(name, settings))
    }

    fn issue_credential(
        &self,
        account: &AccountRef,
        from: Option<chrono::NaiveDate>,
        valid_days: Option<u32>,
    ) -> TargetResult<super::Credential> {
        let days = valid_days.unwrap_or(1).clamp(1, 30);
        let now = chrono::Utc::now();
        // From the start of the first day (Dutch time); a day already begun starts now.
        let start = from.and_then(dutch_midnight).filter(|t| *t > now);
        let mut body = json!({ "lifetimeInMinutes": days * 24 * 60, "isUsableOnce": false });
        if let Some(t) = start {
            body["startDateTime"] =
                Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        let until = start.unwrap_or(now) + chrono::Duration::days(i64::from(days));
        let path = format!(
            "/v1.0/users/{}/authentication/temporaryAccessPassMethods",
            account.id
        );
        self.runtime.block_on(async {
            let answer = self.settled(Method::Post, &path, Some(&body)).await?;
            if !answer.ok() {
                let help = match answer.status {
                    401 | 403 => "\n  help: grant the app UserAuthenticationMethod.ReadWrite.All",
                    400 => {
                        "\n  help: check the Temporary Access Pass policy (Entra admin center → \
                         Authentication methods): enabled for this user, and `valid` within \
                         its lifetime bounds"
                    }
                    _ => "",
                };
                let mut e = self.client.refused(
                    "POST /users/{id}/authentication/temporaryAccessPassMethods",
                    &answer,
                );
                e.message.push_str(help);
                return Err(e);
            }
            let pass = answer
                .body
                .get("temporaryAccessPass")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    TargetError::refused("Graph: a Temporary Access Pass without its pass")
                })?;
            Ok(super::Credential {
                secret: crate::secret::Secret::new(pass),
                kind: "Temporary Access Pass",
                valid_until: Some(crate::model::dutch_date(until).to_string()),
                id: answer
                    .body
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
    }

    fn withdraw_credential(
        &self,
        account: &AccountRef,
        credential: &super::Credential,
    ) -> TargetResult<()> {
        let Some(id) = &credential.id else {
            return Ok(());
        };
        self.runtime.block_on(async {
            let answer = self
                .client
                .send(
                    Method::Delete,
                    &format!(
                        "/v1.0/users/{}/authentication/temporaryAccessPassMethods/{id}",
                        account.id
                    ),
                    None,
                    &[],
                )
                .await?;
            if answer.ok() || answer.status == 404 {
                Ok(())
            } else {
                Err(self.client.refused(
                    "DELETE /users/{id}/authentication/temporaryAccessPassMethods/{id}",
                    &answer,
                ))
            }
        })
    }

    fn revoke(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.runtime.block_on(async {
            match e.kind {
                Kind::Group => self.membership(&account.id, e.name, false).await,
                Kind::License => self.licence(&account.id, e.name, false).await,
                other => Err(unsupported(other.as_str())),
            }
        })
    }

    fn preview(&self, a: &PlannedAction) -> Option<String> {
        let user = "{id}";
        let empty = Map::new();
        Some(match a.op {
            OpKind::CreateGroup => {
                let name = a.name.as_deref().unwrap_or("");
                let settings = a.group.clone().unwrap_or_default();
                match group_body(name, &settings) {
                    Ok(body) => format!(
                        "GET /v1.0/groups?$filter=displayName eq {}; if absent, PATCH \
                         /v1.0/groups(uniqueName='{}') (Prefer: create-if-missing) {body}",
                        quoted(name),
                        unique_name(name)
                    ),
                    Err(e) => format!("refused: {e}"),
                }
            }
            OpKind::Create => {
                let (mut body, manager) = self.user_body(a.attributes.as_ref().unwrap_or(&empty));
                body.insert("accountEnabled".into(), Value::Bool(false));
                body.insert("passwordProfile".into(), json!({"password": "(generated)"}));
                put(
                    &mut body,
                    &self.settings.correlation_property,
                    Value::from(a.person.clone()),
                );
                let mut s = format!("POST /v1.0/users {}", Value::Object(body));
                if manager.is_some_and(|m| !m.is_null()) {
                    s.push_str("; PUT /v1.0/users/{id}/manager/$ref");
                }
                s
            }
            OpKind::Update => {
                let changes = a.changes.clone().unwrap_or_default();
                let new: Map<String, Value> = changes
                    .into_iter()
                    .map(|(k, v)| (k, v.get(1).cloned().unwrap_or(Value::Null)))
                    .collect();
                let (body, manager) = self.user_body(&new);
                let mut s = format!("PATCH /v1.0/users/{user} {}", Value::Object(body));
                if manager.is_some() {
                    s.push_str("; PUT or DELETE /v1.0/users/{id}/manager/$ref (one $batch)");
                }
                s
            }
            OpKind::Enable => format!("PATCH /v1.0/users/{user} {{\"accountEnabled\":true}}"),
            OpKind::Disable => format!(
                "$batch: PATCH /v1.0/users/{user} {{\"accountEnabled\":false}}{}",
                if self.settings.revoke_sessions_on_disable {
                    "; POST /v1.0/users/{id}/revokeSignInSessions"
                } else {
                    ""
                }
            ),
            OpKind::Delete => format!("DELETE /v1.0/users/{user} (soft delete, 30 days)"),
            OpKind::Link => {
                let mut body = Map::new();
                put(
                    &mut body,
                    &self.settings.correlation_property,
                    Value::from(a.person.clone()),
                );
                format!(
                    "GET /v1.0/users/{} (refused if it carries another person id); PATCH it {}",
                    a.account.as_ref().map_or("{id}", |r| r.id.as_str()),
                    Value::Object(body)
                )
            }
            OpKind::Grant | OpKind::Revoke => {
                let name = a.name.as_deref().unwrap_or("");
                match (a.kind, a.op == OpKind::Grant) {
                    (Some(Kind::Group), true) => {
                        format!("POST /v1.0/groups/{{group {name:?}}}/members/$ref")
                    }
                    (Some(Kind::Group), false) => {
                        format!("DELETE /v1.0/groups/{{group {name:?}}}/members/{user}/$ref")
                    }
                    (Some(Kind::License), true) => {
                        format!("POST /v1.0/users/{user}/assignLicense add {name:?}")
                    }
                    (Some(Kind::License), false) => {
                        format!("POST /v1.0/users/{user}/assignLicense remove {name:?}")
                    }
                    (other, _) => {
                        format!("refused: {}", unsupported(other.map_or("", Kind::as_str)))
                    }
                }
            }
            _ => return None,
        })
    }
}

/// Midnight at the start of `date` in the Netherlands, as a UTC time.
fn dutch_midnight(date: chrono::NaiveDate) -> Option<chrono::DateTime<chrono::Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc();
    // CET is UTC+1, CEST UTC+2: the one at which the Dutch date begins.
    [1, 2].into_iter().find_map(|h| {
        let t = midnight - chrono::Duration::hours(h);
        (crate::model::dutch_date(t) == date
            && crate::model::dutch_date(t - chrono::Duration::seconds(1)) != date)
            .then_some(t)
    })
}

/// The body that makes a managed group: a security or a Microsoft 365 group.
fn group_body(name: &str, settings: &GroupSettings) -> TargetResult<Value> {
    let unified = match settings.group_type {
        GroupType::Security => false,
        GroupType::Microsoft365 => true,
        GroupType::Distribution => {
            return Err(TargetError::refused(format!(
                "group {name:?}: Graph cannot make distribution groups\n  help: declare \
                 `type security` or `type microsoft365`, or make it in Exchange Online"
            )))
        }
    };
    let mut body = json!({
        "displayName": name,
        "mailNickname": mail_nickname(name),
        "mailEnabled": unified,
        "securityEnabled": !unified,
        "groupTypes": if unified { json!(["Unified"]) } else { json!([]) },
    });
    if let Some(d) = settings.description.as_ref().filter(|d| !d.is_empty()) {
        body["description"] = Value::from(d.as_str());
    }
    Ok(body)
}

/// A group's mail alias from its name: ASCII without the characters Graph refuses
/// (`@ ( ) \ [ ] " ; : < > ,` and spaces), at most 64 characters.
fn mail_nickname(name: &str) -> String {
    let nick: String = crate::model::text::ascii(name)
        .chars()
        .filter(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(*c))
        .take(64)
        .collect();
    if nick.is_empty() {
        "group".to_string()
    } else {
        nick
    }
}

/// The `uniqueName` Stroom gives a group it makes: its alias and a hash of its exact
/// name (two names with one alias stay apart); letters, digits and `-` only.
fn unique_name(name: &str) -> String {
    let nick: String = mail_nickname(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let hash = crate::files::content_hash(name.to_lowercase().as_bytes());
    format!("stroom-{nick}-{}", &hash[..hash.len().min(12)])
}

fn unsupported(kind: &str) -> TargetError {
    TargetError::refused(format!(
        "Graph: Entra ID has groups and licences, not {kind:?}\n  help: mailboxes and \
         mailbox permissions go `in exchange`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_keep_only_what_exchange_takes() {
        assert_eq!(nickname("jan.de-berg@acme.nl"), "jan.de-berg");
        assert_eq!(nickname("o'brien (jr)@x"), "obrienjr");
        assert_eq!(nickname("@x"), "user");
    }

    #[test]
    fn extension_attributes_nest() {
        let mut body = Map::new();
        put(&mut body, DEFAULT_CORRELATION, Value::from("p1"));
        put(&mut body, "department", Value::from("Sales"));
        assert_eq!(
            Value::Object(body),
            json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "p1"}, "department": "Sales"})
        );
    }
}
