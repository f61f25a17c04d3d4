//! The editor files in editors/: the TextMate grammar tokenized by the engine VS Code
//! itself uses (vscode-textmate on Oniguruma, from npm, through tests/textmate.sh), and
//! the VS Code manifest pointing at what exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Each token's text (trimmed) by its innermost scope, over the shipped example rules.
fn scopes_of_the_examples() -> BTreeMap<String, BTreeSet<String>> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("rules-examples/vandijk"))
        .expect("examples")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let out = std::process::Command::new("bash")
        .current_dir(root())
        .arg("tests/textmate.sh")
        .args(&files)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "tests/textmate.sh failed (it needs node and npm): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut by_scope: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let t: serde_json::Value = serde_json::from_str(line).expect("a token");
        let scope = t["scopes"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let text = t["text"].as_str().unwrap_or("").trim().to_string();
        by_scope.entry(scope).or_default().insert(text);
    }
    by_scope
}

#[test]
fn the_textmate_grammar_colours_the_examples_as_vs_code_would() {
    let s = scopes_of_the_examples();
    let has = |scope: &str, words: &[&str]| {
        let got = s.get(scope).cloned().unwrap_or_default();
        for w in words {
            assert!(
                got.contains(*w),
                "{w:?} is not {scope}: {got:?}\nall: {s:#?}"
            );
        }
    };
    let lacks = |scope: &str, words: &[&str]| {
        let got = s.get(scope).cloned().unwrap_or_default();
        for w in words {
            assert!(!got.contains(*w), "{w:?} should not be {scope}");
        }
    };
    has(
        "keyword.control.stroom",
        &["when", "grant", "forbid", "writeback"],
    );
    has("keyword.operator.word.stroom", &["and", "in", "not"]);
    has(
        "entity.name.type.entitlement.stroom",
        &["group", "license", "mailbox"],
    );
    has(
        "entity.name.namespace.target.stroom",
        &["ad", "entra", "exchange"],
    );
    // A list in a `let` after `in` is no target.
    lacks("entity.name.namespace.target.stroom", &["office"]);
    has(
        "variable.other.field.stroom",
        &["contract.active", "person.employee_type", "manager.id"],
    );
    lacks("keyword.other.stroom", &["active"]);
    has(
        "variable.other.definition.stroom",
        &["domain", "staff", "office"],
    );
    has(
        "support.function.builtin.stroom",
        &["lower", "ascii", "replace"],
    );
    has("string.quoted.double.stroom", &["GG-AllStaff", "All Staff"]);
    has("variable.other.placeholder.stroom", &["{name}"]);
    has("constant.numeric.integer.stroom", &["14", "90"]);
    has("keyword.other.unit.stroom", &["days"]);
    // A `#` inside a string is no comment.
    for c in s
        .get("comment.line.number-sign.stroom")
        .into_iter()
        .flatten()
    {
        assert!(c.starts_with('#'), "{c:?}");
    }
}

#[test]
fn the_vs_code_manifest_names_files_that_exist() {
    let dir = root().join("editors/vscode");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package.json")).expect("package.json"),
    )
    .expect("JSON");
    assert_eq!(
        manifest["contributes"]["languages"][0]["extensions"][0],
        ".stroom"
    );
    for key in [
        &manifest["main"],
        &manifest["contributes"]["languages"][0]["configuration"],
        &manifest["contributes"]["grammars"][0]["path"],
    ] {
        let rel = key.as_str().expect("a path");
        assert!(dir.join(rel).is_file(), "{rel} is missing");
    }
    let grammar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("syntaxes/stroom.tmLanguage.json")).expect("grammar"),
    )
    .expect("JSON");
    assert_eq!(
        grammar["scopeName"],
        manifest["contributes"]["grammars"][0]["scopeName"]
    );
    serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(dir.join("language-configuration.json")).expect("config"),
    )
    .expect("JSON");
}
