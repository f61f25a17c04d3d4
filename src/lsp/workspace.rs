//! Which rule set a document belongs to, and that rule set checked with the editor's
//! unsaved text: the same loading and checking `stroom check` does.

use crate::config::Config;
use crate::model::Ty;
use crate::rules::ast;
use crate::rules::check::check_for;
use crate::rules::diagnostic::Diagnostic;
use crate::rules::load::{load_paths_with, parse_sources};
use crate::rules::program::TargetDecl;
use crate::rules::span::SourceMap;
use lsp_types::Uri;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The rule set a document is checked in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleSet {
    /// Rule files and folders on disk, as `stroom check PATHS --config CONFIG` reads
    /// them.
    Disk {
        /// The files and folders.
        paths: Vec<PathBuf>,
        /// The stroom.toml whose `[targets.NAME]` the rules may name.
        config: Option<PathBuf>,
    },
    /// A document that is not a file (an unsaved buffer), checked on its own.
    Alone(String),
}

/// Finds the rule set of a document: the `[sync] rules` of the nearest stroom.toml
/// above it when they hold the file, else the file's folder (a folder is one rule set).
pub fn rule_set_of(uri: &Uri) -> RuleSet {
    let Some(path) = file_path(uri) else {
        return RuleSet::Alone(uri.as_str().to_string());
    };
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let config = folder
        .ancestors()
        .map(|d| d.join("stroom.toml"))
        .find(|c| c.is_file());
    let own = canonical(&path);
    let paths = config
        .as_deref()
        .and_then(|c| Config::load(Some(c)).ok())
        .map(|c| c.sync.rules)
        .filter(|rules| rules.iter().any(|r| own.starts_with(canonical(r))))
        .unwrap_or_else(|| vec![folder]);
    RuleSet::Disk { paths, config }
}

/// A checked rule set: its files (as parsed) and everything `stroom check` reports.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The rule files, by file index.
    pub sources: SourceMap,
    /// Each file's canonical path and URI, by file index.
    pub ids: Vec<FileId>,
    /// Each file's syntax tree, by file index.
    pub files: Vec<ast::File>,
    /// Every diagnostic, as `stroom check` has them.
    pub diagnostics: Vec<Diagnostic>,
    /// The type of each `let` that compiled.
    pub let_types: HashMap<String, Ty>,
    /// The targets the rules may name.
    pub targets: Vec<TargetDecl>,
    /// The stroom.toml the targets come from, with its text.
    pub config: Option<(PathBuf, String)>,
    /// What went wrong reading the rule set or its configuration, for the editor to
    /// show once.
    pub notice: Option<String>,
}

/// Where a rule file is.
#[derive(Debug, Clone)]
pub struct FileId {
    /// Its canonical path (none for an unsaved buffer).
    pub path: Option<PathBuf>,
    /// Its URI (none for a name that is neither a path nor a URI).
    pub uri: Option<Uri>,
}

impl Analysis {
    /// The index of the file with this URI.
    pub fn file_of(&self, uri: &Uri) -> Option<u32> {
        let path = file_path(uri).map(|p| canonical(&p));
        self.ids
            .iter()
            .position(|id| match (&path, &id.path) {
                (Some(a), Some(b)) => a == b,
                _ => id.uri.as_ref() == Some(uri),
            })
            .map(|i| i as u32)
    }
}

/// Checks a rule set with the open documents' text (`open`: URI to text) in place of
/// the files on disk.
pub fn analyze(set: &RuleSet, open: &HashMap<Uri, String>) -> Analysis {
    let mut analysis = Analysis {
        targets: TargetDecl::builtin(),
        ..Analysis::default()
    };
    let parsed = match set {
        RuleSet::Alone(name) => {
            let text = open
                .iter()
                .find(|(u, _)| u.as_str() == name)
                .map_or("", |(_, t)| t.as_str());
            parse_sources(&[(name.as_str(), text)])
        }
        RuleSet::Disk { paths, config } => {
            if let Some(c) = config {
                match Config::load(Some(c)) {
                    Ok(cfg) => {
                        analysis.targets = cfg.target_decls();
                        let text = crate::files::read_text(c).unwrap_or_default();
                        analysis.config = Some((c.clone(), text));
                    }
                    // The message names the file and the fix, never a secret's value.
                    Err(e) => {
                        analysis.notice = Some(format!(
                            "{e}; the rules are checked against the built-in targets only"
                        ))
                    }
                }
            }
            let by_path: HashMap<PathBuf, &str> = open
                .iter()
                .filter_map(|(u, t)| Some((canonical(&file_path(u)?), t.as_str())))
                .collect();
            // Open rule files not saved yet inside the rule set's folders.
            let roots: Vec<PathBuf> = paths.iter().map(|p| canonical(p)).collect();
            let extra: Vec<PathBuf> = by_path
                .keys()
                .filter(|p| p.extension().is_some_and(|e| e == "stroom"))
                .filter(|p| roots.iter().any(|r| p.starts_with(r)))
                .cloned()
                .collect();
            let read = |p: &Path| match by_path.get(&canonical(p)) {
                Some(text) => Ok(text.to_string()),
                None => crate::files::read_text(p),
            };
            match load_paths_with(paths, &extra, &read) {
                Ok(parsed) => parsed,
                Err(e) => {
                    analysis.notice = Some(e.to_string());
                    let owned: Vec<(String, &str)> = open
                        .iter()
                        .map(|(u, t)| (u.as_str().to_string(), t.as_str()))
                        .collect();
                    let refs: Vec<(&str, &str)> =
                        owned.iter().map(|(n, t)| (n.as_str(), *t)).collect();
                    parse_sources(&refs)
                }
            }
        }
    };
    analysis.files = parsed.files.clone();
    analysis.ids = parsed
        .sources
        .files()
        .iter()
        .map(|f| file_id(&f.name))
        .collect();
    let checked = check_for(parsed, &analysis.targets);
    analysis.diagnostics = checked.diagnostics;
    analysis.let_types = checked.let_types;
    analysis.sources = checked.sources;
    analysis
}

fn file_id(name: &str) -> FileId {
    let path = Path::new(name);
    if path.is_absolute() {
        let uri = url::Url::from_file_path(path)
            .ok()
            .and_then(|u| Uri::from_str(u.as_str()).ok());
        FileId {
            path: Some(canonical(path)),
            uri,
        }
    } else {
        // An unsaved buffer: its name is its URI.
        FileId {
            path: None,
            uri: Uri::from_str(name).ok(),
        }
    }
}

/// The file a `file:` URI names.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

/// The canonical form of a path, or the path itself when it does not exist (yet).
pub fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}
