//! `stroom sync`, `stroom diff` and `stroom snapshots`.

use super::nmbrs::{import_and_store, load_config};
use super::plan::{load_state, parse_date, today_or_now};
use super::{load_program, print_json, Format, PlanFormat, FAILED, OK, UNUSABLE};
use chrono::NaiveDate;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use stroom::source::mutations::{diff, Mutation, MutationKind};
use stroom::source::snapshots::Store;

#[derive(Args)]
pub struct SyncArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rule files or folders (default: sync.rules).
    #[arg(long)]
    pub rules: Vec<PathBuf>,
    /// Current state file (default: sync.state; none: nothing provisioned yet).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Evaluation date (YYYY-MM-DD); default: today in the Netherlands.
    #[arg(long, value_parser = parse_date)]
    pub today: Option<NaiveDate>,
    /// Store the snapshot even if more persons are gone than store.max_gone_percent.
    #[arg(long)]
    pub approve: bool,
    /// Carry out the plan through the configured targets (see `stroom apply`).
    #[arg(long)]
    pub apply: bool,
    /// Print every import warning, not one line per kind of warning.
    #[arg(long)]
    pub all_warnings: bool,
    /// Keep running: import and plan again after this long (e.g. 15m, 1h, 90s).
    #[arg(long, value_parser = parse_interval)]
    pub every: Option<Duration>,
    /// With --every: also reconcile the targets this often (e.g. 24h; default:
    /// sync.reconcile_every), first at the start. What their policies enforce is
    /// applied with --apply; adoption stays `stroom reconcile --adopt`.
    #[arg(long, value_parser = parse_interval)]
    pub reconcile_every: Option<Duration>,
    /// Only this person, now: read them from Nmbrs (id, employee number or name),
    /// plan their actions and, with --apply, carry them out step by step. Nothing is
    /// stored as a snapshot; the other persons come from the latest one.
    #[arg(long, conflicts_with_all = ["every", "reconcile_every"])]
    pub person: Option<String>,
    /// Output format of the plan (single runs; with --every only the summary line is
    /// printed and the plan goes to sync.plan_out).
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
}

/// Parses `15m`, `1h`, `90s`, `2h30m`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?}: write an interval such as 15m, 1h or 90s"))?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("{text:?}: unknown unit {c:?}; use s, m, h or d")),
        };
    }
    if !number.is_empty() {
        return Err(format!("{text:?}: give a unit, e.g. {number}m"));
    }
    if total == 0 {
        return Err(format!("{text:?}: the interval must be longer than zero"));
    }
    Ok(Duration::from_secs(total))
}

pub fn run(args: &SyncArgs) -> u8 {
    if let Some(key) = &args.person {
        return one_person(args, key);
    }
    let Some(every) = args.every else {
        if args.reconcile_every.is_some() {
            errln!("error: --reconcile-every goes with --every (a schedule); for one reconcile run `stroom reconcile`");
            return UNUSABLE;
        }
        return once(args, true);
    };
    let reconcile_every = match args.reconcile_every {
        Some(d) => Some(d),
        None => match load_config(args.config.as_deref()) {
            Ok(c) => match c.sync.reconcile_every.as_deref().map(parse_interval) {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    errln!("error: sync.reconcile_every in stroom.toml: {e}");
                    return UNUSABLE;
                }
            },
            Err(code) => return code,
        },
    };
    let mut reconciled: Option<std::time::Instant> = None;
    loop {
        // A failed run is reported and retried at the next tick; it never stops the
        // monitor and never stores anything.
        let code = once(args, false);
        if code == UNUSABLE {
            return code;
        }
        if let Some(interval) = reconcile_every {
            if reconciled.is_none_or(|at| at.elapsed() >= interval) {
                reconciled = Some(std::time::Instant::now());
                if reconcile_tick(args) == UNUSABLE {
                    return UNUSABLE;
                }
            }
        }
        // Nobody reads the summaries any more (`stroom sync --every 15m | head -3`):
        // the run that just ended is complete, so stop here.
        if crate::out::stdout_closed() {
            return code;
        }
        std::thread::sleep(every);
    }
}

