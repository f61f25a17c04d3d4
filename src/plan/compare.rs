//! The impact of a rule change: two plans made from the same persons, state and date,
//! one with the rules as they are and one with the edit, compared action by action and
//! grouped by what changes (operation, target, entitlement) and the rule behind it.

use super::{build_plan, Action, Because, Plan, PlanInput};
use crate::model::{Kind, Person};
use crate::rules::eval::{evaluate_person, Population};
use crate::rules::program::{OpKind, Program};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Whether a group of actions comes with the new rules or goes with the old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// In the new plan only.
    Added,
    /// In the old plan only.
    Removed,
}

/// A person as the comparison lists them: by name and employee number, not only id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PersonRef {
    /// Person id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Nmbrs employee number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
}

/// Actions of one kind from one rule that the edit adds or removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeGroup {
    /// Added or removed.
    pub change: Change,
    /// The operation.
    #[serde(serialize_with = "op_name")]
    pub op: OpKind,
    /// The target.
    pub target: String,
    /// The entitlement kind (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The entitlement name (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The permission object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// The statement behind the actions (of the new rules for added ones, of the old
    /// for removed ones); none for what no rule causes (a revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Because>,
    /// Why, where no rule says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The persons, in id order.
    pub persons: Vec<PersonRef>,
}

/// The difference between the plan of the old rules and that of the new ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// True if the plans differ.
    pub changes: bool,
    /// Actions only in the new plan.
    pub added: usize,
    /// Actions only in the old plan.
    pub removed: usize,
    /// Persons with an action added or removed.
    pub persons: usize,
    /// By change, operation, target, entitlement and rule.
    pub groups: Vec<ChangeGroup>,
    /// Why the new plan may not be carried out, when it may not (and the old one could).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub newly_blocked: Vec<String>,
}

fn op_name<S: serde::Serializer>(op: &OpKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(op.as_str())
}

/// What an action does, without its position or its reasons: equal keys are the same
/// action in both plans.
fn key(a: &Action) -> String {
    serde_json::json!([
        a.op.as_str(),
        &*a.person,
        &*a.target,
        a.kind.map(Kind::as_str),
        a.name.as_deref(),
        a.on(),
        a.attributes(),
        a.changes(),
        a.field(),
        a.value(),
        a.account().map(|r| &r.id),
    ])
    .to_string()
}

/// The impact of a rule change: the plan of `old` rules and the plan of the input's
/// (new) rules, on the input's persons, state and date, compared. A revoke, which no
/// rule causes, is put under the rule of the other side that grants it (an edit that
/// stops a grant shows up at the statement that granted it).
pub fn compare_rules(old: &Program, input: &PlanInput) -> Comparison {
    let before = build_plan(&PlanInput {
        program: old,
        ..*input
    });
    let after = build_plan(input);
    let population = Population::new(input.persons);
    let granted_by = |program: &Program, a: &Action| -> Option<Because> {
        let person = population.get(&a.person)?;
        let ev = evaluate_person(program, &population, person, input.today);
        let g = ev.grants.iter().find(|g| {
            *program.targets[g.target as usize].name == *a.target
                && Some(g.kind) == a.kind
                && a.name.as_deref() == Some(&*g.name)
                && a.on() == g.on.as_deref()
        })?;
        g.because
            .first()
            .and_then(|o| program.origins.get(*o as usize))
            .map(Because::from)
    };
    compare_plans(&before, &after, input.persons, |change, a| match change {
        // Revoked now: the old rule that granted it. No longer revoked: the new rule.
        Change::Added => granted_by(old, a),
        Change::Removed => granted_by(input.program, a),
    })
}

/// Compares the old rules' plan with the new rules' plan (same persons, state, date);
/// `rule_of` names the statement of an action that cites none (a revoke).
pub fn compare_plans(
    old: &Plan,
    new: &Plan,
    persons: &[Person],
    rule_of: impl Fn(Change, &Action) -> Option<Because>,
) -> Comparison {
    let by_id: HashMap<&str, &Person> = persons.iter().map(|p| (&*p.id, p)).collect();
    let old_keys: HashSet<String> = old.actions.iter().map(key).collect();
    let new_keys: HashSet<String> = new.actions.iter().map(key).collect();
    type GroupKey = (
        Change,
        OpKind,
        String,
        Option<Kind>,
        Option<String>,
        Option<String>,
        Option<(String, String, usize)>,
        Option<String>,
    );
    let mut groups: BTreeMap<GroupKey, Vec<PersonRef>> = BTreeMap::new();
    let mut touched: HashSet<&str> = HashSet::new();
    let (mut added, mut removed) = (0, 0);
    for (change, plan, other) in [
        (Change::Added, new, &old_keys),
        (Change::Removed, old, &new_keys),
    ] {
        for a in plan.actions.iter().filter(|a| !other.contains(&key(a))) {
            match change {
                Change::Added => added += 1,
                Change::Removed => removed += 1,
            }
            touched.insert(&a.person);
            let rule = plan
                .because(a)
                .next()
                .cloned()
                .or_else(|| {
                    (a.op == OpKind::Revoke)
                        .then(|| rule_of(change, a))
                        .flatten()
                })
                .map(|b| (b.rule.to_string(), b.file.to_string(), b.line));
            let reason = a.reason.as_deref().map(str::to_string);
            let group = (
                change,
                a.op,
                a.target.to_string(),
                a.kind,
                a.name.as_deref().map(str::to_string),
                a.on().map(str::to_string),
                rule,
                reason,
            );
            let person = by_id.get(&*a.person);
            groups.entry(group).or_default().push(PersonRef {
                id: a.person.to_string(),
                name: person.map(|p| p.display_name.clone()).unwrap_or_default(),
                employee_number: person.and_then(|p| p.employee_number),
            });
        }
    }
    let groups: Vec<ChangeGroup> = groups
        .into_iter()
        .map(
            |((change, op, target, kind, name, on, rule, reason), mut persons)| {
                persons.sort();
                persons.dedup();
                ChangeGroup {
                    change,
                    op,
                    target,
                    kind,
                    name,
                    on,
                    rule: rule.map(|(rule, file, line)| Because {
                        rule: rule.into(),
                        file: file.into(),
                        line,
                    }),
                    reason,
                    persons,
                }
            },
        )
        .collect();
    let was: HashSet<&str> = old.all_blocks.iter().map(|b| b.message()).collect();
    let newly_blocked = new
        .all_blocks
        .iter()
        .map(|b| b.message())
        .filter(|m| !was.contains(m))
        .map(str::to_string)
        .collect();
    Comparison {
        changes: added + removed > 0,
        added,
        removed,
        persons: touched.len(),
        groups,
        newly_blocked,
    }
}

