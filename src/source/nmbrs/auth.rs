//! OAuth 2.0 for Nmbrs: the authorization-code sign-in and unattended refresh with
//! rotating refresh tokens.
//!
//! Nmbrs invalidates a refresh token the moment it is used. The new one is therefore
//! written to the token store (temporary file, fsync, rename, fsync of the folder; mode
//! 0600) *before* the new access token is used. Wherever the process dies, the store
//! holds a whole token file: the old pair or the new one, never a torn mix. (Only when
//! Nmbrs rotated but its answer never arrived is the old pair dead; `stroom nmbrs
//! login` then signs in again, and the error says so.)

use super::NmbrsError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use crate::secret::Secret;

/// What the token store holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// Bearer token for API calls.
    pub access_token: Secret,
    /// When the access token stops working.
    pub access_expires_at: DateTime<Utc>,
    /// The (rotating) refresh token.
    pub refresh_token: Secret,
    /// Granted scopes, as Nmbrs reported them.
    #[serde(default)]
    pub scope: Option<String>,
    /// When this pair was obtained.
    pub obtained_at: DateTime<Utc>,
}

impl Tokens {
    /// True when the access token is missing or expires within a minute.
    pub fn access_expired(&self, now: DateTime<Utc>) -> bool {
        self.access_token.is_empty() || self.access_expires_at - Duration::seconds(60) <= now
    }
}

