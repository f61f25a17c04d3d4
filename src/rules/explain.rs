//! Explanations: for one person, every statement and account block with whether it
//! fired, per contract, and the value of each part of its condition, so that an admin
//! can see why someone did *not* get a group.

use super::eval::{self, in_scope, person_ctx, primary_contract, Ctx, Population};
use super::program::{CEffect, CExpr, CKind, Program};
use crate::model::{Person, Value};
use chrono::NaiveDate;
use serde::Serialize;

/// One part of a condition with its value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConditionPart {
    /// The source text of this part.
    pub text: String,
    /// Its value for this person (and contract).
    pub value: String,
    /// The values of the fields and calls it compares, where they are not literals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operands: Vec<(String, String)>,
    /// Its parts (for `and`, `or`, `not`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<ConditionPart>,
}

/// One evaluation of a statement (once per person, or once per in-scope contract).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    /// The contract bound, for per-contract statements.
    pub contract: Option<String>,
    /// Whether the condition held.
    pub fired: bool,
    /// The condition, part by part (absent for unconditional statements).
    pub condition: Option<ConditionPart>,
}

/// A statement and what it did for the person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatementExplanation {
    /// Rule name or `file:line`.
    pub rule: String,
    /// File.
    pub file: String,
    /// Line.
    pub line: usize,
    /// What it grants or writes back, as written.
    pub actions: Vec<String>,
    /// Its evaluations.
    pub evaluations: Vec<Evaluation>,
}

/// A contract as the evaluation saw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContractExplanation {
    /// Contract id.
    pub id: String,
    /// Start date.
    pub start: Option<NaiveDate>,
    /// End date.
    pub end: Option<NaiveDate>,
    /// Whether it is in the scope window today.
    pub in_scope: bool,
    /// Whether it runs today.
    pub active: bool,
    /// Whether it is the primary contract.
    pub primary: bool,
}

/// Everything about one person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PersonExplanation {
    /// Person id.
    pub person: String,
    /// Display name.
    pub display_name: String,
    /// The evaluation date.
    pub today: NaiveDate,
    /// Whether any contract is in scope (else no rule is evaluated).
    pub in_scope: bool,
    /// Contracts.
    pub contracts: Vec<ContractExplanation>,
    /// Statements, in rule set order.
    pub statements: Vec<StatementExplanation>,
    /// Account blocks: target and lifecycle state wanted today.
    pub accounts: Vec<(String, String)>,
}

/// Explains the evaluation of one person. Every statement is evaluated (not only
/// those the index would pick), so the explanation shows the near misses too.
pub fn explain_person(
    program: &Program,
    population: &Population,
    person: &Person,
    today: NaiveDate,
) -> PersonExplanation {
    let all = super::program::Reads {
        primary: true,
        manager: true,
    };
    let ctx = person_ctx(program, population, person, today, all);
    let primary = primary_contract(program, person, today);
    let scoped: Vec<_> = person
        .contracts
        .iter()
        .filter(|c| in_scope(program, c, today))
        .collect();
    let contracts = person
        .contracts
        .iter()
        .map(|c| ContractExplanation {
            id: c.id.clone(),
            start: c.start,
            end: c.end,
            in_scope: in_scope(program, c, today),
            active: c.is_active_on(today),
            primary: primary.is_some_and(|p| std::ptr::eq(p, c)),
        })
        .collect();
    let mut statements = Vec::new();
    for st in &program.statements {
        let o = &program.origins[st.origin as usize];
        let actions = st
            .actions
            .iter()
            .map(|a| match a {
                CEffect::Grant {
                    kind, name, target, ..
                } => format!(
                    "grant {} {} in {}",
                    kind.as_str(),
                    program.sources.snippet(name.span),
                    program.targets[*target as usize].name
                ),
                CEffect::Writeback { field, .. } => format!("writeback {field}"),
            })
            .collect();
        let mut evaluations = Vec::new();
        if !scoped.is_empty() {
            let contexts: Vec<Ctx> = if st.per_contract {
                scoped
                    .iter()
                    .map(|c| Ctx {
                        contract: Some(c),
                        ..ctx
                    })
                    .collect()
            } else {
                vec![ctx]
            };
            for c in contexts {
                let condition = st.cond.as_ref().map(|e| part(program, e, &c));
                evaluations.push(Evaluation {
                    contract: c.contract.map(|k| k.id.clone()),
                    fired: st.cond.as_ref().is_none_or(|e| eval::holds(e, &c)),
                    condition,
                });
            }
        }
        statements.push(StatementExplanation {
            rule: o.rule.to_string(),
            file: o.file.to_string(),
            line: o.line,
            actions,
            evaluations,
        });
    }
    let ev = eval::evaluate_person(program, population, person, today);
    let accounts = ev
        .accounts
        .iter()
        .map(|a| {
            (
                program.targets[a.target as usize].name.to_string(),
                format!("{:?}", a.want),
            )
        })
        .collect();
    PersonExplanation {
        person: person.id.to_string(),
        display_name: person.display_name.clone(),
        today,
        in_scope: !scoped.is_empty(),
        contracts,
        statements,
        accounts,
    }
}

