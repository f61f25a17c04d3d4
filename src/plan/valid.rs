//! Whether a value the plan would send to a target is valid for that attribute. A rule
//! can compute anything from HR data (`lower(last_name)` of "a*)(objectclass=*"); the plan
//! never sends a value the target would refuse or misread: the person's actions in that
//! target are left out and the plan says why.

use crate::rules::program::TargetKind;

/// Characters Active Directory refuses in a `sAMAccountName`.
const SAM_FORBIDDEN: &str = "\"/\\[]:;|=,+*?<>@";

/// Why `value` is not valid for attribute `name` of a target of `kind`, if it is not.
pub fn invalid(kind: TargetKind, name: &str, value: &str) -> Option<String> {
    if let Some(c) = crate::model::text::forbidden_char(value) {
        return Some(format!("holds {}", crate::model::text::describe(c)));
    }
    let attr = name.to_ascii_lowercase();
    match (kind, attr.as_str()) {
        (TargetKind::ActiveDirectory, "samaccountname") => sam_account_name(value),
        (_, "mail" | "userprincipalname" | "primarysmtpaddress" | "windowsemailaddress") => {
            address(value)
        }
        (TargetKind::Entra | TargetKind::Exchange, "mailnickname" | "alias") => local_part(value),
        _ => None,
    }
}

/// AD: at most 20 characters, none of `"/\[]:;|=,+*?<>@`, not only dots and spaces,
/// not ending in a dot.
fn sam_account_name(v: &str) -> Option<String> {
    if v.is_empty() {
        return Some("is empty".into());
    }
    if v.chars().count() > 20 {
        return Some(format!(
            "is {} characters long; Active Directory allows 20 (use `max 20` in `unique`)",
            v.chars().count()
        ));
    }
    if let Some(c) = v.chars().find(|c| SAM_FORBIDDEN.contains(*c)) {
        return Some(format!(
            "holds `{c}`; Active Directory refuses any of {SAM_FORBIDDEN} (strip them with `ascii`/`replace` in the rule)"
        ));
    }
    if v.ends_with('.') || v.chars().all(|c| c == '.' || c == ' ') {
        return Some("ends with a dot or is only dots and spaces".into());
    }
    None
}

/// An address `local@domain` as mail systems take it (RFC 5321 dot-atom, ASCII).
fn address(v: &str) -> Option<String> {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Some("is not an address (no `@`)".into());
    };
    if let Some(why) = local_part(local) {
        return Some(format!("has a local part that {why}"));
    }
    if v.len() > 254 {
        return Some(format!(
            "is {} characters long; addresses have at most 254",
            v.len()
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Some(format!(
            "has `{domain}` as domain, which is not a domain name"
        ));
    }
    None
}

/// The part before `@`: 1 to 64 characters of letters, digits and ``!#$%&'*+/=?^_`{|}~-``,
/// with single dots between them.
fn local_part(v: &str) -> Option<String> {
    if v.is_empty() {
        return Some("is empty".into());
    }
    if v.len() > 64 {
        return Some(format!("is {} characters long (at most 64)", v.len()));
    }
    if v.starts_with('.') || v.ends_with('.') || v.contains("..") {
        return Some(format!(
            "`{v}` starts or ends with a dot, or has two in a row"
        ));
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(*c)))
    {
        let fix = if c.is_ascii() {
            "leave it out with `replace` in the rule"
        } else {
            "use `ascii` in the rule to turn letters with accents into plain ones"
        };
        return Some(format!("holds `{c}`, which addresses cannot ({fix})"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_refused_good_ones_pass() {
        use TargetKind::*;
        assert!(invalid(ActiveDirectory, "sAMAccountName", "jberg").is_none());
        assert!(invalid(ActiveDirectory, "sAMAccountName", "a*)(objectclass=*").is_some());
        assert!(invalid(ActiveDirectory, "sAMAccountName", "abcdefghijklmnopqrstu").is_some());
        assert!(invalid(ActiveDirectory, "sAMAccountName", "jan\0").is_some());
        assert!(invalid(Entra, "userPrincipalName", "j.berg@vandijk.nl").is_none());
        assert!(invalid(Entra, "userPrincipalName", "o'brien@vandijk.nl").is_none());
        assert!(invalid(Entra, "userPrincipalName", ".broek@vandijk.nl").is_some());
        assert!(invalid(Entra, "mail", "jan..berg@vandijk.nl").is_some());
        assert!(invalid(Entra, "mail", "a*)(x@vandijk.nl").is_some());
        assert!(invalid(Entra, "mail", "jan@").is_some());
        assert!(invalid(Entra, "mail", "jan@localhost").is_some());
        assert!(invalid(Entra, "mail", "jañ@vandijk.nl").is_some());
        assert!(invalid(Entra, "displayName", "Jan \u{202e}gro").is_some());
        assert!(invalid(Entra, "displayName", "Jan (Sales) *").is_none());
    }
}