/// The configuration, the checked rules and the state of a sync run; with
/// `note_missing`, a state file that is not there yet is said (before the first
/// `stroom sync --apply` there is none).
fn run_inputs(
    args: &SyncArgs,
    note_missing: bool,
) -> Result<
    (
        stroom::config::Config,
        stroom::rules::program::Program,
        stroom::model::State,
    ),
    u8,
> {
    let config = load_config(args.config.as_deref())?;
    let rules = if args.rules.is_empty() {
        config.sync.rules.clone()
    } else {
        args.rules.clone()
    };
    if rules.is_empty() {
        errln!("error: no rules given\n  help: pass --rules PATH or set sync.rules in stroom.toml");
        return Err(UNUSABLE);
    }
    // The rules are checked before Nmbrs is read: a broken rule file costs no calls.
    let mut program = load_program(&rules, &config.target_decls())?;
    program.removal_guard = config.plan.removal_guard();
    let state_path = args.state.as_deref().or(config.sync.state.as_deref());
    let existing = state_path.filter(|p| {
        let there = p.exists();
        if !there && note_missing {
            errln!(
                "note: no state file at {} yet: nothing is provisioned",
                p.display()
            );
        }
        there
    });
    let state = load_state(existing)?;
    Ok((config, program, state))
}

/// With --apply, carries out a plan made in this run (`code`: its status so far; a
/// blocked plan only with --approve) and returns the status.
fn apply_made(
    config: &stroom::config::Config,
    args: &SyncArgs,
    plan: &stroom::plan::Plan,
    name: &str,
    code: u8,
    on_step: Option<stroom::apply::StepHook>,
    fresher: &[stroom::model::Person],
) -> u8 {
    if !args.apply || (code == super::BLOCKED && !args.approve) || plan.actions.is_empty() {
        return code;
    }
    // The journal knows a plan by the hash of its JSON; the document itself is made
    // from the typed plan, not read back from that text.
    let (doc, id) = match stroom::sync::apply_document_of(plan) {
        Ok(d) => d,
        Err(e) => {
            errln!("error: cannot serialise the plan: {e}");
            return FAILED;
        }
    };
    let run = super::apply::ApplyRun {
        plan_name: name.into(),
        state: args.state.clone(),
        state_out: None,
        dry_run: false,
        approve: args.approve,
        format: Format::Human,
        on_step,
        fresher: fresher.to_vec(),
    };
    super::apply::apply_document(config, &doc, &id, &run)
}

/// One scheduled reconcile: the targets against the latest snapshot's persons (never
/// a partial import: a failed import stores nothing). Its summary goes to stderr,
/// the report to sync.reconcile_out; with --apply what the policies enforce is done.
fn reconcile_tick(args: &SyncArgs) -> u8 {
    let (config, program, state) = match run_inputs(args, false) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let persons = match Store::open_existing(&config.store.database).and_then(|store| {
        let latest = store.latest()?;
        latest.map(|l| store.persons(l.id)).transpose()
    }) {
        Ok(Some(p)) => p,
        Ok(None) => {
            errln!("reconcile: no snapshot yet; it runs after the first import");
            return OK;
        }
        Err(e) => {
            errln!("reconcile: error: {e}");
            return FAILED;
        }
    };
    let done = match stroom::sync::reconcile_run(
        &config,
        &program,
        &persons,
        &state,
        today_or_now(args.today),
    ) {
        Ok(d) => d,
        Err(e) => return super::nmbrs::sync_failed(e),
    };
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    errln!("{stamp} {}", done.summary());
    let plan = &done.enforcement;
    let code = super::plan::blocked_status(plan.blocked.as_ref());
    apply_made(&config, args, plan, "the reconcile plan", code, None, &[])
}

