//! Mutation detection: joiners, movers and leavers between two sets of persons, with
//! every changed field as old → new.

use super::persons::person_to_json;
use crate::model::Person;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What happened to a person between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationKind {
    /// New in Nmbrs.
    Joiner,
    /// Data changed (department, function, name, ...).
    Mover,
    /// The last contract got an end date (or an earlier one), or the person is no
    /// longer in Nmbrs.
    Leaver,
}

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Field path, e.g. `contracts[c-1].department`.
    pub field: String,
    /// Before.
    pub old: Value,
    /// After.
    pub new: Value,
}

/// One person's mutation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mutation {
    /// Joiner, mover or leaver.
    pub kind: MutationKind,
    /// Person id.
    pub person: String,
    /// Display name (the newest known).
    pub name: String,
    /// Why a leaver is one: `ends YYYY-MM-DD` or `no longer in Nmbrs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Changed fields (empty for joiners and removed persons).
    pub changes: Vec<FieldChange>,
}

/// Flattens a person record: top-level fields by name, contract fields by contract id.
fn flatten(p: &Person) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Value::Object(record) = person_to_json(p) else {
        return out;
    };
    for (key, value) in record {
        match (key.as_str(), value) {
            ("contracts", Value::Array(contracts)) => {
                for c in contracts {
                    let Value::Object(mut c) = c else { continue };
                    let id = c
                        .remove("id")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    for (k, v) in c {
                        out.insert(format!("contracts[{id}].{k}"), v);
                    }
                }
            }
            ("extra", Value::Object(extra)) => {
                for (k, v) in extra {
                    out.insert(format!("extra.{k}"), v);
                }
            }
            (_, value) => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// The last day of the person's last contract (`None`: open-ended or no contracts).
fn employment_end(p: &Person) -> Option<Option<chrono::NaiveDate>> {
    let last_start = p.contracts.iter().filter_map(|c| c.start).max()?;
    let open = p.contracts.iter().any(|c| c.end.is_none());
    if open {
        return Some(None);
    }
    Some(
        p.contracts
            .iter()
            .filter_map(|c| c.end)
            .max()
            .max(Some(last_start)),
    )
}

/// Compares two sets of persons (by id). Result order: leavers, joiners, movers, each
/// by name then id.
pub fn diff(old: &[Person], new: &[Person]) -> Vec<Mutation> {
    let old_by: BTreeMap<&str, &Person> = old.iter().map(|p| (p.id.as_ref(), p)).collect();
    let new_by: BTreeMap<&str, &Person> = new.iter().map(|p| (p.id.as_ref(), p)).collect();
    let mut out = Vec::new();
    for (id, p) in &old_by {
        if !new_by.contains_key(id) {
            out.push(Mutation {
                kind: MutationKind::Leaver,
                person: id.to_string(),
                name: p.display_name.clone(),
                reason: Some("no longer in Nmbrs".into()),
                changes: Vec::new(),
            });
        }
    }
    for (id, p) in &new_by {
        let Some(before) = old_by.get(id) else {
            out.push(Mutation {
                kind: MutationKind::Joiner,
                person: id.to_string(),
                name: p.display_name.clone(),
                reason: None,
                changes: Vec::new(),
            });
            continue;
        };
        if before == p {
            continue;
        }
        let a = flatten(before);
        let b = flatten(p);
        let mut changes = Vec::new();
        for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            let old = a.get(key).cloned().unwrap_or(Value::Null);
            let new = b.get(key).cloned().unwrap_or(Value::Null);
            if old != new {
                changes.push(FieldChange {
                    field: key.clone(),
                    old,
                    new,
                });
            }
        }
        if changes.is_empty() {
            continue;
        }
        changes.sort_by(|x, y| x.field.cmp(&y.field));
        let (was, now) = (employment_end(before), employment_end(p));
        let ends_earlier = match (was, now) {
            (Some(None), Some(Some(_))) => true,
            (Some(Some(w)), Some(Some(n))) => n < w,
            _ => false,
        };
        let (kind, reason) = if ends_earlier {
            let end = now.flatten().map(|d| format!("ends {d}"));
            (MutationKind::Leaver, end)
        } else {
            (MutationKind::Mover, None)
        };
        out.push(Mutation {
            kind,
            person: id.to_string(),
            name: p.display_name.clone(),
            reason,
            changes,
        });
    }
    out.sort_by(|x, y| {
        let rank = |k: MutationKind| match k {
            MutationKind::Leaver => 0,
            MutationKind::Joiner => 1,
            MutationKind::Mover => 2,
        };
        (rank(x.kind), &x.name, &x.person).cmp(&(rank(y.kind), &y.name, &y.person))
    });
    out
}

/// Counts per kind, for summaries.
pub fn counts(mutations: &[Mutation]) -> Map<String, Value> {
    let mut m = Map::new();
    for kind in ["joiner", "mover", "leaver"] {
        m.insert(kind.into(), Value::from(0));
    }
    for x in mutations {
        let key = match x.kind {
            MutationKind::Joiner => "joiner",
            MutationKind::Mover => "mover",
            MutationKind::Leaver => "leaver",
        };
        if let Some(Value::Number(n)) = m.get(key) {
            let next = n.as_u64().unwrap_or(0) + 1;
            m.insert(key.into(), Value::from(next));
        }
    }
    m
}
