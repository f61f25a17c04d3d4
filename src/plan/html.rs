//! The plan as a self-contained HTML page for people (`stroom plan --format html`):
//! why it is blocked first, a summary with a chart, the joiners, movers and leavers by
//! name, then per person what changes and why (rule, file, line).

use super::table::{what_of, why_of};
use super::{Action, Plan};
use crate::html::{bar_chart, escape, page};
use crate::model::Person;
use crate::rules::program::OpKind;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// How a person's actions read to people: someone arriving, leaving, or changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Movement {
    /// An account is created or enabled.
    Joiner,
    /// An account is disabled or deleted.
    Leaver,
    /// Anything else: grants, revokes, updates, write-backs, links.
    Mover,
}

impl Movement {
    fn of(actions: &[&Action]) -> Self {
        if actions
            .iter()
            .any(|a| matches!(a.op, OpKind::Disable | OpKind::Delete))
        {
            Movement::Leaver
        } else if actions
            .iter()
            .any(|a| matches!(a.op, OpKind::Create | OpKind::Enable))
        {
            Movement::Joiner
        } else {
            Movement::Mover
        }
    }

    fn title(self) -> &'static str {
        match self {
            Movement::Joiner => "Joiners",
            Movement::Leaver => "Leavers",
            Movement::Mover => "Movers",
        }
    }
}

/// Renders the plan as one HTML page (no network needed to view it); persons are
/// named from `persons` where it has them.
pub fn render_html(plan: &Plan, persons: &[Person]) -> String {
    let names: HashMap<&str, &Person> = persons.iter().map(|p| (&*p.id, p)).collect();
    let name_of = |id: &str| match names.get(id) {
        Some(p) => match p.employee_number {
            Some(n) => format!("{} (#{n})", p.display_name),
            None => p.display_name.clone(),
        },
        None => id.to_string(),
    };
    let mut order: Vec<&str> = Vec::new();
    let mut by_person: HashMap<&str, Vec<&Action>> = HashMap::new();
    for a in &plan.actions {
        let list = by_person.entry(&a.person).or_default();
        if list.is_empty() {
            order.push(&a.person);
        }
        list.push(a);
    }
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>Stroom plan for {}</h1>\n<p class=\"muted\">{} action(s) for {} person(s)</p>",
        plan.today,
        plan.actions.len(),
        order.len()
    );
    if !plan.all_blocks.is_empty() {
        body.push_str("<section class=\"blocked\" id=\"blocked\"><h2>Blocked: this plan is not carried out without approval</h2><ul>");
        for b in &plan.all_blocks {
            let _ = write!(body, "<li>{}</li>", escape(b.message()));
        }
        body.push_str("</ul></section>\n");
    }
    summary(&mut body, plan);
    // Joiners, movers, leavers by name.
    let mut movements: BTreeMap<Movement, Vec<&str>> = BTreeMap::new();
    for id in &order {
        let actions = by_person.get(id).map(Vec::as_slice).unwrap_or_default();
        movements.entry(Movement::of(actions)).or_default().push(id);
    }
    body.push_str("<h2>Who</h2>\n<div class=\"cols\">");
    for m in [Movement::Joiner, Movement::Mover, Movement::Leaver] {
        let list = movements.get(&m).map(Vec::as_slice).unwrap_or_default();
        let _ = write!(
            body,
            "<div id=\"{}\"><h3>{} ({})</h3><ul class=\"people\">",
            m.title().to_lowercase(),
            m.title(),
            list.len()
        );
        for id in list {
            let _ = write!(
                body,
                "<li><a href=\"#p-{}\">{}</a></li>",
                escape(id),
                escape(&name_of(id))
            );
        }
        body.push_str("</ul></div>");
    }
    body.push_str("</div>\n<h2>Per person</h2>\n");
    for id in &order {
        let actions = by_person.get(id).map(Vec::as_slice).unwrap_or_default();
        let _ = write!(
            body,
            "<section id=\"p-{}\"><h3>{}</h3><p class=\"muted\"><code>{}</code></p>\
             <table><tr><th>#</th><th>operation</th><th>target</th><th>what</th><th>why</th></tr>",
            escape(id),
            escape(&name_of(id)),
            escape(id)
        );
        for a in actions {
            let _ = write!(
                body,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.seq,
                a.op.as_str(),
                escape(&a.target),
                escape(&what_of(a)),
                escape(&why_of(plan, a))
            );
        }
        body.push_str("</table></section>\n");
    }
    if !plan.notes.is_empty() {
        body.push_str("<h2>Notes</h2>\n");
        for n in &plan.notes {
            let _ = writeln!(body, "<p class=\"note\">{}</p>", escape(n));
        }
    }
    page(&format!("Stroom plan for {}", plan.today), &body)
}

/// Counts per operation (a chart) and per operation and target (a table).
fn summary(body: &mut String, plan: &Plan) {
    body.push_str("<h2>Summary</h2>\n");
    if plan.actions.is_empty() {
        body.push_str("<p>Nothing to do.</p>\n");
        return;
    }
    let bars: Vec<(String, u64)> = plan
        .summary()
        .iter()
        .map(|(op, n)| (op.as_str().to_string(), *n as u64))
        .collect();
    body.push_str(&bar_chart("actions per operation", &bars));
    let mut targets: Vec<&str> = plan.actions.iter().map(|a| &*a.target).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut counts: HashMap<(OpKind, &str), usize> = HashMap::new();
    for a in &plan.actions {
        *counts.entry((a.op, &a.target)).or_default() += 1;
    }
    body.push_str("<table id=\"counts\"><tr><th>operation</th>");
    for t in &targets {
        let _ = write!(body, "<th>{}</th>", escape(t));
    }
    body.push_str("<th>total</th></tr>");
    for (op, total) in plan.summary() {
        let _ = write!(body, "<tr><td>{}</td>", op.as_str());
        for t in &targets {
            let n = counts.get(&(op, *t)).copied().unwrap_or(0);
            let _ = write!(body, "<td class=\"n\">{n}</td>");
        }
        let _ = write!(body, "<td class=\"n\">{total}</td></tr>");
    }
    body.push_str("</table>\n");
}
