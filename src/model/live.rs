//! What a target holds now, read by `stroom reconcile`: every account in the target's
//! scope (whoever made it) and the memberships of the entitlements the rules manage.
//! Targets produce these; the reconciler consumes them.

use super::Kind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An account as the target has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveAccount {
    /// The target's id of it (a DN, an object id).
    pub id: String,
    /// The name people know it by (`sAMAccountName`, the user principal name).
    pub name: String,
    /// The person id in its correlation attribute, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Enabled, when the target says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When it was made (RFC 3339), when the target says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The last sign-in the target knows of (RFC 3339; AD's `lastLogonTimestamp` lags
    /// by up to two weeks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<String>,
    /// The attributes asked for, as read (several values as an array).
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// An entitlement an account holds now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holding {
    /// The account's id ([`LiveAccount::id`]).
    pub account: String,
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// For permissions: the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
}

/// Everything read from one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The target's name.
    pub target: String,
    /// Its accounts.
    pub accounts: Vec<LiveAccount>,
    /// Their memberships of managed entitlements.
    #[serde(default)]
    pub holdings: Vec<Holding>,
    /// Requests it took (search pages, Graph calls).
    #[serde(default)]
    pub calls: u64,
}

/// The entitlement names the rules manage in one target, per kind: the constant names
/// they grant, and the constant beginnings of computed ones (`"DEP-" + ...` manages
/// every `DEP-*`). A membership of anything else is not Stroom's business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    /// Per kind.
    pub kinds: BTreeMap<Kind, ManagedNames>,
}

/// Managed names of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedNames {
    /// Names granted as constants: lower case → as the rules write them.
    pub exact: BTreeMap<String, String>,
    /// Beginnings of computed names, lower case.
    pub prefixes: BTreeSet<String>,
    /// For permissions: the objects they are on, lower case → as written.
    pub objects: BTreeMap<String, String>,
}

impl ManagedNames {
    /// True if the rules manage an entitlement of this name (case does not matter, as
    /// in the directories).
    pub fn covers(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.exact.contains_key(&name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }

    /// A name as the rules write it (`CRM-Users` for a group AD calls `crm-users`):
    /// directories compare names without case, plans with it.
    pub fn spelling<'n>(&'n self, name: &'n str) -> &'n str {
        self.exact
            .get(&name.to_lowercase())
            .map_or(name, String::as_str)
    }

    /// An object as the rules write it.
    pub fn object_spelling<'n>(&'n self, on: &'n str) -> &'n str {
        self.objects
            .get(&on.to_lowercase())
            .map_or(on, String::as_str)
    }
}

impl Managed {
    /// True if the rules manage this entitlement.
    pub fn covers(&self, kind: Kind, name: &str) -> bool {
        self.kinds.get(&kind).is_some_and(|n| n.covers(name))
    }

    /// True if the rules manage this holding: its name, and for a permission its
    /// object when the rules name objects.
    pub fn covers_holding(&self, h: &Holding) -> bool {
        self.kinds.get(&h.kind).is_some_and(|n| {
            n.covers(&h.name)
                && (n.objects.is_empty()
                    || h.on
                        .as_deref()
                        .is_some_and(|on| n.objects.contains_key(&on.to_lowercase())))
        })
    }

    /// The managed names of a kind, if any.
    pub fn of(&self, kind: Kind) -> Option<&ManagedNames> {
        self.kinds.get(&kind)
    }
}

/// What a target reader is asked for.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    /// Account attributes to read (the account block's and the `correlate` keys).
    pub attributes: &'a [String],
    /// The entitlements whose memberships to read.
    pub managed: &'a Managed,
}

/// An account as adoption records it in the state (a `link_account` action carries it):
/// what the target has, so the next plan starts from the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRecord {
    /// The target's id of the account.
    pub id: String,
    /// Enabled now.
    pub enabled: bool,
    /// Its values of the attributes the rules set (unique values are kept).
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Its memberships the state records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<HeldGrant>,
}

/// A membership an [`AccountRecord`] brings into the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldGrant {
    /// Kind.
    pub kind: Kind,
    /// Name.
    pub name: String,
    /// For permissions: the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
}
