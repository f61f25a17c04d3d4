//! `stroom check`

use super::{color, diagnostics_json, print_json, Format, FAILED, OK, UNUSABLE};
use std::io::IsTerminal;
use std::path::PathBuf;
use stroom::rules::diagnostic::render_human;

pub fn run(paths: &[PathBuf], format: Format, deny_warnings: bool) -> u8 {
    let parsed = match stroom::rules::load::load_paths(paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return UNUSABLE;
        }
    };
    let files = parsed.sources.files().len();
    let checked = stroom::rules::check::check(parsed);
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diagnostics.len() - errors;
    match format {
        Format::Json => {
            print_json(&diagnostics_json(&checked));
        }
        Format::Human => {
            print!(
                "{}",
                render_human(
                    &checked.diagnostics,
                    &checked.sources,
                    color(std::io::stdout().is_terminal())
                )
            );
            let rules = checked
                .program
                .as_ref()
                .map_or(0, |p| p.statements.len() + p.accounts.len());
            if errors == 0 {
                println!("checked {files} file(s): {rules} statement(s), {warnings} warning(s), no errors");
            } else {
                println!("checked {files} file(s): {errors} error(s), {warnings} warning(s)");
            }
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        FAILED
    } else {
        OK
    }
}
