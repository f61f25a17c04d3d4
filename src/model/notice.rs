//! The first-day hand-over and the messages around an account's life: one vocabulary
//! from the rules (`handover in entra { ... }`) through the plan (`notify` actions) to
//! the apply engine and the delivery channels.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a message is about (and which template it uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The account was made: with `on create`, it carries the first credential.
    Create,
    /// The account is enabled on the start date: with `on start`, it carries the first
    /// credential.
    Enable,
    /// The account was disabled (a leaver); no credential.
    Disable,
    /// A plan was blocked and not applied; to the admins, no credential.
    Blocked,
}

impl NoticeEvent {
    /// Every event.
    pub const ALL: [NoticeEvent; 4] = [
        NoticeEvent::Create,
        NoticeEvent::Enable,
        NoticeEvent::Disable,
        NoticeEvent::Blocked,
    ];

    /// The word in rules, plans and `[notify.templates.*]`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Create => "create",
            NoticeEvent::Enable => "enable",
            NoticeEvent::Disable => "disable",
            NoticeEvent::Blocked => "blocked",
        }
    }

    /// Parses the word.
    pub fn parse(word: &str) -> Option<NoticeEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == word)
    }
}

/// How a message travels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// E-mail over SMTP with STARTTLS (`[notify]` in stroom.toml).
    Mail,
    /// A webhook named in `[notify.webhooks.NAME]` (Teams, Slack, a ticketing system).
    Webhook(String),
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Channel::Mail => f.write_str("mail"),
            Channel::Webhook(name) => write!(f, "webhook {name:?}"),
        }
    }
}

/// A `notify` action's particulars: what, to whom, how, and for a credential how long
/// it is valid. The credential itself is made when the action is carried out, sent at
/// once and kept nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The event.
    pub event: NoticeEvent,
    /// The recipient: an e-mail address (for mail) or who it is for (for a webhook).
    pub to: String,
    /// The channel.
    pub via: Channel,
    /// The person's name, for the message.
    #[serde(default)]
    pub name: String,
    /// Their employee number, for the message.
    #[serde(default)]
    pub number: String,
    /// The account's sign-in name (user principal name, mail or account name).
    #[serde(default)]
    pub account: String,
    /// True when the message hands over the account's first credential.
    #[serde(default)]
    pub credential: bool,
    /// The first day the credential works (the contract's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Entra ID: how many days the Temporary Access Pass lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_days: Option<u32>,
}

/// Whether an account's first credential has reached its recipient (in the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverState {
    /// Not yet (delivery failed, or the run stopped first): the next plan tries again.
    Due,
    /// Handed over (or interrupted while being sent): never sent again.
    Done,
}
