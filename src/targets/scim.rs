//! A SCIM 2.0 application (RFC 7643/7644) as a target: users found by `externalId`
//! (the person id), made, changed with PATCH, deactivated (`active: false`) and
//! deleted; group memberships changed by PATCH on the group. The rules' attributes map
//! to the core User schema and the Enterprise User extension ([`attribute_path`]).
//! Features the server does not announce in `/ServiceProviderConfig` are not used:
//! without PATCH a user is replaced with PUT; ETags are sent as `If-Match` when
//! offered. 429 and 503 wait for `Retry-After`; an error body's `scimType` and
//! `detail` make the message.

use super::{AccountRef, Entitlement, Target, TargetError, TargetResult};
use crate::plan::read::PlannedAction;
use crate::rules::program::{Kind, OpKind, TargetSchema};
use crate::secret::Secret;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `[targets.NAME]` with `kind = "scim"`. The bearer token comes from the environment
/// (`STROOM_<NAME>_TOKEN`) or `token_file`, never from the file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The SCIM base URL, e.g. `https://app.example/scim/v2`.
    pub base_url: String,
    /// File holding the bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// OAuth 2.0 client credentials instead of a fixed token: the token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The OAuth client id (with `token_url`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// File holding the OAuth client secret (or STROOM_<NAME>_CLIENT_SECRET).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The OAuth scope, when the application wants one.
    #[serde(default)]
    pub scope: Option<String>,
    /// Seconds per request.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Users per page when reading them all.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests in flight to this application at once, whatever `apply.concurrency`
    /// is: many SaaS applications throttle per client, and some fail under parallel
    /// writes.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_requests: u32,
}

fn default_concurrency() -> u32 {
    4
}

fn default_timeout() -> u64 {
    30
}

fn default_page_size() -> u32 {
    100
}

impl ScimConfig {
    /// The settings of target `name` with its secret: the bearer token, or with
    /// `token_url` the OAuth client secret.
    pub fn settings(&self, name: &str, secret: Secret) -> ScimSettings {
        let auth = match &self.token_url {
            Some(url) => Auth::ClientCredentials {
                token_url: url.clone(),
                client_id: self.client_id.clone().unwrap_or_default(),
                client_secret: secret,
                scope: self.scope.clone(),
            },
            None => Auth::Bearer(secret),
        };
        ScimSettings {
            name: name.to_string(),
            base_url: self.base_url.trim_end_matches('/').to_string(),
            auth,
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
            page_size: self.page_size.clamp(1, 1000),
            max_concurrent_requests: self.max_concurrent_requests.clamp(1, 64) as usize,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// How to reach one SCIM application.
#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// The target's name in rules.
    pub name: String,
    /// The base URL, without a trailing `/`.
    pub base_url: String,
    /// How requests are signed.
    pub auth: Auth,
    /// Per request.
    pub timeout: Duration,
    /// Users per page.
    pub page_size: u32,
    /// Requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Attempts per request (429, 503, broken connections).
    pub max_attempts: u32,
    /// First pause between attempts when the server names none.
    pub backoff: Duration,
}

/// How a SCIM application is signed in to.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A fixed bearer token.
    Bearer(Secret),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): a token from `token_url`, kept
    /// until shortly before it expires and fetched again once after a 401.
    ClientCredentials {
        /// The token endpoint.
        token_url: String,
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// The scope, if any.
        scope: Option<String>,
    },
}

/// What `/ServiceProviderConfig` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// PATCH (RFC 7644 §3.5.2).
    pub patch: bool,
    /// `filter=`.
    pub filter: bool,
    /// ETags.
    pub etag: bool,
}

/// Where each rule attribute goes in a SCIM user: its schema and its path there (a
/// core attribute, a sub-attribute of `name`, the work e-mail, or an Enterprise User
/// attribute). `TargetKind::Scim.known_attributes()` names exactly these.
pub const MAPPING: &[(&str, &str, &str)] = &[
    ("userName", CORE, "userName"),
    ("displayName", CORE, "displayName"),
    ("nickName", CORE, "nickName"),
    ("title", CORE, "title"),
    ("userType", CORE, "userType"),
    ("preferredLanguage", CORE, "preferredLanguage"),
    ("locale", CORE, "locale"),
    ("givenName", CORE, "name.givenName"),
    ("familyName", CORE, "name.familyName"),
    ("email", CORE, "emails[type eq \"work\"].value"),
    ("employeeNumber", ENTERPRISE, "employeeNumber"),
    ("department", ENTERPRISE, "department"),
    ("organization", ENTERPRISE, "organization"),
    ("division", ENTERPRISE, "division"),
    ("costCenter", ENTERPRISE, "costCenter"),
    ("manager", ENTERPRISE, "manager"),
];

