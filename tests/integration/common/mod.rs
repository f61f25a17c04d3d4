//! Helpers shared by the integration tests.
#![allow(dead_code)]

use chrono::NaiveDate;
use stroom::model::{Person, State};
use stroom::plan::{build_plan, Plan, PlanInput};
use stroom::rules::check::{check, Checked};
use stroom::rules::load::parse_sources;
use stroom::rules::program::Program;

pub fn checked(src: &str) -> Checked {
    check(parse_sources(&[("test.stroom", src)]))
}

pub fn program(src: &str) -> Program {
    let c = checked(src);
    let errors: Vec<_> = c.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    c.program.expect("program")
}

pub fn persons(v: serde_json::Value) -> Vec<Person> {
    stroom::source::persons::parse_persons("persons.json", &v.to_string()).expect("valid persons")
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub fn plan(program: &Program, persons: &[Person], state: &State, today: &str) -> Plan {
    build_plan(&PlanInput {
        program,
        persons,
        state,
        today: day(today),
    })
}

/// One line per action: `op person target detail`.
pub fn lines(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| {
            let detail = match (&a.kind, &a.name, a.field()) {
                (Some(k), Some(n), _) => format!("{} {n}", k.as_str()),
                (_, _, Some(f)) => format!("{f}={}", a.value().unwrap_or_default()),
                _ => match (a.attributes(), a.changes()) {
                    (Some(attrs), _) => serde_json::to_string(attrs).unwrap_or_default(),
                    (_, Some(ch)) => serde_json::to_string(ch).unwrap_or_default(),
                    _ => String::new(),
                },
            };
            format!("{} {} {} {}", a.op.as_str(), a.person, a.target, detail)
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The grants (`target kind name`) a plan gives a person.
pub fn granted(plan: &Plan, person: &str) -> Vec<String> {
    plan.actions
        .iter()
        .filter(|a| a.op.as_str() == "grant" && &*a.person == person)
        .map(|a| {
            format!(
                "{} {} {}",
                a.target,
                a.kind.map(|k| k.as_str()).unwrap_or(""),
                a.name.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// The example's rules, persons, state and date, as `stroom plan` flags.
pub const EXAMPLE: &[&str] = &[
    "--rules",
    "rules-examples/vandijk",
    "--persons",
    "rules-examples/vandijk-persons.json",
    "--state",
    "rules-examples/vandijk-state.json",
    "--today",
    "2026-12-01",
];

/// `stroom reconcile` of the example against its shipped inventory, with `extra` flags.
pub fn example_reconcile<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["reconcile"];
    args.extend_from_slice(EXAMPLE);
    args.extend_from_slice(&["--inventory", "rules-examples/vandijk-inventory.json"]);
    args.extend_from_slice(extra);
    args
}

/// A copy of the example's rule files in `to` (made), to edit in a test.
pub fn copy_example_rules(to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk");
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// `stroom ARGS` in the repository's folder, without colours.
pub fn stroom_cmd(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    c
}

/// Runs `stroom ARGS` to its end.
pub fn stroom(args: &[&str]) -> std::process::Output {
    stroom_cmd(args).output().expect("run stroom")
}

/// Standard output and standard error of a run, together.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Writes a file in `dir` and returns its path.
pub fn temp_file(
    dir: &std::path::Path,
    name: &str,
    content: impl AsRef<[u8]>,
) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

/// The shipped example: its checked rules, persons and state.
pub fn example() -> (Program, Vec<Person>, State) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect("example file");
    let program = stroom::check_paths(&[root.join("rules-examples/vandijk")])
        .expect("example rules")
        .program
        .expect("example rules check");
    let persons = stroom::source::persons::parse_persons(
        "p.json",
        &read("rules-examples/vandijk-persons.json"),
    )
    .expect("example persons");
    let state =
        stroom::source::state::parse_state("s.json", &read("rules-examples/vandijk-state.json"))
            .expect("example state");
    (program, persons, state)
}

/// Kills `child` with SIGKILL once the audit log has `lines` lines (or it ended, or a
/// minute passed): a crash in the middle of `stroom apply`.
/// `stroom apply --plan PLAN --state state.json` in `dir` (with `env` set), killed
/// (SIGKILL) once its audit log (`data/audit.jsonl`) has `kill_at` lines, or run to
/// the end without.
pub fn apply_killed_at(
    dir: &std::path::Path,
    plan: &str,
    env: &[(&str, &str)],
    kill_at: Option<usize>,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"));
    cmd.args(["apply", "--plan", plan, "--state", "state.json"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("stroom apply");
    if let Some(lines) = kill_at {
        kill_at_audit_line(&mut child, &dir.join("data/audit.jsonl"), lines);
    }
    child.wait_with_output().expect("wait")
}

pub fn kill_at_audit_line(child: &mut std::process::Child, audit: &std::path::Path, lines: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n = std::fs::read_to_string(audit)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let exited = child.try_wait().ok().flatten().is_some();
        if n >= lines || exited || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
}
