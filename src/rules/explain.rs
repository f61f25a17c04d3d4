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
    /// What it gives when it fires, with names evaluated (`group "DEP-sales" in ad`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gives: Vec<String>,
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
    /// Account blocks: the lifecycle wanted today and its dates.
    pub accounts: Vec<AccountExplanation>,
}

/// An account block for one person: what it wants today and when each lifecycle step
/// happens, from the contracts that meet its `when`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountExplanation {
    /// The target.
    pub target: String,
    /// Wanted today: `enabled`, `pre-start` (exists, disabled), `ended`, `none`.
    pub want: String,
    /// Created (disabled) on: `create N days before start` of the first contract.
    pub created_on: Option<NaiveDate>,
    /// Enabled on: the first contract's start.
    pub enabled_on: Option<NaiveDate>,
    /// Disabled on: the day after the last contract's end plus `disable N days after
    /// end`; none while a contract runs without end.
    pub disabled_on: Option<NaiveDate>,
    /// Deleted on: `delete N days after disable`; none when the block never deletes.
    pub deleted_on: Option<NaiveDate>,
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
                let fired = st.cond.as_ref().is_none_or(|e| eval::holds(e, &c));
                let gives = if fired {
                    gives(program, &st.actions, &c)
                } else {
                    Vec::new()
                };
                evaluations.push(Evaluation {
                    contract: c.contract.map(|k| k.id.clone()),
                    fired,
                    condition,
                    gives,
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
        .filter_map(|a| {
            let spec = program.account_spec(a.target)?;
            Some(lifecycle(program, spec, &ctx, person, a.want))
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

/// What fired effects give, with names and objects evaluated.
fn gives(program: &Program, effects: &[CEffect], ctx: &Ctx) -> Vec<String> {
    effects
        .iter()
        .filter_map(|a| match a {
            CEffect::Grant {
                kind,
                name,
                target,
                on,
                ..
            } => {
                let name = match eval::eval(name, ctx) {
                    Value::Str(s) => s.into_owned(),
                    _ => return Some(format!("nothing: the {kind} name is empty")),
                };
                let target = &program.targets[*target as usize].name;
                Some(match on.as_ref().map(|o| eval::eval(o, ctx)) {
                    Some(Value::Str(o)) => format!("{kind} {name:?} on {o:?} in {target}"),
                    _ => format!("{kind} {name:?} in {target}"),
                })
            }
            CEffect::Writeback { .. } => None,
        })
        .collect()
}

/// An account block's lifecycle for a person.
fn lifecycle(
    program: &Program,
    spec: &super::program::AccountSpec,
    ctx: &Ctx,
    person: &Person,
    want: eval::AccountWant,
) -> AccountExplanation {
    let shift = |d: NaiveDate, n: i64| d.checked_add_signed(chrono::Duration::days(n));
    let relevant = eval::account_contracts(spec, ctx, person);
    let first = relevant.iter().filter_map(|c| c.start).min();
    let open = relevant.iter().any(|c| c.end.is_none());
    let last_end = relevant.iter().filter_map(|c| c.end).max();
    let disabled_on = if open {
        None
    } else {
        last_end.and_then(|e| shift(e, spec.disable_after_days + 1))
    };
    AccountExplanation {
        target: program.targets[spec.target as usize].name.to_string(),
        want: match want {
            eval::AccountWant::Enabled => "enabled",
            eval::AccountWant::PreStart => "pre-start (exists, disabled)",
            eval::AccountWant::Ended(_) => "ended (disabled)",
            eval::AccountWant::None => "none (no contract gives one)",
        }
        .to_string(),
        created_on: first.and_then(|s| shift(s, -spec.create_before_days)),
        enabled_on: first,
        deleted_on: disabled_on
            .zip(spec.delete_after_days)
            .and_then(|(d, n)| shift(d, n)),
        disabled_on,
    }
}

/// Why a person loses an entitlement the state holds: the statements that grant it
/// (by its constant name, or the constant beginning of a computed one) and what they
/// do for the person now, from the person's explanation.
pub fn why_revoked(
    program: &Program,
    x: &PersonExplanation,
    target: &str,
    kind: crate::model::Kind,
    name: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (st, ex) in program.statements.iter().zip(&x.statements) {
        let grants_it = st.actions.iter().any(|a| match a {
            CEffect::Grant {
                target: t,
                kind: k,
                name: n,
                fixed_name,
                ..
            } => {
                *k == kind
                    && *program.targets[*t as usize].name == *target
                    && match fixed_name {
                        Some((f, _)) => f.eq_ignore_ascii_case(name),
                        None => n.constant_prefix().is_some_and(|p| {
                            !p.is_empty() && name.to_lowercase().starts_with(&p.to_lowercase())
                        }),
                    }
            }
            CEffect::Writeback { .. } => false,
        });
        if !grants_it {
            continue;
        }
        let now: Vec<&String> = ex.evaluations.iter().flat_map(|e| &e.gives).collect();
        out.push(if !x.in_scope {
            format!(
                "rule {} ({}:{}) gave it; the person is out of scope now",
                ex.rule, ex.file, ex.line
            )
        } else if now.is_empty() {
            format!(
                "rule {} ({}:{}) gave it; its condition is false for this person now",
                ex.rule, ex.file, ex.line
            )
        } else {
            let now: Vec<&str> = now.iter().map(|g| g.as_str()).collect();
            format!(
                "rule {} ({}:{}) gave it; it gives {} now",
                ex.rule,
                ex.file,
                ex.line,
                now.join(", ")
            )
        });
    }
    out
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
            for g in &e.gives {
                let _ = writeln!(out, "    gives {g}");
            }
        }
    }
    for a in &x.accounts {
        let d = |d: Option<NaiveDate>| d.map_or("-".to_string(), |d| d.to_string());
        let _ = writeln!(
            out,
            "\naccount in {}: {}; created on {}, enabled on {}, disabled on {}, deleted on {}",
            a.target,
            a.want,
            d(a.created_on),
            d(a.enabled_on),
            d(a.disabled_on),
            d(a.deleted_on)
        );
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
