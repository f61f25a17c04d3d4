//! Hostile input, one test (at least) per class of failure: closed pipes, deep and long
//! expressions, huge columns and many diagnostics, byte order marks, store locks, file
//! modes, hostile HR values. Each test fails without its fix.

use crate::common::{stroom, stroom_cmd, temp_file, text, EXAMPLE};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `stroom plan` of `rules` on the example persons on 2026-12-01, with `extra` flags.
fn plan_with(rules: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--persons",
        "rules-examples/vandijk-persons.json",
        "--today",
        "2026-12-01",
    ];
    args.extend(extra);
    stroom(&args)
}

const EXAMPLE_STATE: [&str; 2] = ["--state", "rules-examples/vandijk-state.json"];

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

/// Rule texts at (not over) each depth limit.
fn at_the_limits() -> Vec<(&'static str, String)> {
    let parens = format!(
        "when {}department == \"Sales\"{} grant group \"g\" in ad\n",
        "(".repeat(32),
        ")".repeat(32)
    );
    let ands = format!(
        "when {} grant group \"g\" in ad\n",
        vec!["department == \"Sales\""; 64].join(" and ")
    );
    let pluses = format!(
        "when department == {} grant group \"g\" in ad\n",
        vec!["\"S\""; 120].join(" + ")
    );
    let nots =
        "when not not not not not not not not department == \"Sales\" grant group \"g\" in ad\n"
            .to_string();
    let mut lets = String::from("let l0 = department == \"Sales\"\n");
    for i in 1..200 {
        lets.push_str(&format!("let l{i} = (l{} == true)\n", i - 1));
    }
    lets.push_str("when l199 grant group \"g\" in ad\n");
    vec![
        ("parens", parens),
        ("ands", ands),
        ("pluses", pluses),
        ("nots", nots),
        ("lets", lets),
    ]
}

/// Check, format, plan and explain, each on a thread with the stack a Rust thread gets by
/// default (2 MiB), in a debug build: the limits leave room for library callers.
#[test]
fn expressions_at_the_depth_limits_run_on_a_small_stack() {
    let persons = stroom::source::persons::parse_persons(
        "p.json",
        r#"[{"id": "p1", "last_name": "Berg", "contracts": [{"id": "c1", "start": "2026-01-01", "department": "Sales"}]}]"#,
    )
    .expect("persons");
    for (name, text) in at_the_limits() {
        let persons = persons.clone();
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let checked = stroom::check_sources(&[("limits.stroom", text.as_str())]);
                let errors: Vec<_> = checked
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .collect();
                assert!(errors.is_empty(), "{name}: {errors:#?}");
                let program = checked.program.expect("program");
                let formatted = stroom::rules::fmt::format_source(&text).expect("formats");
                assert!(stroom::check_sources(&[("f.stroom", formatted.as_str())])
                    .program
                    .is_some());
                let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
                    program: &program,
                    persons: &persons,
                    state: &stroom::model::State::default(),
                    today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
                });
                let grants = plan.actions.len();
                let expect = if name == "pluses" { 0 } else { 1 };
                assert_eq!(grants, expect, "{name}");
                let population = stroom::rules::eval::Population::new(&persons);
                let x = stroom::rules::explain::explain_person(
                    &program,
                    &population,
                    &persons[0],
                    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
                );
                let _ = stroom::rules::explain::render(&x);
            })
            .expect("spawn")
            .join()
            .unwrap_or_else(|_| panic!("{name} failed"));
    }
}

