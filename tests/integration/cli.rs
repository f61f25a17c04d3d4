//! The `stroom` command: exit codes, formats and messages.

use crate::common::{stroom, temp_file, text, EXAMPLE};

#[test]
fn check_passes_on_the_examples() {
    let o = stroom(&["check", "rules-examples/vandijk"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no errors"));
}

#[test]
fn check_fails_with_located_errors_and_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = temp_file(
        dir.path(),
        "bad.stroom",
        "default target ad\nwhen departmnet == \"Sales\" grant group \"X\"\n",
    );
    let f = f.to_str().expect("utf-8 path");
    let o = stroom(&["check", f]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("stroom::unknown_field") && out.contains("did you mean `department`?"),
        "{out}"
    );
    assert!(out.contains("bad.stroom:2:6"), "{out}");

    let o = stroom(&["lint", "--format", "json", f]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["errors"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "stroom::unknown_field");
    assert_eq!(v["diagnostics"][0]["line"], 2);
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = temp_file(dir.path(), "w.stroom", "let unused = 1\n");
    let f = f.to_str().expect("utf-8 path");
    assert_eq!(stroom(&["check", f]).status.code(), Some(0));
    assert_eq!(
        stroom(&["check", "--deny-warnings", f]).status.code(),
        Some(1)
    );
}

#[test]
fn missing_rule_path_is_unusable() {
    let o = stroom(&["check", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot read no/such/dir"), "{}", text(&o));
}

#[test]
fn plan_table_and_json() {
    let mut args = vec!["plan"];
    args.extend_from_slice(EXAMPLE);
    let o = stroom(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("create_account") && out.contains("ad-account (10-accounts.stroom:4)"),
        "{out}"
    );
    args.extend_from_slice(&["--format", "json"]);
    let o = stroom(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json plan");
    assert_eq!(v["today"], "2026-12-01");
    assert!(v["blocked"].is_null());
    assert_eq!(v["actions"][0]["seq"], 1);
    // Same input, byte-equal plan.
    assert_eq!(stroom(&args).stdout, o.stdout);
}

#[test]
fn blocked_plan_exits_3_and_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = temp_file(
        dir.path(),
        "r.stroom",
        "default target ad\naccount in ad { set cn = display_name }\nthreshold create max 5\n",
    );
    let mut args = vec!["plan", "--rules", rules.to_str().expect("path")];
    args.extend_from_slice(&EXAMPLE[2..]);
    let o = stroom(&args);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("more than the threshold of 5"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_persons_file_names_record_and_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let persons = temp_file(
        dir.path(),
        "p.json",
        r#"[{"id":"a","last_name":"B","contracts":[{"id":"1","start":"01-01-2026"}]}]"#,
    );
    let o = stroom(&[
        "plan",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        persons.to_str().expect("path"),
        "--today",
        "2026-12-01",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("record 1 (id \"a\"), field `contracts[0].start`"),
        "{out}"
    );
    assert!(out.contains("nothing was planned"), "{out}");
}

#[test]
fn bad_state_file_names_the_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = temp_file(
        dir.path(),
        "s.json",
        r#"{"accounts":[{"person":"a","target":"ad"}]}"#,
    );
    let mut args: Vec<&str> = vec!["plan"];
    args.extend_from_slice(&EXAMPLE[..4]);
    args.extend_from_slice(&[
        "--state",
        state.to_str().expect("path"),
        "--today",
        "2026-12-01",
    ]);
    let o = stroom(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("missing field `enabled`"), "{}", text(&o));
}

#[test]
fn explain_shows_sub_conditions() {
    let mut args = vec![
        "explain",
        "--person",
        "000007ea-0000-4000-8000-000000000017",
    ];
    args.extend_from_slice(&EXAMPLE[..4]);
    args.extend_from_slice(&["--today", "2026-12-01"]);
    let o = stroom(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("not met all-staff"), "{out}");
    assert!(out.contains("contract.active → false"), "{out}");
    let o = stroom(&[
        "explain",
        "--person",
        "nobody",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        "rules-examples/vandijk-persons.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn fmt_check_and_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = temp_file(
        dir.path(),
        "a.stroom",
        "default target ad\nwhen department==\"Sales\" grant group \"X\" # note\n",
    );
    let p = f.to_str().expect("path");
    assert_eq!(stroom(&["fmt", "--check", p]).status.code(), Some(1));
    assert_eq!(stroom(&["fmt", p]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        "default target ad\nwhen department == \"Sales\"\n  grant group \"X\"  # note\n"
    );
    assert_eq!(stroom(&["fmt", "--check", p]).status.code(), Some(0));
    // The shipped examples are formatted.
    assert_eq!(
        stroom(&["fmt", "--check", "rules-examples"]).status.code(),
        Some(0)
    );
}

#[test]
fn rule_tests_pass_fail_and_coverage() {
    let o = stroom(&["test", "rules-examples/tests"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("passed, 0 failed"), "{}", text(&o));

    let dir = tempfile::tempdir().expect("tmp");
    temp_file(dir.path(), "r.stroom", "default target ad\nwhen department == \"Sales\" grant group \"CRM\"\nwhen department == \"IT\" grant group \"Dev\"\n");
    let t = temp_file(
        dir.path(),
        "x.stroomtest.toml",
        "rules = \"r.stroom\"\ntoday = \"2026-12-01\"\n[[persons]]\nid = \"p\"\nlast_name = \"B\"\ncontracts = [{ id = \"1\", start = 2026-01-01, department = \"Sales\" }]\n[[cases]]\nperson = \"p\"\nmust = ['group \"CRM\"']\nmust_not = ['group \"CRM\" in ad']\n",
    );
    let o = stroom(&["test", t.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("FAIL") && out.contains("must not get group \"CRM\" in ad, did"),
        "{out}"
    );
    assert!(
        out.contains("1 statement(s) no test made fire") && out.contains("r.stroom:3"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn bad_rule_test_files_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let broken = temp_file(
        dir.path(),
        "a.stroomtest.toml",
        "rules = \"../nowhere\"\ntoday = 2026-12-01\n[[cases]\n",
    );
    let o = stroom(&["test", broken.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("a.stroomtest.toml"), "{}", text(&o));

    temp_file(
        dir.path(),
        "r.stroom",
        "default target ad\nwhen true grant group \"X\"\n",
    );
    let unknown = temp_file(
        dir.path(),
        "b.stroomtest.toml",
        "rules = \"r.stroom\"\ntoday = \"2026-12-01\"\n[[cases]]\nperson = \"ghost\"\nmust = ['group \"X\"']\n",
    );
    let o = stroom(&["test", unknown.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no person with id \"ghost\""),
        "{}",
        text(&o)
    );

    let bad_ent = temp_file(
        dir.path(),
        "c.stroomtest.toml",
        "rules = \"r.stroom\"\ntoday = \"2026-12-01\"\n[[persons]]\nid = \"p\"\nlast_name = \"B\"\ncontracts = []\n[[cases]]\nperson = \"p\"\nmust = ['groep \"X\"']\n",
    );
    let o = stroom(&["test", bad_ent.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("unknown kind `groep`"), "{}", text(&o));
}

#[test]
fn bad_arguments_are_unusable_with_a_reason() {
    let o = stroom(&[
        "plan",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        "rules-examples/vandijk-persons.json",
        "--today",
        "2026-13-01",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("\"2026-13-01\" is not a date; write YYYY-MM-DD"),
        "{}",
        text(&o)
    );
    let o = stroom(&[
        "plan",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        "no-such.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("cannot read no-such.json"),
        "{}",
        text(&o)
    );
}

/// `stroom plan --compare-rules OLD`: what a rule edit changes, grouped by rule and
/// entitlement with the persons by name, from a folder or a git revision; exit 0 for
/// no change and 5 for changes, and the old rules' mistakes are theirs.
#[test]
fn compare_rules_shows_the_impact_of_a_rule_change() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // A repository of rules, as an admin keeps it; then the edit, not committed.
    let rules = dir.path().join("rules");
    crate::common::copy_example_rules(&rules);
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "rules"]);
    git(&["commit", "-q", "-m", "rules"]);
    let groups = rules.join("20-groups.stroom");
    let text_before = std::fs::read_to_string(&groups).unwrap();
    std::fs::write(
        &groups,
        text_before.replace(
            r#"department in ["Sales", "Inside Sales", "Klantenservice"]"#,
            r#"department in ["Sales", "Inside Sales"]"#,
        ),
    )
    .unwrap();
    let persons = root.join("rules-examples/vandijk-persons.json");
    let state = root.join("rules-examples/vandijk-state.json");
    let compare = |old: &str, format: &str| {
        crate::common::stroom(&[
            "plan",
            "--rules",
            rules.to_str().unwrap(),
            "--persons",
            persons.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--today",
            "2026-12-01",
            "--format",
            format,
            "--compare-rules",
            old,
        ])
    };
    // Against the committed rules: Klantenservice loses CRM-Users.
    let out = compare("git:HEAD", "json");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["changes"], true);
    assert_eq!(c["removed"], 0);
    let g = &c["groups"][0];
    assert_eq!(
        (g["change"].as_str(), g["op"].as_str(), g["name"].as_str()),
        (Some("added"), Some("revoke"), Some("CRM-Users"))
    );
    // Put under the statement that granted it, in the old rules, at that revision.
    assert_eq!(g["rule"]["rule"], "crm");
    assert_eq!(g["rule"]["file"], "HEAD:rules/20-groups.stroom");
    let n = g["persons"].as_array().unwrap().len();
    assert!(n > 5 && c["added"].as_u64() == Some(n as u64), "{c:#}");
    assert!(g["persons"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["name"].as_str().is_some_and(|s| !s.is_empty())
            && p["employee_number"].is_number()));
    // The same from the folder the old rules are in, for people.
    let old_copy = dir.path().join("old");
    std::fs::create_dir_all(&old_copy).unwrap();
    std::fs::write(old_copy.join("20-groups.stroom"), &text_before).unwrap();
    for f in [
        "00-settings.stroom",
        "10-accounts.stroom",
        "30-licences.stroom",
    ] {
        std::fs::copy(rules.join(f), old_copy.join(f)).unwrap();
    }
    let out = compare(old_copy.to_str().unwrap(), "table");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("+ revoke group \"CRM-Users\" in ad, as rule crm ({}:30) no longer grants it: {n} person(s)", old_copy.join("20-groups.stroom").display())), "{table}");
    assert!(
        table.contains(&format!(
            "{n} action(s) added, 0 removed, for {n} person(s)"
        )),
        "{table}"
    );
    // No change: exit 0.
    std::fs::write(&groups, &text_before).unwrap();
    let out = compare("git:HEAD", "table");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("changes nothing"));
    // A revision that is not there, and old rules with an error.
    let out = compare("git:no-such-rev", "table");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--compare-rules git:no-such-rev") && text(&out).contains("help:"),
        "{}",
        text(&out)
    );
    let broken = temp_file(
        dir.path(),
        "broken.stroom",
        "when departmnt == \"x\" grant group \"y\" in ad\n",
    );
    let out = compare(broken.to_str().unwrap(), "table");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("stroom::unknown_field"),
        "{}",
        text(&out)
    );
}

/// `stroom explain` finds a person by id, employee number or name (several of one
/// name are listed, never guessed), shows what fired rules give with the names
/// evaluated, the account lifecycle dates, and with --state why each planned step is
/// there, a revoke included.
#[test]
fn explain_shows_what_matters() {
    let explain = |who: &str, extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--rules",
            "rules-examples/vandijk",
            "--persons",
            "rules-examples/vandijk-persons.json",
            "--today",
            "2026-12-01",
            "--person",
            who,
        ];
        args.extend_from_slice(extra);
        stroom(&args)
    };
    let by_number = explain("1007", &["--state", "rules-examples/vandijk-state.json"]);
    assert_eq!(by_number.status.code(), Some(0), "{}", text(&by_number));
    let out = String::from_utf8_lossy(&by_number.stdout).to_string();
    assert!(
        out.starts_with("person 000007ea-0000-4000-8000-000000000007 (Stijn van Beek)"),
        "{out}"
    );
    // The evaluated name, not the expression.
    assert!(out.contains("gives group \"DEP-sales\" in ad"), "{out}");
    assert!(
        out.contains("gives permission \"FullAccess\" on \"sales@vandijkgroep.nl\" in exchange"),
        "{out}"
    );
    assert!(out.contains("account in ad: enabled; created on 2025-04-17, enabled on 2025-05-01, disabled on -, deleted on -"), "{out}");
    // Why the revoke: the rule that gave it gives another group now.
    assert!(out.contains("revoke in ad group \"DEP-engineering\": no rule grants this any more; rule department-groups (rules-examples/vandijk/20-groups.stroom:18) gave it; it gives group \"DEP-sales\" in ad now"), "{out}");
    // By name, the same person; a name two persons have is an error that lists both.
    let by_name = explain("stijn van beek", &[]);
    assert!(String::from_utf8_lossy(&by_name.stdout)
        .starts_with("person 000007ea-0000-4000-8000-000000000007"));
    let twice = explain("Pieter Smits", &[]);
    assert_eq!(twice.status.code(), Some(1), "{}", text(&twice));
    assert!(
        text(&twice).contains("2 persons fit \"Pieter Smits\"")
            && text(&twice).contains("give the id"),
        "{}",
        text(&twice)
    );
    // A leaver: the disable and its reason, and the lifecycle dates that lead there.
    let leaver = explain(
        "Mohammed Hart",
        &[
            "--state",
            "rules-examples/vandijk-state.json",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&leaver.stdout).unwrap();
    let ad = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target"] == "ad")
        .unwrap();
    assert_eq!(ad["disabled_on"], "2026-11-28");
    assert_eq!(ad["deleted_on"], "2027-02-26");
    assert!(
        v["planned"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["op"] == "disable_account"
                && p["why"]
                    .as_str()
                    .unwrap()
                    .contains("leaver: last contract ended 2026-11-27")),
        "{v:#}"
    );
}

/// `stroom plan --person` shows one person's actions, found by employee number or name.
#[test]
fn plan_for_one_person_by_number_or_name() {
    let base: Vec<&str> = ["plan"]
        .iter()
        .chain(EXAMPLE)
        .chain(&["--format", "json"])
        .copied()
        .collect();
    let run = |who: &str| {
        let mut args = base.to_vec();
        args.extend_from_slice(&["--person", who]);
        stroom(&args)
    };
    let by_number = run("1007");
    assert_eq!(by_number.status.code(), Some(0), "{}", text(&by_number));
    let plan: serde_json::Value = serde_json::from_slice(&by_number.stdout).unwrap();
    let actions = plan["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(actions
        .iter()
        .all(|a| a["person"] == "000007ea-0000-4000-8000-000000000007"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&run("Stijn van Beek").stdout).unwrap()
            ["actions"],
        plan["actions"]
    );
    let nobody = run("Niemand");
    assert_eq!(nobody.status.code(), Some(1));
    assert!(
        text(&nobody).contains("no person with id, employee number or name \"Niemand\""),
        "{}",
        text(&nobody)
    );
}

/// `stroom reconcile --person` takes an employee number or a name too, and then shows
/// that person only, linked included.
#[test]
fn reconcile_one_person_by_number() {
    let out = stroom(&crate::common::example_reconcile(&[
        "--person", "1007", "--format", "json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in report["targets"].as_array().unwrap() {
        let persons = t["persons"].as_array().unwrap();
        assert_eq!(persons.len(), 1, "{t:#}");
        assert_eq!(persons[0]["person"], "000007ea-0000-4000-8000-000000000007");
        assert_eq!(persons[0]["situation"], "linked");
        assert!(t["drift"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["person"] == "000007ea-0000-4000-8000-000000000007"));
    }
    let nobody = stroom(&crate::common::example_reconcile(&["--person", "Niemand"]));
    assert_eq!(nobody.status.code(), Some(1));
    assert!(
        text(&nobody).contains("--person: no person with id, employee number or name"),
        "{}",
        text(&nobody)
    );
}

/// The shipped example with a department HR just made: the plan makes its group first
/// (the example declares `group "DEP-*" in ad`), then adds the person. The book's
/// managed-groups section shows this output.
#[test]
fn a_new_department_gets_its_group_made_first() {
    let dir = tempfile::tempdir().unwrap();
    let text_in = std::fs::read_to_string("rules-examples/vandijk-persons.json").unwrap();
    let mut persons: serde_json::Value = serde_json::from_str(&text_in).unwrap();
    for p in persons.as_array_mut().unwrap() {
        if p["employee_number"] == 1007 {
            p["contracts"][0]["department"] = "Duurzaamheid".into();
        }
    }
    let file = temp_file(dir.path(), "persons.json", persons.to_string());
    let out = stroom(&[
        "plan",
        "--rules",
        "rules-examples/vandijk",
        "--persons",
        file.to_str().unwrap(),
        "--state",
        "rules-examples/vandijk-state.json",
        "--today",
        "2026-12-01",
        "--person",
        "1007",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("1  create_group"), "{table}");
    assert!(
        lines[1].contains("group \"DEP-duurzaamheid\" (global security)")
            && lines[1].contains("group \"DEP-*\" in ad (20-groups.stroom:11)"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("4  grant") && l.contains("group \"DEP-duurzaamheid\"")),
        "{table}"
    );
}