/// Where a rule's attribute goes in a SCIM user ([`MAPPING`]; attribute names are
/// case-insensitive in SCIM, RFC 7643 §2.1, and so here); `None`: not mapped.
pub fn attribute_path(attribute: &str) -> Option<(&'static str, &'static str)> {
    MAPPING
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(attribute))
        .map(|&(_, schema, path)| (schema, path))
}

/// A string as a SCIM filter literal (RFC 7644 §3.4.2.2: a JSON string), so a value
/// can never end the literal and widen the filter.
pub fn filter_literal(value: &str) -> String {
    Value::from(value).to_string()
}

/// One answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    etag: Option<String>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's words: `scimType` and `detail` of a SCIM error body.
    fn describe(&self) -> String {
        let detail = self
            .body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("");
        match self.body.get("scimType").and_then(Value::as_str) {
            Some(t) => format!("HTTP {} {t}: {detail}", self.status),
            None if detail.is_empty() => format!("HTTP {}", self.status),
            None => format!("HTTP {}: {detail}", self.status),
        }
    }
}

/// A SCIM application.
pub struct Scim {
    settings: ScimSettings,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    features: Mutex<Option<Features>>,
    groups: Mutex<HashMap<String, Option<String>>>,
    /// The version (ETag) of each user this run made or changed, for `If-Match`.
    versions: Mutex<HashMap<String, String>>,
    /// An OAuth access token and when to fetch a new one.
    token: Mutex<Option<(Secret, std::time::Instant)>>,
    /// One permit per request in flight (`max_concurrent_requests`).
    permits: tokio::sync::Semaphore,
}