#[test]
fn past_each_depth_limit_is_a_diagnostic_not_a_crash() {
    let cases = [
        format!(
            "when {}true{} grant group \"g\" in ad\n",
            "(".repeat(6000),
            ")".repeat(6000)
        ),
        format!(
            "when {} grant group \"g\" in ad\n",
            vec!["true"; 7000].join(" and ")
        ),
        format!(
            "when department == {} grant group \"g\" in ad\n",
            vec!["\"S\""; 8000].join(" + ")
        ),
        format!("when {}true grant group \"g\" in ad\n", "not ".repeat(5000)),
        format!(
            "when department in {}\"a\"{} grant group \"g\" in ad\n",
            "[".repeat(6000),
            "]".repeat(6000)
        ),
        format!(
            "when {}(true) grant group \"g\" in ad\n",
            "lower(".repeat(6000)
        ),
        {
            let mut t = String::from("let l0 = department == \"x\"\n");
            for i in 1..5000 {
                t.push_str(&format!("let l{i} = (l{} == true)\n", i - 1));
            }
            t + "when l4999 grant group \"g\" in ad\n"
        },
        {
            let mut t = String::from("let l0 = department == \"x\"\n");
            for i in 1..40 {
                t.push_str(&format!("let l{i} = l{} and l{}\n", i - 1, i - 1));
            }
            t + "when l39 grant group \"g\" in ad\n"
        },
        {
            // Each let uses the next one: compiled by recursion, stopped by the limit.
            let mut t = String::from("when l0 grant group \"g\" in ad\n");
            for i in 0..5000 {
                t.push_str(&format!("let l{i} = (l{} == true)\n", i + 1));
            }
            t + "let l5000 = department == \"x\"\n"
        },
    ];
    for rules in &cases {
        let rules = rules.clone();
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let checked = stroom::check_sources(&[("deep.stroom", rules.as_str())]);
                assert!(checked.program.is_none());
                let _ = stroom::rules::fmt::format_source(&rules);
            })
            .expect("spawn")
            .join()
            .expect("no crash on a thread's default stack");
    }
    for rules in cases {
        let dir = tempfile::tempdir().expect("tmp");
        let f = temp_file(dir.path(), "deep.stroom", &rules);
        let f = f.to_str().expect("utf-8");
        // Lets are the checker's business; `fmt` formats them without checking.
        let parse_level = !rules.contains("let l");
        let mut commands = vec![vec!["check", f]];
        if parse_level {
            commands.push(vec!["fmt", "--check", f]);
        }
        for cmd in commands {
            let o = stroom(&cmd);
            let out = text(&o);
            assert_eq!(o.status.code(), Some(1), "{cmd:?} {}: {out}", &rules[..40]);
            assert!(
                out.contains("stroom::too_deep") || out.contains("stroom::too_large"),
                "{cmd:?}: {out}"
            );
        }
    }
}

fn persons_file(json: &str) -> Result<Vec<stroom::model::Person>, String> {
    stroom::source::persons::parse_persons("p.json", json).map_err(|e| e.to_string())
}

#[test]
fn hostile_hr_values_are_refused_at_intake_naming_person_and_field() {
    let cases = [
        (
            r#"[{"id": "p1", "last_name": "Berg\u0000", "contracts": []}]"#,
            "last_name",
            "U+0000",
        ),
        (
            r#"[{"id": "p1", "last_name": "Berg", "first_name": "Jan\u202e", "contracts": []}]"#,
            "first_name",
            "U+202E",
        ),
        (
            r#"[{"id": "p1", "last_name": "Berg", "contracts": [{"id": "c1", "department": "Sa\u001bles"}]}]"#,
            "contracts[0].department",
            "U+001B",
        ),
        (
            r#"[{"id": 5, "last_name": "Berg", "contracts": []}]"#,
            "id",
            "in quotes",
        ),
        (
            r#"[{"id": "p1", "id": "p2", "last_name": "Berg", "contracts": []}]"#,
            "",
            "appears twice",
        ),
        (
            "{\"id\": \"p1\", \"last_name\": \"Berg\", \"last_name\": \"X\", \"contracts\": []}\n",
            "",
            "appears twice",
        ),
    ];
    for (json, field, what) in cases {
        let e = persons_file(json).expect_err(json);
        assert!(e.contains(what), "{json}: {e}");
        if !field.is_empty() {
            assert!(e.contains(&format!("field `{field}`")), "{json}: {e}");
            assert!(e.contains("p1") || field == "id", "{json}: {e}");
        }
    }
}

#[test]
fn a_computed_value_a_target_would_refuse_is_never_planned() {
    let rules = r#"
account in ad {
  set sAMAccountName = lower(last_name)
  set userPrincipalName = lower(first_name) + "." + lower(last_name) + "@vandijk.nl"
}
account in entra { set mail = lower(first_name) + "." + lower(last_name) + "@vandijk.nl" }
when true grant group "Staff" in ad
"#;
    let checked = stroom::check_sources(&[("r.stroom", rules)]);
    let program = checked.program.expect("program");
    let persons = persons_file(
        r#"[
 {"id": "ok", "first_name": "Jan", "last_name": "Berg", "contracts": [{"id": "c1", "start": "2026-01-01"}]},
 {"id": "ldap", "first_name": "Eve", "last_name": "a*)(objectclass=*", "contracts": [{"id": "c2", "start": "2026-01-01"}]},
 {"id": "emoji", "first_name": "😀", "last_name": "Broek", "contracts": [{"id": "c3", "start": "2026-01-01"}]},
 {"id": "long", "first_name": "Anna", "last_name": "Vanderbiltenbergerhoven", "contracts": [{"id": "c4", "start": "2026-01-01"}]}
]"#,
    )
    .expect("persons");
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program: &program,
        persons: &persons,
        state: &stroom::model::State::default(),
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
    });
    let targets_of = |id: &str| {
        let mut t: Vec<&str> = plan
            .actions
            .iter()
            .filter(|a| &*a.person == id)
            .map(|a| &*a.target)
            .collect();
        t.sort();
        t.dedup();
        t
    };
    assert_eq!(targets_of("ok"), ["ad", "entra"]);
    assert!(targets_of("ldap").is_empty(), "{:#?}", plan.notes);
    assert!(targets_of("emoji").is_empty(), "{:#?}", plan.notes);
    assert_eq!(targets_of("long"), ["entra"], "{:#?}", plan.notes);
    let notes = plan.notes.join("\n");
    assert!(
        notes.contains("person ldap: error: ad.sAMAccountName = \"a*)(objectclass=*\""),
        "{notes}"
    );
    assert!(
        notes.contains("r.stroom:"),
        "names the rule's place: {notes}"
    );
    assert!(
        notes.contains("person emoji: error: entra.mail = \"😀.broek@vandijk.nl\""),
        "{notes}"
    );
    assert!(notes.contains("20"), "{notes}");
}

