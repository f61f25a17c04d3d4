//! The HTTP client Entra ID (Microsoft Graph) and Exchange Online share: an app-only
//! token by client credentials, cached until shortly before it expires and fetched
//! again once on a 401; retries with backoff on 429, 500, 502, 503, 504 and broken
//! connections, honouring `Retry-After`; Microsoft's error body turned into a message
//! that names the call. The token and the client secret never appear in a message.

use super::TargetError;
use crate::http::{backoff, retry_after, transport_message};
use crate::secret::Secret;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where and how to sign in, and how hard to try.
#[derive(Debug, Clone)]
pub struct MicrosoftSettings {
    /// The sign-in authority, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// The tenant (directory) id or its primary domain.
    pub tenant_id: String,
    /// The app registration's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Secret,
    /// The API base, e.g. `https://graph.microsoft.com`.
    pub base_url: String,
    /// The token scope, e.g. `https://graph.microsoft.com/.default`.
    pub scope: String,
    /// Time limit of one call.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff delay, doubled per attempt.
    pub backoff_base: Duration,
    /// Longest backoff delay (also caps a Retry-After).
    pub backoff_max: Duration,
}

/// The sign-in authority of the public cloud.
pub(crate) fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}

pub(crate) fn default_timeout() -> u64 {
    60
}

pub(crate) fn default_attempts() -> u32 {
    6
}

