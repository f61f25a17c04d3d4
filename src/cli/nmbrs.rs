//! `stroom nmbrs login`, `stroom nmbrs import`, and the import step `stroom sync`
//! shares.

use super::{print_json, Format, BLOCKED, FAILED, OK, UNUSABLE};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stroom::config::Config;
use stroom::source::nmbrs::normalize::{ProblemLevel, RecordProblem};
use stroom::sync::{ImportOptions, ImportRun, SyncError};

#[derive(Subcommand)]
pub enum NmbrsCommand {
    /// Sign in once in a browser; the refresh token is kept for unattended runs.
    Login(LoginArgs),
    /// Read every person from Nmbrs, store a snapshot, write the persons file.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct LoginArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300)]
    pub wait: u64,
}

#[derive(Args, Clone)]
pub struct ImportArgs {
    /// Configuration file (default: ./stroom.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the persons (JSON Lines); default: sync.persons_out.
    #[arg(long)]
    pub persons_out: Option<PathBuf>,
    /// Store the snapshot even if more persons are gone than store.max_gone_percent.
    #[arg(long)]
    pub approve: bool,
    /// Print every warning, not one line per kind of warning.
    #[arg(long)]
    pub all_warnings: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(command: &NmbrsCommand) -> u8 {
    match command {
        NmbrsCommand::Login(args) => login(args),
        NmbrsCommand::Import(args) => {
            let config = match load_config(args.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match import_and_store(
                &config,
                args.approve,
                args.persons_out.as_ref(),
                args.all_warnings,
            ) {
                Ok(run) => {
                    if args.format == Format::Json {
                        print_json(&run.json())
                    } else {
                        errln!("{}", run.summary());
                        OK
                    }
                }
                Err(code) => code,
            }
        }
    }
}

/// Loads `stroom.toml`, printing problems.
pub fn load_config(path: Option<&std::path::Path>) -> Result<Config, u8> {
    Config::load(path).map_err(|e| {
        errln!("error: {e}");
        UNUSABLE
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    stroom::http::runtime().map_err(|e| {
        errln!("error: cannot start the async runtime: {e}");
        UNUSABLE
    })
}

fn login(args: &LoginArgs) -> u8 {
    use stroom::source::nmbrs::login::Loopback;
    let config = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let oauth = match config.oauth() {
        Ok(o) => o,
        Err(e) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let loopback = match Loopback::open(&oauth).await {
            Ok(l) => l,
            Err(e) => {
                errln!("error: {e}");
                return UNUSABLE;
            }
        };
        outln!(
            "Open this address in a browser and consent:\n{}",
            loopback.url
        );
        errln!("waiting for the redirect to {} ...", oauth.redirect_uri);
        let saved = match loopback
            .finish(&oauth, Duration::from_secs(args.wait))
            .await
        {
            Ok(tokens) => config.token_store().save(&tokens),
            Err(e) => {
                errln!("error: {e}");
                return FAILED;
            }
        };
        match saved {
            Ok(()) => {
                errln!(
                    "signed in; tokens kept in {} (mode 0600)",
                    config.token_store().path().display()
                );
                OK
            }
            Err(e) => {
                errln!("error: {e}");
                FAILED
            }
        }
    })
}

fn progress_hook(bar: &ProgressBar) -> stroom::source::nmbrs::client::PageHook {
    let seen: Arc<Mutex<HashMap<String, (u64, u64)>>> = Arc::default();
    let bar = bar.clone();
    Arc::new(move |endpoint: &str, got: u64, total: u64| {
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(endpoint.to_string(), (got, total));
        // The total grows as lists are discovered, so a bar would keep running away: a
        // spinner with counts tells the truth.
        let done: u64 = seen.values().map(|(g, _)| g).sum();
        bar.set_position(done);
        bar.set_message(format!("{} lists", seen.len()));
    })
}

/// The kind of a warning: its field and message with the numbers and quoted values
/// (names, addresses) taken out, so warnings that differ only in those count as one.
fn warning_kind(p: &RecordProblem) -> String {
    let mut out = format!("`{}`: ", p.field.split('[').next().unwrap_or(&p.field));
    let mut in_quote = false;
    let mut last_digit = false;
    for c in p.message.chars() {
        if c == '"' {
            if !in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
            continue;
        }
        if in_quote {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        out.push(c);
    }
    out
}

/// Imports, applies the source threshold and stores the snapshot
/// ([`stroom::sync`]); shows progress and prints problems.
pub fn import_and_store(
    config: &Config,
    approve: bool,
    persons_out: Option<&PathBuf>,
    all_warnings: bool,
) -> Result<ImportRun, u8> {
    if let Some(w) = config.token_store().warning() {
        errln!("warning: {w}");
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(
            "{spinner} reading Nmbrs: {pos} records from {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let options = ImportOptions {
        approve,
        persons_out: persons_out.cloned(),
        page_hook: Some(progress_hook(&bar)),
        env: None,
    };
    let imported = stroom::sync::import_from_nmbrs(config, &options);
    bar.finish_and_clear();
    let imported = imported.map_err(sync_failed)?;
    print_problems(&imported.normalized.problems, all_warnings);
    let run = stroom::sync::store_import(config, imported, &options).map_err(sync_failed)?;
    for w in &run.warnings {
        errln!("warning: {w}");
    }
    Ok(run)
}

/// Prints a failed sync step; its exit status.
pub fn sync_failed(e: SyncError) -> u8 {
    match e {
        SyncError::Blocked(_) => {
            errln!("blocked: {e}");
            BLOCKED
        }
        SyncError::Config(_) | SyncError::Runtime(_) | SyncError::OpenStore(_) => {
            errln!("error: {e}");
            UNUSABLE
        }
        SyncError::Import(_)
        | SyncError::Store(_)
        | SyncError::Write { .. }
        | SyncError::Read { .. }
        | SyncError::NotInNmbrs { .. }
        | SyncError::Ambiguous { .. }
        | SyncError::Unusable { .. } => {
            errln!("error: {e}");
            FAILED
        }
    }
}

/// Every skipped person is named; warnings of one kind are said once per run, with
/// their count and a few employees, so a large tenant's run (and every tick of
/// `--every`) stays readable. `--all-warnings` or `--format json` list them all.
pub fn print_problems(problems: &[RecordProblem], all_warnings: bool) {
    let mut kinds: Vec<(String, Vec<&RecordProblem>)> = Vec::new();
    for p in problems {
        if p.severity != ProblemLevel::Warning || all_warnings {
            errln!("{p}");
            continue;
        }
        let kind = warning_kind(p);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, list)) => list.push(p),
            None => kinds.push((kind, vec![p])),
        }
    }
    for (kind, list) in &kinds {
        match list.as_slice() {
            [one] => errln!("{one}"),
            many => {
                let first: Vec<String> = many
                    .iter()
                    .take(3)
                    .map(|p| match p.employee_number {
                        Some(n) => format!("{} (number {n})", p.employee_id),
                        None => p.employee_id.clone(),
                    })
                    .collect();
                errln!(
                    "warning: {} employees: {kind} (e.g. {}; `--all-warnings` lists them)",
                    many.len(),
                    first.join(", ")
                );
            }
        }
    }
}