#[test]
fn an_emptied_rule_file_cannot_revoke_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = temp_file(
        dir.path(),
        "empty.stroom",
        "# everything was deleted by accident\n",
    );
    let o = plan_with(&empty, &EXAMPLE_STATE);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("built-in limit of 10%"), "{}", text(&o));
    // A threshold in the rules takes the guard's place.
    let declared = temp_file(dir.path(), "t.stroom", "threshold revoke max 100%\n");
    let o = plan_with(&declared, &EXAMPLE_STATE);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // And stroom.toml may move the guard's limit.
    let config = temp_file(
        dir.path(),
        "stroom.toml",
        "[plan]\nmax_removed_percent = 100\n",
    );
    let config = config.to_str().expect("utf-8");
    let o = plan_with(
        &empty,
        &[EXAMPLE_STATE[0], EXAMPLE_STATE[1], "--config", config],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn fmt_on_a_folder_without_rule_files_is_unusable_like_check() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().to_str().expect("utf-8");
    for cmd in [vec!["fmt", d], vec!["check", d]] {
        let o = stroom(&cmd);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", text(&o));
        assert!(text(&o).contains("holds no .stroom files"), "{}", text(&o));
    }
}

#[test]
fn grants_where_the_person_gets_no_account_are_left_out_and_reported() {
    // A first run (empty state): leavers still in the scope window get no Entra account,
    // so neither may they get Exchange mailboxes and permissions (apply would wait for
    // a mailbox that never comes).
    let o = plan_with(Path::new("rules-examples/vandijk"), &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let actions = plan["actions"].as_array().expect("actions");
    let with_entra: std::collections::HashSet<&str> = actions
        .iter()
        .filter(|a| a["op"] == "create_account" && a["target"] == "entra")
        .filter_map(|a| a["person"].as_str())
        .collect();
    let orphans: Vec<_> = actions
        .iter()
        .filter(|a| a["target"] == "exchange" && a["op"] == "grant")
        .filter(|a| !with_entra.contains(a["person"].as_str().unwrap_or("")))
        .collect();
    assert!(orphans.is_empty(), "{orphans:#?}");
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("have grants in exchange but no account in entra"),
        "{notes}"
    );
    // The checker sees the same thing in the rules.
    let checked = stroom::check_sources(&[(
        "r.stroom",
        "let staff = person.employee_type == \"payroll\"\naccount in ad { when staff }\nwhen department == \"Sales\" grant group \"CRM\" in ad\nwhen staff and department == \"Sales\" grant group \"CRM2\" in ad\n",
    )]);
    let warned: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.code() == "stroom::grant_without_account")
        .collect();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(
        warned[0]
            .help
            .contains("add `person.employee_type == \"payroll\" and`"),
        "{}",
        warned[0].help
    );
}

#[test]
fn a_second_apply_on_one_journal_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = temp_file(
        dir.path(),
        "r.stroom",
        "when true grant group \"g\" in ad\n",
    );
    let o = plan_with(&rules, &["--format", "json"]);
    let plan = temp_file(dir.path(), "plan.json", &o.stdout);
    let db = dir.path().join("data/stroom.db");
    let config = temp_file(
        dir.path(),
        "stroom.toml",
        format!("[store]\ndatabase = \"{}\"\n", db.display()),
    );
    let held = stroom::files::StoreLock::acquire(&db).expect("lock");
    let o = stroom(&[
        "apply",
        "--config",
        config.to_str().expect("utf-8"),
        "--plan",
        plan.to_str().expect("utf-8"),
        "--dry-run",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("another stroom run holds the lock"), "{out}");
    assert!(
        out.contains(&format!("pid {}", std::process::id())),
        "{out}"
    );
    drop(held);
}

#[test]
fn read_only_commands_create_no_store() {
    let dir = tempfile::tempdir().expect("tmp");
    for args in [
        vec!["snapshots"],
        vec!["snapshots", "--format", "json"],
        vec!["diff"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("run");
        assert!(
            text(&o).contains("nothing has been imported"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(
            !dir.path().join("stroom-data").exists(),
            "{args:?} created a store"
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_stroom"))
        .args(["snapshots", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}
