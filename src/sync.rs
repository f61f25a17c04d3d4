//! One sync run, the pipeline `stroom sync` drives and other tools can call: import
//! from Nmbrs → intake (a snapshot; people with bad new data kept with their previous
//! record; the headcount guard) → the plan against the current state → the plan
//! document the apply engine carries out. Nothing here prints: progress goes to a page
//! hook, and every result and failure comes back as a value.
//!
//! The rule behind every step: a failed or partial import stores nothing and plans
//! nothing, so missing HR data never makes anyone look like a leaver.

use crate::config::{Config, ConfigError};
use crate::model::State;
use crate::plan::read::PlanDocument;
use crate::plan::{build_plan, Plan, PlanInput};
use crate::rules::program::Program;
use crate::source::intake::{intake, IntakeRules, Stored, TooManyGone};
use crate::source::nmbrs::auth::Session;
use crate::source::nmbrs::client::{Client, PageHook};
use crate::source::nmbrs::{import, Import, NmbrsError};
use crate::source::snapshots::{Saved, Store, StoreError};
use chrono::NaiveDate;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a sync run stopped. Nothing was stored when the import failed or was blocked.
#[derive(Debug)]
pub enum SyncError {
    /// `stroom.toml` or a secret is missing or wrong.
    Config(ConfigError),
    /// The import failed; no snapshot was stored and nobody is treated as a leaver.
    Import(NmbrsError),
    /// More persons are gone than `store.max_gone_percent` allows; nothing stored.
    Blocked(TooManyGone),
    /// The snapshot store cannot be opened (locked by another run, unreadable).
    OpenStore(StoreError),
    /// The snapshot store failed while storing.
    Store(StoreError),
    /// A file the run writes (persons, plan) could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The async runtime could not start.
    Runtime(String),
    /// `stroom sync --person`: nobody in the selected companies fits; nothing planned.
    NotInNmbrs {
        /// Whom was looked for.
        wanted: String,
        /// Companies searched.
        companies: usize,
    },
    /// Several persons fit a name or number; nothing planned.
    Ambiguous {
        /// Whom was looked for.
        wanted: String,
        /// "id (name, company)" of each.
        fits: Vec<String>,
    },
    /// The person's data in Nmbrs cannot be used; nothing planned.
    Unusable {
        /// The person.
        person: String,
        /// What is wrong, per field.
        problems: Vec<String>,
    },
    /// A target could not be read for reconciliation; nothing was reconciled.
    Read {
        /// The target.
        target: String,
        /// Why.
        error: crate::targets::TargetError,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Config(e) => write!(f, "{e}"),
            SyncError::Import(e) => write!(
                f,
                "{e}\nthe import failed; no snapshot was stored and nobody is treated as a leaver"
            ),
            SyncError::Blocked(b) => f.write_str(&b.message()),
            SyncError::OpenStore(e) | SyncError::Store(e) => write!(f, "{e}"),
            SyncError::Write { path, message } => {
                write!(f, "cannot write {}: {message}", path.display())
            }
            SyncError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            SyncError::NotInNmbrs { wanted, companies } => write!(
                f,
                "no employee with {wanted} in the {companies} selected Nmbrs companies; nothing \
                 was planned\n  help: check the id or number in Nmbrs, and `companies` in \
                 stroom.toml"
            ),
            SyncError::Ambiguous { wanted, fits } => write!(
                f,
                "{} employees fit {wanted}: {}; nothing was planned\n  help: give the \
                 employee id",
                fits.len(),
                fits.join(", ")
            ),
            SyncError::Unusable { person, problems } => write!(
                f,
                "the Nmbrs data of {person} cannot be used: {}; nothing was planned\n  help: \
                 correct it in Nmbrs and run again",
                problems.join("; ")
            ),
            SyncError::Read { target, error } => write!(
                f,
                "target `{target}` could not be read: {error}\nnothing was reconciled"
            ),
        }
    }
}

impl std::error::Error for SyncError {}

impl From<ConfigError> for SyncError {
    fn from(e: ConfigError) -> Self {
        SyncError::Config(e)
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e)
    }
}

