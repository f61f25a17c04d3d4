//! The HTTP client for the Nmbrs REST API: authentication headers on every call,
//! paging by `nextPage`, bounded concurrency, timeouts, and retries with exponential
//! backoff and jitter on 429, 5xx and broken connections.

use super::auth::{Secret, Session};
use super::wire::{ErrorBody, Page};
use super::NmbrsError;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How hard the client tries, and how many calls it runs at once.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// API base, e.g. `https://api.nmbrsapp.com`.
    pub base_url: String,
    /// The developer-portal subscription key.
    pub subscription_key: Secret,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Records per page (Nmbrs allows at most 100).
    pub page_size: u32,
    /// Time limit of one call.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubled per attempt.
    pub backoff_base: Duration,
    /// Longest backoff delay (also caps a Retry-After).
    pub backoff_max: Duration,
    /// Pages read of one list at most: a `nextPage` that never ends fails the import.
    pub max_pages: u32,
    /// How long one import (all calls of this client) may take before it fails.
    pub deadline: Duration,
}

impl ClientSettings {
    /// [`ClientSettings::max_pages`] by default: a million records per list at 100 a
    /// page, far above the largest Nmbrs company.
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;
    /// [`ClientSettings::deadline`] by default: two hours.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2 * 3600);
}

/// Counters of one client, for the run summary and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP calls sent, retries included.
    pub calls: AtomicU64,
    /// Calls repeated after a 429, 5xx or broken connection.
    pub retries: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Pages read.
    pub pages: AtomicU64,
}

/// Called after each page: endpoint, records so far, records in all.
pub type PageHook = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// The Nmbrs API client.
pub struct Client {
    http: reqwest::Client,
    settings: ClientSettings,
    session: Session,
    permits: tokio::sync::Semaphore,
    /// Counters.
    pub stats: Stats,
    on_page: Option<PageHook>,
    started: std::time::Instant,
}

use crate::http::{retry_after, transport_message};

/// The delay before attempt `attempt` (1 = first retry), by the client's settings.
pub fn backoff(settings: &ClientSettings, attempt: u32, retry_after: Option<Duration>) -> Duration {
    crate::http::backoff(
        settings.backoff_base,
        settings.backoff_max,
        attempt,
        retry_after,
    )
}

/// The page number a `nextPage` link asks for. Only the number is taken: the next
/// request is built on the configured base URL, so a link can never send the token
/// to another host.
fn next_page_number(link: &str) -> Option<u32> {
    let url = reqwest::Url::parse(link)
        .or_else(|_| reqwest::Url::parse("http://nmbrs.invalid/").and_then(|b| b.join(link)))
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("pageNumber"))
        .and_then(|(_, v)| v.parse().ok())
}

