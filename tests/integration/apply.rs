//! The apply engine: resumable after a crash at any step, failures isolated per
//! person, blocked plans refused, dry runs write nothing. The target here is an
//! in-memory directory with AD's semantics (a second create of the same account is an
//! error, so a duplicate cannot hide).

use crate::common;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stroom::apply::audit::Audit;
use stroom::apply::journal::{Journal, StepStatus};
use stroom::apply::{apply, plan_id, state_after_apply, ApplyError, ApplyOptions};
use stroom::model::State;
use stroom::plan::read::parse_plan;
use stroom::targets::{AccountRef, Entitlement, Target, TargetError, TargetResult};

#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: String,
    enabled: bool,
    attributes: Map<String, Value>,
    groups: BTreeSet<String>,
}

/// When to fail, counted over writes.
#[derive(Default, Clone)]
struct Faults {
    /// The run dies (fatal error) at this write, before (false) or after (true) it.
    crash_at: Option<(usize, bool)>,
    /// Every write for this person is refused.
    refuse_person: Option<String>,
    /// Every Nth write fails transiently first.
    transient_every: usize,
}

struct Directory {
    accounts: Mutex<BTreeMap<String, Account>>,
    writes: AtomicUsize,
    faults: Faults,
}

impl Directory {
    fn new(faults: Faults) -> Self {
        let mut accounts = BTreeMap::new();
        accounts.insert(
            "leaver".to_string(),
            Account {
                id: "CN=Leaver".into(),
                enabled: true,
                attributes: Map::new(),
                groups: ["Staff".to_string()].into(),
            },
        );
        Self {
            accounts: Mutex::new(accounts),
            writes: AtomicUsize::new(0),
            faults,
        }
    }

    fn snapshot(&self) -> BTreeMap<String, Account> {
        self.accounts.lock().unwrap().clone()
    }

    /// Runs a write with the configured faults.
    fn write<T>(
        &self,
        person: &str,
        f: impl FnOnce(&mut BTreeMap<String, Account>) -> TargetResult<T>,
    ) -> TargetResult<T> {
        if self.faults.refuse_person.as_deref() == Some(person) {
            return Err(TargetError::refused(
                "constraint violation: this person is locked",
            ));
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if self.faults.transient_every > 0 && n.is_multiple_of(self.faults.transient_every) {
            return Err(TargetError::transient("server busy"));
        }
        if self.faults.crash_at == Some((n, false)) {
            return Err(TargetError::fatal("crash before the write"));
        }
        let out = f(&mut self.accounts.lock().unwrap())?;
        if self.faults.crash_at == Some((n, true)) {
            return Err(TargetError::fatal("crash after the write"));
        }
        Ok(out)
    }
}

fn person_of(id: &str) -> String {
    id.trim_start_matches("CN=").to_lowercase()
}

impl Target for Directory {
    fn name(&self) -> &str {
        "ad"
    }
    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .get(person)
            .map(|a| AccountRef {
                id: a.id.clone(),
                enabled: Some(a.enabled),
            }))
    }
    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        let accounts = self.accounts.lock().unwrap();
        let a = accounts.get(&person_of(&account.id));
        Ok(a.map(|a| {
            a.groups
                .iter()
                .map(|g| ("group".into(), g.clone()))
                .collect()
        })
        .unwrap_or_default())
    }
    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef> {
        self.write(person, |d| {
            if d.contains_key(person) {
                return Err(TargetError::refused(
                    "entryAlreadyExists: a duplicate create",
                ));
            }
            let id = format!("CN={}", person.to_uppercase());
            d.insert(
                person.to_string(),
                Account {
                    id: id.clone(),
                    enabled: false,
                    attributes: attributes.clone(),
                    groups: BTreeSet::new(),
                },
            );
            Ok(AccountRef {
                id,
                enabled: Some(false),
            })
        })
    }
    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        let p = person_of(&account.id);
        self.write(&p.clone(), |d| {
            let a = d
                .get_mut(&p)
                .ok_or_else(|| TargetError::refused("noSuchObject"))?;
            for (k, v) in values {
                a.attributes.insert(k.clone(), v.clone());
            }
            Ok(())
        })
    }
    fn enable(&self, account: &AccountRef) -> TargetResult<()> {
        let p = person_of(&account.id);
        self.write(&p.clone(), |d| {
            d.get_mut(&p)
                .ok_or_else(|| TargetError::refused("noSuchObject"))?
                .enabled = true;
            Ok(())
        })
    }
    fn disable(&self, account: &AccountRef) -> TargetResult<()> {
        let p = person_of(&account.id);
        self.write(&p.clone(), |d| {
            d.get_mut(&p)
                .ok_or_else(|| TargetError::refused("noSuchObject"))?
                .enabled = false;
            Ok(())
        })
    }
    fn delete(&self, account: &AccountRef) -> TargetResult<()> {
        let p = person_of(&account.id);
        self.write(&p.clone(), |d| {
            d.remove(&p);
            Ok(())
        })
    }
    fn grant(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        let p = person_of(&account.id);
        let name = e.name.to_string();
        self.write(&p.clone(), |d| {
            d.get_mut(&p)
                .ok_or_else(|| TargetError::refused("noSuchObject"))?
                .groups
                .insert(name);
            Ok(())
        })
    }
    fn revoke(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        let p = person_of(&account.id);
        let name = e.name.to_string();
        self.write(&p.clone(), |d| {
            if let Some(a) = d.get_mut(&p) {
                a.groups.remove(&name);
            }
            Ok(())
        })
    }
}

