//! What reconciliation does per target: report or enforce drift and orphans, and which
//! known accounts it leaves out (`[targets.NAME.reconcile]` in stroom.toml).

use crate::model::live::LiveAccount;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Report only, or plan the fix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// List it in the report (the default).
    #[default]
    Report,
    /// Plan the fix (revoke, disable, update), under the plan's thresholds.
    Enforce,
}

/// An account reconciliation leaves out: a service account, an external contractor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// The account: its name (`sAMAccountName`, user principal name) or its id (DN,
    /// object id); case does not matter.
    pub account: String,
    /// The last day it is left out; after it, the account is reconciled again (and
    /// the report says the exclusion ended). None: until removed.
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// Why, for the report.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The policy of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPolicy {
    /// Drift on linked accounts: attributes, enabled state, memberships of managed
    /// entitlements.
    #[serde(default)]
    pub drift: Enforcement,
    /// Accounts in scope that no person has: `enforce` disables them.
    #[serde(default)]
    pub orphans: Enforcement,
    /// Accounts left out.
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
}

impl TargetPolicy {
    /// The exclusion that names this account, if any.
    pub fn exclusion_of(&self, account: &LiveAccount) -> Option<&Exclusion> {
        self.exclude.iter().find(|e| {
            e.account.eq_ignore_ascii_case(&account.name)
                || e.account.eq_ignore_ascii_case(&account.id)
        })
    }
}

/// The policy of every target, by name; a target not named reports only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcilePolicy {
    /// By target name.
    pub targets: BTreeMap<String, TargetPolicy>,
}

static REPORT_ONLY: TargetPolicy = TargetPolicy {
    drift: Enforcement::Report,
    orphans: Enforcement::Report,
    exclude: Vec::new(),
};

impl ReconcilePolicy {
    /// The policy of a target.
    pub fn of(&self, target: &str) -> &TargetPolicy {
        self.targets.get(target).unwrap_or(&REPORT_ONLY)
    }
}
