//! `stroom plan`

use super::{load_program, print_json, PlanFormat, BLOCKED, FAILED, OK, UNUSABLE};
use chrono::NaiveDate;
use clap::Args;
use std::path::{Path, PathBuf};
use stroom::model::{Person, State};
use stroom::plan::{build_plan, plan_outline, render_table, write_plan_json, PlanInput};
use stroom::rules::program::Program;

#[derive(Args)]
pub struct PlanArgs {
    /// Rule file or directory.
    #[arg(long, required = true)]
    pub rules: Vec<PathBuf>,
    /// Persons file (JSON array or JSON Lines).
    #[arg(long)]
    pub persons: PathBuf,
    /// Current state file; without it nothing is provisioned yet.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Evaluation date (YYYY-MM-DD); default: today.
    #[arg(long, value_parser = parse_date)]
    pub today: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,
    /// Configuration file for `[plan]` (default: ./stroom.toml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Parses `--today`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date; write YYYY-MM-DD"))
}

/// The evaluation date: the flag, or today's date in the Netherlands (HR dates are
/// Dutch local dates, whatever the time zone of the machine).
pub fn today_or_now(today: Option<NaiveDate>) -> NaiveDate {
    today.unwrap_or_else(|| stroom::model::dutch_date(chrono::Utc::now()))
}

fn read(path: &Path) -> Result<String, u8> {
    stroom::files::read_text(path).map_err(|e| {
        errln!("error: cannot read {}: {e}", path.display());
        UNUSABLE
    })
}

/// Reads and validates a persons file, printing problems.
pub fn load_persons(path: &Path) -> Result<Vec<Person>, u8> {
    let text = read(path)?;
    stroom::source::persons::parse_persons(&path.display().to_string(), &text).map_err(|e| {
        err!("{e}");
        errln!(
            "error: the persons file has {} problem(s); nothing was planned",
            e.0.len()
        );
        FAILED
    })
}

/// Reads a state file or store (none: empty state), printing problems.
pub fn load_state(path: Option<&Path>) -> Result<State, u8> {
    let Some(path) = path else {
        return Ok(State::default());
    };
    if stroom::source::state_store::is_state_store(path) {
        return super::state::read_store(path);
    }
    let text = read(path)?;
    stroom::source::state::parse_state(&path.display().to_string(), &text).map_err(|e| {
        errln!("error: {e}");
        FAILED
    })
}

/// Loads and checks the rules, then reads the persons; problems are printed.
pub fn load_rules_and_persons(
    rules: &[PathBuf],
    persons: &Path,
    config: &stroom::config::Config,
) -> Result<(Program, Vec<Person>), u8> {
    let program = load_program(rules, &config.target_decls())?;
    let persons = load_persons(persons)?;
    Ok((program, persons))
}

/// What a plan is made from, as the command line names it: the configuration (for
/// the targets and the removal guard), the checked rules, the persons and the state;
/// problems are printed.
pub fn load_inputs(
    rules: &[PathBuf],
    persons: &Path,
    state: Option<&Path>,
    config: Option<&Path>,
) -> Result<(stroom::config::Config, Program, Vec<Person>, State), u8> {
    let config = super::nmbrs::load_config(config)?;
    let (mut program, persons) = load_rules_and_persons(rules, persons, &config)?;
    program.removal_guard = config.plan.removal_guard();
    let state = load_state(state)?;
    Ok((config, program, persons, state))
}

pub fn run(args: &PlanArgs) -> u8 {
    let (_, program, persons, state) = match load_inputs(
        &args.rules,
        &args.persons,
        args.state.as_deref(),
        args.config.as_deref(),
    ) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let input = PlanInput {
        program: &program,
        persons: &persons,
        state: &state,
        today: today_or_now(args.today),
    };
    match args.format {
        PlanFormat::Table => print_plan(&build_plan(&input), args.format),
        // Written while it is made: a plan of millions of actions is never held whole.
        PlanFormat::Json => {
            let outline = plan_outline(&input);
            if !crate::out::stdout_closed() {
                use std::io::Write;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
                let written = write_plan_json(&outline, &mut out).and_then(|()| out.flush());
                crate::out::note_stdout(written);
            }
            blocked_status(outline.blocked.as_ref())
        }
    }
}

/// Prints a plan (table or JSON) and returns the exit status: 3 when it is blocked.
pub fn print_plan(plan: &stroom::plan::Plan, format: PlanFormat) -> u8 {
    let code = match format {
        PlanFormat::Json => print_json(plan),
        PlanFormat::Table => {
            out!("{}", render_table(plan));
            OK
        }
    };
    if code != OK {
        return code;
    }
    blocked_status(plan.blocked.as_ref())
}

/// 3 (with the reason on stderr) when the plan is blocked, else 0.
pub fn blocked_status(blocked: Option<&stroom::plan::Blocked>) -> u8 {
    if let Some(b) = blocked {
        errln!("blocked: {}", b.message());
        return BLOCKED;
    }
    OK
}
