//! Messages to people: the first credential of a new account to the person responsible,
//! and word of an enabled or disabled account or a blocked plan. One template per event
//! ([`Templates`]), two channels: e-mail over SMTP with STARTTLS ([`mail`]) and webhooks
//! ([`webhook`]: Teams, Slack, a ticketing system). A message that holds a credential
//! keeps it in a [`Secret`], so no log line, error or report can show it.

pub mod mail;
pub mod template;
pub mod webhook;

use crate::model::notice::{Channel, NoticeEvent};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;

pub use template::{Fields, Template, Templates};

/// One message, ready to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// What it is about.
    pub event: NoticeEvent,
    /// The recipient.
    pub to: String,
    /// How it travels.
    pub via: Channel,
    /// The subject line.
    pub subject: String,
    /// The text; it may hold a credential, so it is a secret.
    pub body: Secret,
}

/// Why a message did not go out. Never holds the message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// True when trying again later may work (the server is down, busy, or said 4xx).
    pub transient: bool,
    /// What went wrong, for people.
    pub message: String,
}

impl DeliveryError {
    /// A failure worth another try.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    /// A failure another try will not mend (a bad address, a refused message).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something that carries messages: the configured channels, or a test's recorder.
pub trait Deliver: Send + Sync {
    /// Sends one message, once; the caller decides about trying again.
    fn deliver(&self, message: &Message) -> Result<(), DeliveryError>;

    /// The text of each event's message.
    fn templates(&self) -> &Templates;
}

/// The channels `[notify]` in stroom.toml configures.
pub struct Notifier {
    /// E-mail, when `[notify] smtp` is set.
    pub mail: Option<mail::Mailer>,
    /// Webhooks by name.
    pub webhooks: BTreeMap<String, webhook::Webhook>,
    /// The messages' text.
    pub templates: Templates,
    /// Who hears of a blocked plan.
    pub blocked_to: Vec<String>,
}

impl Deliver for Notifier {
    fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        match &message.via {
            Channel::Mail => match &self.mail {
                Some(m) => m.send(message),
                None => Err(DeliveryError::permanent(
                    "no mail server is configured\n  help: set [notify] smtp and from in \
                     stroom.toml",
                )),
            },
            Channel::Webhook(name) => match self.webhooks.get(name) {
                Some(w) => w.send(message),
                None => Err(DeliveryError::permanent(format!(
                    "no webhook {name:?} is configured\n  help: add [notify.webhooks.{name}] \
                     to stroom.toml"
                ))),
            },
        }
    }

    fn templates(&self) -> &Templates {
        &self.templates
    }
}

impl Notifier {
    /// Tells the admins (`blocked_to`) that a plan was blocked; returns what could not
    /// be sent. Sent once per address, by mail.
    pub fn blocked(&self, reason: &str) -> Vec<(String, DeliveryError)> {
        let fields = Fields {
            reason,
            ..Fields::default()
        };
        let (subject, body) = self.templates.render(NoticeEvent::Blocked, &fields);
        self.blocked_to
            .iter()
            .filter_map(|to| {
                let m = Message {
                    event: NoticeEvent::Blocked,
                    to: to.clone(),
                    via: Channel::Mail,
                    subject: subject.clone(),
                    body: body.clone(),
                };
                self.deliver(&m).err().map(|e| (to.clone(), e))
            })
            .collect()
    }
}
