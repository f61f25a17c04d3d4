//! Indexes statements by the equality tests their conditions require, so that a person
//! is only evaluated against the statements that can fire for them. A statement whose
//! condition is `department == "Sales" and ...` is filed under department = Sales, one
//! with `function == "A" or department == "B"` under both; a statement without such a
//! test is evaluated for everyone.

use super::functions::Func;
use super::program::{
    CEffect, CExpr, CKind, CmpOp, ConstGrant, IndexBucket, IndexField, Remainder, RuleIndex,
    Statement, StatementFacts,
};
use crate::model::Value;
use std::sync::Arc;

/// A field to look up, lower-cased or not, and the value a statement needs there.
type Key = (IndexField, bool, Arc<str>);

/// Builds the index of a program's statements.
pub fn build(statements: &[Statement]) -> RuleIndex {
    let mut index = RuleIndex::default();
    for (i, st) in statements.iter().enumerate() {
        let i = i as u32;
        let keys = st.cond.as_ref().and_then(index_keys);
        index.facts.push(StatementFacts {
            remainder: match (&st.cond, &keys) {
                (Some(cond), Some(_)) => remainder(cond),
                _ => Remainder::Whole,
            },
            const_grant: const_grant(st),
        });
        let (always, keyed) = if st.per_contract {
            (&mut index.contract_always, &mut index.contract_keyed)
        } else {
            (&mut index.person_always, &mut index.person_keyed)
        };
        match keys {
            None => always.push(i),
            Some(keys) => {
                for (field, folded, value) in keys {
                    let slot = match keyed
                        .iter()
                        .position(|b| b.field == field && b.folded == folded)
                    {
                        Some(p) => p,
                        None => {
                            keyed.push(IndexBucket {
                                field,
                                folded,
                                statements: Default::default(),
                            });
                            keyed.len() - 1
                        }
                    };
                    let list = keyed[slot].statements.entry(value).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    index
}

/// The (field, value) pairs one of which a person must have for the condition to be
/// true: `field == "x"` or `field in [...]`; for `and`, those of the first part that has
/// any; for `or`, those of every part (if every part has some).
fn index_keys(cond: &CExpr) -> Option<Vec<Key>> {
    match &cond.kind {
        CKind::Cmp(CmpOp::Eq, a, b) => match (&a.kind, &b.kind) {
            (_, CKind::Const(Value::Str(s))) => Some(vec![key(a, s)?]),
            (CKind::Const(Value::Str(s)), _) => Some(vec![key(b, s)?]),
            _ => None,
        },
        CKind::InSet(e, set, false) if set.others.is_empty() => {
            let mut values: Vec<&Arc<str>> = set.strings.iter().collect();
            values.sort();
            values.into_iter().map(|v| key(e, v)).collect()
        }
        CKind::And(parts) => parts.iter().find_map(index_keys),
        CKind::Or(parts) => {
            let mut all = Vec::new();
            for p in parts {
                all.extend(index_keys(p)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// The statement's one action, when it grants a constant name without an object.
fn const_grant(st: &Statement) -> Option<ConstGrant> {
    match st.actions.as_slice() {
        [CEffect::Grant {
            target,
            kind,
            fixed_name: Some((name, rank)),
            on: None,
            ..
        }] => Some(ConstGrant {
            target: *target,
            kind: *kind,
            rank: *rank,
            origin: st.origin,
            name: name.clone(),
        }),
        _ => None,
    }
}

/// True if finding a statement under any key of `part` proves `part` true: the key's
/// own test (`field == "x"`, `field in [...]`), or an `or` of such tests.
fn proven_by_key(part: &CExpr) -> bool {
    match &part.kind {
        CKind::Cmp(CmpOp::Eq, ..) | CKind::InSet(..) => index_keys(part).is_some(),
        CKind::Or(parts) => parts.iter().all(proven_by_key),
        _ => false,
    }
}

/// What is left to test of a keyed condition once the index found it: nothing if the
/// key proves it; the other parts if it is an `and` whose keyed part the key proves.
fn remainder(cond: &CExpr) -> Remainder {
    if proven_by_key(cond) {
        return Remainder::Nothing;
    }
    let CKind::And(parts) = &cond.kind else {
        return Remainder::Whole;
    };
    // `index_keys` takes the keys of the first part that has any.
    let Some(k) = parts.iter().position(|p| index_keys(p).is_some()) else {
        return Remainder::Whole;
    };
    if !proven_by_key(&parts[k]) {
        return Remainder::Whole;
    }
    let mut rest: Vec<CExpr> = parts.clone();
    rest.remove(k);
    match rest.len() {
        0 => Remainder::Nothing,
        1 => Remainder::Part(rest.remove(0)),
        _ => Remainder::Part(CExpr {
            kind: CKind::And(rest),
            span: cond.span,
        }),
    }
}

/// The key for `e == value`: a plain field, or `lower(field)` (looked up lower-cased;
/// a value with capitals can never match it, which the index then simply never finds).
fn key(e: &CExpr, value: &str) -> Option<Key> {
    match &e.kind {
        CKind::Call(Func::Lower, args) if args.len() == 1 => {
            Some((field_of(&args[0])?, true, Arc::from(value)))
        }
        _ => Some((field_of(e)?, false, Arc::from(value))),
    }
}

fn field_of(e: &CExpr) -> Option<IndexField> {
    match e.kind {
        CKind::Person(f) => Some(IndexField::Person(f)),
        CKind::Contract(f) => Some(IndexField::Contract(f)),
        CKind::Primary(f) => Some(IndexField::Primary(f)),
        _ => None,
    }
}