/// Where secrets and overrides are looked up instead of the process environment.
pub type Env = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to import.
#[derive(Clone, Default)]
pub struct ImportOptions {
    /// Where the Nmbrs secrets are looked up (`STROOM_NMBRS_*`); `None`: the process
    /// environment.
    pub env: Option<Env>,
    /// Store the snapshot even when more persons are gone than the threshold allows.
    pub approve: bool,
    /// Where to write the persons (JSON Lines); default: `sync.persons_out`.
    pub persons_out: Option<PathBuf>,
    /// Called as pages come in (endpoint, records so far, total): a progress display.
    pub page_hook: Option<PageHook>,
}

/// One import: what was read and what was stored.
pub struct ImportRun {
    /// Import figures and problems.
    pub import: Import,
    /// The stored snapshot.
    pub stored: Stored,
    /// What went wrong without harm (an old snapshot not pruned).
    pub warnings: Vec<String>,
}

impl ImportRun {
    /// The one-line summary.
    pub fn summary(&self) -> String {
        let s = &self.import.stats;
        let snapshot = match &self.stored.saved {
            Saved::New(i) => format!("snapshot {} stored", i.id),
            Saved::Unchanged(i) => format!("no change since snapshot {}", i.id),
        };
        let counts = crate::source::mutations::counts(&self.stored.mutations);
        let n = |k: &str| counts.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        format!(
            "import: {} companies, {} persons ({} skipped, {} kept from the last snapshot, {} warnings), {} calls ({} retried, {} throttled) in {:.1} s; {snapshot}; {} joiners, {} movers, {} leavers",
            s.companies,
            self.stored.persons.len(),
            s.skipped,
            self.stored.carried,
            s.warnings,
            s.calls,
            s.retries,
            s.throttled,
            s.seconds,
            n("joiner"),
            n("mover"),
            n("leaver"),
        )
    }

    /// The summary for tools.
    pub fn json(&self) -> serde_json::Value {
        let snapshot = match &self.stored.saved {
            Saved::New(i) => serde_json::json!({"id": i.id, "new": true}),
            Saved::Unchanged(i) => serde_json::json!({"id": i.id, "new": false}),
        };
        serde_json::json!({
            "stats": self.import.stats,
            "carried": self.stored.carried,
            "snapshot": snapshot,
            "problems": self.import.normalized.problems,
            "mutations": self.stored.mutations,
        })
    }
}

/// Reads every person from Nmbrs as `config` says (nothing stored yet).
pub fn import_from_nmbrs(config: &Config, options: &ImportOptions) -> Result<Import, SyncError> {
    let client = nmbrs_client(config, options)?;
    let runtime = crate::http::runtime().map_err(|e| SyncError::Runtime(e.to_string()))?;
    runtime
        .block_on(import(&client, &config.selection()))
        .map_err(SyncError::Import)
}

/// The Nmbrs client `config` describes, its secrets looked up in `options.env` (or
/// the process environment).
fn nmbrs_client(config: &Config, options: &ImportOptions) -> Result<Client, SyncError> {
    let process = |k: &str| std::env::var(k).ok();
    let env: &dyn Fn(&str) -> Option<String> = match &options.env {
        Some(env) => env.as_ref(),
        None => &process,
    };
    let oauth = config.oauth_with_env(env)?;
    let settings = config.client_settings_with_env(env)?;
    let client = Client::new(settings, Session::new(oauth, config.token_store()))
        .map_err(SyncError::Import)?;
    Ok(match &options.page_hook {
        Some(hook) => client.with_page_hook(hook.clone()),
        None => client,
    })
}

