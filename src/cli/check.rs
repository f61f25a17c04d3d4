//! `stroom check`

use super::{diagnostics_json, eprint_diagnostics, print_json, Format, FAILED, OK, UNUSABLE};
use std::path::PathBuf;

pub fn run(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    config: Option<&std::path::Path>,
) -> u8 {
    let targets = match super::target_decls(config) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let parsed = match stroom::rules::load::load_paths(paths) {
        Ok(p) => p,
        Err(e) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
    };
    let files = parsed.sources.files().len();
    let checked = stroom::rules::check::check_for(parsed, &targets);
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diagnostics.len() - errors;
    match format {
        Format::Json => {
            print_json(&diagnostics_json(&checked));
        }
        Format::Human => {
            // Diagnostics are a report, not data: stderr, as rustc and cargo do.
            eprint_diagnostics(&checked, &checked.diagnostics);
            let rules = checked
                .program
                .as_ref()
                .map_or(0, |p| p.statements.len() + p.accounts.len());
            if errors == 0 {
                errln!("checked {files} file(s): {rules} statement(s), {warnings} warning(s), no errors");
            } else {
                errln!("checked {files} file(s): {errors} error(s), {warnings} warning(s)");
            }
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        FAILED
    } else {
        OK
    }
}
