//! The book's examples are true: every `stroom` block checks (or gives the diagnostic
//! its fence names), and the JSON and TOML examples are valid documents.

use std::path::Path;

struct Block {
    file: String,
    line: usize,
    info: String,
    text: String,
}

fn blocks() -> Vec<Block> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("book/src")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(&path).expect("read");
        let mut current: Option<Block> = None;
        for (n, line) in text.lines().enumerate() {
            match (&mut current, line.strip_prefix("```")) {
                (None, Some(info)) => {
                    current = Some(Block {
                        file: path
                            .file_name()
                            .map(|f| f.to_string_lossy().to_string())
                            .unwrap_or_default(),
                        line: n + 1,
                        info: info.trim().to_string(),
                        text: String::new(),
                    })
                }
                (Some(_), Some(_)) => out.extend(current.take()),
                (Some(b), None) => {
                    b.text.push_str(line);
                    b.text.push('\n');
                }
                (None, None) => {}
            }
        }
    }
    out
}

#[test]
fn stroom_examples_check() {
    let mut seen = 0;
    // A chapter's rules may name the targets its stroom.toml examples configure.
    let mut targets: std::collections::HashMap<String, Vec<stroom::rules::program::TargetDecl>> =
        std::collections::HashMap::new();
    for b in blocks() {
        if b.info == "toml,stroom.toml" {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("stroom.toml");
            std::fs::write(&file, &b.text).expect("write");
            if let Ok(config) = stroom::config::Config::load_with_env(Some(&file), &|_| None) {
                targets
                    .entry(b.file.clone())
                    .or_default()
                    .extend(config.target_decls());
            }
            continue;
        }
        let Some(rest) = b.info.strip_prefix("stroom") else {
            continue;
        };
        seen += 1;
        let decls = targets
            .get(&b.file)
            .cloned()
            .unwrap_or_else(stroom::rules::program::TargetDecl::builtin);
        let checked = stroom::rules::check::check_for(
            stroom::rules::load::parse_sources(&[(&format!("{}:{}", b.file, b.line), &b.text)]),
            &decls,
        );
        let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code()).collect();
        match rest.strip_prefix(",error=") {
            Some(code) => assert!(
                codes.contains(&code),
                "{}:{}: expected {code}, got {codes:?}",
                b.file,
                b.line
            ),
            None => assert!(
                !checked.has_errors(),
                "{}:{}: {:#?}",
                b.file,
                b.line,
                checked.diagnostics
            ),
        }
    }
    assert!(
        seen >= 30,
        "the book should have plenty of examples ({seen})"
    );
}

#[test]
fn every_diagnostic_code_is_documented_with_an_example() {
    let documented: Vec<String> = blocks()
        .iter()
        .filter_map(|b| b.info.strip_prefix("stroom,error=").map(str::to_string))
        .collect();
    let chapter = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/diagnostics.md"),
    )
    .expect("chapter");
    // The codes come from the code itself: a new one cannot be left out here.
    for code in stroom::rules::diagnostic::Code::ALL {
        let c = code.as_str();
        assert!(
            documented.iter().any(|d| d == c),
            "{c} has no example in book/src/diagnostics.md"
        );
        let severity = match code.severity() {
            stroom::rules::diagnostic::Severity::Error => "error",
            stroom::rules::diagnostic::Severity::Warning => "warning",
        };
        let row = format!("| [`{c}`](#{}) | {severity} |", c.replace("::", ""));
        assert!(chapter.contains(&row), "the table lacks the row {row}");
        assert!(
            chapter.contains(&format!("## `{c}`\n\n*{severity}.*")),
            "{c} has no section saying it is an {severity}"
        );
    }
}