fn plan_text(blocked: Value) -> String {
    let mut actions = Vec::new();
    let mut seq = 0;
    let mut push = |mut a: Value| {
        seq += 1;
        a["seq"] = json!(seq);
        a["target"] = json!("ad");
        a["because"] = json!([]);
        actions.push(a);
    };
    for p in ["anna", "bram", "cor"] {
        push(json!({"op": "create_account", "person": p, "attributes": {"sAMAccountName": p}}));
        push(
            json!({"op": "update_account", "person": p, "changes": {"title": [null, "Engineer"]}}),
        );
        push(json!({"op": "enable_account", "person": p}));
        push(json!({"op": "grant", "person": p, "kind": "group", "name": "Staff"}));
        push(json!({"op": "grant", "person": p, "kind": "group", "name": "Engineering"}));
    }
    push(json!({"op": "disable_account", "person": "leaver"}));
    push(json!({"op": "revoke", "person": "leaver", "kind": "group", "name": "Staff"}));
    push(json!({"op": "delete_account", "person": "leaver"}));
    json!({"today": "2026-12-01", "summary": {}, "blocked": blocked, "actions": actions})
        .to_string()
}

fn options() -> ApplyOptions {
    ApplyOptions {
        concurrency: 3,
        backoff: Duration::from_millis(1),
        ..ApplyOptions::default()
    }
}

fn targets(d: Arc<Directory>) -> HashMap<String, Arc<dyn Target>> {
    let mut m: HashMap<String, Arc<dyn Target>> = HashMap::new();
    m.insert("ad".into(), d);
    m
}

fn reference() -> BTreeMap<String, Account> {
    let text = plan_text(Value::Null);
    let doc = parse_plan("plan.json", &text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let d = Arc::new(Directory::new(Faults::default()));
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets(d.clone()),
        &journal,
        &Audit::none(),
        &options(),
    )
    .unwrap();
    assert_eq!(report.done, 18);
    d.snapshot()
}

#[test]
fn a_crash_at_any_write_resumes_to_exactly_the_intended_objects() {
    let expected = reference();
    assert_eq!(expected.len(), 3);
    assert!(expected.values().all(|a| a.enabled && a.groups.len() == 2));
    let text = plan_text(Value::Null);
    let doc = parse_plan("plan.json", &text).unwrap();
    for k in 0..18 {
        for after in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let journal_path = dir.path().join("j.db");
            let audit_path = dir.path().join("audit.jsonl");
            let d = Arc::new(Directory::new(Faults {
                crash_at: Some((k, after)),
                ..Faults::default()
            }));
            {
                let journal = Journal::open(&journal_path).unwrap();
                let report = apply(
                    &doc,
                    &plan_id(&text),
                    &targets(d.clone()),
                    &journal,
                    &Audit::open(&audit_path).unwrap(),
                    &options(),
                )
                .unwrap();
                assert!(
                    report.stopped.is_some(),
                    "write {k}: the crash stops the run"
                );
            }
            // A new process: new journal handle, the same directory, no faults.
            let healed = Arc::new(Directory {
                accounts: Mutex::new(d.snapshot()),
                writes: AtomicUsize::new(0),
                faults: Faults::default(),
            });
            let journal = Journal::open(&journal_path).unwrap();
            let report = apply(
                &doc,
                &plan_id(&text),
                &targets(healed.clone()),
                &journal,
                &Audit::open(&audit_path).unwrap(),
                &options(),
            )
            .unwrap();
            assert_eq!(
                report.failed, 0,
                "write {k} after={after}: {:?}",
                report.failures
            );
            assert_eq!(healed.snapshot(), expected, "write {k} after={after}");
            let steps = journal.steps(&plan_id(&text)).unwrap();
            assert_eq!(steps.len(), 18);
            assert!(steps.values().all(|s| s.status == StepStatus::Done));
            // Each step has an ok line in the audit log (the crashed one a failed line too).
            let audit = std::fs::read_to_string(&audit_path).unwrap();
            let ok = audit
                .lines()
                .filter(|l| l.contains("\"result\":\"ok\""))
                .count();
            assert_eq!(ok, 18, "write {k} after={after}");
        }
    }
}

