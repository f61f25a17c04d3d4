//! Command-line interface: argument parsing and the commands. Library code never
//! prints; everything shown to the user is written here.

mod apply;
mod check;
mod explain;
mod fmt;
mod nmbrs;
mod plan;
mod reconcile;
mod state;
mod sync;
mod test;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use stroom::rules::check::Checked;
use stroom::rules::diagnostic::{render_human, to_json, Diagnostic};

/// Stroom: HR-driven identity provisioning from Visma Nmbrs, from plain-text rules.
#[derive(Parser)]
#[command(name = "stroom", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format for data.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Human,
    /// For tools.
    Json,
}

/// Output format of `stroom plan`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// An aligned table for people.
    Table,
    /// The plan document (schemas/plan.schema.json).
    Json,
    /// A self-contained HTML page for people (no network needed to view it).
    Html,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule files and report every problem (alias: lint).
    #[command(alias = "lint")]
    Check {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit 1).
        #[arg(long)]
        deny_warnings: bool,
        /// stroom.toml, whose `[targets.NAME]` sections the rules may name (default:
        /// ./stroom.toml when there is one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also check `set` lines against the schema each SCIM application the rules
        /// make accounts in announces (its /ResourceTypes and /Schemas).
        #[arg(long)]
        online: bool,
    },
    /// Evaluate the rules against persons and current state; print the ordered plan.
    Plan(plan::PlanArgs),
    /// Show why each rule fired or did not fire for one person.
    Explain(explain::ExplainArgs),
    /// Format rule files canonically (comments kept).
    Fmt {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
        /// Output format of the file list.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Serve the Language Server Protocol over stdio, for editors (diagnostics, hover,
    /// completion, definitions, references, outline, formatting, quick fixes).
    Lsp,
    /// Run rule test files (*.stroomtest.toml): expected entitlements per person.
    Test(test::TestArgs),
    /// Nmbrs: sign in, import.
    #[command(subcommand)]
    Nmbrs(nmbrs::NmbrsCommand),
    /// Import from Nmbrs, store a snapshot, show the mutations and plan.
    Sync(sync::SyncArgs),
    /// Joiners, movers and leavers between two snapshots.
    Diff(sync::DiffArgs),
    /// List the stored snapshots.
    Snapshots(sync::SnapshotsArgs),
    /// Carry out a plan through the configured targets (resumable, audited).
    Apply(apply::ApplyArgs),
    /// Read what the targets really hold; report linked, matched, ambiguous, missing,
    /// conflicting and unmanaged accounts and drift; plan adoption and enforcement.
    Reconcile(reconcile::ReconcileArgs),
    /// The state store: import a JSON state file, export it again.
    #[command(subcommand)]
    State(state::StateCommand),
}

/// Runs the command line and returns the process status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
            config,
            online,
        } => check::run(&paths, format, deny_warnings, config.as_deref(), online),
        Command::Plan(args) => plan::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Fmt {
            paths,
            check,
            format,
        } => fmt::run(&paths, check, format),
        Command::Lsp => match stroom::lsp::serve_stdio() {
            Ok(()) => OK,
            Err(e) => {
                errln!("error: {e}");
                UNUSABLE
            }
        },
        Command::Test(args) => test::run(&args),
        Command::Nmbrs(command) => nmbrs::run(&command),
        Command::Sync(args) => sync::run(&args),
        Command::Diff(args) => sync::run_diff(&args),
        Command::Snapshots(args) => sync::run_snapshots(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::State(command) => state::run(&command),
    };
    ExitCode::from(crate::out::exit_status(code))
}

/// Exit status: success.
pub const OK: u8 = 0;
/// Exit status: problems in the input (rules, data) or failed tests.
pub const FAILED: u8 = 1;
/// Exit status: the command could not run (unreadable file, bad arguments).
pub const UNUSABLE: u8 = 2;
/// Exit status: the plan is blocked by a threshold or constraint.
pub const BLOCKED: u8 = 3;
/// Exit status: applied in part; some persons wait for something on its way (a new
/// mailbox): run again later, the journal resumes.
pub const WAITING: u8 = 4;
/// Exit status: `stroom plan --compare-rules`: the rule change changes the plan.
pub const CHANGES: u8 = 5;

fn color(stream_is_tty: bool) -> bool {
    stream_is_tty && std::env::var_os("NO_COLOR").is_none()
}

/// Prints diagnostics to stderr for people.
pub fn eprint_diagnostics(checked: &Checked, diags: &[Diagnostic]) {
    err!(
        "{}",
        render_human(
            diags,
            &checked.sources,
            color(std::io::stderr().is_terminal())
        )
    );
}

/// The targets rules may name: the built-in ones and the `[targets.NAME]` sections of
/// the configuration (`path`, or ./stroom.toml when there is one).
pub fn target_decls(
    path: Option<&std::path::Path>,
) -> Result<Vec<stroom::rules::program::TargetDecl>, u8> {
    nmbrs::load_config(path).map(|c| c.target_decls())
}

/// Loads and checks rule paths for these targets; prints problems to stderr.
pub fn load_program(
    paths: &[PathBuf],
    targets: &[stroom::rules::program::TargetDecl],
) -> Result<stroom::rules::program::Program, u8> {
    let parsed = match stroom::rules::load::load_paths(paths) {
        Ok(p) => p,
        Err(e) => {
            errln!("error: {e}");
            return Err(UNUSABLE);
        }
    };
    let checked = stroom::rules::check::check_for(parsed, targets);
    let errors: Vec<Diagnostic> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        eprint_diagnostics(&checked, &errors);
        // Every error was shown above; warnings are `stroom check`'s business.
        errln!(
            "error: the rules have {} error(s), shown above; nothing was planned",
            errors.len()
        );
        return Err(FAILED);
    }
    checked.program.ok_or(FAILED)
}

/// Prints a JSON value to stdout.
/// Prints a JSON value to stdout, streamed: a plan of millions of actions is never
/// held as one string.
pub fn print_json<T: serde::Serialize>(value: &T) -> u8 {
    use std::io::Write;
    if crate::out::stdout_closed() {
        return OK;
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 18, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    // A closed pipe ends quietly; other failures are reported and give exit status 2.
    crate::out::note_stdout(written);
    OK
}

/// Renders diagnostics as JSON.
pub fn diagnostics_json(checked: &Checked) -> serde_json::Value {
    serde_json::json!({
        "errors": checked.diagnostics.iter().filter(|d| d.is_error()).count(),
        "warnings": checked.diagnostics.iter().filter(|d| !d.is_error()).count(),
        "diagnostics": to_json(&checked.diagnostics, &checked.sources),
    })
}
