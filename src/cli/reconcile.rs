//! `stroom reconcile`

use super::plan::{load_inputs, parse_date, today_or_now};
use super::{print_json, PlanFormat, BLOCKED, FAILED, OK, UNUSABLE};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use stroom::model::live::Inventory;
use stroom::reconcile::{reconcile, ReconcileInput, Report, Situation};
use stroom::targets::Target;

#[derive(Args)]
pub struct ReconcileArgs {
    /// Rule file or directory.
    #[arg(long, required = true)]
    pub rules: Vec<PathBuf>,
    /// Persons file (JSON array or JSON Lines).
    #[arg(long)]
    pub persons: PathBuf,
    /// Stroom's state: adoption records only the accounts it lacks.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Configuration file with the targets (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Evaluation date (YYYY-MM-DD); default: today.
    #[arg(long, value_parser = parse_date)]
    pub today: Option<NaiveDateArg>,
    /// Targets to read (default: every configured target the rules make accounts in).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Report only this person (id, employee number or name).
    #[arg(long)]
    pub person: Option<String>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
    /// Put `link_account` actions for every matched account in the plan.
    #[arg(long)]
    pub adopt: bool,
    /// Write the plan (adoption with --adopt, and what the policy enforces) here, for
    /// `stroom apply`.
    #[arg(long)]
    pub plan_out: Option<PathBuf>,
    /// Read the targets from this file (written by --save-inventory) instead of
    /// asking them.
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Save what was read from the targets here (JSON).
    #[arg(long)]
    pub save_inventory: Option<PathBuf>,
}

type NaiveDateArg = chrono::NaiveDate;

pub fn run(args: &ReconcileArgs) -> u8 {
    if args.adopt && args.plan_out.is_none() {
        errln!("error: --adopt makes a plan: say where with --plan-out FILE, then carry it out with stroom apply --plan FILE");
        return UNUSABLE;
    }
    let (config, program, persons, state) = match load_inputs(
        &args.rules,
        &args.persons,
        args.state.as_deref(),
        args.config.as_deref(),
    ) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let (inventories, notes) = match &args.inventory {
        Some(path) => match read_inventory_file(path) {
            Ok(i) => (i, Vec::new()),
            Err(code) => return code,
        },
        None => match read_targets(&config, &program, &args.targets) {
            Ok(read) => read,
            Err(code) => return code,
        },
    };
    if let Some(path) = &args.save_inventory {
        let written = serde_json::to_vec(&inventories)
            .map_err(std::io::Error::from)
            .and_then(|bytes| stroom::files::write_atomic(path, &bytes));
        if let Err(e) = written {
            errln!("error: cannot write {}: {e}", path.display());
            return UNUSABLE;
        }
    }
    // `--person` takes an id, an employee number or a name.
    let only: Option<String> = match args.person.as_deref() {
        None => None,
        Some(who) => match stroom::model::person::find_person(&persons, who) {
            Ok(p) => Some(p.id.to_string()),
            Err(e) => {
                errln!("error: --person: {e} in {}", args.persons.display());
                return FAILED;
            }
        },
    };
    let policy = config.reconcile_policy();
    let input = ReconcileInput {
        program: &program,
        persons: &persons,
        today: today_or_now(args.today),
        inventories: &inventories,
        policy: &policy,
        state: &state,
        only_person: only.as_deref(),
    };
    let done = reconcile(&input);
    let mut report = done.report.clone();
    report.notes.splice(0..0, notes);
    let code = match args.format {
        PlanFormat::Json => print_json(&report),
        PlanFormat::Html => {
            out!("{}", report.render_html());
            OK
        }
        PlanFormat::Table => {
            out!("{}", render_report(&report));
            OK
        }
    };
    if code != OK {
        return code;
    }
    if let Some(path) = &args.plan_out {
        let plan = done.plan(&input, args.adopt);
        let written = serde_json::to_vec_pretty(&plan)
            .map_err(std::io::Error::from)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                stroom::files::write_atomic(path, &bytes)
            });
        if let Err(e) = written {
            errln!("error: cannot write {}: {e}", path.display());
            return UNUSABLE;
        }
        let links = plan
            .actions
            .iter()
            .filter(|a| a.op == stroom::rules::program::OpKind::Link)
            .count();
        errln!(
            "plan: {} action(s) in {} ({links} link_account); carry it out with stroom apply --plan {}",
            plan.actions.len(),
            path.display(),
            path.display()
        );
        if let Some(b) = &plan.blocked {
            errln!("blocked: {}", b.message());
            return BLOCKED;
        }
    }
    if report.is_clean() {
        OK
    } else {
        FAILED
    }
}

