//! Webhooks: a JSON `POST` with the message as `text` (what Teams' and Slack's incoming
//! webhooks show) and its parts as fields (for a ticketing system). The URL holds the
//! webhook's secret, so it comes from the environment or a file and is never shown.

use super::{DeliveryError, Message};
use crate::secret::Secret;
use std::time::Duration;

/// One configured webhook.
pub struct Webhook {
    name: String,
    url: Secret,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({:?})", self.name)
    }
}

impl Webhook {
    /// A webhook at `url` (https, or http to loopback for tests).
    pub fn new(name: &str, url: Secret, timeout: Duration) -> Result<Self, String> {
        if !crate::http::secure_or_loopback(url.expose()) {
            return Err(format!(
                "the URL of webhook {name:?} must start with https:// (its value is not shown)"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("webhook {name:?}: {e}"))?;
        let runtime =
            crate::http::runtime().map_err(|e| format!("webhook {name:?}: no runtime: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            url,
            client,
            runtime,
        })
    }

    /// Posts one message.
    pub fn send(&self, m: &Message) -> Result<(), DeliveryError> {
        let body = serde_json::json!({
            "text": format!("{}\n\n{}", m.subject, m.body.expose()),
            "event": m.event.as_str(),
            "to": m.to,
            "subject": m.subject,
            "body": m.body.expose(),
        });
        let name = &self.name;
        // The request is made inside the runtime: its timeout needs the runtime's timer.
        let sent = self
            .runtime
            .block_on(async { self.client.post(self.url.expose()).json(&body).send().await });
        // reqwest's errors name the URL: they are described, never shown.
        let response = sent.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "the request failed"
            };
            DeliveryError::transient(format!("webhook {name:?}: {what}"))
        })?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(DeliveryError::transient(format!(
                "webhook {name:?}: HTTP {status}"
            ))),
            _ => Err(DeliveryError::permanent(format!(
                "webhook {name:?}: HTTP {status}\n  help: check the webhook's URL and that it \
                 takes JSON with a `text` field"
            ))),
        }
    }
}
