//! The one-time sign-in (`stroom nmbrs login`): the OAuth authorization-code flow with
//! a loopback redirect (RFC 8252). Stroom listens on the registered loopback address,
//! the user opens the consent address in a browser, and the one redirect that carries
//! this sign-in's `state` brings the code, which is exchanged for tokens.
//!
//! The listener reads at most [`MAX_REQUEST`] bytes of a request head, gives a slow
//! or silent connection [`READ_TIMEOUT`], and answers anything that is not the
//! redirect path with 404, so a stray browser request (a favicon) or a port scanner
//! cannot stall or end the sign-in.

use super::auth::{OAuthClient, Tokens};
use super::NmbrsError;
use crate::random::random_u64;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The longest request head read from the browser.
pub const MAX_REQUEST: usize = 16 * 1024;

/// How long one browser connection may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a sign-in did not end with tokens.
#[derive(Debug)]
pub enum LoginError {
    /// `nmbrs.redirect_uri` is not a URL.
    BadRedirect(String),
    /// `nmbrs.redirect_uri` is not on this machine.
    NotLoopback(String),
    /// The redirect address cannot be listened on.
    Listen {
        /// `host:port`.
        address: String,
        /// The operating system's reason.
        message: String,
    },
    /// No redirect came in time.
    Timeout(Duration),
    /// The user or Nmbrs refused the consent (`error` in the redirect).
    Refused {
        /// The OAuth error code, e.g. `access_denied`.
        error: String,
        /// Its description.
        description: String,
    },
    /// A redirect for another sign-in (wrong `state`).
    StateMismatch,
    /// A redirect without a code.
    NoCode,
    /// The code could not be exchanged, or the address not made.
    Nmbrs(NmbrsError),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::BadRedirect(uri) => write!(
                f,
                "nmbrs.redirect_uri {uri:?} is not a URL\n  help: write it as http://127.0.0.1:8765/callback, as registered for the app"
            ),
            LoginError::NotLoopback(host) => write!(
                f,
                "nmbrs.redirect_uri must be a loopback address (http://127.0.0.1:PORT/...), not {host}\n  help: the browser hands the code to Stroom on this machine; register a loopback redirect for the app"
            ),
            LoginError::Listen { address, message } => write!(
                f,
                "cannot listen on {address} for the redirect: {message}\n  help: free the port or change nmbrs.redirect_uri (and the app registration)"
            ),
            LoginError::Timeout(wait) => write!(
                f,
                "no redirect within {} seconds\n  help: run `stroom nmbrs login` again (`--wait` gives more time)",
                wait.as_secs()
            ),
            LoginError::Refused { error, description } => write!(
                f,
                "Nmbrs refused the consent: {error}{}{description}\n  help: sign in with an account that may consent for the app, and accept",
                if description.is_empty() { "" } else { ": " }
            ),
            LoginError::StateMismatch => write!(
                f,
                "the redirect's state does not match: it belongs to another sign-in\n  help: run `stroom nmbrs login` again and use the address it prints"
            ),
            LoginError::NoCode => write!(
                f,
                "the redirect carries no code\n  help: run `stroom nmbrs login` again"
            ),
            LoginError::Nmbrs(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoginError {}

impl From<NmbrsError> for LoginError {
    fn from(e: NmbrsError) -> Self {
        LoginError::Nmbrs(e)
    }
}

/// A sign-in in progress: listening for the redirect.
pub struct Loopback {
    listener: TcpListener,
    path: String,
    state: String,
    /// The consent address to open in a browser.
    pub url: String,
}

impl Loopback {
    /// Listens on `oauth`'s redirect address and makes the consent address.
    pub async fn open(oauth: &OAuthClient) -> Result<Self, LoginError> {
        let redirect = reqwest::Url::parse(&oauth.redirect_uri)
            .map_err(|_| LoginError::BadRedirect(oauth.redirect_uri.clone()))?;
        let host = redirect.host_str().unwrap_or_default().to_string();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
            return Err(LoginError::NotLoopback(host));
        }
        let port = redirect.port_or_known_default().unwrap_or(80);
        let listener = TcpListener::bind((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| LoginError::Listen {
                address: format!("{host}:{port}"),
                message: e.to_string(),
            })?;
        let state = format!("{:016x}{:016x}", random_u64(), random_u64());
        let url = oauth.authorize_url(&state)?;
        Ok(Self {
            listener,
            path: redirect.path().to_string(),
            state,
            url,
        })
    }

    /// Waits at most `wait` for the redirect, answers the browser, and exchanges the
    /// code for tokens (not yet saved: see [`super::auth::TokenStore::save`]).
    pub async fn finish(self, oauth: &OAuthClient, wait: Duration) -> Result<Tokens, LoginError> {
        let code = tokio::time::timeout(wait, self.catch_code())
            .await
            .map_err(|_| LoginError::Timeout(wait))??;
        let http = reqwest::Client::new();
        Ok(oauth.exchange_code(&http, &code).await?)
    }

    /// The code of the first redirect to the registered path; answers every request.
    /// Each connection is read on its own task, so a silent one delays nobody.
    async fn catch_code(&self) -> Result<String, LoginError> {
        type Request = (tokio::net::TcpStream, Option<String>);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Request>(16);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((mut stream, _)) = accepted else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let target = tokio::time::timeout(READ_TIMEOUT, request_target(&mut stream))
                            .await
                            .ok()
                            .flatten();
                        let _ = tx.send((stream, target)).await;
                    });
                }
                Some((mut stream, target)) = rx.recv() => {
                    if let Some(result) = self.answer(&mut stream, target).await {
                        return result;
                    }
                }
            }
        }
    }

    /// Answers one request; the sign-in's result when it was the redirect.
    async fn answer(
        &self,
        stream: &mut tokio::net::TcpStream,
        target: Option<String>,
    ) -> Option<Result<String, LoginError>> {
        let Some(target) = target else {
            let _ = stream.write_all(&answer("400 Bad Request", "")).await;
            return None;
        };
        let url = reqwest::Url::parse(&format!("http://localhost{target}")).ok();
        let Some(url) = url.filter(|u| u.path() == self.path) else {
            let _ = stream.write_all(&answer("404 Not Found", "")).await;
            return None;
        };
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let result = redirect_result(&query, &self.state);
        let (status, page) = match &result {
            Ok(_) => (
                "200 OK",
                "Stroom is signed in to Nmbrs. You can close this window.",
            ),
            Err(LoginError::StateMismatch) => (
                "400 Bad Request",
                "This answer does not belong to this sign-in.",
            ),
            Err(_) => ("400 Bad Request", "Sign-in failed; see the terminal."),
        };
        let body = format!("<!doctype html><title>Stroom</title><p>{page}</p>");
        let _ = stream.write_all(&answer(status, &body)).await;
        Some(result)
    }
}

/// What a redirect's query says: the code, or why there is none.
fn redirect_result(query: &HashMap<String, String>, state: &str) -> Result<String, LoginError> {
    if let Some(error) = query.get("error") {
        return Err(LoginError::Refused {
            error: error.clone(),
            description: query.get("error_description").cloned().unwrap_or_default(),
        });
    }
    if query.get("state").map(String::as_str) != Some(state) {
        return Err(LoginError::StateMismatch);
    }
    query.get("code").cloned().ok_or(LoginError::NoCode)
}

/// The request target of an HTTP/1 request (`/callback?code=...`), read up to the end
/// of the head or [`MAX_REQUEST`] bytes; `None` for what is not a GET request.
async fn request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    (method == "GET" && target.starts_with('/')).then(|| target.to_string())
}

fn answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