impl MicrosoftSettings {
    /// Settings with the production defaults for timeouts and retries.
    pub fn new(
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        client_secret: Secret,
        base_url: &str,
        scope: &str,
    ) -> Self {
        Self {
            authority: authority.trim_end_matches('/').to_string(),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            client_secret,
            base_url: base_url.trim_end_matches('/').to_string(),
            scope: scope.to_string(),
            timeout: Duration::from_secs(60),
            max_attempts: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// An answer the caller interprets (any status that is not retried).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Microsoft's `error.code`, or "".
    pub fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Microsoft's `error.message`, or "".
    pub fn message(&self) -> &str {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `HTTP 400 Request_BadRequest: <message>`.
    pub fn describe(&self) -> String {
        let mut out = format!("HTTP {}", self.status);
        if !self.code().is_empty() {
            out.push(' ');
            out.push_str(self.code());
        }
        if !self.message().is_empty() {
            out.push_str(": ");
            out.push_str(self.message());
        }
        out
    }
}

/// Counters, for the run summary, the tests and the benchmark.
#[derive(Debug, Default)]
pub struct CallStats {
    /// HTTP calls sent (token calls included), retries included.
    pub calls: AtomicU64,
    /// Calls repeated after 429, 5xx or a broken connection.
    pub retries: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
}

/// One app-only client for one API (Graph, or Exchange Online).
pub struct MicrosoftClient {
    http: reqwest::Client,
    settings: MicrosoftSettings,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
    /// Counters.
    pub stats: CallStats,
    /// What the messages call this API ("Graph", "Exchange Online").
    api: &'static str,
}

/// The methods Stroom sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PATCH
    Patch,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    fn reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// Statuses worth another attempt.
pub fn retryable(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

impl MicrosoftClient {
    /// A client; nothing is called yet.
    pub fn new(settings: MicrosoftSettings, api: &'static str) -> Result<Self, TargetError> {
        for (key, url) in [
            ("authority", &settings.authority),
            ("base URL", &settings.base_url),
        ] {
            if reqwest::Url::parse(url).is_err() {
                return Err(TargetError::fatal(format!(
                    "{api}: the {key} {url:?} is not a URL; write it as https://host"
                )));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("stroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TargetError::fatal(format!("{api}: cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            settings,
            token: tokio::sync::Mutex::new(None),
            stats: CallStats::default(),
            api,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &MicrosoftSettings {
        &self.settings
    }

    /// The API base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.settings.base_url
    }

    fn pause(&self, attempt: u32, wait: Option<Duration>) -> Duration {
        backoff(
            self.settings.backoff_base,
            self.settings.backoff_max,
            attempt,
            wait,
        )
    }

    /// A valid access token: the cached one, or a new one by client credentials.
    async fn access_token(&self, refused: Option<&Secret>) -> Result<Secret, TargetError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            let stale = refused.is_some_and(|r| r.expose() == token.expose());
            if !stale && Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.settings.authority, self.settings.tenant_id
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.settings.client_id.as_str()),
            ("client_secret", self.settings.client_secret.expose()),
            ("scope", self.settings.scope.as_str()),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let sent = self.http.post(&url).form(&form).send().await;
            let (status, wait, body) = match sent {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let wait = retry_after(answer.headers());
                    let body: Value = answer.json().await.unwrap_or(Value::Null);
                    (status, wait, body)
                }
                Err(_) if attempt < self.settings.max_attempts => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.pause(attempt, None)).await;
                    continue;
                }
                Err(e) => {
                    return Err(TargetError::fatal(format!(
                        "{}: cannot reach the sign-in service: {}",
                        self.api,
                        transport_message(&e)
                    )))
                }
            };
            if (200..300).contains(&status) {
                let token = body.get("access_token").and_then(Value::as_str);
                let lifetime = body.get("expires_in").and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                });
                let Some(token) = token else {
                    return Err(TargetError::fatal(format!(
                        "{}: the sign-in service answered without an access_token",
                        self.api
                    )));
                };
                // Renew five minutes early (or at half time for short-lived tokens).
                let lifetime = Duration::from_secs(lifetime.unwrap_or(3600));
                let margin = Duration::from_secs(300).min(lifetime / 2);
                let token = Secret::new(token);
                *cached = Some((token.clone(), Instant::now() + lifetime - margin));
                return Ok(token);
            }
            if retryable(status) && attempt < self.settings.max_attempts {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.pause(attempt, wait)).await;
                continue;
            }
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            let description = body
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            return Err(TargetError::fatal(format!(
                "{}: sign-in refused (HTTP {status} {error}: {description})\n  help: check the \
                 tenant id, the client id and the client secret (secrets expire; make a new one \
                 in the app registration's Certificates & secrets)",
                self.api
            )));
        }
    }

    /// Sends one request (a path on the base URL, or a full URL on it) and retries what
    /// is worth retrying. Any other answer comes back for the caller to interpret.
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, TargetError> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            if !path_or_url.starts_with(&self.settings.base_url) {
                // A link to another host would get the token: never follow it.
                return Err(TargetError::refused(format!(
                    "{}: refusing to follow a link to another host ({})",
                    self.api,
                    path_or_url.split('?').next().unwrap_or("")
                )));
            }
            path_or_url.to_string()
        } else {
            format!("{}{}", self.settings.base_url, path_or_url)
        };
        let call = format!(
            "{} {}",
            method.as_str(),
            url.strip_prefix(&self.settings.base_url)
                .unwrap_or(&url)
                .split('?')
                .next()
                .unwrap_or("")
        );
        let mut refused: Option<Secret> = None;
        let mut reauthenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.access_token(refused.as_ref()).await?;
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .http
                .request(method.reqwest(), &url)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            let outcome = match request.send().await {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let wait = retry_after(answer.headers());
                    match answer.bytes().await {
                        Ok(bytes) => Ok((status, wait, bytes)),
                        Err(e) => Err(transport_message(&e)),
                    }
                }
                Err(e) => Err(transport_message(&e)),
            };
            let last = match outcome {
                Ok((status, wait, bytes)) => {
                    let body = if bytes.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
                    };
                    let answer = Answer { status, body };
                    if status == 401 && !reauthenticated {
                        // Expired or revoked early: one new token, then the same call.
                        reauthenticated = true;
                        refused = Some(token);
                        attempt -= 1;
                        continue;
                    }
                    if status == 401 {
                        return Err(TargetError::fatal(format!(
                            "{}: {call}: {}\n  help: the app's token is refused; check its \
                             API permissions and admin consent",
                            self.api,
                            answer.describe()
                        )));
                    }
                    if !retryable(status) {
                        return Ok(answer);
                    }
                    if status == 429 {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    if attempt >= self.settings.max_attempts {
                        return Err(TargetError::transient(format!(
                            "{}: {call}: gave up after {attempt} attempts: {}",
                            self.api,
                            answer.describe()
                        )));
                    }
                    wait
                }
                Err(message) => {
                    if attempt >= self.settings.max_attempts {
                        return Err(TargetError::transient(format!(
                            "{}: {call}: gave up after {attempt} attempts: {message}",
                            self.api
                        )));
                    }
                    None
                }
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.pause(attempt, last)).await;
        }
    }

    /// A refused operation, naming the call and Microsoft's error.
    pub fn refused(&self, call: &str, answer: &Answer) -> TargetError {
        TargetError::refused(format!("{}: {call}: {}", self.api, answer.describe()))
    }
}

/// The async runtime a blocking adapter drives its client with.
pub fn runtime(api: &str) -> Result<tokio::runtime::Runtime, TargetError> {
    crate::http::runtime()
        .map_err(|e| TargetError::fatal(format!("{api}: cannot start the async runtime: {e}")))
}

/// A string inside single quotes in an OData `$filter` or an OPATH filter: a quote
/// is doubled, so a value can never end the literal and widen the query.
pub fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_escape_their_quotes() {
        assert_eq!(quoted("O'Brien"), "'O''Brien'");
        assert_eq!(quoted("x' or 1 eq 1 or 'a"), "'x'' or 1 eq 1 or ''a'");
        assert_eq!(
            crate::http::encode("a b&c='d'/é"),
            "a%20b%26c%3D%27d%27%2F%C3%A9"
        );
    }
}
