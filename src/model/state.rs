//! The current state of the targets: accounts and grants Stroom knows of
//! (see `schemas/state.schema.json`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An account that exists in a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountState {
    /// Person id.
    pub person: String,
    /// Target name.
    pub target: String,
    /// The target's id for the account (DN, object id, ...).
    #[serde(default)]
    pub id: Option<String>,
    /// Whether the account is enabled.
    pub enabled: bool,
    /// When it was disabled (for delete retention).
    #[serde(default)]
    pub disabled_on: Option<NaiveDate>,
    /// Attribute values, including unique values given earlier.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Whether the first credential was handed over (`handover` in the rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<super::notice::HandoverState>,
}

/// An entitlement a person holds in a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantState {
    /// Person id.
    pub person: String,
    /// Target name.
    pub target: String,
    /// `group`, `license`, `mailbox`, `permission`.
    pub kind: super::Kind,
    /// Entitlement name.
    pub name: String,
    /// For permissions: the object it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
}

/// What is provisioned now. A missing state file is the empty state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<AccountState>,
    /// Grants.
    #[serde(default)]
    pub grants: Vec<GrantState>,
}