/// Stores a complete import as a snapshot (or says why not), prunes old snapshots
/// and writes the persons file.
pub fn store_import(
    config: &Config,
    imported: Import,
    options: &ImportOptions,
) -> Result<ImportRun, SyncError> {
    let mut store = Store::open(&config.store.database).map_err(SyncError::OpenStore)?;
    let rules = IntakeRules {
        max_gone_percent: config.store.max_gone_percent,
        approve: options.approve,
    };
    let stored = intake(
        &mut store,
        imported.normalized.persons.clone(),
        &imported.normalized.problems,
        rules,
    )?
    .map_err(SyncError::Blocked)?;
    // A failed prune loses nothing: the old snapshots stay until a later run.
    let warnings = match store.prune(config.store.keep_snapshots) {
        Ok(_) => Vec::new(),
        Err(e) => vec![e.to_string()],
    };
    if let Some(path) = options
        .persons_out
        .as_ref()
        .or(config.sync.persons_out.as_ref())
    {
        let mut text = String::with_capacity(stored.records.iter().map(|r| r.json.len() + 1).sum());
        for r in &stored.records {
            text.push_str(&r.json);
            text.push('\n');
        }
        crate::files::write_atomic(path, text.as_bytes()).map_err(|e| SyncError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(ImportRun {
        import: imported,
        stored,
        warnings,
    })
}

/// [`import_from_nmbrs`] then [`store_import`].
pub fn import_and_store(config: &Config, options: &ImportOptions) -> Result<ImportRun, SyncError> {
    let imported = import_from_nmbrs(config, options)?;
    store_import(config, imported, options)
}

/// A sync run's result: the import and the plan made from it.
pub struct Synced {
    /// What was imported and stored.
    pub run: ImportRun,
    /// The plan for the stored persons against the state.
    pub plan: Plan,
    /// Persons with actions.
    pub planned: usize,
    /// Of those, persons Nmbrs did not change: their actions come from the date or
    /// from drift between the state and the rules.
    pub date_driven: usize,
}

impl Synced {
    /// The plan as the apply engine takes it, with its journal id (the hash of its
    /// JSON, as `stroom apply` computes it for a plan file).
    pub fn apply_document(&self) -> Result<(PlanDocument, String), serde_json::Error> {
        apply_document_of(&self.plan)
    }

    /// The one-line summary of the run.
    pub fn summary(&self) -> String {
        format!(
            "{}; plan: {} actions for {} persons ({} changed in Nmbrs, {} by date or drift){}",
            self.run.summary(),
            self.plan.actions.len(),
            self.planned,
            self.planned - self.date_driven,
            self.date_driven,
            if self.plan.blocked.is_some() {
                "; BLOCKED"
            } else {
                ""
            }
        )
    }
}

/// A plan made in this process as the apply engine takes it, with its journal id (the
/// hash of its JSON, as `stroom apply` computes it for a plan file).
pub fn apply_document_of(plan: &Plan) -> Result<(PlanDocument, String), serde_json::Error> {
    let id = crate::apply::plan_id(&serde_json::to_string(plan)?);
    Ok((PlanDocument::from(plan), id))
}

/// One sync run: imports and stores as [`import_and_store`], then [`plan_run`].
/// Check the rules first: a broken rule file should cost no Nmbrs calls.
pub fn sync_once(
    config: &Config,
    program: &Program,
    state: &State,
    today: NaiveDate,
    options: &ImportOptions,
) -> Result<Synced, SyncError> {
    let run = import_and_store(config, options)?;
    plan_run(config, program, state, today, run)
}

/// Plans the persons of a stored import against `state` on `today`, and writes the
/// plan to `sync.plan_out` when set.
pub fn plan_run(
    config: &Config,
    program: &Program,
    state: &State,
    today: NaiveDate,
    run: ImportRun,
) -> Result<Synced, SyncError> {
    let plan = build_plan(&PlanInput {
        program,
        persons: &run.stored.persons,
        state,
        today,
    });
    let (planned, date_driven) = planned_persons(&plan, &run.stored);
    if let Some(path) = &config.sync.plan_out {
        write_plan(path, &plan)?;
    }
    Ok(Synced {
        run,
        plan,
        planned,
        date_driven,
    })
}

/// One person synced on demand ([`sync_person`]).
pub struct PersonSynced {
    /// The person as Nmbrs has them now.
    pub person: crate::model::Person,
    /// Their record in the latest snapshot; `None`: not in it (a new joiner).
    pub previous: Option<crate::model::Person>,
    /// The snapshot the other persons come from; `None`: nothing imported yet.
    pub snapshot: Option<i64>,
    /// The company the person was found in.
    pub company: String,
    /// What changed in Nmbrs since the snapshot (joiner or mover), if anything.
    pub mutation: Option<crate::source::mutations::Mutation>,
    /// Warnings about the person's data (kept, but one value could not be filled in).
    pub problems: Vec<crate::source::nmbrs::normalize::RecordProblem>,
    /// Figures of the reading.
    pub stats: crate::source::nmbrs::ImportStats,
    /// This person's actions (their manager from the snapshot), held to the limits.
    pub plan: Plan,
    /// Seconds the plan took.
    pub plan_seconds: f64,
}

/// Whom a command line's key names in Nmbrs when the snapshot does not know it.
fn wanted_from_key(key: &str) -> crate::source::nmbrs::Wanted {
    use crate::source::nmbrs::Wanted;
    let key = key.trim();
    if let Ok(n) = key.parse::<i64>() {
        return Wanted::Number(n);
    }
    // Nmbrs ids are UUIDs; anything else is a name (never put raw into a query).
    let uuid = key.len() == 36
        && key.char_indices().all(|(k, c)| match k {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if uuid {
        Wanted::Id {
            id: key.to_string(),
            company: None,
        }
    } else {
        Wanted::Name(key.to_string())
    }
}

/// `stroom sync --person`: reads one person from Nmbrs now (by id, employee number or
/// name) and plans their actions against `state`. Nothing is stored: a snapshot is
/// always a whole import, so the next full sync sees the person's change as usual.
/// The other persons come from the latest snapshot, unchanged.
pub fn sync_person(
    config: &Config,
    program: &Program,
    state: &State,
    today: NaiveDate,
    key: &str,
    options: &ImportOptions,
) -> Result<PersonSynced, SyncError> {
    use crate::model::person::{find_person, FindError};
    use crate::source::nmbrs::{import_person, PersonFound, Wanted};
    let (snapshot, known) = match Store::open_existing(&config.store.database) {
        Ok(store) => match store.latest()? {
            Some(latest) => (Some(latest.id), store.persons(latest.id)?),
            None => (None, Vec::new()),
        },
        Err(StoreError::NotYet { .. }) => (None, Vec::new()),
        Err(e) => return Err(SyncError::OpenStore(e)),
    };
    let wanted = match find_person(&known, key) {
        Ok(p) => Wanted::Id {
            id: p.id.to_string(),
            company: p.company.clone(),
        },
        Err(FindError::Several(_, fits)) => {
            return Err(SyncError::Ambiguous {
                wanted: format!("{key:?} in snapshot {}", snapshot.unwrap_or_default()),
                fits,
            })
        }
        Err(FindError::Nobody(_)) => wanted_from_key(key),
    };
    let client = nmbrs_client(config, options)?;
    let runtime = crate::http::runtime().map_err(|e| SyncError::Runtime(e.to_string()))?;
    let found = runtime
        .block_on(import_person(&client, &config.selection(), &wanted, &known))
        .map_err(SyncError::Import)?;
    let (mut normalized, company, stats) = match found {
        PersonFound::One {
            normalized,
            company,
            stats,
        } => (normalized, company, stats),
        PersonFound::Nobody { companies } => {
            return Err(SyncError::NotInNmbrs {
                wanted: wanted.to_string(),
                companies,
            })
        }
        PersonFound::Several(list) => {
            return Err(SyncError::Ambiguous {
                wanted: wanted.to_string(),
                fits: list
                    .into_iter()
                    .map(|(id, name, company)| format!("{id} ({name}, {company})"))
                    .collect(),
            })
        }
    };
    let Some(person) = normalized.persons.pop() else {
        return Err(SyncError::Unusable {
            person: match &wanted {
                Wanted::Id { id, .. } => id.clone(),
                other => other.to_string(),
            },
            problems: normalized
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect(),
        });
    };
    let previous = known.iter().find(|p| p.id == person.id).cloned();
    let mutation =
        crate::source::mutations::diff(previous.as_slice(), std::slice::from_ref(&person)).pop();
    // The person's evaluation reads no one but their manager: plan those two (the
    // manager's actions are left out), not the whole organisation. A unique name is
    // the first one free in the state now, as when this person is created first.
    let manager = person
        .contracts
        .iter()
        .filter_map(|c| c.manager_id.as_deref())
        .chain(person.manager_id.as_deref())
        .collect::<HashSet<&str>>();
    let mut persons: Vec<crate::model::Person> = known
        .iter()
        .filter(|p| p.id != person.id && manager.contains(&*p.id))
        .cloned()
        .collect();
    persons.push(person.clone());
    let started = std::time::Instant::now();
    let input = PlanInput {
        program,
        persons: &persons,
        state,
        today,
    };
    let plan = crate::plan::plan_for_person(build_plan(&input), &input, &person.id);
    Ok(PersonSynced {
        person,
        previous,
        snapshot,
        company,
        mutation,
        problems: normalized.problems,
        stats,
        plan,
        plan_seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a reconcile run found and what its policy enforces.
pub struct ReconcileRun {
    /// The report (notes of reading first).
    pub report: crate::reconcile::Report,
    /// What the targets' policies enforce, numbered and held to the plan's limits (no
    /// adoption: that stays a reviewed step, `stroom reconcile --adopt`).
    pub enforcement: Plan,
}

impl ReconcileRun {
    /// The one-line summary.
    pub fn summary(&self) -> String {
        let totals = crate::reconcile::totals(&self.report);
        let counts: Vec<String> = totals
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        format!(
            "reconcile: {}; {} enforced action(s){}",
            if counts.is_empty() {
                "nothing read".to_string()
            } else {
                counts.join(", ")
            },
            self.enforcement.actions.len(),
            if self.enforcement.blocked.is_some() {
                "; BLOCKED"
            } else {
                ""
            }
        )
    }
}

/// The configured targets a reconcile reads when none is named, by name: those the
/// rules make accounts in, and those whose accounts are another's (Exchange) that the
/// rules grant in.
pub fn reconciled_targets(
    built: &std::collections::HashMap<String, std::sync::Arc<dyn crate::targets::Target>>,
    program: &Program,
) -> Vec<String> {
    let mut names: Vec<String> = built
        .keys()
        .filter(|n| {
            program
                .target_id(n)
                .is_some_and(|t| crate::reconcile::reconciled_by_default(program, t))
        })
        .cloned()
        .collect();
    names.sort();
    names
}

/// A reconcile on the sync schedule: reads every configured target the rules make
/// accounts in, reconciles with `persons` and `state`, and writes the report to
/// `sync.reconcile_out` when set.
pub fn reconcile_run(
    config: &Config,
    program: &Program,
    persons: &[crate::model::Person],
    state: &State,
    today: NaiveDate,
) -> Result<ReconcileRun, SyncError> {
    let built = config.targets()?;
    let names = reconciled_targets(&built, program);
    let targets: Vec<(&str, &dyn crate::targets::Target)> = names
        .iter()
        .filter_map(|n| built.get(n).map(|t| (n.as_str(), t.as_ref())))
        .collect();
    let (inventories, notes) = crate::targets::read_inventories(program, &targets)
        .map_err(|(target, error)| SyncError::Read { target, error })?;
    let policy = config.reconcile_policy();
    let input = crate::reconcile::ReconcileInput {
        program,
        persons,
        today,
        inventories: &inventories,
        policy: &policy,
        state,
        only_person: None,
    };
    let done = crate::reconcile::reconcile(&input);
    let enforcement = done.plan(&input, false);
    let mut report = done.report;
    report.notes.splice(0..0, notes);
    if let Some(path) = &config.sync.reconcile_out {
        let failed = |message: String| SyncError::Write {
            path: path.to_path_buf(),
            message,
        };
        let bytes = serde_json::to_vec_pretty(&report).map_err(|e| failed(e.to_string()))?;
        crate::files::write_atomic(path, &bytes).map_err(|e| failed(e.to_string()))?;
    }
    Ok(ReconcileRun {
        report,
        enforcement,
    })
}

/// Persons with actions, and how many of them Nmbrs did not change.
fn planned_persons(plan: &Plan, stored: &Stored) -> (usize, usize) {
    let changed: HashSet<&str> = stored.mutations.iter().map(|m| m.person.as_str()).collect();
    let planned: HashSet<&str> = plan.actions.iter().map(|a| a.person.as_ref()).collect();
    let date_driven = planned.iter().filter(|p| !changed.contains(*p)).count();
    (planned.len(), date_driven)
}

fn write_plan(path: &Path, plan: &Plan) -> Result<(), SyncError> {
    let failed = |message: String| SyncError::Write {
        path: path.to_path_buf(),
        message,
    };
    let bytes = serde_json::to_vec_pretty(plan).map_err(|e| failed(e.to_string()))?;
    crate::files::write_atomic(path, &bytes).map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::wanted_from_key;
    use crate::source::nmbrs::Wanted;

    #[test]
    fn a_key_is_an_id_a_number_or_a_name_and_never_raw_in_a_query() {
        assert_eq!(
            wanted_from_key(" 000007ea-0000-4000-8000-000000000001 "),
            Wanted::Id {
                id: "000007ea-0000-4000-8000-000000000001".into(),
                company: None
            }
        );
        assert_eq!(wanted_from_key("1042"), Wanted::Number(1042));
        // A hyphenated name, an id with something after it, and a query are names.
        for name in [
            "Anne-Marie",
            "000007ea-0000-4000-8000-000000000001&pageSize=1",
            "000007ea-0000-4000-8000-00000000000g",
        ] {
            assert_eq!(wanted_from_key(name), Wanted::Name(name.into()), "{name}");
        }
    }
}
