//! `stroom sync`, `stroom nmbrs import|login`, `stroom diff` end to end: the `stroom`
//! binary against the Nmbrs simulator, with faults, with a real SQLite file.

use chrono::NaiveDate;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use stroom::simulate::nmbrs::{Credentials, Faults, Sim};
use stroom::source::nmbrs::auth::TokenStore;

struct Setup {
    sim: Arc<Sim>,
    base: String,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(n: usize) -> Self {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let sim = Arc::new(Sim::generate(n, 11, today, Credentials::default()));
        let base = stroom::simulate::spawn(sim.clone().router()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stroom.toml"),
            "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\n\
             backoff_base_ms = 5\nbackoff_max_ms = 50\nmax_attempts = 12\n\n\
             [store]\ndatabase = \"data/stroom.db\"\nmax_gone_percent = 10\n\n\
             [sync]\npersons_out = \"data/persons.jsonl\"\nplan_out = \"data/plan.json\"\n",
        )
        .unwrap();
        let s = Self { sim, base, dir };
        s.grant();
        s
    }

    /// As if `stroom nmbrs login` had run.
    fn grant(&self) {
        self.sim
            .sign_in(&TokenStore::new(self.path("data/tokens.json")))
            .unwrap();
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `stroom ARGS` in the setup's folder, pointed at the simulator.
    fn command(&self, args: &[&str]) -> Command {
        let c = Credentials::default();
        let mut command = Command::new(env!("CARGO_BIN_EXE_stroom"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("STROOM_NMBRS_BASE_URL", &self.base)
            .env("STROOM_NMBRS_IDENTITY_URL", &self.base)
            .env("STROOM_NMBRS_CLIENT_SECRET", &c.client_secret)
            .env("STROOM_NMBRS_SUBSCRIPTION_KEY", &c.subscription_key);
        command
    }

    fn stroom(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `stroom ARGS` with its output piped.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn sync(&self, extra: &[&str]) -> Output {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk");
        let mut args = vec![
            "sync",
            "--rules",
            rules.to_str().unwrap(),
            "--today",
            "2026-12-01",
        ];
        args.extend_from_slice(extra);
        self.stroom(&args)
    }

    fn snapshots(&self) -> Vec<Value> {
        let o = self.stroom(&["snapshots", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn diff(&self) -> Value {
        let o = self.stroom(&["diff", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn ids(&self) -> Vec<String> {
        self.sim
            .persons()
            .iter()
            .map(|p| p.id.to_string())
            .collect()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn persons_out(s: &Setup) -> usize {
    std::fs::read_to_string(s.path("data/persons.jsonl"))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn sync_with_faults_loses_nobody_and_shows_a_mover_after_a_department_change() {
    let s = Setup::new(400);
    s.sim.set_faults(Faults {
        throttle_burst: 4,
        server_error_every: 6,
        drop_every: 9,
        slow_ms: 1,
        ..Faults::default()
    });
    let o = s.sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("400 persons") && t.contains("snapshot 1 stored"),
        "{t}"
    );
    assert!(t.contains("400 joiners, 0 movers, 0 leavers"), "{t}");
    assert_eq!(persons_out(&s), 400);
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("data/plan.json")).unwrap()).unwrap();
    assert!(plan["actions"].as_array().unwrap().len() > 1000);

    // Someone moves to Finance in Nmbrs: the next sync shows exactly that.
    let id = s.ids()[42].clone();
    assert!(s.sim.move_department(&id, "Finance", 77));
    let o = s.sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("0 joiners, 1 movers, 0 leavers"),
        "{}",
        text(&o)
    );
    let d = s.diff();
    let m = &d["mutations"][0];
    assert_eq!(m["kind"], "mover");
    assert_eq!(m["person"], id.as_str());
    let change = m["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"].as_str().unwrap().ends_with("].department"))
        .unwrap();
    assert_eq!(change["new"], "Finance");
    assert_ne!(change["old"], "Finance");
    assert!(!change["old"].is_null());

    // No change: nothing new stored.
    s.sim.set_faults(Faults::default());
    let o = s.sync(&[]);
    assert!(
        text(&o).contains("no change since snapshot 2"),
        "{}",
        text(&o)
    );
    assert_eq!(s.snapshots().len(), 2);
}

#[test]
fn a_failed_import_stores_nothing_and_invents_no_leaver() {
    let s = Setup::new(450);
    assert!(s.sync(&[]).status.success());
    let before = std::fs::read_to_string(s.path("data/persons.jsonl")).unwrap();
    // Page 2 of the contracts keeps failing: the import cannot be complete.
    s.sim.set_faults(Faults {
        fail_page: Some(("/employees/contracts".into(), 2)),
        ..Faults::default()
    });
    let o = s.sync(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("gave up on") && t.contains("no snapshot was stored"),
        "{t}"
    );
    assert_eq!(s.snapshots().len(), 1);
    assert_eq!(
        std::fs::read_to_string(s.path("data/persons.jsonl")).unwrap(),
        before
    );
}

#[test]
fn a_large_drop_is_blocked_until_approved() {
    let s = Setup::new(200);
    assert!(s.sync(&[]).status.success());
    let ids = s.ids();
    let gone: Vec<&str> = ids.iter().take(30).map(String::as_str).collect();
    assert_eq!(s.sim.remove(&gone), 30);
    let o = s.sync(&[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("30 of 200 persons (15.0%) are gone"),
        "{}",
        text(&o)
    );
    assert_eq!(s.snapshots().len(), 1);
    let o = s.sync(&["--approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let snaps = s.snapshots();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1]["approved"], true);
    let d = s.diff();
    assert_eq!(d["summary"]["leaver"], 30);
}

#[test]
fn a_person_with_broken_data_keeps_the_previous_record() {
    let s = Setup::new(120);
    assert!(s.sync(&[]).status.success());
    let id = s.ids()[5].clone();
    assert!(s.sim.corrupt(&id, "last_name"));
    let o = s.sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("skipped: ") && t.contains(&id) && t.contains("no last name"),
        "{t}"
    );
    assert!(
        t.contains("1 skipped, 1 kept from the last snapshot"),
        "{t}"
    );
    assert!(t.contains("0 leavers"), "{t}");
    assert_eq!(persons_out(&s), 120);
}

#[test]
fn import_reports_json_and_bad_configuration_is_named() {
    let s = Setup::new(30);
    let o = s.stroom(&["nmbrs", "import", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stats"]["persons"], 30);
    assert_eq!(v["snapshot"]["new"], true);
    // A secret in the TOML file is refused with the fix.
    std::fs::write(
        s.path("bad.toml"),
        "[nmbrs]\nclient_secret = \"s3cr3t-hunter2\"\n",
    )
    .unwrap();
    let o = s.stroom(&["nmbrs", "import", "--config", "bad.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("secrets never go in stroom.toml"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("hunter2"), "never shown: {}", text(&o));
    std::fs::write(s.path("bad.toml"), "[nmbrs]\npage_size = 500\n").unwrap();
    let o = s.stroom(&["nmbrs", "import", "--config", "bad.toml"]);
    assert!(text(&o).contains("1 to 100"), "{}", text(&o));
}

#[test]
fn login_catches_the_code_on_the_loopback_redirect() {
    let s = Setup::new(5);
    std::fs::remove_file(s.path("data/tokens.json")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        s.path("stroom.toml"),
        format!("[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\nredirect_uri = \"http://127.0.0.1:{port}/callback\"\n[store]\ndatabase = \"data/stroom.db\"\n"),
    )
    .unwrap();
    let c = Credentials::default();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stroom"))
        .args(["nmbrs", "login", "--wait", "30"])
        .current_dir(s.dir.path())
        .env("STROOM_NMBRS_BASE_URL", &s.base)
        .env("STROOM_NMBRS_IDENTITY_URL", &s.base)
        .env("STROOM_NMBRS_CLIENT_SECRET", &c.client_secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("http")))
        .unwrap();
    assert!(
        url.contains("offline_access") && url.contains("state="),
        "{url}"
    );
    // The "browser": the simulator consents at once and redirects to the loopback.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    assert!(page.contains("signed in"), "{page}");
    let status = child.wait().unwrap();
    assert!(status.success());
    let o = s.stroom(&["nmbrs", "import"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("5 persons"), "{}", text(&o));
}

#[test]
fn repeated_import_warnings_are_said_once_per_kind() {
    let s = Setup::new(600);
    let o = s.stroom(&["nmbrs", "import"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let grouped: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    let o = s.stroom(&["nmbrs", "import", "--all-warnings"]);
    let all_err = String::from_utf8_lossy(&o.stderr).to_string();
    let all: Vec<&str> = all_err
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert!(
        !all.is_empty(),
        "the simulator's data has warnings: {all_err}"
    );
    assert!(grouped.len() < all.len(), "{grouped:#?}");
    // One line per kind: no two grouped lines say the same thing.
    let mut kinds: Vec<&str> = grouped
        .iter()
        .map(|l| l.split_once(": ").map_or(*l, |(_, k)| k))
        .collect();
    kinds.dedup();
    assert_eq!(kinds.len(), grouped.len());
    assert!(
        grouped
            .iter()
            .any(|l| l.contains("employees:") && l.contains("`--all-warnings`")),
        "{grouped:#?}"
    );
}

/// `stroom sync | head -c1`: output stops quietly, and the files the run writes are
/// whole and private.
#[test]
fn sync_with_a_closed_stdout_finishes_its_files() {
    use std::io::Read;
    let s = Setup::new(200);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk");
    let mut child = s.spawn(&[
        "sync",
        "--rules",
        rules.to_str().unwrap(),
        "--today",
        "2026-12-01",
    ]);
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    let _ = stdout.read(&mut one);
    drop(stdout);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(persons_out(&s), 200);
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("data/plan.json")).unwrap()).unwrap();
    assert!(plan["actions"].as_array().unwrap().len() > 100);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "data/plan.json",
            "data/persons.jsonl",
            "data/stroom.db",
            "data/tokens.json",
        ] {
            let mode = std::fs::metadata(s.path(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f} is {mode:o}");
        }
    }
}

/// Two runs at once: the second is refused with who holds the store, and nothing of
/// the first is disturbed; two imports with their own stores share the rotating token
/// without locking each other out.
#[test]
fn one_run_per_store_and_one_token_refresh_at_a_time() {
    let s = Setup::new(60);
    // Another process holds the snapshot store (here: this test, as a stand-in).
    let held = stroom::files::StoreLock::acquire(&s.path("data/stroom.db")).unwrap();
    let o = s.stroom(&["nmbrs", "import"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("another stroom run holds the lock")
            && text(&o).contains(&format!("pid {}", std::process::id())),
        "{}",
        text(&o)
    );
    drop(held);
    // Two processes at once, each with its own store, one token store: both succeed.
    std::fs::write(
        s.path("other.toml"),
        "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\n\
         backoff_base_ms = 5\nbackoff_max_ms = 50\nmax_attempts = 12\n\n\
         [store]\ndatabase = \"data/other.db\"\n",
    )
    .unwrap();
    s.sim.revoke_access_tokens();
    let spawn = |config: &str| s.spawn(&["nmbrs", "import", "--config", config]);
    let a = spawn("stroom.toml");
    let b = spawn("other.toml");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    // And the stored pair still works for a third run.
    let o = s.stroom(&["nmbrs", "import"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// The pipeline `stroom sync` runs, called as a library: import → snapshot → plan →
/// the apply document; and a failed import stores nothing and plans nothing.
#[test]
fn the_sync_pipeline_runs_from_the_library() {
    use stroom::sync::{sync_once, ImportOptions, SyncError};
    let s = Setup::new(120);
    let c = Credentials::default();
    let base = s.base.clone();
    let env = move |k: &str| match k {
        "STROOM_NMBRS_BASE_URL" | "STROOM_NMBRS_IDENTITY_URL" => Some(base.clone()),
        "STROOM_NMBRS_CLIENT_SECRET" => Some(c.client_secret.clone()),
        "STROOM_NMBRS_SUBSCRIPTION_KEY" => Some(c.subscription_key.clone()),
        _ => None,
    };
    let options = ImportOptions {
        env: Some(std::sync::Arc::new(env.clone())),
        ..ImportOptions::default()
    };
    let config = stroom::config::Config::load_with_env(Some(&s.path("stroom.toml")), &env).unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk");
    let checked = stroom::check_paths(&[rules]).unwrap();
    let program = checked.program.unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let state = stroom::model::State::default();
    let synced = sync_once(&config, &program, &state, today, &options).unwrap();
    assert_eq!(synced.run.stored.persons.len(), 120);
    assert!(!synced.plan.actions.is_empty());
    assert_eq!(
        synced.planned,
        synced
            .run
            .stored
            .persons
            .iter()
            .filter(|p| synced.plan.actions.iter().any(|a| *a.person == *p.id))
            .count()
    );
    // Everyone is new: no action is date-driven on a first run.
    assert_eq!(synced.date_driven, 0);
    assert!(
        synced.summary().contains("120 persons"),
        "{}",
        synced.summary()
    );
    let (doc, id) = synced.apply_document().unwrap();
    assert_eq!(doc.actions.len(), synced.plan.actions.len());
    let written = std::fs::read_to_string(s.path("data/plan.json")).unwrap();
    let reread: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        id,
        stroom::apply::plan_id(&serde_json::to_string(&reread).unwrap())
    );
    assert_eq!(s.snapshots().len(), 1);
    s.sim.set_faults(Faults {
        server_error_every: 1,
        ..Faults::default()
    });
    let failed = sync_once(&config, &program, &state, today, &options);
    assert!(
        matches!(failed, Err(SyncError::Import(_))),
        "{}",
        failed.err().map(|e| e.to_string()).unwrap_or_default()
    );
    assert_eq!(s.snapshots().len(), 1);
}

/// `stroom sync --person`: the helpdesk's "she starts today and has nothing". One
/// person is read from Nmbrs through the `employeeId` filter (a handful of calls),
/// planned with the snapshot's others as the population, carried out step by step in
/// the Microsoft 365 simulator with the address written back, and nothing is stored
/// as a snapshot. Failure paths: unknown, unusable, a filter Nmbrs ignores.
#[test]
fn one_person_now_is_read_planned_and_applied_step_by_step() {
    use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
    let s = Setup::new(120);
    let ms = MicrosoftSim::new(TenantSetup::default());
    let graph = ms.start().unwrap();
    let setup = ms.setup().clone();
    std::fs::write(
        s.path("stroom.toml"),
        format!(
            "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\n\
             backoff_base_ms = 5\nbackoff_max_ms = 50\n\
             [store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n\
             [sync]\nstate = \"data/state.json\"\n\
             [targets.entra]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority = \"{graph}\"\ngraph_url = \"{graph}\"\n",
            setup.tenant_id, setup.client_id
        ),
    )
    .unwrap();
    std::fs::write(
        s.path("rules.stroom"),
        r#"default target entra
rule "entra-account" {
  account in entra {
    create 14 days before start
    disable 0 days after end
    set mail = unique [lower(ascii(first_name) + "." + replace(ascii(family_name), " ", ""))] max 48 ending "@vandijkgroep.nl"
    set displayName = display_name
    set employeeId = employee_number + ""
    set usageLocation = "NL"
  }
}
rule "staff" {
  when contract.active
    grant group "All Staff"
}
rule "write-back-mail" {
  writeback business_email from entra.mail
}
"#,
    )
    .unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let active = |p: &stroom::model::Person| {
        p.contracts
            .iter()
            .any(|c| c.start.is_some_and(|d| d <= today) && c.end.is_none_or(|d| d > today))
            && p.business_email.is_none()
    };
    let persons = s.sim.persons();
    let mut working = persons.iter().filter(|p| active(p));
    let (joiner, mover) = (
        working.next().unwrap().clone(),
        working.next().unwrap().clone(),
    );
    let second = working.next().unwrap().clone();
    let twins = (
        working.next().unwrap().clone(),
        working.next().unwrap().clone(),
    );
    let run = |args: &[&str]| {
        let mut all = vec!["sync", "--rules", "rules.stroom", "--today", "2026-12-01"];
        all.extend_from_slice(args);
        s.command(&all)
            .env("STROOM_ENTRA_CLIENT_SECRET", &setup.client_secret)
            .output()
            .unwrap()
    };
    // The snapshot is taken before the joiner was entered in Nmbrs.
    assert_eq!(s.sim.remove(&[&joiner.id, &second.id]), 2);
    let o = run(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.snapshots().len(), 1);
    assert!(s.sim.restore(&joiner.id));
    assert!(s.sim.restore(&second.id));

    // The joiner, by id, applied: each step as it ends, the address written back.
    let before = s.sim.calls();
    let o = run(&["--person", &joiner.id, "--apply"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{}", text(&o));
    let calls = s.sim.calls() - before;
    assert!(
        calls <= 16,
        "{calls} Nmbrs calls for one person (the write-back included)\n{err}"
    );
    for line in [
        "[1/3] nmbrs: ",
        "new: not in snapshot 1",
        "[2/3] plan: 4 action(s) (1 create_account, 1 enable_account, 1 grant, 1 writeback)",
        "[3/3] apply:",
        "step 1 create_account in entra: ok",
        "step 2 enable_account in entra: ok",
        "step 3 grant group \"All Staff\" in entra: ok",
        "step 4 writeback business_email",
        "apply: 4 done, 0 already done, 0 failed",
        "done in ",
    ] {
        assert!(err.contains(line), "{line:?} missing in\n{err}");
    }
    assert!(!err.contains(&setup.client_secret), "{err}");
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains(&joiner.display_name), "{table}");
    assert!(!table.contains(&mover.display_name), "{table}");
    let written = s
        .sim
        .persons()
        .into_iter()
        .find(|p| p.id == joiner.id)
        .unwrap()
        .business_email;
    assert!(
        written
            .as_deref()
            .is_some_and(|m| m.ends_with("@vandijkgroep.nl")),
        "{written:?}"
    );
    let state: stroom::model::State =
        serde_json::from_str(&std::fs::read_to_string(s.path("data/state.json")).unwrap()).unwrap();
    assert!(state.accounts.iter().all(|a| *a.person == *joiner.id));
    assert_eq!(state.accounts.len(), 1);
    // Nothing stored: the next full sync still sees the joiner arrive.
    assert_eq!(s.snapshots().len(), 1);

    // Again, by employee number: nothing left to do, nothing sent twice.
    let number = joiner.employee_number.unwrap().to_string();
    let o = run(&["--person", &number, "--apply"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("[2/3] plan: 0 action(s)"), "{err}");
    assert!(err.contains("[3/3] nothing to apply"), "{err}");

    // A joiner the snapshot does not know, by employee number: found in the
    // companies' employee lists.
    let number = second.employee_number.unwrap().to_string();
    let o = run(&["--person", &number, "--format", "json"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("({}, number {number})", second.id)),
        "{err}"
    );
    assert!(err.contains("new: not in snapshot 1"), "{err}");

    // A mover, by name, planned only: what changed since the snapshot is shown.
    assert!(s.sim.move_department(&mover.id, "Finance", 77));
    let o = run(&[
        "--person",
        &mover.display_name.to_uppercase(),
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("changed since snapshot 1:"), "{err}");
    assert!(err.contains("].department: "), "{err}");
    assert!(err.contains("-> \"Finance\""), "{err}");
    assert!(err.contains("not applied: add --apply"), "{err}");
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let actions = plan["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(actions.iter().all(|a| a["person"] == mover.id.as_ref()));
    assert_eq!(actions[0]["seq"], 1);

    // Nmbrs ignoring the filter lends nobody another's data.
    s.sim.set_faults(Faults {
        ignore_employee_filter: true,
        ..Faults::default()
    });
    let o = run(&["--person", &mover.id, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["actions"], plan["actions"]);
    s.sim.set_faults(Faults::default());

    // Nobody fits: a clear refusal, nothing planned, nobody a leaver.
    let o = run(&["--person", "00000000-0000-4000-8000-00000000dead"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("no employee with employee id 00000000-0000-4000-8000-00000000dead")
            && err.contains("nothing was planned"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // A name two employees have in Nmbrs (renamed since the snapshot): both listed,
    // nothing planned.
    assert!(s.sim.rename(&twins.0.id, "Twee", "Gelijk"));
    assert!(s.sim.rename(&twins.1.id, "Twee", "Gelijk"));
    let o = run(&["--person", "twee gelijk"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("2 employees fit")
            && err.contains(twins.0.id.as_ref())
            && err.contains(twins.1.id.as_ref())
            && err.contains("help: give the employee id"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // Data that cannot be used is named, never planned from.
    assert!(s.sim.corrupt(&mover.id, "last_name"));
    let o = run(&["--person", &mover.id]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("cannot be used") && err.contains("last"),
        "{err}"
    );
    assert_eq!(s.snapshots().len(), 1);
}
