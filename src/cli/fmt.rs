//! `stroom fmt`

use super::{print_json, Format, FAILED, OK, UNUSABLE};
use std::path::{Path, PathBuf};
use stroom::rules::diagnostic::render_human;
use stroom::rules::fmt::{format_source, FormatError};
use stroom::rules::span::{SourceFile, SourceMap};

/// The files to format: the same as `stroom check` reads (a folder without `.stroom`
/// files is an error, exit 2).
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    stroom::rules::load::rule_files(paths).map_err(|e| e.to_string())
}

pub fn run(paths: &[PathBuf], check: bool, format: Format) -> u8 {
    let mut listed: Vec<serde_json::Value> = Vec::new();
    let mut report = |path: &Path, status: &str| match format {
        Format::Human => {
            if status != "unchanged" && !status.ends_with("error") {
                outln!("{}: {}", path.display(), status.replace('_', " "));
            }
        }
        Format::Json => listed.push(serde_json::json!({
            "file": path.display().to_string(),
            "status": status,
        })),
    };
    let files = match files(paths) {
        Ok(f) => f,
        Err(e) => {
            errln!("error: {e}");
            return UNUSABLE;
        }
    };
    let mut status = OK;
    for path in files {
        let text = match stroom::files::read_text(&path) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: cannot read {}: {e}", path.display());
                return UNUSABLE;
            }
        };
        match format_source(&text) {
            Ok(out) if out == text => report(&path, "unchanged"),
            Ok(out) => {
                if check {
                    report(&path, "not_formatted");
                    status = FAILED;
                } else if let Err(e) = stroom::files::rewrite_atomic(&path, out.as_bytes()) {
                    errln!("error: cannot write {}: {e}", path.display());
                    return UNUSABLE;
                } else {
                    report(&path, "formatted");
                }
            }
            Err(FormatError::Syntax(diags)) => {
                let mut sources = SourceMap::new();
                sources.add(SourceFile::new(path.display().to_string(), text));
                err!("{}", render_human(&diags, &sources, false));
                errln!("error: {} has syntax errors; not formatted", path.display());
                report(&path, "syntax_error");
                status = FAILED;
            }
            Err(FormatError::Changed) => {
                errln!(
                    "error: formatting {} would change its meaning; file left as it is (please report this)",
                    path.display()
                );
                report(&path, "meaning_error");
                status = FAILED;
            }
        }
    }
    if format == Format::Json {
        print_json(&serde_json::json!({ "files": listed }));
    }
    status
}
