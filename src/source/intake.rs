//! From a complete import to a stored snapshot: keep people whose new data was bad
//! with their previous record, refuse a suspicious drop in headcount until approved,
//! store, and name the mutations.
//!
//! The rule behind every step: missing or broken HR data never makes anyone look like
//! a leaver.

use super::mutations::{diff, Mutation};
use super::nmbrs::normalize::RecordProblem;
use super::snapshots::{records_of, Record, Saved, SnapshotInfo, Store, StoreError};
use crate::model::Person;
use std::collections::{HashMap, HashSet};

/// Limits of an intake.
#[derive(Debug, Clone, Copy)]
pub struct IntakeRules {
    /// Refuse the snapshot when more than this share (0-100) of the previous
    /// snapshot's persons is gone.
    pub max_gone_percent: f64,
    /// Store even when the threshold is exceeded (`--approve`).
    pub approve: bool,
}

/// Why an import was not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TooManyGone {
    /// Persons in the previous snapshot.
    pub previous: usize,
    /// Of those, gone now.
    pub gone: usize,
    /// The limit.
    pub max_gone_percent: f64,
}

impl TooManyGone {
    /// For people.
    pub fn message(&self) -> String {
        format!(
            "{} of {} persons ({:.1}%) are gone since the last snapshot; the limit is {}%. \
             Nothing was stored and nobody is treated as a leaver.\n  help: check Nmbrs \
             (a company no longer visible? a consent withdrawn?); if the drop is real, run \
             again with --approve",
            self.gone,
            self.previous,
            100.0 * self.gone as f64 / self.previous.max(1) as f64,
            self.max_gone_percent
        )
    }
}

/// A stored intake.
#[derive(Debug, Clone)]
pub struct Stored {
    /// What the store did.
    pub saved: Saved,
    /// The previous snapshot, if any.
    pub previous: Option<SnapshotInfo>,
    /// The persons now (carried records included), ordered by id.
    pub persons: Vec<Person>,
    /// Their stored records, in the same order.
    pub records: Vec<Record>,
    /// Persons kept with their previous record because their new data was bad.
    pub carried: usize,
    /// Skipped persons with no previous record: not in the snapshot, and reported.
    pub left_out: usize,
    /// Joiners, movers and leavers since the previous snapshot.
    pub mutations: Vec<Mutation>,
}

/// Stores an import as a snapshot, or says why not. Only persons whose record
/// changed are read back from the previous snapshot, so a resync with few changes
/// costs little beyond the import itself.
pub fn intake(
    store: &mut Store,
    mut persons: Vec<Person>,
    problems: &[RecordProblem],
    rules: IntakeRules,
) -> Result<Result<Stored, TooManyGone>, StoreError> {
    let previous = store.latest()?;
    let before: HashMap<String, String> = match &previous {
        Some(info) => store.member_hashes(info.id)?,
        None => HashMap::new(),
    };
    let skipped: HashSet<&str> = problems
        .iter()
        .filter(|p| p.severity == super::nmbrs::normalize::ProblemLevel::Skipped)
        .map(|p| p.employee_id.as_str())
        .collect();
    let present: HashSet<String> = persons.iter().map(|p| p.id.to_string()).collect();
    let carry: Vec<&str> = skipped
        .iter()
        .copied()
        .filter(|id| before.contains_key(*id) && !present.contains(*id))
        .collect();
    let carried = carry.len();
    if let Some(info) = &previous {
        persons.extend(store.persons_by_id(info.id, &carry)?);
    }
    let left_out = skipped.len() - carried;
    persons.sort_by(|a, b| a.id.cmp(&b.id));
    let records = records_of(&persons);
    let now: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let gone: Vec<&str> = before
        .keys()
        .map(String::as_str)
        .filter(|id| !now.contains(id))
        .collect();
    if !before.is_empty()
        && 100.0 * gone.len() as f64 > rules.max_gone_percent * before.len() as f64
        && !rules.approve
    {
        return Ok(Err(TooManyGone {
            previous: before.len(),
            gone: gone.len(),
            max_gone_percent: rules.max_gone_percent,
        }));
    }
    // The diff needs only the persons that are new, gone or changed.
    let mut touched: Vec<&str> = gone.clone();
    let mut new_side = Vec::new();
    for (record, person) in records.iter().zip(&persons) {
        match before.get(&record.id) {
            Some(hash) if *hash == record.hash => {}
            Some(_) => {
                touched.push(&record.id);
                new_side.push(person.clone());
            }
            None => new_side.push(person.clone()),
        }
    }
    let old_side = match &previous {
        Some(info) => store.persons_by_id(info.id, &touched)?,
        None => Vec::new(),
    };
    let mutations = diff(&old_side, &new_side);
    let saved = store.save(&records, carried, rules.approve && !gone.is_empty())?;
    Ok(Ok(Stored {
        saved,
        previous,
        persons,
        records,
        carried,
        left_out,
        mutations,
    }))
}