fn show(v: &Value) -> String {
    v.to_string()
}

fn part(program: &Program, e: &CExpr, ctx: &Ctx) -> ConditionPart {
    let text = program.sources.snippet(e.span).to_string();
    let value = show(&eval::eval(e, ctx));
    let mut operands = Vec::new();
    let mut parts = Vec::new();
    let mut operand = |x: &CExpr| {
        if !matches!(x.kind, CKind::Const(_)) {
            operands.push((
                program.sources.snippet(x.span).to_string(),
                show(&eval::eval(x, ctx)),
            ));
        }
    };
    match &e.kind {
        CKind::And(v) | CKind::Or(v) => parts = v.iter().map(|p| part(program, p, ctx)).collect(),
        CKind::Not(x) => parts.push(part(program, x, ctx)),
        CKind::Cmp(_, a, b) | CKind::In(a, b, _) => {
            operand(a);
            operand(b);
        }
        CKind::InSet(a, _, _)
        | CKind::IsEmpty(a, _)
        | CKind::Matches(a, _)
        | CKind::TextTest(_, a, _) => operand(a),
        CKind::Call(_, args) => args.iter().for_each(operand),
        _ => {}
    }
    ConditionPart {
        text,
        value,
        operands,
        parts,
    }
}

/// Renders an explanation for people.
pub fn render(x: &PersonExplanation) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "person {} ({}) on {}",
        x.person, x.display_name, x.today
    );
    let _ = writeln!(
        out,
        "in scope: {}",
        if x.in_scope {
            "yes"
        } else {
            "no: no contract is in the scope window, so no rule applies"
        }
    );
    for c in &x.contracts {
        let d = |d: Option<NaiveDate>| d.map_or("-".to_string(), |d| d.to_string());
        let mut flags = vec![if c.in_scope {
            "in scope"
        } else {
            "out of scope"
        }];
        if c.active {
            flags.push("active");
        }
        if c.primary {
            flags.push("primary");
        }
        let _ = writeln!(
            out,
            "  contract {} {} .. {}: {}",
            c.id,
            d(c.start),
            d(c.end),
            flags.join(", ")
        );
    }
    for s in &x.statements {
        let fired = s.evaluations.iter().any(|e| e.fired);
        let _ = writeln!(
            out,
            "\n{} {} ({}:{}): {}",
            if fired { "FIRED  " } else { "not met" },
            s.rule,
            s.file,
            s.line,
            s.actions.join("; ")
        );
        for e in &s.evaluations {
            if let Some(c) = &e.contract {
                let _ = writeln!(
                    out,
                    "  contract {c}: {}",
                    if e.fired { "fired" } else { "not met" }
                );
            }
            if let Some(cond) = &e.condition {
                write_part(&mut out, cond, 2);
            }
        }
    }
    for (t, w) in &x.accounts {
        let _ = writeln!(out, "\naccount in {t}: {w}");
    }
    out
}

fn write_part(out: &mut String, p: &ConditionPart, depth: usize) {
    use std::fmt::Write;
    let ops: Vec<String> = p
        .operands
        .iter()
        .map(|(t, v)| format!("{t} = {v}"))
        .collect();
    let extra = if ops.is_empty() {
        String::new()
    } else {
        format!("   ({})", ops.join(", "))
    };
    let _ = writeln!(
        out,
        "{}{} → {}{}",
        "  ".repeat(depth),
        p.text,
        p.value,
        extra
    );
    for c in &p.parts {
        write_part(out, c, depth + 1);
    }
}