fn once(args: &SyncArgs, print_plan: bool) -> u8 {
    let (config, program, state) = match run_inputs(args, true) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let run = match import_and_store(&config, args.approve, None, args.all_warnings) {
        Ok(run) => run,
        Err(code) => return code,
    };
    let synced =
        match stroom::sync::plan_run(&config, &program, &state, today_or_now(args.today), run) {
            Ok(s) => s,
            Err(e) => return super::nmbrs::sync_failed(e),
        };
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    errln!("{stamp} {}", synced.summary());
    let plan = &synced.plan;
    let code = if print_plan {
        super::plan::print_plan(plan, &synced.run.stored.persons, args.format)
    } else {
        super::plan::blocked_status(plan.blocked.as_ref())
    };
    apply_made(&config, args, plan, "the sync plan", code, None, &[])
}

/// `stroom sync --person`: the helpdesk's "she starts today and has nothing". Reads
/// one person from Nmbrs now, plans their actions and, with --apply, carries them out;
/// each step goes to stderr as it happens, the plan to stdout.
fn one_person(args: &SyncArgs, key: &str) -> u8 {
    let started = std::time::Instant::now();
    let (config, program, state) = match run_inputs(args, true) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let today = today_or_now(args.today);
    let options = stroom::sync::ImportOptions::default();
    let synced = match stroom::sync::sync_person(&config, &program, &state, today, key, &options) {
        Ok(s) => s,
        Err(e) => return super::nmbrs::sync_failed(e),
    };
    super::nmbrs::print_problems(&synced.problems, args.all_warnings);
    let p = &synced.person;
    let number = p
        .employee_number
        .map(|n| format!(", number {n}"))
        .unwrap_or_default();
    errln!(
        "[1/3] nmbrs: {} ({}{number}) in {}: {} calls in {:.2} s",
        p.display_name,
        p.id,
        synced.company,
        synced.stats.calls,
        synced.stats.seconds
    );
    let snapshot = synced
        .snapshot
        .map(|s| format!("snapshot {s}"))
        .unwrap_or_else(|| "no snapshot yet".into());
    match (&synced.previous, &synced.mutation) {
        (None, _) => errln!("      new: not in {snapshot}"),
        (Some(_), None) => errln!("      unchanged since {snapshot}"),
        (Some(_), Some(m)) => {
            errln!("      changed since {snapshot}:");
            for c in &m.changes {
                errln!("        {}: {} -> {}", c.field, c.old, c.new);
            }
        }
    }
    let plan = &synced.plan;
    let counts: Vec<String> = plan
        .summary()
        .iter()
        .map(|(op, n)| format!("{n} {op}"))
        .collect();
    errln!(
        "[2/3] plan: {} action(s){} in {:.2} s{}",
        plan.actions.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        },
        synced.plan_seconds,
        if plan.blocked.is_some() {
            "; BLOCKED"
        } else {
            ""
        }
    );
    let code = super::plan::print_plan(plan, std::slice::from_ref(p), args.format);
    if !args.apply {
        errln!("[3/3] not applied: add --apply to carry it out");
        return code;
    }
    if plan.actions.is_empty() {
        errln!("[3/3] nothing to apply");
        return code;
    }
    errln!("[3/3] apply:");
    let hook = stroom::apply::StepHook(std::sync::Arc::new(move |e| {
        let detail = match (e.account, e.error) {
            (_, Some(error)) => format!(": {error}"),
            (Some(account), None) => format!(" ({account})"),
            (None, None) => String::new(),
        };
        errln!(
            "      {:>5.2} s  step {} {} in {}: {}{detail}",
            started.elapsed().as_secs_f64(),
            e.seq,
            e.action,
            e.target,
            e.result
        );
    }));
    let code = apply_made(
        &config,
        args,
        plan,
        &format!("the plan of {}", p.id),
        code,
        Some(hook),
        std::slice::from_ref(p),
    );
    errln!("done in {:.2} s", started.elapsed().as_secs_f64());
    code
}