impl Scim {
    /// A target for `settings`; nothing is sent until the first operation.
    pub fn new(settings: ScimSettings) -> TargetResult<Self> {
        let settings_permits = settings.max_concurrent_requests.max(1);
        if !crate::http::secure_or_loopback(&settings.base_url) {
            return Err(TargetError::fatal(format!(
                "{}: base_url must start with https:// (http:// only to loopback)\n  help: \
                 the bearer token must not cross the network in clear text",
                settings.name
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TargetError::fatal(format!("{}: {e}", settings.name)))?;
        let runtime = crate::http::runtime()
            .map_err(|e| TargetError::fatal(format!("{}: no runtime: {e}", settings.name)))?;
        Ok(Self {
            settings,
            http,
            runtime,
            features: Mutex::new(None),
            groups: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            token: Mutex::new(None),
            permits: tokio::sync::Semaphore::new(settings_permits),
        })
    }

    /// The token to send: the fixed one, or an OAuth access token (fetched when there
    /// is none, it is about to expire, or `renew`).
    async fn access_token(&self, renew: bool) -> TargetResult<Secret> {
        let (token_url, client_id, client_secret, scope) = match &self.settings.auth {
            Auth::Bearer(t) => return Ok(t.clone()),
            Auth::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => (token_url, client_id, client_secret, scope),
        };
        if !renew {
            if let Some((t, until)) = &*self.token.lock().unwrap_or_else(|e| e.into_inner()) {
                if std::time::Instant::now() < *until {
                    return Ok(t.clone());
                }
            }
        }
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.expose()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s.as_str()));
        }
        let name = &self.settings.name;
        let answer = self
            .http
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                TargetError::transient(format!(
                    "{name}: the token endpoint: {}",
                    crate::http::transport_message(&e)
                ))
            })?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|_| (200..300).contains(&status));
        let Some(token) = token else {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            let message = format!(
                "{name}: the token endpoint refused the client (HTTP {status} {error})\n  \
                 help: check client_id, and the client secret (STROOM_{}_CLIENT_SECRET or \
                 client_secret_file)",
                name.to_ascii_uppercase()
            );
            return Err(if status >= 500 || status == 429 {
                TargetError::transient(message)
            } else {
                TargetError::fatal(message)
            });
        };
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        let until = std::time::Instant::now()
            + Duration::from_secs(lifetime.saturating_sub(60).max(lifetime / 2));
        let token = Secret::new(token);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), until));
        Ok(token)
    }

    fn fail(&self, what: &str, answer: &Answer) -> TargetError {
        let message = format!("{}: {what}: {}", self.settings.name, answer.describe());
        match answer.status {
            401 | 403 => TargetError::fatal(format!(
                "{message}\n  help: check {} and its rights in the application",
                match self.settings.auth {
                    Auth::Bearer(_) => format!(
                        "the bearer token (STROOM_{}_TOKEN or token_file)",
                        self.settings.name.to_ascii_uppercase()
                    ),
                    Auth::ClientCredentials { .. } => "the OAuth client".to_string(),
                }
            )),
            429 | 500..=599 => TargetError::transient(message),
            _ => TargetError::refused(message),
        }
    }

    /// Sends one request, trying again after 429, 503 and broken connections.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> TargetResult<Answer> {
        let url = format!("{}{path}", self.settings.base_url);
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let token = self.access_token(false).await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/scim+json");
            if let Some(b) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                    .body(b.to_string());
            }
            if let Some(tag) = if_match {
                request = request.header(reqwest::header::IF_MATCH, tag);
            }
            // Held while the request is out and its answer read, not while waiting to
            // try again.
            let permit = self.permits.acquire().await.map_err(|_| {
                TargetError::fatal(format!(
                    "{}: the target is shutting down",
                    self.settings.name
                ))
            })?;
            let outcome = match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let wait = crate::http::retry_after(r.headers());
                    let etag = r
                        .headers()
                        .get(reqwest::header::ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let bytes = r.bytes().await.unwrap_or_default();
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    Ok((Answer { status, body, etag }, wait))
                }
                Err(e) => Err(crate::http::transport_message(&e)),
            };
            drop(permit);
            // An OAuth token revoked or expired early: a new one, once.
            if let Ok((a, _)) = &outcome {
                if a.status == 401
                    && !renewed
                    && matches!(self.settings.auth, Auth::ClientCredentials { .. })
                {
                    renewed = true;
                    self.access_token(true).await?;
                    attempt -= 1;
                    continue;
                }
            }
            let again = match &outcome {
                Ok((a, _)) => matches!(a.status, 429 | 502 | 503 | 504),
                Err(_) => true,
            };
            if !again || attempt >= self.settings.max_attempts {
                return match outcome {
                    Ok((a, _)) => Ok(a),
                    Err(e) => Err(TargetError::transient(format!(
                        "{}: {} {path}: {e}",
                        self.settings.name,
                        method.as_str()
                    ))),
                };
            }
            let retry_after = match &outcome {
                Ok((_, wait)) => *wait,
                Err(_) => None,
            };
            let wait = crate::http::backoff(
                self.settings.backoff,
                Duration::from_secs(60),
                attempt,
                retry_after,
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// What the server offers, read once.
    pub fn features(&self) -> TargetResult<Features> {
        if let Some(f) = *self.features.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(f);
        }
        let answer = self.runtime.block_on(self.send(
            reqwest::Method::GET,
            "/ServiceProviderConfig",
            None,
            None,
        ))?;
        if !answer.ok() {
            return Err(self.fail("GET /ServiceProviderConfig", &answer));
        }
        let on = |k: &str| {
            answer
                .body
                .pointer(&format!("/{k}/supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let f = Features {
            patch: on("patch"),
            filter: on("filter"),
            etag: on("etag"),
        };
        if !f.filter {
            return Err(TargetError::fatal(format!(
                "{}: the application does not offer SCIM filters, so users cannot be found by \
                 externalId\n  help: Stroom needs `filter` in /ServiceProviderConfig",
                self.settings.name
            )));
        }
        *self.features.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
        Ok(f)
    }

    /// A discovery document (`/ResourceTypes`, `/Schemas`): its resources, from a
    /// list response or a bare array (older servers); `None` when the server does not
    /// offer the endpoint (404, 501).
    fn discovery(&self, path: &str) -> TargetResult<Option<Vec<Value>>> {
        let answer = self
            .runtime
            .block_on(self.send(reqwest::Method::GET, path, None, None))?;
        if matches!(answer.status, 404 | 501) {
            return Ok(None);
        }
        if !answer.ok() {
            return Err(self.fail(&format!("GET {path}"), &answer));
        }
        let list = match answer.body {
            Value::Array(items) => items,
            Value::Object(mut o) => match o.remove("Resources") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => {
                return Err(TargetError::refused(format!(
                    "{}: GET {path} answered no JSON",
                    self.settings.name
                )))
            }
        };
        Ok(Some(list))
    }

    /// The resources (`Users`, `Groups`) a filter finds, at most two: one is expected.
    fn find(&self, resources: &str, filter: &str) -> TargetResult<Vec<Value>> {
        self.features()?;
        let path = format!(
            "/{resources}?filter={}&count=2",
            crate::http::encode(filter)
        );
        let answer = self
            .runtime
            .block_on(self.send(reqwest::Method::GET, &path, None, None))?;
        if !answer.ok() {
            return Err(self.fail(&format!("GET /{resources}?filter=..."), &answer));
        }
        Ok(answer
            .body
            .get("Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The SCIM id of a person's user, for `manager`.
    fn user_id_of(&self, person: &str) -> TargetResult<Option<String>> {
        Ok(self.correlate(person)?.map(|a| a.id))
    }

    /// A user's body from the rules' attributes (the person id as `externalId`).
    fn user_body(
        &self,
        person: &str,
        attributes: &Map<String, Value>,
        active: bool,
    ) -> TargetResult<Value> {
        let mut core = Map::new();
        let mut enterprise = Map::new();
        for (k, v) in attributes {
            let Some((schema, path)) = attribute_path(k) else {
                continue;
            };
            let v = if path == "manager" {
                match v.as_str().filter(|p| !p.is_empty()) {
                    Some(p) => match self.user_id_of(p)? {
                        Some(id) => json!({ "value": id }),
                        None => continue,
                    },
                    None => continue,
                }
            } else {
                v.clone()
            };
            let into = if schema == ENTERPRISE {
                &mut enterprise
            } else {
                &mut core
            };
            match path.split_once('.') {
                _ if path.starts_with("emails") => {
                    into.insert(
                        "emails".into(),
                        json!([{ "value": v, "type": "work", "primary": true }]),
                    );
                }
                Some((outer, inner)) => {
                    let slot = into.entry(outer.to_string()).or_insert_with(|| json!({}));
                    slot[inner] = v;
                }
                None => {
                    into.insert(path.to_string(), v);
                }
            }
        }
        let mut schemas = vec![Value::from(CORE)];
        let mut body = core;
        if !enterprise.is_empty() {
            schemas.push(Value::from(ENTERPRISE));
            body.insert(ENTERPRISE.into(), Value::Object(enterprise));
        }
        body.insert("schemas".into(), Value::Array(schemas));
        body.insert("externalId".into(), Value::from(person));
        body.insert("active".into(), Value::from(active));
        Ok(Value::Object(body))
    }

    /// PATCH operations that set these attributes (`null` removes one).
    fn operations(&self, values: &Map<String, Value>) -> TargetResult<Vec<Value>> {
        let mut ops = Vec::new();
        for (k, v) in values {
            let Some((schema, path)) = attribute_path(k) else {
                continue;
            };
            let full = if schema == ENTERPRISE {
                format!("{ENTERPRISE}:{path}")
            } else {
                path.to_string()
            };
            let value = if path == "manager" {
                match v.as_str().filter(|p| !p.is_empty()) {
                    Some(p) => self.user_id_of(p)?.map(|id| json!({ "value": id })),
                    None => None,
                }
            } else {
                Some(v.clone()).filter(|v| !v.is_null())
            };
            ops.push(match value {
                Some(value) => json!({ "op": "replace", "path": full, "value": value }),
                None => json!({ "op": "remove", "path": full }),
            });
        }
        Ok(ops)
    }

    /// Changes a user: PATCH when offered, else the user read, changed and put back.
    /// With ETags, `If-Match` carries the version this run last saw of the user (from
    /// its create or last change), so a change costs one request; when someone else
    /// changed the user since (412), it is read once and the change sent again.
    fn change_user(&self, id: &str, ops: Vec<Value>) -> TargetResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let f = self.features()?;
        let path = format!("/Users/{}", crate::http::encode(id));
        let body = json!({ "schemas": [PATCH_OP], "Operations": ops });
        let gone = || {
            TargetError::refused(format!(
                "{}: the user {id} is gone from the application",
                self.settings.name
            ))
        };
        self.runtime.block_on(async {
            let known = f.etag.then(|| self.version_of(id)).flatten();
            if f.patch && (known.is_some() || !f.etag) {
                let answer = self
                    .send(reqwest::Method::PATCH, &path, Some(&body), known.as_deref())
                    .await?;
                match answer.status {
                    // Changed since this run saw it: read below, then once more.
                    412 if known.is_some() => {}
                    404 => return Err(gone()),
                    _ => return self.changed(id, &answer),
                }
            }
            let current = self.send(reqwest::Method::GET, &path, None, None).await?;
            if current.status == 404 {
                return Err(gone());
            }
            if !current.ok() {
                return Err(self.fail("GET /Users/{id}", &current));
            }
            let tag = current.etag.clone().filter(|_| f.etag);
            let answer = if f.patch {
                self.send(reqwest::Method::PATCH, &path, Some(&body), tag.as_deref())
                    .await?
            } else {
                let mut user = current.body.clone();
                apply_operations(&mut user, &ops);
                self.send(reqwest::Method::PUT, &path, Some(&user), tag.as_deref())
                    .await?
            };
            self.changed(id, &answer)
        })
    }

    /// The outcome of a change to user `id`; its new version is remembered.
    fn changed(&self, id: &str, answer: &Answer) -> TargetResult<()> {
        match answer.status {
            // Changed by someone else since it was read: the engine tries again.
            412 => {
                self.forget_version(id);
                Err(TargetError::transient(format!(
                    "{}: the user changed while being updated (HTTP 412)",
                    self.settings.name
                )))
            }
            _ if answer.ok() => {
                self.remember_version(id, answer);
                Ok(())
            }
            _ => Err(self.fail("change /Users/{id}", answer)),
        }
    }

    /// The version (ETag) of user `id` as this run last saw it.
    fn version_of(&self, id: &str) -> Option<String> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Keeps the version an answer about user `id` carries (none: forgets it, as a
    /// version not known is never guessed).
    fn remember_version(&self, id: &str, answer: &Answer) {
        let tag = answer.etag.clone().or_else(|| {
            answer
                .body
                .pointer("/meta/version")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        match tag {
            Some(t) => versions.insert(id.to_string(), t),
            None => versions.remove(id),
        };
    }

    fn forget_version(&self, id: &str) {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// A group's id by its display name (`None`: no such group), once per run.
    fn group_id(&self, name: &str) -> TargetResult<Option<String>> {
        if let Some(known) = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(known.clone());
        }
        let found = self.find(
            "Groups",
            &format!("displayName eq {}", filter_literal(name)),
        )?;
        let id = match found.as_slice() {
            [] => None,
            [g] => g.get("id").and_then(Value::as_str).map(str::to_string),
            many => {
                return Err(TargetError::refused(format!(
                    "{}: {} groups are named {name:?}\n  help: rename them apart",
                    self.settings.name,
                    many.len()
                )))
            }
        };
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), id.clone());
        Ok(id)
    }

    fn membership(&self, user: &str, group: &str, add: bool) -> TargetResult<()> {
        let Some(gid) = self.group_id(group)? else {
            if add {
                return Err(TargetError::refused(format!(
                    "{}: there is no group named {group:?}\n  help: create it in the \
                     application, or fix the name in the rule",
                    self.settings.name
                )));
            }
            return Ok(());
        };
        let op = if add {
            json!({ "op": "add", "path": "members", "value": [{ "value": user }] })
        } else {
            json!({ "op": "remove", "path": format!("members[value eq {}]", filter_literal(user)) })
        };
        let body = json!({ "schemas": [PATCH_OP], "Operations": [op] });
        let path = format!("/Groups/{}", crate::http::encode(&gid));
        let answer =
            self.runtime
                .block_on(self.send(reqwest::Method::PATCH, &path, Some(&body), None))?;
        // Adding one who is in and removing one who is not succeed (idempotent).
        if answer.ok() || (!add && answer.status == 404) {
            return Ok(());
        }
        Err(self.fail("PATCH /Groups/{id}", &answer))
    }
}

impl Scim {
    /// Every resource of a list (`/Users`, `/Groups`), a page at a time by
    /// `startIndex` and `count` (RFC 7644 §3.4.2.4). A server whose pages do not add up
    /// (a page repeated, more pages than `totalResults` allows) stops the read with the
    /// reason instead of looping.
    fn all(&self, resources: &str, calls: &mut u64) -> TargetResult<Vec<Value>> {
        self.features()?;
        let count = self.settings.page_size;
        let name = &self.settings.name;
        let mut out: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut start = 1u64;
        let mut pages = 0u64;
        loop {
            let path = format!("/{resources}?startIndex={start}&count={count}");
            let answer =
                self.runtime
                    .block_on(self.send(reqwest::Method::GET, &path, None, None))?;
            *calls += 1;
            pages += 1;
            if !answer.ok() {
                return Err(self.fail(&format!("GET /{resources}"), &answer));
            }
            let page = answer
                .body
                .get("Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // RFC 7644 §3.4.2 requires it; without it the list ends at an empty page.
            let total = answer.body.get("totalResults").and_then(Value::as_u64);
            let n = page.len() as u64;
            let fresh: Vec<Value> = page
                .into_iter()
                .filter(|r| {
                    r.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| seen.insert(id.to_string()))
                })
                .collect();
            if n > 0 && fresh.is_empty() {
                return Err(TargetError::refused(format!(
                    "{name}: GET /{resources} sent a page it sent before (startIndex {start}); \
                     the list cannot be read whole, so nothing is concluded from part of it"
                )));
            }
            out.extend(fresh);
            match total {
                Some(total) if out.len() as u64 >= total => return Ok(out),
                None if n == 0 => return Ok(out),
                Some(total) if n == 0 => {
                    return Err(TargetError::refused(format!(
                        "{name}: GET /{resources} ended after {} of the {total} it announced \
                         (startIndex {start}); the list cannot be read whole, so nothing is \
                         concluded from part of it",
                        out.len()
                    )))
                }
                _ => {}
            }
            // Every page brings someone new (or is refused above), so a list with a
            // total ends within it; one without ends at an empty page, or here.
            if pages >= MAX_PAGES {
                return Err(TargetError::refused(format!(
                    "{name}: GET /{resources} keeps sending pages ({pages} read without an end)"
                )));
            }
            start += n;
        }
    }
}

/// The most pages one list is read in (a server that never ends its list is refused,
/// not followed).
const MAX_PAGES: u64 = 100_000;

/// The attribute of this name in a schema's attribute list, unless it is read-only.
fn writable<'a>(attributes: &'a [Value], name: &str) -> Option<&'a Value> {
    attributes.iter().find(|a| {
        a.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            && a.get("mutability").and_then(Value::as_str) != Some("readOnly")
    })
}

/// The value at a mapped attribute's place in a user read back.
fn read_attribute(user: &Value, attribute: &str) -> Value {
    let Some((schema, path)) = attribute_path(attribute) else {
        return Value::Null;
    };
    let container = if schema == ENTERPRISE {
        user.get(ENTERPRISE).unwrap_or(&Value::Null)
    } else {
        user
    };
    if path.starts_with("emails") {
        let emails = container.get("emails").and_then(Value::as_array);
        return emails
            .and_then(|e| {
                e.iter()
                    .find(|m| m.get("type").and_then(Value::as_str) == Some("work"))
                    .or(e.first())
            })
            .and_then(|m| m.get("value"))
            .cloned()
            .unwrap_or(Value::Null);
    }
    let v = match path.split_once('.') {
        Some((outer, inner)) => container.get(outer).and_then(|o| o.get(inner)),
        None => container.get(path),
    };
    match (path, v) {
        ("manager", Some(m)) => m.get("value").cloned().unwrap_or(Value::Null),
        (_, Some(v)) => v.clone(),
        (_, None) => Value::Null,
    }
}

/// Applies PATCH operations to a user read back (for servers without PATCH).
fn apply_operations(user: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let (container, key) = match path.strip_prefix(&format!("{ENTERPRISE}:")) {
            Some(rest) => (Some(ENTERPRISE), rest),
            None => (None, path),
        };
        let target = match container {
            Some(c) => user
                .as_object_mut()
                .map(|m| m.entry(c.to_string()).or_insert_with(|| json!({}))),
            None => Some(&mut *user),
        };
        let Some(target) = target else { continue };
        let value = op.get("value").cloned();
        if key.starts_with("emails") {
            target["emails"] = match value {
                Some(v) => json!([{ "value": v, "type": "work", "primary": true }]),
                None => json!([]),
            };
            continue;
        }
        match (key.split_once('.'), value) {
            (Some((outer, inner)), Some(v)) => target[outer][inner] = v,
            (Some((outer, inner)), None) => {
                if let Some(m) = target.get_mut(outer).and_then(Value::as_object_mut) {
                    m.remove(inner);
                }
            }
            (None, Some(v)) => target[key] = v,
            (None, None) => {
                if let Some(m) = target.as_object_mut() {
                    m.remove(key);
                }
            }
        }
    }
}

impl Target for Scim {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// The mapped attributes the application's User resource type has, from
    /// `/ResourceTypes` (its schema and extensions) and `/Schemas` (their attributes,
    /// read-only ones left out); `None` when it publishes no `/Schemas`.
    fn schema(&self) -> TargetResult<Option<TargetSchema>> {
        let Some(schemas) = self.discovery("/Schemas")? else {
            return Ok(None);
        };
        // Without /ResourceTypes a User is the core schema and the extension, where
        // /Schemas has them.
        let user_schemas: Vec<String> = match self.discovery("/ResourceTypes")? {
            None => vec![CORE.to_string(), ENTERPRISE.to_string()],
            Some(types) => {
                let user = types.iter().find(|t| {
                    t.get("endpoint").and_then(Value::as_str) == Some("/Users")
                        || t.get("name").and_then(Value::as_str) == Some("User")
                });
                let Some(user) = user else {
                    return Err(TargetError::fatal(format!(
                        "{}: /ResourceTypes has no User resource type\n  help: Stroom \
                         provisions SCIM users; is base_url the SCIM root of the application?",
                        self.settings.name
                    )));
                };
                let extensions = user
                    .get("schemaExtensions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("schema").and_then(Value::as_str));
                user.get("schema")
                    .and_then(Value::as_str)
                    .into_iter()
                    .chain(extensions)
                    .map(str::to_string)
                    .collect()
            }
        };
        let attributes_of = |urn: &str| {
            if !user_schemas.iter().any(|u| u.eq_ignore_ascii_case(urn)) {
                return None;
            }
            schemas
                .iter()
                .find(|s| {
                    s.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| id.eq_ignore_ascii_case(urn))
                })
                .and_then(|s| s.get("attributes"))
                .and_then(Value::as_array)
        };
        let attributes = MAPPING
            .iter()
            .filter(|(_, urn, path)| {
                // `name.givenName`; `emails[type eq "work"].value`.
                let outer = path.split(['.', '[']).next().unwrap_or(path);
                let inner = path.split_once('.').map(|(_, i)| i);
                let Some(a) = attributes_of(urn).and_then(|list| writable(list, outer)) else {
                    return false;
                };
                inner.is_none_or(|inner| {
                    a.get("subAttributes")
                        .and_then(Value::as_array)
                        // No sub-attributes listed: the complex attribute is open.
                        .is_none_or(|subs| writable(subs, inner).is_some())
                })
            })
            .map(|(name, _, _)| std::sync::Arc::from(*name))
            .collect();
        Ok(Some(TargetSchema {
            source: format!("{}/Schemas", self.settings.base_url),
            attributes,
        }))
    }

    fn stable_ids(&self) -> bool {
        true
    }

    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        let found = self.find(
            "Users",
            &format!("externalId eq {}", filter_literal(person)),
        )?;
        match found.as_slice() {
            [] => Ok(None),
            [u] => Ok(u.get("id").and_then(Value::as_str).map(|id| AccountRef {
                id: id.to_string(),
                enabled: u.get("active").and_then(Value::as_bool),
            })),
            many => Err(TargetError::refused(format!(
                "{}: {} users have externalId {person:?}; correlation must be unique",
                self.settings.name,
                many.len()
            ))),
        }
    }

    fn read_inventory(
        &self,
        request: &crate::model::live::ReadRequest,
    ) -> TargetResult<crate::model::live::Inventory> {
        use crate::model::live::{Holding, Inventory, LiveAccount};
        let mut inv = Inventory {
            target: self.settings.name.clone(),
            ..Inventory::default()
        };
        let users = self.all("Users", &mut inv.calls)?;
        // The manager is held as a SCIM id; reconciliation compares person ids.
        let person_of: HashMap<&str, &str> = users
            .iter()
            .filter_map(|u| {
                Some((
                    u.get("id")?.as_str()?,
                    u.get("externalId").and_then(Value::as_str)?,
                ))
            })
            .collect();
        for u in &users {
            let Some(id) = u.get("id").and_then(Value::as_str) else {
                continue;
            };
            let mut attributes = std::collections::BTreeMap::new();
            for a in request.attributes {
                let mut v = read_attribute(u, a);
                if a == "manager" {
                    v = v
                        .as_str()
                        .and_then(|m| person_of.get(m))
                        .map_or(Value::Null, |p| Value::from(*p));
                }
                attributes.insert(a.clone(), v);
            }
            inv.accounts.push(LiveAccount {
                id: id.to_string(),
                name: u
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or(id)
                    .to_string(),
                person: u
                    .get("externalId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                enabled: u.get("active").and_then(Value::as_bool),
                created: u
                    .pointer("/meta/created")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                last_logon: None,
                attributes,
            });
        }
        if let Some(groups) = request.managed.of(Kind::Group) {
            for g in self.all("Groups", &mut inv.calls)? {
                let Some(name) = g.get("displayName").and_then(Value::as_str) else {
                    continue;
                };
                if !groups.covers(name) {
                    continue;
                }
                let spelled = groups.spelling(name).to_string();
                for m in g
                    .get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(account) = m.get("value").and_then(Value::as_str) {
                        inv.holdings.push(Holding {
                            account: account.to_string(),
                            kind: Kind::Group,
                            name: spelled.clone(),
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

    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        let path = format!("/Users/{}", crate::http::encode(&account.id));
        let answer = self
            .runtime
            .block_on(self.send(reqwest::Method::GET, &path, None, None))?;
        if !answer.ok() {
            return Err(self.fail("GET /Users/{id}", &answer));
        }
        Ok(answer
            .body
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("display").and_then(Value::as_str))
            .map(|n| ("group".to_string(), n.to_string()))
            .collect())
    }

    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef> {
        let body = self.user_body(person, attributes, false)?;
        let answer =
            self.runtime
                .block_on(self.send(reqwest::Method::POST, "/Users", Some(&body), None))?;
        if let Some(id) = answer
            .body
            .get("id")
            .and_then(Value::as_str)
            .filter(|_| answer.ok())
        {
            self.remember_version(id, &answer);
            return Ok(AccountRef {
                id: id.to_string(),
                enabled: Some(false),
            });
        }
        if answer.status == 409 {
            // Made by an interrupted run? Then it carries the person id: adopt it.
            if let Some(existing) = self.correlate(person)? {
                return Ok(existing);
            }
            let mut e = self.fail("POST /Users", &answer);
            e.message.push_str(
                "\n  help: another user holds this userName; make it unique in the rules \
                 (e.g. unique [...])",
            );
            return Err(e);
        }
        Err(self.fail("POST /Users", &answer))
    }

    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        let ops = self.operations(values)?;
        self.change_user(&account.id, ops)
    }

    fn enable(&self, account: &AccountRef) -> TargetResult<()> {
        self.change_user(
            &account.id,
            vec![json!({ "op": "replace", "path": "active", "value": true })],
        )
    }

    fn disable(&self, account: &AccountRef) -> TargetResult<()> {
        self.change_user(
            &account.id,
            vec![json!({ "op": "replace", "path": "active", "value": false })],
        )
    }

    fn delete(&self, account: &AccountRef) -> TargetResult<()> {
        let path = format!("/Users/{}", crate::http::encode(&account.id));
        let answer =
            self.runtime
                .block_on(self.send(reqwest::Method::DELETE, &path, None, None))?;
        if answer.ok() || answer.status == 404 {
            return Ok(());
        }
        Err(self.fail("DELETE /Users/{id}", &answer))
    }

    fn grant(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        if e.kind != Kind::Group {
            return Err(TargetError::refused(format!(
                "{}: a SCIM application takes groups only, not {}s",
                self.settings.name, e.kind
            )));
        }
        self.membership(&account.id, e.name, true)
    }

    fn revoke(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        if e.kind != Kind::Group {
            return Ok(());
        }
        self.membership(&account.id, e.name, false)
    }

    fn preview(&self, a: &PlannedAction) -> Option<String> {
        let user = "/Users/{id}";
        Some(match a.op {
            OpKind::Create => {
                let attrs = a.attributes.clone().unwrap_or_default();
                // The manager's id is looked up when the step runs.
                let mut shown = attrs.clone();
                shown.remove("manager");
                let body = self.user_body(&a.person, &shown, false).ok()?;
                format!("POST /Users {body}")
            }
            OpKind::Update => {
                let new: Map<String, Value> = a
                    .changes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| k != "manager")
                    .map(|(k, v)| (k, v.get(1).cloned().unwrap_or(Value::Null)))
                    .collect();
                let ops = self.operations(&new).ok()?;
                format!(
                    "PATCH {user} {}",
                    json!({ "schemas": [PATCH_OP], "Operations": ops })
                )
            }
            OpKind::Enable => format!("PATCH {user} replace active = true"),
            OpKind::Disable => format!("PATCH {user} replace active = false"),
            OpKind::Delete => format!("DELETE {user}"),
            OpKind::Grant => format!(
                "PATCH /Groups/{{id of {:?}}} add members [{{value: user id}}]",
                a.name.as_deref().unwrap_or("")
            ),
            OpKind::Revoke => format!(
                "PATCH /Groups/{{id of {:?}}} remove members[value eq user id]",
                a.name.as_deref().unwrap_or("")
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_literals_cannot_widen_a_filter() {
        assert_eq!(filter_literal("p-1"), "\"p-1\"");
        assert_eq!(filter_literal("a\" or \"x"), "\"a\\\" or \\\"x\"");
        assert_eq!(filter_literal("back\\slash"), "\"back\\\\slash\"");
    }

    #[test]
    fn operations_apply_to_a_user_without_patch() {
        let mut user = json!({ "userName": "z", "name": { "givenName": "Zoe" } });
        apply_operations(
            &mut user,
            &[
                json!({ "op": "replace", "path": "name.givenName", "value": "Zoë" }),
                json!({ "op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales" }),
                json!({ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "z@x.nl" }),
                json!({ "op": "remove", "path": "userName" }),
            ],
        );
        assert_eq!(user["name"]["givenName"], "Zoë");
        assert_eq!(user[ENTERPRISE]["department"], "Sales");
        assert_eq!(user["emails"][0]["value"], "z@x.nl");
        assert!(user.get("userName").is_none());
    }

    #[test]
    fn the_checker_knows_exactly_the_mapped_attributes() {
        use crate::rules::program::TargetKind;
        let mapped: Vec<&str> = MAPPING.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(mapped, TargetKind::Scim.known_attributes());
        assert_eq!(
            attribute_path("GIVENNAME"),
            Some((CORE, "name.givenName")),
            "attribute names are case-insensitive"
        );
        assert_eq!(attribute_path("phoneNumbers"), None);
    }
}
