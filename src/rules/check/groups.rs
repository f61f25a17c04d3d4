//! Group declarations: `group "DEP-*" in ad { ou "..." scope global type security
//! description "..." }`, checked against what the target's kind can create.

use super::*;
use crate::model::group::{GroupScope, GroupSettings, GroupType};
use ast::{GroupBlock, GroupSetting, SettingValue};

/// The settings a group in a target of this kind takes, and its types.
fn settings_of(kind: TargetKind) -> (&'static [&'static str], &'static [GroupType]) {
    match kind {
        TargetKind::ActiveDirectory => (
            &["ou", "scope", "type", "description"],
            &[GroupType::Security, GroupType::Distribution],
        ),
        _ => (
            &["type", "description"],
            &[GroupType::Security, GroupType::Microsoft365],
        ),
    }
}

fn words<T: Copy>(all: &[T], word: impl Fn(T) -> &'static str) -> String {
    all.iter()
        .map(|t| format!("`{}`", word(*t)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Checker<'a> {
    fn bad_group(
        &mut self,
        detail: String,
        span: Span,
        label: impl Into<String>,
        help: String,
    ) -> &mut Diagnostic {
        self.error(Problem::BadGroup { detail }, span, label, help)
    }

    /// A `group` declaration: where, which names, and how they are made.
    pub(super) fn group(&mut self, block: &'a GroupBlock, span: Span) {
        let Some(target) = self.target(&block.target) else {
            return;
        };
        let decl = &self.targets[target as usize];
        let (tname, kind) = (decl.name.to_string(), decl.kind);
        if !matches!(kind, TargetKind::ActiveDirectory | TargetKind::Entra) {
            self.bad_group(
                format!("Stroom does not create groups in {tname}"),
                block.target.span,
                format!("a target of kind {kind}"),
                format!(
                    "groups are created in Active Directory or Entra ID targets; make the \
                     group in {tname} yourself and grant it, or declare `group {:?} in entra`",
                    block.pattern.value
                ),
            );
            return;
        }
        let pattern = block.pattern.value.trim();
        if pattern.chars().all(|c| c == '*') {
            self.bad_group(
                "the pattern covers every group name".into(),
                block.pattern.span,
                "every name",
                "a misspelt group name would then be created instead of refused; name the \
                 groups' common part, e.g. `\"DEP-*\"`"
                    .into(),
            );
            return;
        }
        if let Some(first) = self
            .groups
            .iter()
            .find(|g| g.target == target && g.pattern.to_lowercase() == pattern.to_lowercase())
        {
            let first = self.origins[first.origin as usize].span;
            self.declared_twice(
                format!("group {pattern:?} in {tname}"),
                (block.pattern.span, "declared again here"),
                (first, "first declared here"),
                "one declaration per pattern and target; keep one and delete the other",
            );
            return;
        }
        let Some(settings) = self.group_settings(&block.settings, kind, &tname) else {
            return;
        };
        let named = format!("group {pattern:?} in {tname}");
        let origin = self.origin(Some(&named), span);
        self.groups.push(ManagedGroup {
            target,
            pattern: Arc::from(pattern),
            settings,
            origin,
        });
    }

    fn group_settings(
        &mut self,
        lines: &'a [GroupSetting],
        kind: TargetKind,
        tname: &str,
    ) -> Option<GroupSettings> {
        let (names, types) = settings_of(kind);
        let mut settings = GroupSettings {
            scope: (kind == TargetKind::ActiveDirectory).then_some(GroupScope::default()),
            ..GroupSettings::default()
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut ok = true;
        for line in lines {
            let name = line.name.name.as_str();
            if !names.contains(&name) {
                let hint = did_you_mean(name, names.iter().copied());
                let help = match hint {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if name == "ou" || name == "scope" => format!(
                        "`{name}` is for Active Directory groups; a group in {tname} takes {}",
                        names.join(", ")
                    ),
                    None => format!("a group in {tname} takes {}", names.join(", ")),
                };
                self.bad_group(
                    format!("unknown setting `{name}`"),
                    line.name.span,
                    "unknown setting",
                    help,
                )
                .replacement = hint.map(String::from);
                ok = false;
                continue;
            }
            if let Some(first) = seen.insert(name, line.name.span) {
                self.declared_twice(
                    format!("group setting `{name}`"),
                    (line.name.span, "set again here"),
                    (first, "first set here"),
                    "each setting once; keep one and delete the other",
                );
                ok = false;
                continue;
            }
            ok &= self.group_setting(line, &mut settings, types, tname);
        }
        ok.then_some(settings)
    }

    /// One setting's value into `settings`; false after an error.
    fn group_setting(
        &mut self,
        line: &'a GroupSetting,
        settings: &mut GroupSettings,
        types: &[GroupType],
        tname: &str,
    ) -> bool {
        let name = line.name.name.as_str();
        let (text, span, quoted) = match &line.value {
            SettingValue::Text(t) => (t.value.as_str(), t.span, true),
            SettingValue::Word(w) => (w.name.as_str(), w.span, false),
        };
        match name {
            "ou" | "description" if !quoted => {
                self.bad_group(
                    format!("`{name}` takes text"),
                    span,
                    "not in quotes",
                    format!("write it in quotes: `{name} \"{text}\"`"),
                );
                false
            }
            "ou" if !text.contains('=') => {
                self.bad_group(
                    format!("{text:?} is not a distinguished name"),
                    span,
                    "not a DN",
                    "write the OU's distinguished name, e.g. `ou \"OU=Departments,OU=Groups,DC=example,DC=com\"`".into(),
                );
                false
            }
            "ou" => {
                settings.ou = Some(text.to_string());
                true
            }
            "description" => {
                settings.description = Some(text.to_string());
                true
            }
            "scope" => match GroupScope::parse(text) {
                Some(scope) => {
                    settings.scope = Some(scope);
                    true
                }
                None => {
                    let all = words(&GroupScope::ALL, GroupScope::as_str);
                    let hint = did_you_mean(text, GroupScope::ALL.map(GroupScope::as_str));
                    let help = match hint {
                        Some(s) => format!("did you mean `{s}`? The scopes are {all}"),
                        None => format!("the scopes are {all}"),
                    };
                    self.bad_group(
                        format!("unknown scope `{text}`"),
                        span,
                        "unknown scope",
                        help,
                    )
                    .replacement = hint.map(String::from);
                    false
                }
            },
            _ => match GroupType::parse(text).filter(|t| types.contains(t)) {
                Some(t) => {
                    settings.group_type = t;
                    true
                }
                None => {
                    let all = words(types, GroupType::as_str);
                    let hint = did_you_mean(text, types.iter().map(|t| t.as_str()))
                        .filter(|_| GroupType::parse(text).is_none());
                    let help = match (GroupType::parse(text), hint) {
                        (Some(_), _) => format!(
                            "a group of type `{text}` is not made in {tname}; here the types are {all}"
                        ),
                        (None, Some(s)) => format!("did you mean `{s}`? Here the types are {all}"),
                        (None, None) => format!("here the types are {all}"),
                    };
                    let (detail, label) = match GroupType::parse(text) {
                        Some(_) => (format!("{tname} makes no {text} groups"), "not made here"),
                        None => (format!("unknown group type `{text}`"), "unknown type"),
                    };
                    self.bad_group(detail, span, label, help).replacement = hint.map(String::from);
                    false
                }
            },
        }
    }
}