#[derive(Args)]
pub struct DiffArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The older snapshot (default: the one before --to).
    #[arg(long)]
    pub from: Option<i64>,
    /// The newer snapshot (default: the latest).
    #[arg(long)]
    pub to: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Opens the snapshot store to read it; `None` (said on stderr) when nothing was
/// imported yet: read-only commands create no store.
fn open_store(config: Option<&std::path::Path>) -> Result<Option<Store>, u8> {
    let config = load_config(config)?;
    match Store::open_existing(&config.store.database) {
        Ok(store) => Ok(Some(store)),
        Err(e @ stroom::source::snapshots::StoreError::NotYet { .. }) => {
            errln!("{e}\n  help: run `stroom nmbrs import` (or `stroom sync`) first");
            Ok(None)
        }
        Err(e) => {
            errln!("error: {e}");
            Err(UNUSABLE)
        }
    }
}

pub fn run_diff(args: &DiffArgs) -> u8 {
    let store = match open_store(args.config.as_deref()) {
        Ok(Some(s)) => s,
        Ok(None) => return FAILED,
        Err(code) => return code,
    };
    let list = match store.list() {
        Ok(l) => l,
        Err(e) => {
            errln!("error: {e}");
            return FAILED;
        }
    };
    let to = args.to.or(list.last().map(|s| s.id));
    let from = args.from.or_else(|| {
        let to = to?;
        list.iter().rev().find(|s| s.id < to).map(|s| s.id)
    });
    let (Some(from), Some(to)) = (from, to) else {
        errln!("error: there are fewer than two snapshots to compare\n  help: run `stroom nmbrs import` (or `stroom sync`) at least twice");
        return FAILED;
    };
    let loaded = store
        .persons(from)
        .and_then(|a| Ok((a, store.persons(to)?)));
    let (old, new) = match loaded {
        Ok(pair) => pair,
        Err(e) => {
            errln!("error: {e}");
            return FAILED;
        }
    };
    let mutations = diff(&old, &new);
    match args.format {
        Format::Json => print_json(&serde_json::json!({
            "from": from,
            "to": to,
            "summary": stroom::source::mutations::counts(&mutations),
            "mutations": mutations,
        })),
        Format::Human => {
            out!("{}", render_mutations(from, to, &mutations));
            OK
        }
    }
}

/// The diff for people.
pub fn render_mutations(from: i64, to: i64, mutations: &[Mutation]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "snapshot {from} -> {to}: {} mutations",
        mutations.len()
    );
    for m in mutations {
        let kind = match m.kind {
            MutationKind::Joiner => "joiner",
            MutationKind::Mover => "mover ",
            MutationKind::Leaver => "leaver",
        };
        let reason = m
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{kind} {} {}{reason}", m.person, m.name);
        for c in &m.changes {
            let _ = writeln!(out, "         {}: {} -> {}", c.field, c.old, c.new);
        }
    }
    out
}

#[derive(Args)]
pub struct SnapshotsArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run_snapshots(args: &SnapshotsArgs) -> u8 {
    let list = match open_store(args.config.as_deref()) {
        Ok(Some(store)) => store.list(),
        Ok(None) => Ok(Vec::new()),
        Err(code) => return code,
    };
    match list {
        Ok(list) if args.format == Format::Json => print_json(&list),
        Ok(list) => {
            outln!(
                "{:>5}  {:<20}  {:<20}  {:>8}  {:>7}  approved",
                "id",
                "taken",
                "confirmed",
                "persons",
                "carried"
            );
            for s in list {
                outln!(
                    "{:>5}  {:<20}  {:<20}  {:>8}  {:>7}  {}",
                    s.id,
                    s.taken_at,
                    s.confirmed_at,
                    s.persons,
                    s.carried,
                    if s.approved { "yes" } else { "" }
                );
            }
            OK
        }
        Err(e) => {
            errln!("error: {e}");
            FAILED
        }
    }
}
