//! Dutch personal names: the family name by naming convention ("naamstelling") and the
//! capitalisation of prefixes (`van der Berg` inside a name, `Van der Berg` opening it).

use super::person::{NameConvention, Person};

/// The computed name fields of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedName {
    /// `Jan van der Berg-de Vries`
    pub display_name: String,
    /// `Van der Berg-de Vries`
    pub family_name: String,
    /// `Van der Berg-de Vries, Jan`
    pub name_last_first: String,
}

/// Collapses white space and trims.
fn clean(s: Option<&str>) -> Option<String> {
    let s = s?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// `van der` + `Berg` → `van der Berg` (prefix in lower case, as inside a name). A
/// prefix that ends in an apostrophe (`d'`, `l'`) is elided and joins its name without a
/// space: `d'` + `Ancona` → `d'Ancona`.
fn with_prefix(prefix: Option<&str>, name: &str) -> String {
    match clean(prefix) {
        Some(p) if p.ends_with(['\'', '\u{2019}']) => format!("{}{}", p.to_lowercase(), name),
        Some(p) => format!("{} {}", p.to_lowercase(), name),
        None => name.to_string(),
    }
}

/// Upper-cases the first letter, as where a prefix opens the name. A name opening with
/// an elided word (`'t Hart`) keeps it: Dutch capitalises the word after it, which is
/// the family name itself.
pub fn capitalize_first(s: &str) -> String {
    if s.starts_with(['\'', '\u{2019}']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut done = false;
    for c in s.chars() {
        if !done && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            done = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Builds the name fields by the person's naming convention. A convention that needs the
/// partner's name falls back to the own name when the partner's name is missing.
pub fn compose(p: &Person) -> ComposedName {
    let last = clean(Some(&p.last_name)).unwrap_or_default();
    let own = with_prefix(p.prefix.as_deref(), &last);
    let partner =
        clean(p.partner_last_name.as_deref()).map(|n| with_prefix(p.partner_prefix.as_deref(), &n));
    let family = match (p.name_convention.unwrap_or_default(), partner) {
        (NameConvention::Own, _) | (_, None) => own,
        (NameConvention::Partner, Some(partner)) => partner,
        (NameConvention::OwnPartner, Some(partner)) => format!("{own}-{partner}"),
        (NameConvention::PartnerOwn, Some(partner)) => format!("{partner}-{own}"),
    };
    let given = clean(p.first_name.as_deref())
        .or_else(|| {
            clean(p.first_name_full.as_deref())
                .and_then(|f| f.split(' ').next().map(str::to_string))
        })
        .or_else(|| clean(p.initials.as_deref()));
    let family_name = capitalize_first(&family);
    match given {
        Some(given) => ComposedName {
            display_name: format!("{given} {family}"),
            name_last_first: format!("{family_name}, {given}"),
            family_name,
        },
        None => ComposedName {
            display_name: family_name.clone(),
            name_last_first: family_name.clone(),
            family_name,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(conv: NameConvention) -> Person {
        Person {
            first_name: Some("Jan".into()),
            prefix: Some("Van Der".into()),
            last_name: "Berg".into(),
            partner_prefix: Some("de".into()),
            partner_last_name: Some("Vries".into()),
            name_convention: Some(conv),
            ..Person::default()
        }
    }

    #[test]
    fn conventions() {
        let cases = [
            (NameConvention::Own, "Jan van der Berg", "Van der Berg"),
            (NameConvention::Partner, "Jan de Vries", "De Vries"),
            (
                NameConvention::OwnPartner,
                "Jan van der Berg-de Vries",
                "Van der Berg-de Vries",
            ),
            (
                NameConvention::PartnerOwn,
                "Jan de Vries-van der Berg",
                "De Vries-van der Berg",
            ),
        ];
        for (conv, display, family) in cases {
            let n = compose(&person(conv));
            assert_eq!(n.display_name, display, "{conv:?}");
            assert_eq!(n.family_name, family, "{conv:?}");
        }
        assert_eq!(
            compose(&person(NameConvention::OwnPartner)).name_last_first,
            "Van der Berg-de Vries, Jan"
        );
    }

    #[test]
    fn partner_convention_without_partner_name_falls_back_to_own() {
        let mut p = person(NameConvention::Partner);
        p.partner_last_name = None;
        assert_eq!(compose(&p).display_name, "Jan van der Berg");
    }

    #[test]
    fn missing_given_name_uses_full_name_then_initials() {
        let mut p = person(NameConvention::Own);
        p.first_name = None;
        p.first_name_full = Some("Johannes Petrus".into());
        assert_eq!(compose(&p).display_name, "Johannes van der Berg");
        p.first_name_full = None;
        p.initials = Some("J.P.".into());
        assert_eq!(compose(&p).display_name, "J.P. van der Berg");
        p.initials = None;
        assert_eq!(compose(&p).display_name, "Van der Berg");
    }

    #[test]
    fn apostrophe_prefix_keeps_its_letter_case() {
        let p = Person {
            first_name: Some("Eva".into()),
            prefix: Some("'t".into()),
            last_name: "Hart".into(),
            ..Person::default()
        };
        let n = compose(&p);
        assert_eq!(n.display_name, "Eva 't Hart");
        assert_eq!(n.family_name, "'t Hart");
    }

    #[test]
    fn an_elided_prefix_joins_its_name() {
        for (prefix, composed, last_first) in [
            ("d'", "d'Ancona", "D'Ancona, Hedy"),
            ("l'", "l'Ecluse", "L'Ecluse, Hedy"),
            ("D\u{2019}", "d\u{2019}Ancona", "D\u{2019}Ancona, Hedy"),
        ] {
            let last = composed.trim_start_matches(['d', 'l', '\'', '\u{2019}']);
            let p = Person {
                first_name: Some("Hedy".into()),
                prefix: Some(prefix.into()),
                last_name: last.into(),
                ..Person::default()
            };
            let n = compose(&p);
            assert_eq!(n.display_name, format!("Hedy {composed}"));
            assert_eq!(n.name_last_first, last_first);
        }
    }
}
