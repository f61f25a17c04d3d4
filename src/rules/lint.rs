//! Warnings about rules that are legal but almost certainly wrong: conditions that can
//! never be true, and `forbid` pairs that the rules can grant to one person.

use super::diagnostic::{Diagnostic, Problem};
use super::program::{CEffect, CExpr, CKind, CmpOp, Kind, Program, TargetId};
use super::span::SourceMap;
use crate::model::Value;
use std::collections::{HashMap, HashSet};

/// Runs the lints on a compiled program.
pub fn lint(program: &Program, sources: &SourceMap) -> Vec<Diagnostic> {
    let mut out = grants_without_account(program, sources);
    let conds = program
        .statements
        .iter()
        .filter_map(|s| s.cond.as_ref())
        .chain(program.accounts.iter().filter_map(|a| a.cond.as_ref()));
    for cond in conds {
        let atoms = atoms_of(cond, true);
        if (atoms.len() > 1 || matches!(atoms.first(), Some(Atom::False))) && contradicts(&atoms) {
            out.push(Diagnostic::new(
                Problem::NeverFires,
                cond.span,
                "no person can meet all of this",
                "the parts joined by `and` exclude each other (e.g. one field equal to two values); did you mean `or`, or `in [...]`?",
            ));
        }
    }
    for f in &program.forbids {
        let a = granting(program, &f.a);
        let b = granting(program, &f.b);
        let hit = a.iter().find_map(|&sa| {
            b.iter()
                .find(|&&sb| can_fire_together(program, sa, sb))
                .map(|&sb| (sa, sb))
        });
        if let Some((sa, sb)) = hit {
            let origin = &program.origins[f.origin as usize];
            let oa = &program.origins[program.statements[sa].origin as usize];
            let ob = &program.origins[program.statements[sb].origin as usize];
            out.push(
                Diagnostic::new(
                    Problem::ForbidReachable,
                    origin.span,
                    "both sides can be granted",
                    format!(
                        "{}:{} grants \"{}\" and {}:{} grants \"{}\" to persons that can be the same; make the conditions exclude each other (plans that give both are refused)",
                        oa.file, oa.line, f.a.2, ob.file, ob.line, f.b.2
                    ),
                )
                .with_related(oa.span, format!("grants \"{}\"", f.a.2))
                .with_related(ob.span, format!("grants \"{}\"", f.b.2)),
            );
        }
    }
    out
}

/// A grant in a target whose account (its own, or its host's: Exchange needs Entra ID)
/// exists only under the account block's `when`, from a statement whose condition does
/// not require that `when`: persons it fires for without an account get nothing. The
/// test is by the source the conditions were compiled from (the same `let` or the same
/// text), so it never claims more than it can see.
fn grants_without_account(program: &Program, sources: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for s in &program.statements {
        let mut warned: Vec<TargetId> = Vec::new();
        for a in &s.actions {
            let CEffect::Grant { target, .. } = a else {
                continue;
            };
            let Some(host) = program.account_target(*target) else {
                continue;
            };
            let Some(need) = program
                .account_spec(host)
                .and_then(|spec| spec.cond.as_ref())
            else {
                continue;
            };
            if warned.contains(&host) || requires(s.cond.as_ref(), need, sources) {
                continue;
            }
            warned.push(host);
            let origin = &program.origins[s.origin as usize];
            let host_name = &program.targets[host as usize].name;
            let target_name = &program.targets[*target as usize].name;
            let text = sources.snippet(need.span).trim();
            let via = if host == *target {
                String::new()
            } else {
                format!(" (grants in {target_name} need an account in {host_name})")
            };
            out.push(
                Diagnostic::new(
                    Problem::GrantWithoutAccount {
                        target: target_name.to_string(),
                        host: host_name.to_string(),
                    },
                    origin.span,
                    format!("fires without `{text}`"),
                    format!(
                        "accounts in {host_name} are made only `when {text}`{via}: add `{text} and` \
                         to this condition; until then the plan leaves such grants out and says so"
                    ),
                )
                .with_related(need.span, format!("the account block's `when` in {host_name}")),
            );
        }
    }
    out
}

/// True when `cond` has `need` (or every part of an `and` in `need`) among its `and`
/// parts, compared by the source they were compiled from.
fn requires(cond: Option<&CExpr>, need: &CExpr, sources: &SourceMap) -> bool {
    let Some(cond) = cond else {
        return false;
    };
    let parts = |e: &'_ CExpr| -> Vec<String> {
        let list: Vec<&CExpr> = match &e.kind {
            CKind::And(v) => v.iter().collect(),
            _ => vec![e],
        };
        list.iter()
            .map(|p| normalize_space(sources.snippet(p.span)))
            .collect()
    };
    let have = parts(cond);
    let whole = normalize_space(sources.snippet(need.span));
    have.contains(&whole) || parts(need).iter().all(|p| have.contains(p))
}

fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn granting(program: &Program, want: &(TargetId, Kind, std::sync::Arc<str>)) -> Vec<usize> {
    program
        .statements
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.actions.iter().any(|a| match a {
                CEffect::Grant {
                    target, kind, name, ..
                } => {
                    *target == want.0
                        && *kind == want.1
                        && matches!(&name.kind, CKind::Const(Value::Str(n)) if **n == *want.2)
                }
                CEffect::Writeback { .. } => false,
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether two statements can fire for one person. Contract conditions of different
/// statements may be met by different contracts, so only person-level conditions are
/// combined across statements.
fn can_fire_together(program: &Program, a: usize, b: usize) -> bool {
    let cond = |i: usize| program.statements[i].cond.as_ref();
    let mut atoms = Vec::new();
    if let Some(c) = cond(a) {
        atoms.extend(atoms_of(c, a == b));
    }
    if a != b {
        if let Some(c) = cond(b) {
            atoms.extend(atoms_of(c, false));
        }
    }
    !contradicts(&atoms)
}

/// A field a constraint talks about, as text for hashing.
type FieldKey = String;

#[derive(Debug)]
enum Atom {
    False,
    In(FieldKey, HashSet<String>),
    NotIn(FieldKey, HashSet<String>),
    Range(FieldKey, CmpOp, f64),
}

fn field_key(e: &CExpr, with_contract: bool) -> Option<FieldKey> {
    match &e.kind {
        CKind::Person(f) => Some(format!("person.{f:?}")),
        CKind::Primary(f) => Some(format!("primary.{f:?}")),
        CKind::Contract(f) if with_contract => Some(format!("contract.{f:?}")),
        CKind::Extra(k) => Some(format!("extra.{k}")),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Dec(d) => Some(*d),
        Value::Date(d) => Some(chrono::Datelike::num_days_from_ce(d) as f64),
        Value::Days(d) => Some(*d as f64),
        _ => None,
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// The simple constraints among the `and`-ed parts of a condition.
fn atoms_of(cond: &CExpr, with_contract: bool) -> Vec<Atom> {
    let mut out = Vec::new();
    let parts: Vec<&CExpr> = match &cond.kind {
        CKind::And(v) => v.iter().collect(),
        _ => vec![cond],
    };
    for p in parts {
        match &p.kind {
            CKind::Const(Value::Bool(false)) => out.push(Atom::False),
            CKind::Cmp(op, a, b) => {
                let (field, value, op) = match (
                    field_key(a, with_contract),
                    &b.kind,
                    field_key(b, with_contract),
                    &a.kind,
                ) {
                    (Some(f), CKind::Const(v), _, _) => (f, v, *op),
                    (_, _, Some(f), CKind::Const(v)) => (f, v, flip(*op)),
                    _ => continue,
                };
                match (op, value) {
                    (CmpOp::Eq, Value::Str(s)) => {
                        out.push(Atom::In(field, HashSet::from([s.to_string()])))
                    }
                    (CmpOp::Ne, Value::Str(s)) => {
                        out.push(Atom::NotIn(field, HashSet::from([s.to_string()])))
                    }
                    (op, v) => {
                        if let Some(n) = number(v) {
                            out.push(Atom::Range(field, op, n));
                        }
                    }
                }
            }
            CKind::InSet(e, set, negated) if set.others.is_empty() => {
                if let Some(f) = field_key(e, with_contract) {
                    let values = set.strings.iter().map(|s| s.to_string()).collect();
                    out.push(if *negated {
                        Atom::NotIn(f, values)
                    } else {
                        Atom::In(f, values)
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn contradicts(atoms: &[Atom]) -> bool {
    let mut allowed: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut excluded: HashMap<&str, HashSet<&str>> = HashMap::new();
    // lower and upper bounds: (value, inclusive)
    let mut lower: HashMap<&str, (f64, bool)> = HashMap::new();
    let mut upper: HashMap<&str, (f64, bool)> = HashMap::new();
    for a in atoms {
        match a {
            Atom::False => return true,
            Atom::In(f, vals) => {
                let set: HashSet<&str> = vals.iter().map(String::as_str).collect();
                allowed
                    .entry(f)
                    .and_modify(|cur| cur.retain(|v| set.contains(v)))
                    .or_insert(set);
            }
            Atom::NotIn(f, vals) => excluded
                .entry(f)
                .or_default()
                .extend(vals.iter().map(String::as_str)),
            Atom::Range(f, op, n) => {
                let f = f.as_str();
                match op {
                    CmpOp::Eq => {
                        tighten(&mut lower, f, (*n, true), true);
                        tighten(&mut upper, f, (*n, true), false);
                    }
                    CmpOp::Gt => tighten(&mut lower, f, (*n, false), true),
                    CmpOp::Ge => tighten(&mut lower, f, (*n, true), true),
                    CmpOp::Lt => tighten(&mut upper, f, (*n, false), false),
                    CmpOp::Le => tighten(&mut upper, f, (*n, true), false),
                    CmpOp::Ne => {}
                }
            }
        }
    }
    for (f, set) in &allowed {
        let ex = excluded.get(f);
        if set.iter().all(|v| ex.is_some_and(|e| e.contains(v))) {
            return true;
        }
    }
    lower.iter().any(|(f, (lo, lo_inc))| {
        upper
            .get(f)
            .is_some_and(|(hi, hi_inc)| lo > hi || (lo == hi && !(*lo_inc && *hi_inc)))
    })
}

/// Narrows a lower (`is_lower`) or upper bound to `b` if `b` is tighter.
fn tighten<'a>(
    bounds: &mut HashMap<&'a str, (f64, bool)>,
    field: &'a str,
    b: (f64, bool),
    is_lower: bool,
) {
    let e = bounds.entry(field).or_insert(b);
    let tighter = if is_lower { b.0 > e.0 } else { b.0 < e.0 };
    if tighter || (b.0 == e.0 && !b.1) {
        *e = b;
    }
}
