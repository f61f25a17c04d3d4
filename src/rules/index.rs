//! Indexes statements by the equality tests their conditions require, so that a person
//! is only evaluated against the statements that can fire for them. A statement whose
//! condition is `department == "Sales" and ...` is filed under department = Sales; one
//! without such a test is evaluated for everyone.

use super::program::{CExpr, CKind, CmpOp, IndexField, RuleIndex, Statement};
use crate::model::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Builds the index of a program's statements.
pub fn build(statements: &[Statement]) -> RuleIndex {
    let mut index = RuleIndex::default();
    for (i, st) in statements.iter().enumerate() {
        let i = i as u32;
        let key = st.cond.as_ref().and_then(index_key);
        let (always, keyed) = if st.per_contract {
            (&mut index.contract_always, &mut index.contract_keyed)
        } else {
            (&mut index.person_always, &mut index.person_keyed)
        };
        match key {
            None => always.push(i),
            Some((field, values)) => {
                let slot = match keyed.iter().position(|(f, _)| *f == field) {
                    Some(p) => p,
                    None => {
                        keyed.push((field, HashMap::new()));
                        keyed.len() - 1
                    }
                };
                for v in values {
                    let list = keyed[slot].1.entry(v).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    index
}

/// The first conjunct of the form `field == "x"` or `field in ["x", "y"]`.
fn index_key(cond: &CExpr) -> Option<(IndexField, Vec<Arc<str>>)> {
    let conjuncts: &[CExpr] = match &cond.kind {
        CKind::And(parts) => parts,
        _ => std::slice::from_ref(cond),
    };
    conjuncts.iter().find_map(|c| match &c.kind {
        CKind::Cmp(CmpOp::Eq, a, b) => {
            let (field, value) = match (&a.kind, &b.kind) {
                (_, CKind::Const(Value::Str(s))) => (field_of(a)?, s),
                (CKind::Const(Value::Str(s)), _) => (field_of(b)?, s),
                _ => return None,
            };
            Some((field, vec![Arc::from(value.as_ref())]))
        }
        CKind::InSet(e, set, false) if set.others.is_empty() => {
            let mut values: Vec<Arc<str>> = set.strings.iter().cloned().collect();
            values.sort();
            Some((field_of(e)?, values))
        }
        _ => None,
    })
}

fn field_of(e: &CExpr) -> Option<IndexField> {
    match e.kind {
        CKind::Person(f) => Some(IndexField::Person(f)),
        CKind::Contract(f) => Some(IndexField::Contract(f)),
        CKind::Primary(f) => Some(IndexField::Primary(f)),
        _ => None,
    }
}