/// The token file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// A store at `path` (created on first sign-in).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the tokens live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A warning when others may read the store (it holds the refresh token).
    pub fn warning(&self) -> Option<String> {
        crate::files::readable_by_others(&self.path)
    }

    /// Takes the store's lock, waiting up to `patience` for another run to finish its
    /// refresh (a refresh takes a second; two at once would kill each other's token).
    pub async fn lock(
        &self,
        patience: std::time::Duration,
    ) -> Result<crate::files::StoreLock, NmbrsError> {
        let since = std::time::Instant::now();
        loop {
            match crate::files::StoreLock::acquire(&self.path) {
                Ok(lock) => return Ok(lock),
                Err(crate::files::LockError::Busy(busy)) if since.elapsed() < patience => {
                    let _ = busy;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(NmbrsError::TokenStore {
                        path: self.path.display().to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }

    /// Reads the tokens.
    pub fn load(&self) -> Result<Tokens, NmbrsError> {
        let text = match crate::files::read_text(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NmbrsError::NotSignedIn {
                    store: self.path.display().to_string(),
                })
            }
            Err(e) => {
                return Err(NmbrsError::TokenStore {
                    path: self.path.display().to_string(),
                    message: e.to_string(),
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| NmbrsError::TokenStore {
            path: self.path.display().to_string(),
            message: format!(
                "not a token file ({}); run `stroom nmbrs login` to sign in again",
                // serde's message names the position, never the content.
                e
            ),
        })
    }

    /// Writes the tokens atomically with mode 0600.
    pub fn save(&self, tokens: &Tokens) -> Result<(), NmbrsError> {
        let fail = |e: std::io::Error| NmbrsError::TokenStore {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        let text = serde_json::to_vec_pretty(tokens)
            .map_err(std::io::Error::from)
            .map_err(fail)?;
        crate::files::write_atomic(&self.path, &text).map_err(fail)
    }
}

/// The answer of the token endpoint.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    scope: Option<String>,
}

/// The OAuth error answer (`{"error": "invalid_grant", ...}`).
#[derive(Deserialize, Default)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

/// The OAuth client: who Stroom is to the Nmbrs identity service.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// Identity service base, e.g. `https://identityservice.nmbrs.com`.
    pub identity_url: String,
    /// Client id of the app registration.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Loopback redirect URI registered for the app.
    pub redirect_uri: String,
    /// Scopes to ask for (`offline_access` is added when missing).
    pub scopes: Vec<String>,
}

impl OAuthClient {
    fn scope(&self) -> String {
        let mut scopes = self.scopes.clone();
        if !scopes.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".into());
        }
        scopes.join(" ")
    }

    /// The URL to open in a browser to consent. `state` guards the redirect.
    pub fn authorize_url(&self, state: &str) -> Result<String, NmbrsError> {
        let base = format!(
            "{}/connect/authorize",
            self.identity_url.trim_end_matches('/')
        );
        let mut url = reqwest::Url::parse(&base)
            .map_err(|e| NmbrsError::Config(format!("identity_url {base:?}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scope())
            .append_pair("state", state);
        Ok(url.to_string())
    }

    /// Exchanges the code from the redirect for tokens.
    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        code: &str,
    ) -> Result<Tokens, NmbrsError> {
        self.token_call(
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
            ],
        )
        .await
    }

    /// Trades a refresh token for a new pair. The old refresh token is dead afterwards.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &Secret,
    ) -> Result<Tokens, NmbrsError> {
        self.token_call(
            http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    async fn token_call(
        &self,
        http: &reqwest::Client,
        form: &[(&str, &str)],
    ) -> Result<Tokens, NmbrsError> {
        let url = format!("{}/connect/token", self.identity_url.trim_end_matches('/'));
        let answer = http
            .post(&url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(form)
            .send()
            .await
            .map_err(|e| NmbrsError::Transport {
                endpoint: "/connect/token".into(),
                message: crate::http::transport_message(&e),
            })?;
        let status = answer.status();
        let body = answer.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let err: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
            return Err(NmbrsError::TokenRefused {
                status: status.as_u16(),
                error: err.error.unwrap_or_else(|| "unknown".into()),
                description: err.error_description.unwrap_or_default(),
            });
        }
        let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| NmbrsError::BadAnswer {
            endpoint: "/connect/token".into(),
            message: format!("not a token answer: {e}"),
        })?;
        let (Some(access), Some(refresh)) = (t.access_token, t.refresh_token) else {
            return Err(NmbrsError::BadAnswer {
                endpoint: "/connect/token".into(),
                message: "the answer has no access_token or no refresh_token; is `offline_access` among the app's scopes?".into(),
            });
        };
        let now = Utc::now();
        Ok(Tokens {
            access_token: Secret::new(access),
            access_expires_at: now + Duration::seconds(t.expires_in.unwrap_or(3600)),
            refresh_token: Secret::new(refresh),
            scope: t.scope,
            obtained_at: now,
        })
    }
}

/// A valid access token on demand: refreshes (and persists the rotated refresh token
/// first) when the current one is about to expire or was refused.
pub struct Session {
    oauth: OAuthClient,
    store: TokenStore,
    tokens: tokio::sync::Mutex<Option<Tokens>>,
}

impl Session {
    /// A session over a token store.
    pub fn new(oauth: OAuthClient, store: TokenStore) -> Self {
        Self {
            oauth,
            store,
            tokens: tokio::sync::Mutex::new(None),
        }
    }

    /// The access token to send now. `refused` is the token the API just refused
    /// (401): a refresh is forced unless another task refreshed in the meantime.
    pub async fn access_token(
        &self,
        http: &reqwest::Client,
        refused: Option<&Secret>,
    ) -> Result<Secret, NmbrsError> {
        let mut guard = self.tokens.lock().await;
        let tokens = match guard.take() {
            Some(t) => t,
            None => self.store.load()?,
        };
        let stale = refused.is_some_and(|r| *r == tokens.access_token);
        if !stale && !tokens.access_expired(Utc::now()) {
            let token = tokens.access_token.clone();
            *guard = Some(tokens);
            return Ok(token);
        }
        // One refresh at a time across processes: another run may have rotated the
        // token meanwhile, and then its pair (on disk) is the one that still works.
        let _lock = self.store.lock(std::time::Duration::from_secs(30)).await?;
        let mut tokens = tokens;
        if let Ok(on_disk) = self.store.load() {
            if on_disk.refresh_token != tokens.refresh_token {
                if !on_disk.access_expired(Utc::now()) && refused != Some(&on_disk.access_token) {
                    let token = on_disk.access_token.clone();
                    *guard = Some(on_disk);
                    return Ok(token);
                }
                tokens = on_disk;
            }
        }
        let fresh = match self.oauth.refresh(http, &tokens.refresh_token).await {
            Ok(t) => t,
            Err(e) => {
                *guard = Some(tokens);
                return Err(e);
            }
        };
        // Persist before use: the old refresh token is already dead at Nmbrs.
        self.store.save(&fresh)?;
        let token = fresh.access_token.clone();
        *guard = Some(fresh);
        Ok(token)
    }
}
