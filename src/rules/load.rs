//! Reading a rule set: one file or a directory of `*.stroom` files (read in path order,
//! one namespace), following `include "..."` relative to the including file.

use super::ast::{File, StmtKind};
use super::diagnostic::{Diagnostic, Problem};
use super::parse::parse_file;
use super::span::{SourceFile, SourceMap, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A parsed rule set: its sources, the syntax tree of each file, and syntax problems.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// All files read.
    pub sources: SourceMap,
    /// The syntax tree of each file, by file index.
    pub files: Vec<File>,
    /// Syntax and include problems.
    pub diagnostics: Vec<Diagnostic>,
}

/// A problem reading the rule set from disk (before any parsing).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path that does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory without rule files.
    #[error("{0} holds no .stroom files")]
    Empty(String),
}

/// Reads and parses rule files and directories.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Parsed, LoadError> {
    load_paths_with(paths, &[], &|p| crate::files::read_text(p))
}

/// [`load_paths`] through another reader: an editor's unsaved text stands in for the
/// file on disk. `extra` are files to read beside those found in the folders (an open
/// file not saved yet).
pub fn load_paths_with<P: AsRef<Path>>(
    paths: &[P],
    extra: &[PathBuf],
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Parsed, LoadError> {
    let mut files = rule_files(paths)?;
    for e in extra {
        if !files.contains(e) {
            files.push(e.clone());
        }
    }
    load_files(files, read)
}

/// The rule files named: files as given, directories searched for `*.stroom` files (in
/// path order); a directory without any is an error.
pub fn rule_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            let before = files.len();
            collect_dir(p, &mut files)?;
            if files.len() == before {
                return Err(LoadError::Empty(p.display().to_string()));
            }
        } else {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

fn load_files(
    files: Vec<PathBuf>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Parsed, LoadError> {
    let mut parsed = Parsed::default();
    let mut seen = HashSet::new();
    let mut queue: Vec<(PathBuf, Option<Span>)> = files.into_iter().map(|f| (f, None)).collect();
    queue.reverse();
    while let Some((path, included_at)) = queue.pop() {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        // Not even read when it is too large: memory follows the limit, not the file.
        if let Some(len) = std::fs::metadata(&path)
            .ok()
            .map(|m| m.len())
            .filter(|len| *len > MAX_RULE_FILE_BYTES as u64)
        {
            too_large(&mut parsed, path.display().to_string(), len);
            continue;
        }
        let text = match read(&path) {
            Ok(t) => t,
            Err(e) => match included_at {
                Some(span) => {
                    parsed
                        .diagnostics
                        .push(include_error(span, &path, &e.to_string()));
                    continue;
                }
                None => {
                    return Err(LoadError::Io {
                        path: path.display().to_string(),
                        source: e,
                    })
                }
            },
        };
        let id = add_file(&mut parsed, path.display().to_string(), text);
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let includes: Vec<_> = includes_of(&parsed.files[id as usize])
            .map(|(rel, span)| (base.join(rel), Some(span)))
            .collect();
        queue.extend(includes.into_iter().rev());
    }
    Ok(parsed)
}

/// Parses rule files given as (name, text), e.g. from a library caller. Includes refer
/// to other names in the list.
pub fn parse_sources(sources: &[(&str, &str)]) -> Parsed {
    let mut parsed = Parsed::default();
    for (name, text) in sources {
        add_file(&mut parsed, (*name).to_string(), (*text).to_string());
    }
    let names: HashSet<&str> = sources.iter().map(|(n, _)| *n).collect();
    let mut missing = Vec::new();
    for file in &parsed.files {
        for (rel, span) in includes_of(file) {
            if !names.contains(rel) {
                missing.push(include_error(
                    span,
                    Path::new(rel),
                    "no such rule file was given",
                ));
            }
        }
    }
    parsed.diagnostics.extend(missing);
    parsed
}

/// The largest rule file Stroom reads, in bytes (a whole authorization matrix of 10,000
/// statements is about 1 MiB).
pub const MAX_RULE_FILE_BYTES: usize = 16 << 20;

/// Records a rule file too large to read, without its text.
fn too_large(parsed: &mut Parsed, name: String, len: u64) -> u32 {
    let id = parsed.sources.add(SourceFile::new(name, String::new()));
    parsed.files.push(File::default());
    parsed.diagnostics.push(Diagnostic::new(
        Problem::TooLarge {
            what: "the rule file's size would",
            limit: MAX_RULE_FILE_BYTES as u64,
            unit: "bytes",
        },
        Span::new(id, 0, 0),
        format!("{len} bytes"),
        "split the rules over several files in one folder; a folder is one rule set",
    ));
    id
}

fn add_file(parsed: &mut Parsed, name: String, text: String) -> u32 {
    if text.len() > MAX_RULE_FILE_BYTES {
        return too_large(parsed, name, text.len() as u64);
    }
    let id = parsed.sources.add(SourceFile::new(name, text));
    let text = parsed
        .sources
        .get(id)
        .map(|f| f.text.clone())
        .unwrap_or_default();
    let (file, diags) = parse_file(id, &text);
    parsed.files.push(file);
    parsed.diagnostics.extend(diags);
    id
}

fn includes_of(file: &File) -> impl Iterator<Item = (&str, Span)> {
    file.stmts.iter().filter_map(|s| match &s.kind {
        StmtKind::Include(p) => Some((p.value.as_str(), p.span)),
        _ => None,
    })
}

fn include_error(span: Span, path: &Path, detail: &str) -> Diagnostic {
    Diagnostic::new(
        Problem::Include {
            path: path.display().to_string(),
            detail: detail.to_string(),
        },
        span,
        "included here",
        "the path is relative to the file that includes it; check the name and that the file exists",
    )
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |e| LoadError::Io {
        path: dir.display().to_string(),
        source: e,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_dir(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "stroom") {
            out.push(p);
        }
    }
    Ok(())
}