impl Client {
    /// A client for the API with a signed-in session.
    pub fn new(settings: ClientSettings, session: Session) -> Result<Self, NmbrsError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("stroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NmbrsError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            permits: tokio::sync::Semaphore::new(settings.concurrency.max(1)),
            settings,
            session,
            stats: Stats::default(),
            on_page: None,
            started: std::time::Instant::now(),
        })
    }

    /// Reports each page read.
    pub fn with_page_hook(mut self, hook: PageHook) -> Self {
        self.on_page = Some(hook);
        self
    }

    /// The HTTP client (shared with the OAuth calls).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One GET with retries; `path` includes the query.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, NmbrsError> {
        self.request(path, None).await
    }

    /// One PUT of a JSON body with retries (callers only send idempotent bodies).
    pub async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, NmbrsError> {
        self.request(path, Some(body)).await
    }

    async fn request<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, NmbrsError> {
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let endpoint = path.split('?').next().unwrap_or(path).to_string();
        let mut refused: Option<Secret> = None;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let token = self
                .session
                .access_token(&self.http, refused.as_ref())
                .await?;
            let outcome = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| NmbrsError::Config("the client was shut down".into()))?;
                self.stats.calls.fetch_add(1, Ordering::Relaxed);
                let request = match body {
                    Some(b) => self.http.put(&url).json(b),
                    None => self.http.get(&url),
                };
                let sent = request
                    .bearer_auth(token.expose())
                    .header(
                        "X-Subscription-Key",
                        self.settings.subscription_key.expose(),
                    )
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await;
                match sent {
                    Ok(answer) => {
                        let status = answer.status();
                        let wait = retry_after(answer.headers());
                        match answer.bytes().await {
                            Ok(body) => Ok((status, wait, body)),
                            Err(e) => Err(transport_message(&e)),
                        }
                    }
                    Err(e) => Err(transport_message(&e)),
                }
            };
            let (retryable, wait, failure) = match outcome {
                Ok((status, _, body)) if status.is_success() => {
                    let mut de = serde_json::Deserializer::from_slice(&body);
                    return serde_path_to_error::deserialize(&mut de).map_err(|e| {
                        NmbrsError::BadAnswer {
                            endpoint,
                            message: format!(
                                "the answer does not have the documented shape at `{}`: {}",
                                e.path(),
                                e.inner()
                            ),
                        }
                    });
                }
                Ok((status, wait, body)) => {
                    let body: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
                    let code = status.as_u16();
                    if code == 401 && !reauthenticated && !super::refuses_subscription_key(&body) {
                        // The token may have been revoked or expired early: one refresh.
                        reauthenticated = true;
                        refused = Some(token);
                        attempt -= 1;
                        continue;
                    }
                    if code == 429 {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let failure = NmbrsError::Api {
                        endpoint: endpoint.clone(),
                        status: code,
                        body: Box::new(body),
                    };
                    (matches!(code, 429 | 500 | 502 | 503 | 504), wait, failure)
                }
                Err(message) => (
                    true,
                    None,
                    NmbrsError::Transport {
                        endpoint: endpoint.clone(),
                        message,
                    },
                ),
            };
            if !retryable {
                return Err(failure);
            }
            if attempt >= self.settings.max_attempts {
                return Err(NmbrsError::GaveUp {
                    endpoint,
                    attempts: attempt,
                    last: Box::new(failure),
                });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(&self.settings, attempt, wait)).await;
        }
    }

    /// Every record of a list endpoint: page 1, then each `nextPage` until it is null.
    /// Fails when the pages do not add up to `totalRecords` (the data changed while
    /// paging): a short list must never pass for the whole one. Paging is bounded by
    /// the envelope (`totalPages`, `totalRecords`), by [`ClientSettings::max_pages`] and
    /// by [`ClientSettings::deadline`]: an answer whose `nextPage` never ends fails the
    /// import, naming the endpoint.
    pub async fn get_all<T: DeserializeOwned>(&self, path: String) -> Result<Vec<T>, NmbrsError> {
        let path = path.as_str();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut page_number = 1u32;
        let mut pages_read = 0u32;
        let mut all: Vec<T> = Vec::new();
        let mut total: Option<u64> = None;
        let bad = |message: String| NmbrsError::BadAnswer {
            endpoint: path.to_string(),
            message,
        };
        loop {
            if self.started.elapsed() > self.settings.deadline {
                return Err(bad(format!(
                    "the import passed its deadline of {} minutes while paging (page \
                     {page_number}); nothing was stored. If the tenant is that large, raise \
                     nmbrs.import_deadline_minutes",
                    self.settings.deadline.as_secs() / 60
                )));
            }
            if pages_read >= self.settings.max_pages {
                return Err(bad(format!(
                    "more than {} pages; nothing was stored. A `nextPage` that never ends \
                     is an API fault; if the list really is that long, raise nmbrs.max_pages",
                    self.settings.max_pages
                )));
            }
            pages_read += 1;
            let page: Page<T> = self
                .get(&format!(
                    "{path}{sep}pageNumber={page_number}&pageSize={}",
                    self.settings.page_size
                ))
                .await?;
            self.stats.pages.fetch_add(1, Ordering::Relaxed);
            all.extend(page.data);
            let pagination = page.pagination;
            // A negative count is no count.
            if let Some(t) = pagination
                .as_ref()
                .and_then(|p| p.total_records)
                .and_then(|t| u64::try_from(t).ok())
            {
                total = Some(t);
            }
            if let Some(t) = total.filter(|t| all.len() as u64 > *t) {
                return Err(bad(format!(
                    "page {page_number} brings the records to {}, more than totalRecords \
                     ({t}); nothing was stored, run the import again",
                    all.len()
                )));
            }
            let total_pages = pagination
                .as_ref()
                .and_then(|p| p.total_pages)
                .and_then(|t| u32::try_from(t).ok());
            if let Some(hook) = &self.on_page {
                hook(path, all.len() as u64, total.unwrap_or(all.len() as u64));
            }
            let next = pagination.and_then(|p| p.next_page);
            match next {
                None => break,
                Some(link) => match next_page_number(&link) {
                    Some(n) if total_pages.is_some_and(|t| n > t) => {
                        return Err(bad(format!(
                            "nextPage {link:?} points past totalPages ({}); nothing was stored",
                            total_pages.unwrap_or_default()
                        )))
                    }
                    Some(n) if n > page_number => page_number = n,
                    _ => {
                        return Err(NmbrsError::BadAnswer {
                            endpoint: path.to_string(),
                            message: format!(
                                "nextPage {link:?} after page {page_number} does not point forward"
                            ),
                        })
                    }
                },
            }
        }
        if let Some(t) = total {
            if t != all.len() as u64 {
                return Err(NmbrsError::BadAnswer {
                    endpoint: path.to_string(),
                    message: format!(
                        "the pages held {} records but totalRecords says {t}; the data \
                         changed while reading, run the import again",
                        all.len()
                    ),
                });
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClientSettings {
        ClientSettings {
            base_url: "http://x".into(),
            subscription_key: Secret::new("k"),
            concurrency: 1,
            page_size: 100,
            timeout: Duration::from_secs(1),
            max_attempts: 3,
            backoff_base: Duration::from_millis(400),
            backoff_max: Duration::from_secs(5),
            max_pages: ClientSettings::DEFAULT_MAX_PAGES,
            deadline: ClientSettings::DEFAULT_DEADLINE,
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let s = settings();
        for attempt in 1..=6 {
            let exp = (400u64 << (attempt - 1)).min(5000);
            let d = backoff(&s, attempt, None).as_millis() as u64;
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d} not in {}..={exp}",
                exp / 2
            );
        }
        assert_eq!(
            backoff(&s, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff(&s, 1, Some(Duration::from_secs(600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn next_page_takes_only_the_number() {
        assert_eq!(
            next_page_number("https://evil.example/api/x?pageNumber=4&pageSize=100"),
            Some(4)
        );
        assert_eq!(
            next_page_number("/api/x?pageSize=100&pageNumber=7"),
            Some(7)
        );
        assert_eq!(next_page_number("nonsense"), None);
    }

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let mut settings = settings();
        settings.subscription_key = Secret::new("sub-key-hunter2");
        let shown = format!("{settings:?}");
        assert!(shown.contains("subscription_key"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
