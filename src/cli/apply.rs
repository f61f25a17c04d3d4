//! `stroom apply`

use super::nmbrs::load_config;
use super::plan::load_state;
use super::{print_json, Format, BLOCKED, FAILED, OK, UNUSABLE, WAITING};
use clap::Args;
use std::path::PathBuf;
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, state_after_apply, ApplyError, ApplyOptions};

#[derive(Args)]
pub struct ApplyArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The plan document (`stroom plan --format json`).
    #[arg(long)]
    pub plan: PathBuf,
    /// The current state; the state after the run is written back to it.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Write the new state here instead.
    #[arg(long)]
    pub state_out: Option<PathBuf>,
    /// Show what each target would be asked; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply a plan blocked by a threshold or constraint.
    #[arg(long)]
    pub approve: bool,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: &ApplyArgs) -> u8 {
    let config = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let text = match stroom::files::read_text(&args.plan) {
        Ok(t) => t,
        Err(e) => {
            errln!("error: cannot read {}: {e}", args.plan.display());
            return UNUSABLE;
        }
    };
    let run = ApplyRun {
        plan_name: args.plan.display().to_string(),
        state: args.state.clone(),
        state_out: args.state_out.clone(),
        dry_run: args.dry_run,
        approve: args.approve,
        format: args.format,
        on_step: None,
        fresher: Vec::new(),
    };
    apply_text(&config, &text, &run)
}

/// One apply of a plan document, from `stroom apply` or `stroom sync --apply`.
pub struct ApplyRun {
    /// The plan's name in messages.
    pub plan_name: String,
    /// The current state file (default: sync.state).
    pub state: Option<PathBuf>,
    /// Where to write the new state (default: the state file).
    pub state_out: Option<PathBuf>,
    /// Describe only.
    pub dry_run: bool,
    /// Apply a blocked plan.
    pub approve: bool,
    /// Report format.
    pub format: Format,
    /// Told each step as it ends.
    pub on_step: Option<stroom::apply::StepHook>,
    /// Persons read from Nmbrs since the latest snapshot (their company for the
    /// write-back).
    pub fresher: Vec<stroom::model::Person>,
}

/// Applies a plan document's text; prints the report; returns the exit status.
pub fn apply_text(config: &stroom::config::Config, text: &str, args: &ApplyRun) -> u8 {
    let doc = match stroom::plan::read::parse_plan(&args.plan_name, text) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: {e}");
            return FAILED;
        }
    };
    apply_document(config, &doc, &plan_id(text), args)
}

/// Applies a plan document whose journal id is `id`; prints the report; returns the
/// exit status.
pub fn apply_document(
    config: &stroom::config::Config,
    doc: &stroom::plan::read::PlanDocument,
    id: &str,
    args: &ApplyRun,
) -> u8 {
    let state_path = args.state.clone().or(config.sync.state.clone());
    // A state file that does not exist yet means nothing is provisioned yet.
    let existing = state_path.as_deref().filter(|p| p.exists());
    let state = match load_state(existing) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut written_back: Vec<&str> = doc
        .actions
        .iter()
        .filter(|a| a.target == "nmbrs")
        .map(|a| a.person.as_str())
        .collect();
    written_back.sort_unstable();
    written_back.dedup();
    let targets =
        match config.plan_targets(&written_back, &|k| std::env::var(k).ok(), &args.fresher) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: {e}");
                return UNUSABLE;
            }
        };
    let journal = match Journal::open(&config.store.database) {
        Ok(j) => j,
        Err(e) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
    };
    let audit = if args.dry_run {
        Audit::none()
    } else {
        match Audit::open(&config.apply.audit_log) {
            Ok(a) => a,
            Err(e) => {
                errln!(
                    "error: cannot open the audit log {}: {e}",
                    config.apply.audit_log.display()
                );
                return UNUSABLE;
            }
        }
    };
    let notifier = match config.notifier() {
        Ok(n) => n.map(std::sync::Arc::new),
        Err(e) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
    };
    let options = ApplyOptions {
        deliver: notifier
            .clone()
            .map(|n| stroom::apply::Delivery(n as std::sync::Arc<dyn stroom::notify::Deliver>)),
        concurrency: config.apply.concurrency,
        dry_run: args.dry_run,
        approve: args.approve,
        max_attempts: config.apply.max_attempts,
        ready_wait: std::time::Duration::from_secs(config.apply.ready_wait_seconds),
        on_step: args.on_step.clone(),
        ..ApplyOptions::default()
    };
    let report = match apply(doc, id, &targets, &journal, &audit, &options) {
        Ok(r) => r,
        Err(ApplyError::Blocked(why)) => {
            errln!("blocked: {}", ApplyError::Blocked(why.clone()));
            // The admins hear of it (`[notify] blocked_to`); a failure to tell them is
            // said, never hidden.
            if let Some(n) = notifier.as_ref().filter(|_| !args.dry_run) {
                for (to, e) in n.blocked(&why) {
                    errln!("warning: could not tell {to} that the plan is blocked: {e}");
                }
            }
            return BLOCKED;
        }
        Err(e @ ApplyError::NoDelivery) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
        Err(e @ ApplyError::UnknownTarget(_)) => {
            errln!("error: {e}\n  help: configure it under [targets] in stroom.toml");
            return UNUSABLE;
        }
        Err(e) => {
            errln!("error: {e}");
            return FAILED;
        }
    };
    if args.dry_run {
        if args.format == Format::Json {
            return print_json(&serde_json::json!({
                "dry_run": true,
                "plan": id,
                "would": report.would,
            }));
        }
        for line in &report.would {
            outln!("{line}");
        }
        return OK;
    }
    // The state after the run: everything the journal has as done, this run or earlier.
    let steps = match journal.steps(id) {
        Ok(s) => s,
        Err(e) => {
            errln!("error: {e}");
            return FAILED;
        }
    };
    let next = state_after_apply(&state, doc, &steps);
    if let Some(out) = args.state_out.as_ref().or(state_path.as_ref()) {
        if stroom::source::state_store::is_state_store(out) {
            // A store gets only the rows that differ from what it holds, read again
            // under its lock.
            let written = stroom::source::state_store::StateStore::open(out)
                .and_then(|mut store| store.replace(&next));
            if let Err(e) = written {
                errln!("error: cannot write the state: {e}");
                return FAILED;
            }
        } else {
            let written = serde_json::to_vec_pretty(&next)
                .map_err(std::io::Error::from)
                .and_then(|bytes| stroom::files::write_atomic(out, &bytes));
            if let Err(e) = written {
                errln!("error: cannot write the state {}: {e}", out.display());
                return FAILED;
            }
        }
    }
    if args.format == Format::Json {
        let code = print_json(&report);
        if code != OK {
            return code;
        }
    } else {
        for (person, seq, error) in &report.failures {
            errln!("failed: step {seq}, person {person}: {error}");
        }
        for (person, seq, why) in &report.waiting {
            errln!("waiting: step {seq}, person {person}: {why}");
        }
        errln!(
            "apply: {} done, {} already done, {} failed, {} skipped, {} pending{}{}",
            report.done,
            report.resumed,
            report.failed,
            report.skipped,
            report.pending,
            if report.waiting.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} persons waiting; run again later to go on)",
                    report.waiting.len()
                )
            },
            report
                .stopped
                .as_deref()
                .map(|s| format!("; stopped: {s}"))
                .unwrap_or_default()
        );
    }
    if report.failed > 0 || report.stopped.is_some() {
        FAILED
    } else if !report.waiting.is_empty() {
        WAITING
    } else {
        OK
    }
}
