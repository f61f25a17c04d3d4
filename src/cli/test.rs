//! `stroom test`

use super::{load_program, print_json, Format, FAILED, OK, UNUSABLE};
use clap::Args;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use stroom::ruletest::{persons_json, run_cases, TestFile};

#[derive(Args)]
pub struct TestArgs {
    /// Test files (*.stroomtest.toml) or directories holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Rules to test, instead of the `rules` named in each file.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// stroom.toml, whose `[targets.NAME]` sections the rules may name (default:
    /// ./stroom.toml when there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            if let Ok(entries) = std::fs::read_dir(p) {
                let mut sub: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                sub.sort();
                for s in sub {
                    if s.is_dir() {
                        out.extend(collect(&[s]));
                    } else if s.to_string_lossy().ends_with(".stroomtest.toml") {
                        out.push(s);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out
}

pub fn run(args: &TestArgs) -> u8 {
    let files = collect(&args.paths);
    if files.is_empty() {
        errln!("error: no *.stroomtest.toml files found");
        return UNUSABLE;
    }
    let targets = match super::target_decls(args.config.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut report = Vec::new();
    let mut never_fired: Option<BTreeSet<String>> = None;
    for file in &files {
        let base = file.parent().unwrap_or(Path::new("."));
        let text = match stroom::files::read_text(file) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: cannot read {}: {e}", file.display());
                return UNUSABLE;
            }
        };
        let spec: TestFile = match toml::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                errln!("error: {}: {e}", file.display());
                return FAILED;
            }
        };
        let rules = match (&args.rules, &spec.rules) {
            (Some(r), _) => r.clone(),
            (None, Some(r)) => base.join(r),
            (None, None) => {
                errln!(
                    "error: {}: name the rules with `rules = \"...\"` or --rules",
                    file.display()
                );
                return FAILED;
            }
        };
        let program = match load_program(&[rules], &targets) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let mut persons_text = persons_json(&spec.persons);
        let mut persons = match stroom::source::persons::parse_persons(
            &file.display().to_string(),
            &persons_text,
        ) {
            Ok(p) => p,
            Err(e) => {
                err!("{e}");
                return FAILED;
            }
        };
        if let Some(pf) = &spec.persons_file {
            let path = base.join(pf);
            persons_text = match stroom::files::read_text(&path) {
                Ok(t) => t,
                Err(e) => {
                    errln!("error: cannot read {}: {e}", path.display());
                    return UNUSABLE;
                }
            };
            match stroom::source::persons::parse_persons(&path.display().to_string(), &persons_text)
            {
                Ok(more) => persons.extend(more),
                Err(e) => {
                    err!("{e}");
                    return FAILED;
                }
            }
        }
        let result = match run_cases(&program, &persons, &spec) {
            Ok(r) => r,
            Err(e) => {
                errln!("error: {}: {e}", file.display());
                return FAILED;
            }
        };
        let unfired: BTreeSet<String> = program
            .origins
            .iter()
            .enumerate()
            .filter(|(i, _)| program.statements.iter().any(|s| s.origin as usize == *i))
            .filter(|(i, _)| !result.fired.contains(&(*i as u32)))
            .map(|(_, o)| format!("{} ({}:{})", o.rule, o.file, o.line))
            .collect();
        never_fired = Some(match never_fired {
            None => unfired,
            Some(prev) => prev.intersection(&unfired).cloned().collect(),
        });
        for c in &result.cases {
            if c.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            if args.format == Format::Human {
                outln!(
                    "{} {}: {}",
                    if c.passed { "PASS" } else { "FAIL" },
                    file.display(),
                    c.name
                );
                for f in &c.failures {
                    outln!("     {f}");
                }
            }
        }
        report
            .push(serde_json::json!({ "file": file.display().to_string(), "cases": result.cases }));
    }
    let never_fired = never_fired.unwrap_or_default();
    match args.format {
        Format::Json => {
            print_json(&serde_json::json!({
                "passed": passed, "failed": failed, "files": report, "never_fired": never_fired,
            }));
        }
        Format::Human => {
            if !never_fired.is_empty() {
                outln!(
                    "\ncoverage: {} statement(s) no test made fire:",
                    never_fired.len()
                );
                for r in &never_fired {
                    outln!("  {r}");
                }
            } else {
                outln!("\ncoverage: every statement fired in some test");
            }
            outln!("\n{passed} passed, {failed} failed");
        }
    }
    if failed > 0 {
        FAILED
    } else {
        OK
    }
}
