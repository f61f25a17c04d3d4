//! From a complete import to a stored snapshot: keep people whose new data was bad
//! with their previous record, refuse a suspicious drop in headcount until approved,
//! store, and name the mutations.
//!
//! The rule behind every step: missing or broken HR data never makes anyone look like
//! a leaver.

use super::mutations::{diff, Mutation};
use super::nmbrs::normalize::RecordProblem;
use super::snapshots::{Saved, SnapshotInfo, Store, StoreError};
use crate::model::Person;
use std::collections::HashSet;

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
pub struct Blocked {
    /// Persons in the previous snapshot.
    pub previous: usize,
    /// Of those, gone now.
    pub gone: usize,
    /// The limit.
    pub max_gone_percent: f64,
}

impl Blocked {
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
    /// Persons kept with their previous record because their new data was bad.
    pub carried: usize,
    /// Skipped persons with no previous record: not in the snapshot, and reported.
    pub left_out: usize,
    /// Joiners, movers and leavers since the previous snapshot.
    pub mutations: Vec<Mutation>,
}

/// Stores an import as a snapshot, or says why not.
pub fn intake(
    store: &mut Store,
    mut persons: Vec<Person>,
    problems: &[RecordProblem],
    rules: IntakeRules,
) -> Result<Result<Stored, Blocked>, StoreError> {
    let previous = store.latest()?;
    let before = match &previous {
        Some(info) => store.persons(info.id)?,
        None => Vec::new(),
    };
    let skipped: HashSet<&str> = problems
        .iter()
        .filter(|p| p.severity == super::nmbrs::normalize::Severity::Skipped)
        .map(|p| p.employee_id.as_str())
        .collect();
    let present: HashSet<String> = persons.iter().map(|p| p.id.to_string()).collect();
    let mut carried = 0;
    for p in &before {
        if skipped.contains(p.id.as_ref()) && !present.contains(p.id.as_ref()) {
            persons.push(p.clone());
            carried += 1;
        }
    }
    let left_out = skipped.len() - carried.min(skipped.len());
    persons.sort_by(|a, b| a.id.cmp(&b.id));
    let now: HashSet<&str> = persons.iter().map(|p| p.id.as_ref()).collect();
    let gone = before
        .iter()
        .filter(|p| !now.contains(p.id.as_ref()))
        .count();
    if !before.is_empty()
        && 100.0 * gone as f64 > rules.max_gone_percent * before.len() as f64
        && !rules.approve
    {
        return Ok(Err(Blocked {
            previous: before.len(),
            gone,
            max_gone_percent: rules.max_gone_percent,
        }));
    }
    let saved = store.save(&persons, carried, rules.approve && gone > 0)?;
    let mutations = diff(&before, &persons);
    Ok(Ok(Stored {
        saved,
        previous,
        persons,
        carried,
        left_out,
        mutations,
    }))
}