#[test]
fn a_refused_person_is_isolated_and_the_rest_goes_on() {
    let text = plan_text(Value::Null);
    let doc = parse_plan("plan.json", &text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let d = Arc::new(Directory::new(Faults {
        refuse_person: Some("bram".into()),
        transient_every: 4,
        ..Faults::default()
    }));
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets(d.clone()),
        &journal,
        &Audit::none(),
        &options(),
    )
    .unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(report.skipped, 4, "bram's later steps");
    assert_eq!(report.done, 13);
    assert_eq!(report.failures[0].0, "bram");
    assert!(report.failures[0].2.contains("locked"));
    let now = d.snapshot();
    assert!(now.contains_key("anna") && now.contains_key("cor") && !now.contains_key("bram"));
    assert!(!now.contains_key("leaver"));
    // The recorded state has what was done, and only that.
    let steps = journal.steps(&plan_id(&text)).unwrap();
    let state = state_after_apply(&State::default(), &doc, &steps);
    let people: BTreeSet<&str> = state.accounts.iter().map(|a| a.person.as_str()).collect();
    assert_eq!(people, ["anna", "cor"].into());
    assert!(state.accounts.iter().all(|a| a.enabled && a.id.is_some()));
    assert_eq!(state.grants.len(), 4);
}

#[test]
fn blocked_plans_unknown_targets_and_dry_runs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let d = Arc::new(Directory::new(Faults::default()));
    let blocked = plan_text(json!({"kind": "threshold", "message": "12 disables, the limit is 5"}));
    let doc = parse_plan("plan.json", &blocked).unwrap();
    let err = apply(
        &doc,
        &plan_id(&blocked),
        &targets(d.clone()),
        &journal,
        &Audit::none(),
        &options(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ApplyError::Blocked(ref m) if m.contains("12 disables")),
        "{err}"
    );
    let text = plan_text(Value::Null);
    let doc = parse_plan("plan.json", &text).unwrap();
    let err = apply(
        &doc,
        "x",
        &HashMap::new(),
        &journal,
        &Audit::none(),
        &options(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("target `ad`"), "{err}");
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets(d.clone()),
        &journal,
        &Audit::none(),
        &ApplyOptions {
            dry_run: true,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(report.would.len(), 18);
    assert!(
        report.would[3].contains("grant group \"Staff\""),
        "{:?}",
        report.would
    );
    assert_eq!(d.writes.load(Ordering::SeqCst), 0);
    assert!(journal.steps(&plan_id(&text)).unwrap().is_empty());
}

#[test]
fn bad_plan_documents_are_refused_with_the_place() {
    let err = parse_plan("p.json", r#"{"today": "2026-12-01", "actions": [{"seq": 1, "op": "explode", "person": "a", "target": "ad"}]}"#).unwrap_err();
    // The place, the value and the operations there are.
    let text = err.to_string();
    assert!(
        text.contains("actions[0].op")
            && text.contains("unknown variant `explode`")
            && text.contains("`create_account`"),
        "{err}"
    );
    let err = parse_plan("p.json", r#"{"today": "2026-12-01", "actions": [{"seq": 1, "op": "grant", "person": "a", "target": "ad"}]}"#).unwrap_err();
    assert!(err.to_string().contains("needs kind and name"), "{err}");
    let err = parse_plan(
        "p.json",
        r#"{"today": "2026-12-01", "actions": [{"seq": "x"}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("actions[0].seq"), "{err}");
}

/// The planner's dry run and the apply engine write the same state for the same plan:
/// one rule for what an action does to the state (deletes take their grants along,
/// grants are not recorded twice).
#[test]
fn planner_and_engine_agree_on_the_state_after_a_plan() {
    use stroom::apply::journal::{StepRecord, StepStatus};
    let (program, persons, state) = common::example();
    // Day after day, far enough that leavers are disabled and then deleted.
    let mut state = state;
    let mut deletes = 0;
    for today in ["2026-12-01", "2027-01-15", "2027-06-01", "2028-01-01"] {
        let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
            program: &program,
            persons: &persons,
            state: &state,
            today: chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap(),
        });
        deletes += plan
            .actions
            .iter()
            .filter(|a| a.op == stroom::rules::program::OpKind::Delete)
            .count();
        let doc = parse_plan("plan.json", &serde_json::to_string(&plan).unwrap()).unwrap();
        let done: std::collections::HashMap<u32, StepRecord> = doc
            .actions
            .iter()
            .map(|a| {
                let record = StepRecord {
                    status: StepStatus::Done,
                    account: None,
                    error: None,
                };
                (a.seq, record)
            })
            .collect();
        let by_engine = stroom::apply::state_after_apply(&state, &doc, &done);
        let by_planner = stroom::plan::state_after(&state, &plan);
        assert_eq!(
            serde_json::to_value(&by_engine).unwrap(),
            serde_json::to_value(&by_planner).unwrap(),
            "{today}"
        );
        state = by_planner;
    }
    assert!(deletes > 0, "the days reach a retention delete");
}