#[test]
fn data_examples_are_valid() {
    for b in blocks() {
        let place = format!("{}:{}", b.file, b.line);
        match b.info.as_str() {
            "json,person" => {
                let array = format!("[{}]", b.text);
                assert!(
                    stroom::source::persons::parse_persons(&place, &array).is_ok(),
                    "{place}"
                );
            }
            "json,state" => assert!(
                stroom::source::state::parse_state(&place, &b.text).is_ok(),
                "{place}"
            ),
            "json,plan" => {
                let schema: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(
                        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json"),
                    )
                    .expect("schema"),
                )
                .expect("schema JSON");
                let schema = jsonschema::JSONSchema::compile(&schema).expect("compiles");
                let doc: serde_json::Value =
                    serde_json::from_str(&b.text).expect("plan example is JSON");
                assert!(schema.is_valid(&doc), "{place}");
            }
            "toml,stroom.toml" => {
                let dir = tempfile::tempdir().expect("tempdir");
                let file = dir.path().join("stroom.toml");
                std::fs::write(&file, &b.text).expect("write");
                let loaded = stroom::config::Config::load_with_env(Some(&file), &|_| None);
                assert!(loaded.is_ok(), "{place}: {loaded:?}");
                // Every key of the example is explained in the chapter's table.
                let chapter = std::fs::read_to_string(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("book/src")
                        .join(&b.file),
                )
                .expect("chapter");
                let doc: toml::Table = toml::from_str(&b.text).expect("toml");
                // Every leaf key, by its dotted path (`targets.entra.tenant_id`).
                fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
                    for (key, value) in table {
                        let path = if prefix.is_empty() {
                            key.clone()
                        } else {
                            format!("{prefix}.{key}")
                        };
                        match value.as_table() {
                            Some(t) => leaves(&path, t, out),
                            None => out.push((path, key.clone())),
                        }
                    }
                }
                let mut keys = Vec::new();
                leaves("", &doc, &mut keys);
                // A section of another name is explained by its kind's keys.
                let kind_of = |name: &str| {
                    doc.get("targets")
                        .and_then(|t| t.get(name))
                        .and_then(|t| t.get("kind"))
                        .and_then(|k| k.as_str())
                        .map(str::to_string)
                };
                for (path, key) in keys {
                    let path = match path.split('.').collect::<Vec<_>>().as_slice() {
                        ["targets", _, "kind"] => "targets.NAME.kind".to_string(),
                        ["targets", _, "reconcile", key] => format!("targets.NAME.reconcile.{key}"),
                        ["targets", name, key] => match kind_of(name) {
                            Some(kind) => format!("targets.{kind}.{key}"),
                            None => path.clone(),
                        },
                        _ => path.clone(),
                    };
                    let plain = format!("`{path}`");
                    // Keys shared by several sections may be explained once.
                    let shared = format!("`{key}`");
                    let top_level = path.matches('.').count() == 1;
                    assert!(
                        chapter.contains(&plain) || (top_level && chapter.contains(&shared)),
                        "{place}: {path} is not in the key table"
                    );
                }
            }
            "toml,stroomtest" => {
                let t: Result<stroom::ruletest::TestFile, _> = toml::from_str(&b.text);
                assert!(t.is_ok(), "{place}: {t:?}");
            }
            _ => {}
        }
    }
}

#[test]
fn summary_lists_every_chapter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let summary = std::fs::read_to_string(dir.join("SUMMARY.md")).expect("summary");
    for e in std::fs::read_dir(&dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".md") && name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("({name})")),
                "{name} is not in SUMMARY.md"
            );
        }
    }
    for link in summary.split("](").skip(1) {
        let file = link.split(')').next().unwrap_or("");
        assert!(
            dir.join(file).exists(),
            "SUMMARY.md links to missing {file}"
        );
    }
}

/// The README's "What is where" table names every top-level entry of `src/` (and the
/// binaries), and every path it names exists.
#[test]
fn readme_what_is_where_matches_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let table = readme
        .split("## What is where")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("a What is where section");
    let named: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .flat_map(|l| {
            let cell = l.split(" |").next().unwrap_or("");
            cell.split(", ").map(|p| p.trim_matches('`'))
        })
        .collect();
    for path in &named {
        assert!(root.join(path).exists(), "README names missing {path}");
    }
    let mut entries: Vec<String> = Vec::new();
    for dir in ["src", "src/bin"] {
        for e in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let path = if e.path().is_dir() {
                format!("{dir}/{name}/")
            } else {
                format!("{dir}/{name}")
            };
            if !["src/bin/", "src/lib.rs", "src/main.rs"].contains(&path.as_str()) {
                entries.push(path);
            }
        }
    }
    for path in entries {
        assert!(
            named.iter().any(|n| *n == path),
            "README's What is where does not name {path}"
        );
    }
}

/// The core (the library without default features) depends on the rule-language crates
/// only: no network, no database, no terminal.
#[test]
fn the_core_depends_on_the_rule_language_crates_only() {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-e",
            "normal",
            "--no-default-features",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("pest") && crates.contains("miette"),
        "{crates:?}"
    );
    for banned in [
        "axum",
        "tokio",
        "hyper",
        "reqwest",
        "ldap3",
        "rusqlite",
        "indicatif",
        "clap",
        "futures-util",
        "getrandom",
    ] {
        assert!(!crates.contains(banned), "the core depends on {banned}");
    }
}

/// The report the chapter "Taking over an existing directory" shows for the shipped
/// example is what `stroom reconcile` prints for it, line for line (`...` stands for
/// lines left out).
#[test]
fn the_adoption_chapter_shows_the_real_report() {
    let block = blocks()
        .into_iter()
        .find(|b| b.file == "adoption.md" && b.info == "text")
        .expect("the chapter shows a report");
    let out = crate::common::stroom(&crate::common::example_reconcile(&[]));
    assert_eq!(out.status.code(), Some(1), "the example has findings");
    let printed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    for shown in block.text.lines().filter(|l| l.trim() != "...") {
        assert!(
            lines.contains(&shown),
            "adoption.md:{}: not printed: {shown}\n{printed}",
            block.line
        );
    }
}
