//! The text of each event's message: built-in defaults, replaced per event by
//! `[notify.templates.EVENT]` in stroom.toml. `{name}`-style placeholders are filled in
//! when the message is made; an unknown one is refused when the file is read.

use crate::model::notice::NoticeEvent;
use crate::secret::Secret;
use std::collections::BTreeMap;

/// One event's message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
}

/// What a template can say. `credential` is only there when the message hands one over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    /// The person's name.
    pub name: &'a str,
    /// Their employee number.
    pub number: &'a str,
    /// The account's sign-in name.
    pub account: &'a str,
    /// The target (`entra`, `ad`).
    pub target: &'a str,
    /// What the credential is ("Temporary Access Pass", "initial password").
    pub kind: &'a str,
    /// The credential itself.
    pub credential: Option<&'a Secret>,
    /// The first day it works.
    pub from: &'a str,
    /// Until when it works ("" when it does not expire).
    pub until: &'a str,
    /// Why a plan was blocked.
    pub reason: &'a str,
}

/// The placeholders each event's template may use.
pub fn placeholders(event: NoticeEvent) -> &'static [&'static str] {
    match event {
        NoticeEvent::Create | NoticeEvent::Enable => &[
            "name",
            "number",
            "account",
            "target",
            "kind",
            "credential",
            "from",
            "until",
        ],
        NoticeEvent::Disable => &["name", "number", "account", "target"],
        NoticeEvent::Blocked => &["reason"],
    }
}

/// Every event's template.
#[derive(Debug, Clone)]
pub struct Templates {
    by_event: BTreeMap<&'static str, Template>,
}

impl Default for Templates {
    fn default() -> Self {
        let t = |subject: &str, body: &str| Template {
            subject: subject.into(),
            body: body.into(),
        };
        let credential = "Hello,\n\n{name} ({number}) has an account from {from}: {account} \
            ({target}).\n\nTheir {kind} for the first sign-in is:\n\n    {credential}\n\n\
            {until}Please hand it over in person on their first day; they choose their own \
            sign-in method or password with it.\n\nThis message was sent once by Stroom; \
            the pass is not kept anywhere.\n";
        let mut by_event = BTreeMap::new();
        by_event.insert(
            NoticeEvent::Create.as_str(),
            t("First sign-in for {name} ({from})", credential),
        );
        by_event.insert(
            NoticeEvent::Enable.as_str(),
            t("{name} starts today: first sign-in", credential),
        );
        by_event.insert(
            NoticeEvent::Disable.as_str(),
            t(
                "Account of {name} disabled",
                "Hello,\n\nThe account {account} ({target}) of {name} ({number}) was \
                 disabled today, as their contract ended.\n\nSent by Stroom.\n",
            ),
        );
        by_event.insert(
            NoticeEvent::Blocked.as_str(),
            t(
                "Stroom: a plan was blocked and not applied",
                "A plan was blocked and nothing of it was carried out:\n\n{reason}\n\n\
                 Review it, then apply it with --approve, or fix the HR data or the rules.\n",
            ),
        );
        Self { by_event }
    }
}

impl Templates {
    /// The defaults with `given` in their place, or the first template that uses a
    /// placeholder its event does not have (event, placeholder).
    pub fn with(given: &BTreeMap<String, Template>) -> Result<Self, (String, String)> {
        let mut t = Self::default();
        for (event_name, template) in given {
            let Some(event) = NoticeEvent::parse(event_name) else {
                return Err((event_name.clone(), String::new()));
            };
            for text in [&template.subject, &template.body] {
                if let Some(bad) = unknown_placeholder(text, placeholders(event)) {
                    return Err((event_name.clone(), bad));
                }
            }
            t.by_event.insert(event.as_str(), template.clone());
        }
        Ok(t)
    }

    /// The subject and text of an event's message with `fields` filled in. The text
    /// is a secret: it may hold the credential.
    pub fn render(&self, event: NoticeEvent, fields: &Fields) -> (String, Secret) {
        let Some(t) = self.by_event.get(event.as_str()) else {
            return (String::new(), Secret::new(""));
        };
        let until = if fields.until.is_empty() {
            String::new()
        } else {
            format!("It works until {}. ", fields.until)
        };
        let fill = |text: &str, with_secret: bool| {
            let mut out = String::with_capacity(text.len() + 64);
            let mut rest = text;
            while let Some(i) = rest.find('{') {
                out.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                match after.find('}') {
                    Some(j) => {
                        let key = &after[..j];
                        let value: &str = match key {
                            "name" => fields.name,
                            "number" => fields.number,
                            "account" => fields.account,
                            "target" => fields.target,
                            "kind" => fields.kind,
                            "from" => fields.from,
                            "until" => &until,
                            "reason" => fields.reason,
                            // The subject never carries the credential.
                            "credential" if with_secret => {
                                fields.credential.map_or("", |s| s.expose())
                            }
                            _ => "",
                        };
                        out.push_str(value);
                        rest = &after[j + 1..];
                    }
                    None => {
                        out.push('{');
                        rest = after;
                    }
                }
            }
            out.push_str(rest);
            out
        };
        (fill(&t.subject, false), Secret::new(fill(&t.body, true)))
    }
}

/// The first `{placeholder}` in `text` that is not in `allowed`.
fn unknown_placeholder(text: &str, allowed: &[&str]) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let j = after.find('}')?;
        let key = &after[..j];
        if !allowed.contains(&key) {
            return Some(key.to_string());
        }
        rest = &after[j + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_goes_in_the_text_only() {
        let secret = Secret::new("TAP-1234-abcd");
        let t = Templates::default();
        let (subject, body) = t.render(
            NoticeEvent::Create,
            &Fields {
                name: "Zoë Öztürk",
                number: "1042",
                account: "zoe.ozturk@acme.nl",
                target: "entra",
                kind: "Temporary Access Pass",
                credential: Some(&secret),
                from: "2026-12-07",
                until: "2026-12-09",
                reason: "",
            },
        );
        assert_eq!(subject, "First sign-in for Zoë Öztürk (2026-12-07)");
        assert!(body.expose().contains("    TAP-1234-abcd\n"));
        assert!(body.expose().contains("It works until 2026-12-09."));
        assert_eq!(format!("{body:?} {body}"), "*** ***");
    }

    #[test]
    fn unknown_placeholders_are_refused_per_event() {
        let mut given = BTreeMap::new();
        given.insert(
            "disable".to_string(),
            Template {
                subject: "Gone: {name}".into(),
                body: "{credential}".into(),
            },
        );
        assert_eq!(
            Templates::with(&given).unwrap_err(),
            ("disable".to_string(), "credential".to_string())
        );
        given.clear();
        given.insert(
            "creat".to_string(),
            Template {
                subject: String::new(),
                body: String::new(),
            },
        );
        assert_eq!(Templates::with(&given).unwrap_err().0, "creat");
    }
}
