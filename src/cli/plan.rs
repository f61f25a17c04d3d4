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
    /// Show what a rule change changes: the rules as they were (a file, a directory,
    /// or `git:REV` for the --rules paths at that revision of their repository) against
    /// --rules, on the same persons, state and date. Exit 0: no change; 5: changes.
    #[arg(long, value_name = "OLD")]
    pub compare_rules: Option<String>,
    /// Show only this person's actions (id, employee number or name); the plan is made
    /// for everyone, so numbers and limits are the whole plan's.
    #[arg(long)]
    pub person: Option<String>,
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
    if let Some(old) = &args.compare_rules {
        return compare(args, old, &input);
    }
    if let Some(who) = &args.person {
        let person = match stroom::model::person::find_person(&persons, who) {
            Ok(p) => p,
            Err(e) => {
                errln!("error: {e} in {}", args.persons.display());
                return FAILED;
            }
        };
        let plan = stroom::plan::plan_for_person(build_plan(&input), &input, &person.id);
        errln!(
            "the actions of {} ({}) only",
            person.id,
            person.display_name
        );
        return print_plan(&plan, &persons, args.format);
    }
    match args.format {
        PlanFormat::Table | PlanFormat::Html => {
            print_plan(&build_plan(&input), &persons, args.format)
        }
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

/// Prints a plan (table, JSON or HTML) and returns the exit status: 3 when it is
/// blocked.
pub fn print_plan(plan: &stroom::plan::Plan, persons: &[Person], format: PlanFormat) -> u8 {
    let code = match format {
        PlanFormat::Json => print_json(plan),
        PlanFormat::Html => {
            out!("{}", stroom::plan::render_html(plan, persons));
            OK
        }
        PlanFormat::Table => {
            out!("{}", render_table(plan, persons));
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

/// `stroom plan --compare-rules OLD`: both plans, and what differs.
fn compare(args: &PlanArgs, old: &str, new: &PlanInput) -> u8 {
    let config = match super::nmbrs::load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut program = match old_rules(old, &args.rules, &config.target_decls()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    program.removal_guard = new.program.removal_guard;
    let comparison = stroom::plan::compare::compare_rules(&program, new);
    let code = match args.format {
        PlanFormat::Json => print_json(&comparison),
        PlanFormat::Html => {
            out!("{}", comparison.render_html());
            OK
        }
        PlanFormat::Table => {
            out!("{}", comparison.render());
            OK
        }
    };
    match (code, comparison.changes) {
        (OK, true) => super::CHANGES,
        (code, _) => code,
    }
}

/// The rules as they were: a file or directory, or `git:REV` (the --rules paths at
/// that revision of their git repository, read with `git show`). Their files are
/// named `REV:path` in what the comparison cites.
fn old_rules(
    old: &str,
    rules: &[PathBuf],
    targets: &[stroom::rules::program::TargetDecl],
) -> Result<Program, u8> {
    let Some(rev) = old.strip_prefix("git:") else {
        errln!("the rules as they were: {old}");
        return super::load_program(&[PathBuf::from(old)], targets);
    };
    let copy = std::env::temp_dir().join(format!(
        "stroom-rules-{}-{:x}",
        std::process::id(),
        stroom::random::random_u64()
    ));
    let result = checkout(rev, rules, &copy).and_then(|paths| {
        errln!("the rules as they were: git revision {rev}");
        let mut program = super::load_program(&paths, targets)?;
        let prefix = format!("{}/", copy.display());
        for o in &mut program.origins {
            if let Some(rest) = o.file.strip_prefix(&prefix) {
                o.file = format!("{rev}:{rest}").into();
            }
        }
        Ok(program)
    });
    let _ = std::fs::remove_dir_all(&copy);
    result
}

/// Writes the `.stroom` files of `rules` at `rev` under `into` (their paths relative
/// to the repository); returns the paths to load there.
fn checkout(rev: &str, rules: &[PathBuf], into: &Path) -> Result<Vec<PathBuf>, u8> {
    let git = |dir: &Path, args: &[&str]| -> Result<Vec<u8>, String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    };
    let failed = |e: String| {
        errln!("error: --compare-rules git:{rev}: {e}");
        errln!("  help: give a revision of the repository the --rules paths are in (git:HEAD, git:main~1, a tag), or a file or folder");
        UNUSABLE
    };
    let mut out = Vec::new();
    for path in rules {
        let absolute =
            std::fs::canonicalize(path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        let dir = if absolute.is_dir() {
            absolute.clone()
        } else {
            absolute.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let top = git(&dir, &["rev-parse", "--show-toplevel"]).map_err(failed)?;
        let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
        let relative = absolute
            .strip_prefix(&top)
            .map_err(|_| {
                failed(format!(
                    "{} is not in the repository at {}",
                    path.display(),
                    top.display()
                ))
            })?
            .to_path_buf();
        let listed = git(
            &top,
            &[
                "ls-tree",
                "-r",
                "--name-only",
                rev,
                "--",
                &relative.to_string_lossy(),
            ],
        )
        .map_err(failed)?;
        let files: Vec<String> = String::from_utf8_lossy(&listed)
            .lines()
            .filter(|f| f.ends_with(".stroom"))
            .map(str::to_string)
            .collect();
        if files.is_empty() {
            return Err(failed(format!(
                "{} has no .stroom file at {rev}",
                relative.display()
            )));
        }
        for f in &files {
            let text = git(&top, &["show", &format!("{rev}:{f}")]).map_err(failed)?;
            let target = into.join(f);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| failed(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&target, text)
                .map_err(|e| failed(format!("{}: {e}", target.display())))?;
        }
        out.push(into.join(relative));
    }
    Ok(out)
}
