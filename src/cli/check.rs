//! `stroom check`

use super::{diagnostics_json, eprint_diagnostics, print_json, Format, FAILED, OK, UNUSABLE};
use std::path::PathBuf;
use std::sync::Arc;
use stroom::rules::program::TargetDecl;

pub fn run(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    config: Option<&std::path::Path>,
    online: bool,
) -> u8 {
    let mut targets = match super::target_decls(config) {
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
    let mut checked = stroom::rules::check::check_for(parsed.clone(), &targets);
    if online {
        match ask_schemas(config, &checked, &mut targets) {
            Ok(true) => checked = stroom::rules::check::check_for(parsed, &targets),
            Ok(false) => {}
            Err(code) => return code,
        }
    }
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

/// `--online`: asks every target the rules make accounts in, of a kind that announces
/// its schema, what its accounts take, and sets it on its declaration. True when one
/// answered (the rules are then checked again). A target that cannot be asked stops
/// the check: a schema that was asked for is never quietly skipped.
fn ask_schemas(
    config: Option<&std::path::Path>,
    checked: &stroom::rules::check::Checked,
    targets: &mut [TargetDecl],
) -> Result<bool, u8> {
    let Some(program) = &checked.program else {
        errln!("note: --online: no application was asked, the rules have errors");
        return Ok(false);
    };
    let mut asked: Vec<usize> = program
        .accounts
        .iter()
        .map(|a| a.target as usize)
        .filter(|&t| program.targets[t].kind.announces_schema())
        .collect();
    asked.sort_unstable();
    asked.dedup();
    if asked.is_empty() {
        errln!("note: --online: the rules make accounts in no application that announces a schema");
        return Ok(false);
    }
    let config = super::nmbrs::load_config(config)?;
    let mut answered = false;
    for t in asked {
        let name = program.targets[t].name.clone();
        let target = match config.target(&name) {
            Ok(Some(target)) => target,
            Ok(None) => {
                errln!("note: {name}: stroom.toml has no [targets.{name}] section, so it was not asked");
                continue;
            }
            Err(e) => {
                errln!("error: {e}");
                return Err(UNUSABLE);
            }
        };
        let schema = target.schema().map_err(|e| {
            errln!("error: --online: {e}");
            if !e.message.contains("help:") {
                errln!("  help: check base_url in [targets.{name}] and that the application is up, or check without --online");
            }
            UNUSABLE
        })?;
        let Some(decl) = targets.iter_mut().find(|d| d.name == name) else {
            continue;
        };
        match schema {
            Some(schema) => {
                errln!(
                    "note: {name}: {} announces {} of the {} attributes a {} target maps",
                    schema.source,
                    schema.attributes.len(),
                    decl.kind.known_attributes().len(),
                    decl.kind
                );
                decl.schema = Some(Arc::new(schema));
                answered = true;
            }
            None => errln!(
                "note: {name}: the application publishes no /Schemas; `set` lines are checked \
                 against what a {} target maps",
                decl.kind
            ),
        }
    }
    Ok(answered)
}
