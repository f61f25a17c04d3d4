//! The plan as a readable table for people.

use super::Plan;
use crate::model::Person;
use std::collections::HashMap;
use std::fmt::Write;

/// Renders the plan as an aligned text table with a summary line; each person by id,
/// and by name and Nmbrs employee number where `persons` has them.
pub fn render_table(plan: &Plan, persons: &[Person]) -> String {
    let names: HashMap<&str, &Person> = persons.iter().map(|p| (&*p.id, p)).collect();
    let name_of = |id: &str| {
        names
            .get(id)
            .map_or(String::new(), |p| match p.employee_number {
                Some(n) => format!("{} #{n}", p.display_name),
                None => p.display_name.clone(),
            })
    };
    let mut rows: Vec<[String; 7]> = Vec::with_capacity(plan.actions.len());
    for a in &plan.actions {
        let what = what_of(a);
        let why = why_of(plan, a);
        rows.push([
            a.seq.to_string(),
            a.op.as_str().into(),
            a.person.to_string(),
            name_of(&a.person),
            a.target.to_string(),
            what,
            why,
        ]);
    }
    let head = ["#", "op", "person", "name", "target", "what", "because"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 7]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 6 {
                s.push_str(c);
            } else {
                let pad = width[i].saturating_sub(c.chars().count());
                if i == 0 {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                }
                s.push_str("  ");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut out, head);
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]);
    }
    let summary: Vec<String> = plan
        .summary()
        .iter()
        .map(|(op, n)| format!("{n} {}", op.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "\n{} action(s) on {}: {}",
        plan.actions.len(),
        plan.today,
        if summary.is_empty() {
            "nothing to do".into()
        } else {
            summary.join(", ")
        }
    );
    for n in &plan.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for b in &plan.all_blocks {
        let _ = writeln!(out, "BLOCKED: {}", b.message());
    }
    out
}

/// What an action does, in a few words: the entitlement, the write-back, the first
/// attributes of a create or the changes of an update.
pub(super) fn what_of(a: &super::Action) -> String {
    if let (Some(n), Some(g)) = (&a.name, a.group()) {
        // How the group is made: `group "DEP-x" (global security in OU=...)`.
        let mut how = match g.scope {
            Some(scope) => format!("{} {}", scope.as_str(), g.group_type.as_str()),
            None => g.group_type.as_str().to_string(),
        };
        if let Some(ou) = &g.ou {
            how.push_str(&format!(" in {ou}"));
        }
        return format!("group {n:?} ({how})");
    }
    if let Some(n) = a.notice() {
        let with = if n.credential {
            ", first credential"
        } else {
            ""
        };
        return format!("{} → {} ({}{with})", n.event.as_str(), n.to, n.via);
    }
    match (a.kind, &a.name, a.field()) {
        (Some(k), Some(n), _) => match a.on() {
            Some(on) => format!("{} {n:?} on {on:?}", k.as_str()),
            None => format!("{} {n:?}", k.as_str()),
        },
        (_, _, Some(f)) => format!("{f} = {:?}", a.value().unwrap_or("")),
        _ => match (a.attributes(), a.changes()) {
            (Some(attrs), _) => attrs
                .iter()
                .take(2)
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            (_, Some(ch)) => ch
                .iter()
                .map(|(k, v)| {
                    let pair = v.as_array();
                    let show = |i: usize| {
                        pair.and_then(|p| p.get(i))
                            .map_or(String::new(), |x| x.to_string())
                    };
                    format!("{k}: {} → {}", show(0), show(1))
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        },
    }
}

/// Why an action is planned: the first rule with its file and line, else the reason.
pub(super) fn why_of(plan: &Plan, a: &super::Action) -> String {
    match plan.because(a).next() {
        Some(b) => format!(
            "{} ({}:{})",
            b.rule,
            b.file.rsplit('/').next().unwrap_or(&b.file),
            b.line
        ),
        None => a.reason.as_deref().unwrap_or_default().to_string(),
    }
}
