//! Hostile input, one test (at least) per class of failure: closed pipes, deep and long
//! expressions, huge columns and many diagnostics, byte order marks, store locks, file
//! modes, hostile HR values. Each test fails without its fix.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const EXAMPLE: &[&str] = &[
    "--rules",
    "rules-examples/vandijk",
    "--persons",
    "rules-examples/vandijk-persons.json",
    "--state",
    "rules-examples/vandijk-state.json",
    "--today",
    "2026-12-01",
];

fn stroom_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stroom"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    c
}

fn stroom(args: &[&str]) -> Output {
    stroom_cmd(args).output().expect("run stroom")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn temp_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

/// Runs a command, reads one byte of its output and closes the pipe, as `| head -c1`.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = stroom_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut one = [0u8; 1];
    let _ = stdout.read(&mut one);
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    // The plans are larger than a pipe's buffer, so the writer meets the closed end.
    let mut plan_table: Vec<&str> = vec!["plan"];
    plan_table.extend(EXAMPLE);
    let mut plan_json = plan_table.clone();
    plan_json.extend(["--format", "json"]);
    let explain = vec![
        "explain",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        "rules-examples/vandijk-persons.json",
        "--person",
        "000007ea-0000-4000-8000-000000000000",
    ];
    let runs: Vec<Vec<&str>> = vec![
        plan_table,
        plan_json,
        explain,
        vec!["check", "rules-examples/vandijk", "--format", "json"],
        vec!["test", "rules-examples/tests/vandijk.stroomtest.toml"],
    ];
    for args in &runs {
        let (code, stderr) = with_closed_stdout(args);
        assert!(
            code == Some(0) || code == Some(1),
            "{args:?}: exit {code:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(!stderr.contains("cannot write"), "{args:?}: {stderr}");
    }
}

#[test]
fn diagnostics_are_reports_on_stderr() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = temp_file(
        dir.path(),
        "bad.stroom",
        "when departmnet == \"x\" grant group \"g\" in ad\n",
    );
    let o = stroom(&["check", f.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("stroom::unknown_field"));
}

#[test]
fn a_byte_order_mark_is_accepted_on_every_text_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let bom = |path: &str| {
        let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("read");
        let mut with = b"\xef\xbb\xbf".to_vec();
        with.extend(text);
        with
    };
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk"))
            .expect("ls")
    {
        let p = entry.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        temp_file(
            &rules,
            &name,
            bom(&format!("rules-examples/vandijk/{name}")),
        );
    }
    let persons = temp_file(
        dir.path(),
        "p.json",
        bom("rules-examples/vandijk-persons.json"),
    );
    let state = temp_file(
        dir.path(),
        "s.json",
        bom("rules-examples/vandijk-state.json"),
    );
    let args = |fmt: &'static str| {
        vec![
            "plan".to_string(),
            "--rules".into(),
            rules.display().to_string(),
            "--persons".into(),
            persons.display().to_string(),
            "--state".into(),
            state.display().to_string(),
            "--today".into(),
            "2026-12-01".into(),
            "--format".into(),
            fmt.into(),
        ]
    };
    let with: Vec<String> = args("json");
    let with: Vec<&str> = with.iter().map(String::as_str).collect();
    let o = stroom(&with);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut plain: Vec<&str> = vec!["plan"];
    plain.extend(EXAMPLE);
    plain.extend(["--format", "json"]);
    let p = stroom(&plain);
    // The same plan, but for the file names in `because`.
    let strip = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["actions"].as_array().map(Vec::len)
    };
    assert_eq!(strip(&o), strip(&p));
    let plan_file = temp_file(dir.path(), "plan.json", {
        let mut b = b"\xef\xbb\xbf".to_vec();
        b.extend(&p.stdout);
        b
    });
    let o = stroom(&[
        "apply",
        "--plan",
        plan_file.to_str().expect("utf-8"),
        "--state",
        state.to_str().expect("utf-8"),
        "--dry-run",
    ]);
    assert!(
        !text(&o).contains("expected value at line 1 column 1"),
        "{}",
        text(&o)
    );
}