impl Comparison {
    /// The comparison for people: a line per group, then its persons.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        if !self.changes {
            s.push_str("the rule change changes nothing in the plan\n");
        }
        for g in &self.groups {
            let sign = match g.change {
                Change::Added => '+',
                Change::Removed => '-',
            };
            let (what, why) = (g.what(), g.why());
            let _ = writeln!(
                s,
                "{sign} {what} in {}, {why}: {} person(s)",
                g.target,
                g.persons.len()
            );
            for p in &g.persons {
                let number = p
                    .employee_number
                    .map(|n| format!(" #{n}"))
                    .unwrap_or_default();
                let _ = writeln!(s, "    {} {}{number}", p.id, p.name);
            }
        }
        for b in &self.newly_blocked {
            let _ = writeln!(s, "newly blocked: {b}");
        }
        let _ = writeln!(
            s,
            "\n{} action(s) added, {} removed, for {} person(s)",
            self.added, self.removed, self.persons
        );
        s
    }
}

impl ChangeGroup {
    /// The operation and entitlement in words.
    pub fn what(&self) -> String {
        match (self.kind, &self.name) {
            (Some(kind), Some(name)) => match &self.on {
                Some(on) => format!("{} {kind} {name:?} on {on:?}", self.op),
                None => format!("{} {kind} {name:?}", self.op),
            },
            _ => self.op.to_string(),
        }
    }

    /// Why, in words: the rule (file and line), or the reason.
    pub fn why(&self) -> String {
        match (&self.rule, self.op, self.change) {
            (Some(b), OpKind::Revoke, Change::Added) => {
                format!(
                    "as rule {} ({}:{}) no longer grants it",
                    b.rule, b.file, b.line
                )
            }
            (Some(b), OpKind::Revoke, Change::Removed) => {
                format!("as rule {} ({}:{}) now grants it", b.rule, b.file, b.line)
            }
            (Some(b), _, _) => format!("rule {} ({}:{})", b.rule, b.file, b.line),
            (None, _, _) => self.reason.clone().unwrap_or_default(),
        }
    }
}

impl Comparison {
    /// The comparison as a self-contained HTML page: what newly blocks the plan first,
    /// the counts with a chart, then each group with its persons by name.
    pub fn render_html(&self) -> String {
        use crate::html::{bar_chart, escape, page};
        use std::fmt::Write as _;
        let mut b = String::new();
        b.push_str("<h1>Impact of the rule change</h1>\n");
        let _ = writeln!(
            b,
            "<p class=\"muted\">{} action(s) added, {} removed, for {} person(s)</p>",
            self.added, self.removed, self.persons
        );
        if !self.newly_blocked.is_empty() {
            b.push_str("<section class=\"blocked\" id=\"blocked\"><h2>The new rules block the plan</h2><ul>");
            for why in &self.newly_blocked {
                let _ = write!(b, "<li>{}</li>", escape(why));
            }
            b.push_str("</ul></section>\n");
        }
        if !self.changes {
            b.push_str("<p>The rule change changes nothing in the plan.</p>\n");
            return page("Impact of the rule change", &b);
        }
        let bars: Vec<(String, u64)> = self
            .groups
            .iter()
            .map(|g| {
                let sign = if g.change == Change::Added { '+' } else { '-' };
                (format!("{sign} {}", g.op), g.persons.len() as u64)
            })
            .fold(Vec::new(), |mut acc: Vec<(String, u64)>, (k, n)| {
                match acc.iter_mut().find(|(l, _)| *l == k) {
                    Some((_, total)) => *total += n,
                    None => acc.push((k, n)),
                }
                acc
            });
        b.push_str("<h2>Summary</h2>\n");
        b.push_str(&bar_chart("actions added and removed per operation", &bars));
        b.push_str("<h2>Changes</h2>\n");
        for g in &self.groups {
            let change = match g.change {
                Change::Added => "added",
                Change::Removed => "removed",
            };
            let _ = write!(
                b,
                "<section class=\"{change}\"><h3>{change}: {} in {}</h3><p class=\"muted\">{}: {} person(s)</p><ul class=\"people\">",
                escape(&g.what()),
                escape(&g.target),
                escape(&g.why()),
                g.persons.len()
            );
            for p in &g.persons {
                let number = p
                    .employee_number
                    .map(|n| format!(" (#{n})"))
                    .unwrap_or_default();
                let _ = write!(
                    b,
                    "<li>{}{number} <code>{}</code></li>",
                    escape(&p.name),
                    escape(&p.id)
                );
            }
            b.push_str("</ul></section>\n");
        }
        page("Impact of the rule change", &b)
    }
}
