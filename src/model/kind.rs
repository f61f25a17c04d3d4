//! Entitlement kinds: the one vocabulary of what can be granted, from the rules
//! through plans and state files to the targets.

/// Entitlement kinds. The serde names are the plan document's (`schemas/plan.schema.json`)
/// and equal [`Kind::as_str`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A group membership.
    Group,
    /// A licence (Entra).
    License,
    /// A mailbox (Exchange).
    Mailbox,
    /// A permission on an object (Exchange: FullAccess, SendAs ...).
    Permission,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Group, Kind::License, Kind::Mailbox, Kind::Permission];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::License => "license",
            Kind::Mailbox => "mailbox",
            Kind::Permission => "permission",
        }
    }

    /// Parses the name as written.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