fn read_inventory_file(path: &std::path::Path) -> Result<Vec<Inventory>, u8> {
    let text = stroom::files::read_text(path).map_err(|e| {
        errln!("error: cannot read {}: {e}", path.display());
        UNUSABLE
    })?;
    stroom::reconcile::parse_inventories(&path.display().to_string(), &text).map_err(|e| {
        errln!("error: {e}");
        FAILED
    })
}

/// Reads the chosen targets (default: the configured ones the rules make accounts in).
fn read_targets(
    config: &stroom::config::Config,
    program: &stroom::rules::program::Program,
    chosen: &[String],
) -> Result<(Vec<Inventory>, Vec<String>), u8> {
    let built = config.targets().map_err(|e| {
        errln!("error: {e}");
        UNUSABLE
    })?;
    let names: Vec<String> = if chosen.is_empty() {
        stroom::sync::reconciled_targets(&built, program)
    } else {
        chosen.to_vec()
    };
    if names.is_empty() {
        errln!("error: no target to read: the configuration has no [targets.NAME] section whose accounts the rules make");
        errln!("  help: configure the targets in stroom.toml (see the book, Targets and apply), or name one with --target");
        return Err(UNUSABLE);
    }
    let mut targets: Vec<(&str, &dyn Target)> = Vec::new();
    for n in &names {
        match built.get(n) {
            Some(t) => targets.push((n.as_str(), t.as_ref())),
            None => {
                let mut known: Vec<&str> = built.keys().map(String::as_str).collect();
                known.sort_unstable();
                errln!("error: --target {n}: stroom.toml configures no such target");
                errln!("  help: the configured targets are {}", known.join(", "));
                return Err(UNUSABLE);
            }
        }
    }
    errln!("reading {} ...", names.join(", "));
    stroom::targets::read_inventories(program, &targets).map_err(|(name, e)| {
        errln!("error: target `{name}`: {e}");
        errln!("  nothing was reconciled; fix the connection and run again");
        UNUSABLE
    })
}

/// The report for people: per target the counts, then what needs a look.
pub fn render_report(report: &Report) -> String {
    let mut s = String::new();
    for t in &report.targets {
        let c = &t.counts;
        let _ = writeln!(
            s,
            "{}: {} account(s) read in {} request(s)",
            t.target, c.accounts, t.calls
        );
        let _ = writeln!(
            s,
            "  linked {}, matched {}, ambiguous {}, missing {}, conflict {}, unmanaged {}, excluded {}, drift {}",
            c.linked, c.matched, c.ambiguous, c.missing, c.conflict, c.unmanaged, c.excluded, c.drift
        );
        for situation in Situation::REPORT_ORDER {
            let rows: Vec<_> = t
                .persons
                .iter()
                .filter(|p| p.situation == situation)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(s, "  {}:", situation.as_str());
            for p in rows {
                let number = p
                    .employee_number
                    .map(|n| format!(" #{n}"))
                    .unwrap_or_default();
                let account = p
                    .account
                    .as_ref()
                    .map(|a| format!(" -> {}", a.name))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "    {} {}{number}{account}: {}",
                    p.person, p.name, p.detail
                );
                for c in &p.candidates {
                    let _ = writeln!(s, "      candidate {} ({})", c.name, c.id);
                }
            }
        }
        if !t.unmanaged.is_empty() {
            let _ = writeln!(s, "  unmanaged:");
            for u in &t.unmanaged {
                let enabled = match u.account.enabled {
                    Some(true) => "enabled",
                    Some(false) => "disabled",
                    None => "state unknown",
                };
                let _ = writeln!(
                    s,
                    "    {} ({enabled}, created {}, last logon {}): {}",
                    u.account.name,
                    u.created.as_deref().unwrap_or("unknown"),
                    u.last_logon.as_deref().unwrap_or("never or unknown"),
                    u.detail
                );
            }
        }
        if !t.drift.is_empty() {
            let _ = writeln!(s, "  drift:");
            for d in &t.drift {
                let what = d.what.describe();
                let enforced = d.marker();
                let _ = writeln!(
                    s,
                    "    {} {} ({}): {what}{enforced}",
                    d.person, d.person_name, d.account
                );
            }
        }
        if !t.excluded.is_empty() {
            let _ = writeln!(s, "  excluded:");
            for e in &t.excluded {
                let until = e.until.map(|u| format!(" until {u}")).unwrap_or_default();
                let why = e
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let _ = writeln!(s, "    {}{until}{why}", e.account.name);
            }
        }
    }
    for n in &report.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
