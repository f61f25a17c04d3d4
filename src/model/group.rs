//! Managed groups: what the rules say about a group Stroom may create (`group "DEP-*"
//! in ad { ... }`), one vocabulary from the checker through the plan to the targets.

use serde::{Deserialize, Serialize};

/// An Active Directory group's scope (`scope` in a group declaration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupScope {
    /// Members from its own domain, used anywhere in the forest (AD's default).
    #[default]
    Global,
    /// Members from any domain of the forest.
    Universal,
    /// Used in its own domain only.
    DomainLocal,
}

/// What a group is for (`type` in a group declaration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// A security group: access rights (AD and Entra ID).
    #[default]
    Security,
    /// An AD distribution group: a mailing list without rights.
    Distribution,
    /// An Entra ID Microsoft 365 group (mailbox, calendar, Teams).
    Microsoft365,
}

impl GroupScope {
    /// Every scope, as rules write them.
    pub const ALL: [GroupScope; 3] = [
        GroupScope::Global,
        GroupScope::Universal,
        GroupScope::DomainLocal,
    ];

    /// The word in rules and plans.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupScope::Global => "global",
            GroupScope::Universal => "universal",
            GroupScope::DomainLocal => "domain_local",
        }
    }

    /// Parses the word.
    pub fn parse(word: &str) -> Option<GroupScope> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl GroupType {
    /// Every type, as rules write them.
    pub const ALL: [GroupType; 3] = [
        GroupType::Security,
        GroupType::Distribution,
        GroupType::Microsoft365,
    ];

    /// The word in rules and plans.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Security => "security",
            GroupType::Distribution => "distribution",
            GroupType::Microsoft365 => "microsoft365",
        }
    }

    /// Parses the word.
    pub fn parse(word: &str) -> Option<GroupType> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// How a managed group is made: what a `create_group` step carries to the target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// AD: the OU the group is made in (the target's `groups_dn` when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    /// AD: its scope (AD's default, global, when not given; Entra ID groups have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<GroupScope>,
    /// Security, distribution (AD) or Microsoft 365 (Entra ID).
    #[serde(default, rename = "type")]
    pub group_type: GroupType,
    /// The description, `{name}` replaced by the group's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// True if `name` fits `pattern`, where `*` stands for any run of characters (none
/// included) and the rest compares without regard to case, as AD and Entra ID compare
/// group names.
pub fn fits_pattern(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // The classic two-pointer glob match: linear in practice, no recursion.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_fit_names_without_regard_to_case() {
        assert!(fits_pattern("DEP-*", "DEP-sales"));
        assert!(fits_pattern("DEP-*", "dep-"));
        assert!(fits_pattern("DEP-*", "Dep-Inkoop"));
        assert!(!fits_pattern("DEP-*", "DEPsales"));
        assert!(!fits_pattern("DEP-*", "XDEP-sales"));
        assert!(fits_pattern("*-users", "CRM-Users"));
        assert!(fits_pattern("A*B*C", "AxxBxxC"));
        assert!(!fits_pattern("A*B*C", "AxxBxx"));
        assert!(fits_pattern("Exact", "exact"));
        assert!(!fits_pattern("Exact", "exactly"));
        assert!(fits_pattern("ÉQUIPE-*", "équipe-x"));
    }

    #[test]
    fn settings_round_trip_with_their_words() {
        let s = GroupSettings {
            ou: Some("OU=Groups,DC=x".into()),
            scope: Some(GroupScope::DomainLocal),
            group_type: GroupType::Microsoft365,
            description: Some("d".into()),
        };
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["scope"], "domain_local");
        assert_eq!(json["type"], "microsoft365");
        assert_eq!(
            serde_json::from_value::<GroupSettings>(json).expect("back"),
            s
        );
        for t in GroupType::ALL {
            assert_eq!(GroupType::parse(t.as_str()), Some(t));
        }
        for t in GroupScope::ALL {
            assert_eq!(GroupScope::parse(t.as_str()), Some(t));
        }
    }
}
