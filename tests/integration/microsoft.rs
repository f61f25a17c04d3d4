//! Entra ID and Exchange Online targets against the tenant simulator: joiners with
//! groups, licences and mailboxes under throttling, server errors and replication lag;
//! a crash at every step then resume; leavers and rehires; every refusal with its
//! help; hostile values in filters.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, state_after_apply, ApplyOptions, ApplyReport};
use stroom::model::{Person, State};
use stroom::plan::read::parse_plan;
use stroom::plan::{build_plan, PlanInput};
use stroom::simulate::microsoft::{Faults, MicrosoftSim, TenantSetup};
use stroom::source::nmbrs::auth::Secret;
use stroom::targets::entra::{EntraId, EntraSettings};
use stroom::targets::exchange::{ExchangeOnline, ExchangeSettings};
use stroom::targets::microsoft::MicrosoftSettings;
use stroom::targets::{AccountRef, Entitlement, ErrorKind, Target, TargetError, TargetResult};

const RULES: &str = r#"
default target entra
let domain = "vandijkgroep.nl"
let staff = person.employee_type in ["payroll", "newHire"]

rule "entra-account" {
  account in entra {
    create 14 days before start
    disable 0 days after end
    delete 30 days after disable
    set mail = unique [lower(ascii(first_name) + "." + replace(ascii(family_name), " ", "")), lower(left(ascii(first_name), 1) + "." + replace(ascii(family_name), " ", ""))] max 48 ending "@" + domain
    set displayName = display_name
    set department = department
    set jobTitle = function
    set employeeId = employee_number + ""
    set usageLocation = "NL"
    set manager = manager.id
  }
}
rule "groups" {
  when staff and contract.active
    grant group "All Staff"
  when function in ["Developer", "DevOps"]
    grant group "GitHub-Users"
}
rule "licence" {
  when staff
    grant license "SPE_E3"
}
rule "mailbox" {
  when staff
    grant mailbox "UserMailbox" in exchange
}
rule "shared" {
  when department == "Klantenservice"
    grant permission "FullAccess" on "klantenservice@vandijkgroep.nl" in exchange
    grant permission "SendAs" on "klantenservice@vandijkgroep.nl" in exchange
  when department in ["Sales", "Inside Sales"]
    grant group "Nieuwsbrief" in exchange
}
"#;

fn api(sim: &MicrosoftSim, base: &str, exchange: bool, secret: &str) -> MicrosoftSettings {
    let mut s = sim.api_settings(base, exchange);
    s.client_secret = Secret::new(secret);
    s
}

struct Tenant {
    sim: Arc<MicrosoftSim>,
    entra: Arc<EntraId>,
    exchange: Arc<ExchangeOnline>,
    base: String,
    secret: String,
}

/// New target objects on the tenant, as a new process would make them (no memory).
fn connect(
    sim: &Arc<MicrosoftSim>,
    base: &str,
    secret: &str,
) -> (Arc<EntraId>, Arc<ExchangeOnline>) {
    let entra = EntraId::new(EntraSettings {
        settle_delay: Duration::from_millis(50),
        ..EntraSettings::new(api(sim, base, false, secret))
    })
    .unwrap();
    let exchange = ExchangeOnline::new(ExchangeSettings::new(
        api(sim, base, true, secret),
        "vandijkgroep.onmicrosoft.com",
    ))
    .unwrap();
    (Arc::new(entra), Arc::new(exchange))
}

fn tenant_with(setup: TenantSetup, faults: Faults, secret: Option<&str>) -> Tenant {
    let sim = MicrosoftSim::new(setup.clone());
    sim.set_faults(faults);
    let base = sim.start().unwrap();
    let secret = secret.unwrap_or(&setup.client_secret).to_string();
    let (entra, exchange) = connect(&sim, &base, &secret);
    Tenant {
        sim,
        entra,
        exchange,
        base,
        secret,
    }
}

/// The targets of a new process on the same tenant.
fn restarted(t: &Tenant) -> HashMap<String, Arc<dyn Target>> {
    let (entra, exchange) = connect(&t.sim, &t.base, &t.secret);
    let mut m: HashMap<String, Arc<dyn Target>> = HashMap::new();
    m.insert("entra".into(), entra);
    m.insert("exchange".into(), exchange);
    m
}

fn tenant(faults: Faults) -> Tenant {
    tenant_with(TenantSetup::default(), faults, None)
}

fn targets(t: &Tenant) -> HashMap<String, Arc<dyn Target>> {
    let mut m: HashMap<String, Arc<dyn Target>> = HashMap::new();
    m.insert("entra".into(), t.entra.clone());
    m.insert("exchange".into(), t.exchange.clone());
    m
}

fn persons(n: usize) -> Vec<Person> {
    let text = std::fs::read_to_string("rules-examples/vandijk-persons.json").unwrap();
    let mut all = stroom::source::persons::parse_persons("vandijk", &text).unwrap();
    // Staff who work on 2026-12-01, and whose managers are among them or absent.
    all.retain(|p| {
        matches!(p.employee_type.as_deref(), Some("payroll"))
            && p.contracts.iter().all(|c| c.end.is_none())
    });
    all.truncate(n);
    all
}

fn date(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn plan_text(persons: &[Person], state: &State, today: &str) -> String {
    plan_of(RULES, persons, state, today)
}

/// The plan document of `rules` for these persons and state on `today`.
fn plan_of(rules: &str, persons: &[Person], state: &State, today: &str) -> String {
    let checked = stroom::check_sources(&[("rules.stroom", rules)]);
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let plan = build_plan(&PlanInput {
        program: &program,
        persons,
        state,
        today: date(today),
    });
    serde_json::to_string(&plan).unwrap()
}

fn options() -> ApplyOptions {
    ApplyOptions {
        concurrency: 4,
        backoff: Duration::from_millis(20),
        ready_wait: Duration::from_secs(30),
        ready_backoff: Duration::from_millis(100),
        ..ApplyOptions::default()
    }
}

fn run(
    text: &str,
    targets: &HashMap<String, Arc<dyn Target>>,
    journal: &Journal,
    options: &ApplyOptions,
) -> ApplyReport {
    let doc = parse_plan("plan.json", text).unwrap();
    apply(
        &doc,
        &plan_id(text),
        targets,
        journal,
        &Audit::none(),
        options,
    )
    .unwrap()
}

/// What the tenant holds, without ids and volatile counters: per UPN.
fn holdings(sim: &MicrosoftSim) -> BTreeMap<String, Value> {
    let mailboxes = sim.mailboxes();
    let perms = sim.permissions();
    sim.users()
        .into_iter()
        .map(|u| {
            let upn = u["userPrincipalName"].as_str().unwrap().to_string();
            let mailbox = mailboxes
                .iter()
                .find(|m| m["UserPrincipalName"] == upn.as_str())
                .map(|m| {
                    json!([
                        m["RecipientTypeDetails"],
                        m["HiddenFromAddressListsEnabled"]
                    ])
                });
            let rights: Vec<&String> = perms.iter().filter(|p| p.1 == upn).map(|p| &p.2).collect();
            let v = json!({
                "enabled": u["accountEnabled"], "manager": u["manager"], "groups": u["memberOf"],
                "licenses": u["licenses"], "mailbox": mailbox, "rights": rights,
                "person": u["onPremisesExtensionAttributes"]["extensionAttribute1"],
                "department": u["department"], "employeeId": u["employeeId"],
            });
            (upn, v)
        })
        .collect()
}

#[test]
fn joiners_get_accounts_groups_licences_and_mailboxes_through_faults_and_lag() {
    let t = tenant(Faults {
        throttle_every: 7,
        server_error_every: 11,
        batch_throttle_every: 3,
        replication_lag_ms: 150,
        index_lag_ms: 1_000,
        mailbox_delay_ms: 600,
        ..Faults::default()
    });
    let people = persons(24);
    let text = plan_text(&people, &State::default(), "2026-12-01");
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let report = run(&text, &targets(&t), &journal, &options());
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    assert!(report.waiting.is_empty(), "{:?}", report.waiting);
    assert!(report.done > 24 * 5, "{report:?}");

    let users = t.sim.users();
    assert_eq!(users.len(), 24, "one account per person, no duplicates");
    let by_person: HashMap<&str, &Value> = users
        .iter()
        .map(|u| {
            (
                u["onPremisesExtensionAttributes"]["extensionAttribute1"]
                    .as_str()
                    .unwrap(),
                u,
            )
        })
        .collect();
    for p in &people {
        let u = by_person[&*p.id];
        assert_eq!(u["accountEnabled"], true, "{}", p.id);
        assert_eq!(u["employeeId"], p.employee_number.unwrap().to_string());
        assert_eq!(u["usageLocation"], "NL");
        assert_eq!(u["licenses"], json!(["SPE_E3"]));
        assert!(u["memberOf"]
            .as_array()
            .unwrap()
            .contains(&json!("All Staff")));
        // The manager link, when the manager is among the joiners.
        if let Some(m) = p.manager_id.as_deref().and_then(|m| by_person.get(m)) {
            assert_eq!(u["manager"], m["userPrincipalName"], "{}", p.id);
        }
        let mail = u["mail"].as_str().unwrap();
        let mailbox = t
            .sim
            .mailboxes()
            .into_iter()
            .find(|m| m["ExternalDirectoryObjectId"] == u["id"])
            .expect("a mailbox after the licence");
        assert_eq!(mailbox["PrimarySmtpAddress"], mail);
    }
    let service: Vec<&Person> = people
        .iter()
        .filter(|p| {
            p.contracts
                .iter()
                .any(|c| c.department.as_deref() == Some("Klantenservice"))
        })
        .collect();
    let perms = t.sim.permissions();
    for p in &service {
        let upn = by_person[&*p.id]["userPrincipalName"].as_str().unwrap();
        for right in ["FullAccess", "SendAs"] {
            assert!(
                perms.contains(&(
                    "klantenservice@vandijkgroep.nl".into(),
                    upn.into(),
                    right.into()
                )),
                "{upn} {right}: {perms:?}"
            );
        }
    }
    assert_eq!(perms.len(), service.len() * 2);
    // The faults did happen, and $batch carried the two-part steps.
    let kinds = t.sim.calls_by_kind();
    assert!(t.sim.calls() > 100);
    assert!(kinds.get("POST /v1.0/users").copied().unwrap_or(0) >= 24);
    assert!(
        kinds
            .get("cmdlet Add-RecipientPermission")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{kinds:?}"
    );

    // The same plan again: all resumed, nothing sent but nothing new either.
    let before = holdings(&t.sim);
    let again = run(&text, &targets(&t), &journal, &options());
    assert_eq!(again.done, 0);
    assert_eq!(holdings(&t.sim), before);
}

/// What a wrapped write runs through: who it is for (the person for a create, the
/// account id otherwise) and the write itself.
type Hook = dyn Fn(&str, &mut dyn FnMut() -> TargetResult<()>) -> TargetResult<()> + Send + Sync;

/// A target whose writes run through a hook (to crash or slow them); reads pass.
struct Around {
    inner: Arc<dyn Target>,
    hook: Box<Hook>,
}

impl Around {
    fn wrap(inner: Arc<dyn Target>, hook: Box<Hook>) -> Arc<dyn Target> {
        Arc::new(Self { inner, hook })
    }

    fn write<T>(&self, who: &str, f: impl FnOnce() -> TargetResult<T>) -> TargetResult<T> {
        let mut f = Some(f);
        let mut out = None;
        (self.hook)(who, &mut || {
            if let Some(f) = f.take() {
                out = Some(f()?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| TargetError::fatal("the hook did not run the write"))
    }
}

impl Target for Around {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn stable_ids(&self) -> bool {
        self.inner.stable_ids()
    }
    fn no_account(&self, what: &str) -> TargetError {
        self.inner.no_account(what)
    }
    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        self.inner.correlate(person)
    }
    fn read_grants(&self, a: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        self.inner.read_grants(a)
    }
    fn create(&self, p: &str, attrs: &serde_json::Map<String, Value>) -> TargetResult<AccountRef> {
        self.write(p, || self.inner.create(p, attrs))
    }
    fn update(&self, a: &AccountRef, v: &serde_json::Map<String, Value>) -> TargetResult<()> {
        self.write(&a.id, || self.inner.update(a, v))
    }
    fn enable(&self, a: &AccountRef) -> TargetResult<()> {
        self.write(&a.id, || self.inner.enable(a))
    }
    fn disable(&self, a: &AccountRef) -> TargetResult<()> {
        self.write(&a.id, || self.inner.disable(a))
    }
    fn delete(&self, a: &AccountRef) -> TargetResult<()> {
        self.write(&a.id, || self.inner.delete(a))
    }
    fn grant(&self, a: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.write(&a.id, || self.inner.grant(a, e))
    }
    fn revoke(&self, a: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.write(&a.id, || self.inner.revoke(a, e))
    }
}

/// A hook that dies (fatal) at the Nth write of all targets sharing `writes`, before
/// or after doing it.
fn crash(writes: Arc<AtomicUsize>, at: usize, after: bool) -> Box<Hook> {
    Box::new(move |_, write| {
        let n = writes.fetch_add(1, Ordering::SeqCst);
        if n == at && !after {
            return Err(TargetError::fatal("killed before the write"));
        }
        write()?;
        if n == at {
            return Err(TargetError::fatal("killed after the write"));
        }
        Ok(())
    })
}

#[test]
fn a_crash_at_every_step_resumes_to_exactly_the_intended_tenant() {
    let people = persons(3);
    let text = plan_text(&people, &State::default(), "2026-12-01");
    let steps = parse_plan("plan.json", &text).unwrap().actions.len();
    let lag = Faults {
        replication_lag_ms: 50,
        index_lag_ms: 5_000,
        mailbox_delay_ms: 100,
        ..Faults::default()
    };
    // The reference: one clean run.
    let reference = {
        let t = tenant(lag.clone());
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let r = run(&text, &targets(&t), &journal, &options());
        assert_eq!(r.done, steps, "{r:?}");
        holdings(&t.sim)
    };
    assert_eq!(reference.len(), 3);
    let mut checked = 0;
    for at in 0..steps {
        for after in [false, true] {
            let t = tenant(lag.clone());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j.db");
            let writes = Arc::new(AtomicUsize::new(0));
            let crashing: HashMap<String, Arc<dyn Target>> = targets(&t)
                .into_iter()
                .map(|(k, inner)| (k, Around::wrap(inner, crash(writes.clone(), at, after))))
                .collect();
            let serial = ApplyOptions {
                concurrency: 1,
                ..options()
            };
            let first = run(&text, &crashing, &Journal::open(&path).unwrap(), &serial);
            if writes.load(Ordering::SeqCst) <= at {
                continue; // fewer writes than steps (a create that adopts)
            }
            assert!(first.stopped.is_some(), "step {at}: {first:?}");
            // A new process within the index lag: the journal must carry the ids.
            let second = run(
                &text,
                &restarted(&t),
                &Journal::open(&path).unwrap(),
                &options(),
            );
            assert_eq!(
                second.failed, 0,
                "step {at} after={after}: {:?}",
                second.failures
            );
            assert_eq!(
                holdings(&t.sim),
                reference,
                "step {at} after={after}: the tenant differs from a clean run"
            );
            checked += 1;
        }
    }
    assert!(checked >= steps, "{checked} crash points checked");
}

#[test]
fn leavers_are_disabled_with_sessions_revoked_then_deleted_and_rehires_come_back() {
    let t = tenant(Faults {
        replication_lag_ms: 50,
        index_lag_ms: 200,
        mailbox_delay_ms: 50,
        ..Faults::default()
    });
    let mut people = persons(2);
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let mut state = State::default();
    let day = |people: &[Person], state: &mut State, today: &str| {
        // Let the filter index catch up, as between two scheduled runs.
        std::thread::sleep(Duration::from_millis(250));
        let text = plan_text(people, state, today);
        let doc = parse_plan("plan.json", &text).unwrap();
        let report = run(&text, &targets(&t), &journal, &options());
        assert_eq!(report.failed, 0, "{today}: {:?}", report.failures);
        assert!(report.waiting.is_empty(), "{today}: {:?}", report.waiting);
        *state = state_after_apply(state, &doc, &journal.steps(&plan_id(&text)).unwrap());
        doc.actions
            .iter()
            .map(|a| format!("{} {}", a.op, a.target))
            .collect::<Vec<_>>()
    };
    day(&people, &mut state, "2026-12-01");
    let leaver = people[0].id.to_string();
    let user = |sim: &MicrosoftSim| {
        sim.users()
            .into_iter()
            .find(|u| u["onPremisesExtensionAttributes"]["extensionAttribute1"] == leaver.as_str())
    };
    assert_eq!(user(&t.sim).unwrap()["accountEnabled"], true);

    // The contract ends on 2026-12-31: disabled the day after, sessions revoked.
    for c in &mut people[0].contracts {
        c.end = Some(date("2026-12-31"));
    }
    let ops = day(&people, &mut state, "2027-01-01");
    assert!(
        ops.contains(&"disable_account entra".to_string()),
        "{ops:?}"
    );
    let u = user(&t.sim).unwrap();
    assert_eq!(u["accountEnabled"], false);
    assert_eq!(u["revocations"], 1, "sign-in sessions revoked on disable");
    assert!(t.sim.batch_items() >= 2, "disable went as one $batch");

    // 30 days after the disable: deleted (soft), mailbox gone with it.
    let ops = day(&people, &mut state, "2027-02-01");
    assert!(ops.contains(&"delete_account entra".to_string()), "{ops:?}");
    assert!(user(&t.sim).is_none());
    assert_eq!(t.sim.deleted().len(), 1);

    // Rehired: a new account under the same name, with licence and mailbox again.
    people[0].contracts = vec![stroom::model::Contract {
        id: "c-rehire".into(),
        start: Some(date("2027-03-01")),
        department: Some("Sales".into()),
        hours_per_week: Some(32.0),
        ..Default::default()
    }];
    day(&people, &mut state, "2027-03-01");
    let u = user(&t.sim).expect("rehired");
    assert_eq!(u["accountEnabled"], true);
    assert_eq!(u["licenses"], json!(["SPE_E3"]));
    assert_eq!(t.sim.users().len(), 2);
    let mailbox = t
        .sim
        .mailboxes()
        .into_iter()
        .find(|m| m["ExternalDirectoryObjectId"] == u["id"]);
    assert!(mailbox.is_some());
    assert_eq!(
        t.sim.distribution_members("Nieuwsbrief"),
        vec![u["userPrincipalName"].as_str().unwrap().to_string()],
        "the Sales rehire joins the newsletter group in Exchange"
    );
}

#[test]
fn a_mailbox_that_is_late_makes_the_person_wait_not_fail_and_the_next_run_goes_on() {
    let t = tenant(Faults {
        mailbox_delay_ms: 4_000,
        ..Faults::default()
    });
    let people = persons(2);
    let text = plan_text(&people, &State::default(), "2026-12-01");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let short = ApplyOptions {
        ready_wait: Duration::from_millis(500),
        ..options()
    };
    let first = run(&text, &targets(&t), &Journal::open(&path).unwrap(), &short);
    assert_eq!(first.failed, 0, "{:?}", first.failures);
    assert_eq!(first.waiting.len(), 2, "{first:?}");
    assert!(
        first.waiting[0].2.contains("not in Exchange Online yet"),
        "{:?}",
        first.waiting
    );
    assert!(first.pending >= 2);
    // Later, the mailboxes are there: the same plan goes on where it stopped.
    std::thread::sleep(Duration::from_millis(3_000));
    let second = run(
        &text,
        &restarted(&t),
        &Journal::open(&path).unwrap(),
        &short,
    );
    assert_eq!(second.failed, 0, "{:?}", second.failures);
    assert!(second.waiting.is_empty());
    assert_eq!(second.done, first.pending, "{second:?}");
    assert_eq!(t.sim.users().len(), 2, "nothing made twice");
}

fn one(targets: &HashMap<String, Arc<dyn Target>>, plan: Value) -> ApplyReport {
    let text = plan.to_string();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    run(&text, targets, &journal, &options())
}

fn plan(actions: Vec<Value>) -> Value {
    let actions: Vec<Value> = actions
        .into_iter()
        .enumerate()
        .map(|(i, mut a)| {
            a["seq"] = json!(i + 1);
            a["target"] = a.get("target").cloned().unwrap_or(json!("entra"));
            a
        })
        .collect();
    json!({"today": "2026-12-01", "summary": {}, "blocked": null, "actions": actions})
}

fn create(person: &str, mail: &str, extra: Value) -> Value {
    let mut attributes = json!({"mail": mail, "displayName": person, "usageLocation": "NL"});
    for (k, v) in extra.as_object().unwrap() {
        attributes[k] = v.clone();
    }
    json!({"op": "create_account", "person": person, "attributes": attributes})
}

#[test]
fn refusals_name_the_cause_and_the_fix_and_stop_only_that_person() {
    let t = tenant(Faults::default());
    let other = t.sim.add_user(json!({
        "userPrincipalName": "taken@vandijkgroep.nl", "displayName": "Someone Else",
        "accountEnabled": true, "mailNickname": "taken"
    }));
    let report = one(
        &targets(&t),
        plan(vec![
            // No usage location: the licence is refused, its later step skipped.
            create(
                "p-noloc",
                "noloc@vandijkgroep.nl",
                json!({"usageLocation": null}),
            ),
            json!({"op": "grant", "person": "p-noloc", "kind": "license", "name": "SPE_E3"}),
            json!({"op": "grant", "person": "p-noloc", "kind": "group", "name": "All Staff"}),
            // Unknown licence, with a suggestion.
            create("p-sku", "sku@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-sku", "kind": "license", "name": "SPE_E5"}),
            // Unknown group.
            create("p-group", "group@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-group", "kind": "group", "name": "No Such Group"}),
            // Dynamic group.
            create("p-dyn", "dyn@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-dyn", "kind": "group", "name": "Dynamic Everyone"}),
            // The UPN belongs to an account that is not this person's.
            create("p-taken", "taken@vandijkgroep.nl", json!({})),
            // A typo in a property.
            create(
                "p-typo",
                "typo@vandijkgroep.nl",
                json!({"departmnet": "Sales"}),
            ),
            // Only two units of POWER_BI_PRO: the third person is refused.
            create("p-bi1", "bi1@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-bi1", "kind": "license", "name": "POWER_BI_PRO"}),
            create("p-bi2", "bi2@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-bi2", "kind": "license", "name": "POWER_BI_PRO"}),
            create("p-bi3", "bi3@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-bi3", "kind": "license", "name": "POWER_BI_PRO"}),
            // A good one goes on regardless.
            create("p-good", "good@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p-good", "kind": "group", "name": "All Staff"}),
            // Exchange: a permission on a mailbox that does not exist.
            json!({"op": "grant", "person": "p-good", "kind": "license", "name": "SPE_E3"}),
            json!({"op": "grant", "person": "p-good", "target": "exchange", "kind": "permission",
                   "name": "FullAccess", "on": "nobody@vandijkgroep.nl"}),
        ]),
    );
    let failure = |person: &str| {
        report
            .failures
            .iter()
            .find(|f| f.0 == person)
            .map(|f| f.2.clone())
            .unwrap_or_else(|| panic!("{person} did not fail: {:?}", report.failures))
    };
    assert!(
        failure("p-noloc").contains("usage location")
            && failure("p-noloc").contains("set usageLocation")
    );
    assert!(
        failure("p-sku").contains("did you mean \"SPE_E3\"")
            || failure("p-sku").contains("did you mean \"SPE_E3\"?"),
        "{}",
        failure("p-sku")
    );
    assert!(failure("p-group").contains("no group named \"No Such Group\""));
    assert!(failure("p-dyn").contains("dynamic membership"));
    let taken = failure("p-taken");
    assert!(
        taken.contains("taken@vandijkgroep.nl") && taken.contains(&other),
        "{taken}"
    );
    assert!(failure("p-typo").contains("Property 'departmnet' does not exist"));
    // Persons run side by side: whichever of the three comes last finds no unit left.
    let out_of_units: Vec<&str> = report
        .failures
        .iter()
        .filter(|f| f.0.starts_with("p-bi"))
        .map(|f| f.2.as_str())
        .collect();
    assert_eq!(out_of_units.len(), 1, "{out_of_units:?}");
    assert!(out_of_units[0].contains("does not have any available licenses"));
    assert!(out_of_units[0].contains("buy more or free some"));
    let missing = failure("p-good");
    assert!(
        missing.contains("couldn't be found") && missing.contains("create it or fix the name"),
        "{missing}"
    );
    assert_eq!(report.skipped, 1, "p-noloc's group grant is skipped");
    // The other person is untouched by the refusals; the taken account is unchanged.
    let users = t.sim.users();
    let good = users
        .iter()
        .find(|u| u["userPrincipalName"] == "good@vandijkgroep.nl")
        .unwrap();
    assert_eq!(good["memberOf"], json!(["All Staff"]));
    let taken = users.iter().find(|u| u["id"] == other.as_str()).unwrap();
    assert_eq!(taken["displayName"], "Someone Else");
    assert!(taken
        .get("onPremisesExtensionAttributes")
        .is_none_or(Value::is_null));
}

#[test]
fn a_wrong_secret_stops_the_run_before_any_write_and_never_shows_the_secret() {
    let t = tenant_with(
        TenantSetup::default(),
        Faults::default(),
        Some("wrong-hunter2"),
    );
    let report = one(
        &targets(&t),
        plan(vec![
            create("p1", "p1@vandijkgroep.nl", json!({})),
            create("p2", "p2@vandijkgroep.nl", json!({})),
        ]),
    );
    let stopped = report.stopped.clone().unwrap();
    assert!(
        stopped.contains("AADSTS7000215") && stopped.contains("client secret"),
        "{stopped}"
    );
    assert!(!format!("{report:?}").contains("hunter2"));
    assert!(t.sim.users().is_empty());
    assert_eq!(report.failed + report.pending, 2);
}

#[test]
fn an_expired_token_is_renewed_once_and_the_run_goes_on() {
    let t = tenant(Faults::default());
    let first = one(
        &targets(&t),
        plan(vec![create("p1", "p1@vandijkgroep.nl", json!({}))]),
    );
    assert_eq!(first.done, 1);
    t.sim.revoke_tokens();
    let second = one(
        &targets(&t),
        plan(vec![
            json!({"op": "enable_account", "person": "p1"}),
            json!({"op": "grant", "person": "p1", "kind": "group", "name": "All Staff"}),
        ]),
    );
    assert_eq!(second.failed, 0, "{:?}", second.failures);
    assert_eq!(t.sim.users()[0]["accountEnabled"], true);
}

#[test]
fn hostile_values_never_widen_a_filter() {
    let t = tenant(Faults::default());
    // An account whose person id would match everything if quotes were not doubled.
    t.sim.add_user(json!({
        "userPrincipalName": "victim@vandijkgroep.nl", "displayName": "Victim", "accountEnabled": true,
        "mailNickname": "victim", "onPremisesExtensionAttributes": {"extensionAttribute1": "victim"}
    }));
    let hostile = "x' or 1 eq 1 or 'a";
    let found = t.entra.correlate(hostile).unwrap();
    assert_eq!(found, None, "the filter matched only the literal value");
    let report = one(
        &targets(&t),
        plan(vec![
            create(
                hostile,
                "obrien@vandijkgroep.nl",
                json!({"displayName": "O'Brien (Jr)* \\ , + é"}),
            ),
            json!({"op": "grant", "person": hostile, "kind": "group", "name": "All Staff"}),
            json!({"op": "grant", "person": hostile, "kind": "license", "name": "SPE_E3"}),
        ]),
    );
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    let users = t.sim.users();
    let made = users
        .iter()
        .find(|u| u["userPrincipalName"] == "obrien@vandijkgroep.nl")
        .unwrap();
    assert_eq!(
        made["onPremisesExtensionAttributes"]["extensionAttribute1"],
        hostile
    );
    assert_eq!(made["displayName"], "O'Brien (Jr)* \\ , + é");
    let victim = users
        .iter()
        .find(|u| u["userPrincipalName"] == "victim@vandijkgroep.nl")
        .unwrap();
    assert_eq!(victim["memberOf"], json!([]));
    // Exchange's OPATH filter quotes the same way.
    std::thread::sleep(Duration::from_millis(50));
    let mailbox = t.exchange.correlate(hostile).unwrap();
    assert!(
        mailbox.is_some(),
        "the hostile person's own mailbox is found"
    );
    assert_eq!(
        t.exchange
            .correlate("x' -or CustomAttribute1 -like '*")
            .unwrap(),
        None
    );
}

#[test]
fn correlation_follows_every_page_and_refuses_an_ambiguous_person() {
    let t = tenant(Faults::default());
    for i in 0..1_200 {
        t.sim.add_user(json!({
            "userPrincipalName": format!("u{i}@vandijkgroep.nl"), "displayName": "Copy",
            "accountEnabled": true, "mailNickname": format!("u{i}"),
            "onPremisesExtensionAttributes": {"extensionAttribute1": "dup"}
        }));
    }
    let e = t.entra.correlate("dup").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains("1200 users"), "{}", e.message);
    assert!(
        t.sim.calls_by_kind()["GET /v1.0/users"] >= 2,
        "paged with @odata.nextLink"
    );
}

#[test]
fn addresses_are_merged_never_dropped_and_conflicts_are_refused() {
    let t = tenant(Faults::default());
    let report = one(
        &targets(&t),
        plan(vec![
            create("p1", "jan.berg@vandijkgroep.nl", json!({})),
            json!({"op": "grant", "person": "p1", "kind": "license", "name": "SPE_E3"}),
            json!({"op": "update_account", "person": "p1", "target": "exchange", "changes": {
                "PrimarySmtpAddress": [null, "j.berg@vandijkgroep.nl"],
                "EmailAddresses": [null, ["jan@vandijkgroep.nl"]],
                "HiddenFromAddressListsEnabled": [null, false]
            }}),
        ]),
    );
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    let mailbox = &t.sim.mailboxes()[2];
    assert_eq!(
        mailbox["EmailAddresses"],
        json!([
            "SMTP:j.berg@vandijkgroep.nl",
            "smtp:jan.berg@vandijkgroep.nl",
            "smtp:jan.berg@simtenant.onmicrosoft.com",
            "smtp:jan@vandijkgroep.nl"
        ])
    );
    let clash = one(
        &targets(&t),
        plan(vec![
            json!({"op": "update_account", "person": "p1", "target": "exchange", "changes": {
                "EmailAddresses": [null, ["sales@vandijkgroep.nl"]]}}),
            json!({"op": "update_account", "person": "p1", "target": "exchange", "changes": {
                "Offfice": [null, "Utrecht"]}}),
        ]),
    );
    assert!(
        clash.failures[0].2.contains("ProxyAddressExistsException"),
        "{:?}",
        clash.failures
    );
    assert_eq!(clash.skipped, 1);
    let typo = one(
        &targets(&t),
        plan(vec![
            json!({"op": "update_account", "person": "p1", "target": "exchange", "changes": {
            "Offfice": [null, "Utrecht"]}}),
        ]),
    );
    assert!(
        typo.failures[0].2.contains("did you mean \"Office\""),
        "{:?}",
        typo.failures
    );
}

/// `stroom apply` with `[targets.entra]` and `[targets.exchange]` in stroom.toml.
struct Cli {
    dir: tempfile::TempDir,
    sim: Arc<MicrosoftSim>,
}

fn cli(faults: Faults, ready_wait_seconds: u64) -> Cli {
    let sim = MicrosoftSim::new(TenantSetup::default());
    sim.set_faults(faults);
    let base = sim.start().unwrap();
    let setup = sim.setup().clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n\
             [apply]\naudit_log = \"data/audit.jsonl\"\nready_wait_seconds = {ready_wait_seconds}\n\
             [targets.entra]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority = \"{base}\"\n\
             graph_url = \"{base}\"\n\
             [targets.exchange]\norganization = \"vandijkgroep.onmicrosoft.com\"\nexchange_url = \"{base}\"\n",
            setup.tenant_id, setup.client_id
        ),
    )
    .unwrap();
    let text = plan_text(&persons(3), &State::default(), "2026-12-01");
    std::fs::write(dir.path().join("plan.json"), text).unwrap();
    Cli { dir, sim }
}

impl Cli {
    fn apply(&self, extra: &[&str], secret: &str) -> (i32, String, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args([
                "apply",
                "--plan",
                "plan.json",
                "--state-out",
                "data/state.json",
            ])
            .args(extra)
            .current_dir(self.dir.path())
            .env("STROOM_ENTRA_CLIENT_SECRET", secret)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

#[test]
fn stroom_apply_with_entra_and_exchange_in_stroom_toml() {
    let c = cli(Faults::default(), 30);
    let secret = c.sim.setup().client_secret.clone();
    // Dry run: what Graph and Exchange would be asked; nothing is sent.
    let (code, out, err) = c.apply(&["--dry-run"], &secret);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("POST /v1.0/users {"), "{out}");
    assert!(out.contains("\"password\":\"(generated)\""), "{out}");
    assert!(out.contains("assignLicense add \"SPE_E3\""), "{out}");
    assert!(out.contains("Get-Mailbox (wait until it exists)"), "{out}");
    assert!(c.sim.users().is_empty());
    // The same as data for tools.
    let (code, out, err) = c.apply(&["--dry-run", "--format", "json"], &secret);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("dry run as JSON");
    assert_eq!(doc["dry_run"], true);
    let would = doc["would"].as_array().expect("would");
    assert!(
        would
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("POST /v1.0/users {"))),
        "{out}"
    );
    assert!(c.sim.users().is_empty());
    // The real run.
    let (code, _, err) = c.apply(&[], &secret);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(" 0 failed"), "{err}");
    assert_eq!(c.sim.users().len(), 3);
    let state: State = serde_json::from_str(
        &std::fs::read_to_string(c.dir.path().join("data/state.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = state
        .accounts
        .iter()
        .filter(|a| a.target == "entra")
        .filter_map(|a| a.id.as_deref())
        .collect();
    assert_eq!(ids.len(), 3, "object ids recorded in the state");
    let audit = std::fs::read_to_string(c.dir.path().join("data/audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 3 * 5);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["data/audit.jsonl", "data/state.json"] {
            let mode = std::fs::metadata(c.dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f} must be private");
        }
    }
    assert!(!audit.contains(&secret) && !err.contains(&secret));
    // Again: all done already.
    let (code, _, err) = c.apply(&[], &secret);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 done"), "{err}");
}

#[test]
fn stroom_apply_exits_4_while_mailboxes_are_on_their_way_and_1_on_a_bad_secret() {
    let c = cli(
        Faults {
            mailbox_delay_ms: 60_000,
            ..Faults::default()
        },
        1,
    );
    let secret = c.sim.setup().client_secret.clone();
    let (code, _, err) = c.apply(&[], &secret);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("waiting: step") && err.contains("run again later"),
        "{err}"
    );
    assert_eq!(
        c.sim.users().len(),
        3,
        "the accounts are made; only mailboxes wait"
    );

    let bad = cli(Faults::default(), 1);
    let (code, _, err) = bad.apply(&[], "not-the-secret-hunter2");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(bad.sim.users().is_empty());
}

#[test]
fn kill_9_of_stroom_apply_on_entra_and_exchange_resumes_without_duplicates() {
    // Index lag longer than the whole test: a resumed process can only avoid
    // duplicates through the journal and the UPN check, never by finding accounts.
    let c = cli(
        Faults {
            index_lag_ms: 120_000,
            replication_lag_ms: 30,
            mailbox_delay_ms: 100,
            throttle_every: 13,
            ..Faults::default()
        },
        60,
    );
    let text = plan_text(&persons(20), &State::default(), "2026-12-01");
    let steps = parse_plan("plan.json", &text).unwrap().actions.len();
    std::fs::write(c.dir.path().join("plan.json"), &text).unwrap();
    let secret = c.sim.setup().client_secret.clone();
    let audit = c.dir.path().join("data/audit.jsonl");
    let lines = || {
        std::fs::read_to_string(&audit)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    for at in [5, steps / 3, steps * 2 / 3] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args([
                "apply",
                "--plan",
                "plan.json",
                "--state-out",
                "data/state.json",
            ])
            .current_dir(c.dir.path())
            .env("STROOM_ENTRA_CLIENT_SECRET", &secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while lines() < at
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let (code, _, err) = c.apply(&[], &secret);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(" 0 failed"), "{err}");
    let users = c.sim.users();
    assert_eq!(users.len(), 20, "one account per person after three kills");
    for u in &users {
        assert_eq!(u["accountEnabled"], true);
        assert_eq!(u["licenses"], json!(["SPE_E3"]));
        let mailboxes = c
            .sim
            .mailboxes()
            .into_iter()
            .filter(|m| m["ExternalDirectoryObjectId"] == u["id"])
            .count();
        assert_eq!(mailboxes, 1);
    }
    // Every step is in the audit log as done at least once.
    let audit = std::fs::read_to_string(&audit).unwrap();
    let done: std::collections::HashSet<u64> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["result"] == "ok")
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(done.len(), steps);
}

#[test]
fn target_configuration_errors_name_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str, env: &[(&str, &str)]| {
        let file = dir.path().join("stroom.toml");
        std::fs::write(&file, toml).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| env.get(k).cloned();
        let config = stroom::config::Config::load_with_env(Some(&file), &lookup)?;
        config.targets_with_env(&lookup).map(|t| {
            let mut names: Vec<String> = t.keys().cloned().collect();
            names.sort();
            names
        })
    };
    let entra = "[targets.entra]\ntenant_id = \"t\"\nclient_id = \"c\"\n";
    // No secret anywhere.
    let e = load(entra, &[]).unwrap_err();
    assert!(e.message.contains("targets.entra.client_secret"), "{e:?}");
    assert!(e.help.contains("STROOM_ENTRA_CLIENT_SECRET"), "{e:?}");
    // A secret in the file itself is refused.
    let e = load(&format!("{entra}client_secret = \"hunter2\"\n"), &[]).unwrap_err();
    assert!(e.help.contains("STROOM_ENTRA_CLIENT_SECRET"), "{e:?}");
    assert!(
        e.message.contains("line 4") && e.message.contains("`client_secret`"),
        "{e:?}"
    );
    assert!(
        !format!("{e:?}").contains("hunter2"),
        "the secret is never shown: {e:?}"
    );
    // A correlation property that cannot hold the id.
    let e = load(
        &format!("{entra}correlation_property = \"jobTitle\"\n"),
        &[("STROOM_ENTRA_CLIENT_SECRET", "s")],
    )
    .unwrap_err();
    assert!(
        e.message.contains("jobTitle") && e.help.contains("extensionAttribute"),
        "{e:?}"
    );
    // Exchange alone needs its tenant and client.
    let e = load(
        "[targets.exchange]\norganization = \"x.onmicrosoft.com\"\n",
        &[("STROOM_EXCHANGE_CLIENT_SECRET", "s")],
    )
    .unwrap_err();
    assert!(e.message.contains("targets.exchange.tenant_id"), "{e:?}");
    // Exchange takes Entra's app and secret by default.
    let names = load(
        &format!("{entra}[targets.exchange]\norganization = \"x.onmicrosoft.com\"\n"),
        &[("STROOM_ENTRA_CLIENT_SECRET", "s")],
    )
    .unwrap();
    assert_eq!(names, vec!["entra", "exchange"]);
    // A typo in a key.
    let e = load(&format!("{entra}grpah_url = \"https://x\"\n"), &[]).unwrap_err();
    assert!(e.message.contains("grpah_url"), "{e:?}");
}

#[test]
fn a_report_waits_for_its_managers_account_made_earlier_in_the_same_plan() {
    let t = tenant(Faults::default());
    let mut m: HashMap<String, Arc<dyn Target>> = HashMap::new();
    // The boss's create is slow, so that the report runs meanwhile.
    let slow_boss: Box<Hook> = Box::new(|who, write| {
        if who == "boss" {
            std::thread::sleep(Duration::from_millis(600));
        }
        write()
    });
    m.insert("entra".into(), Around::wrap(t.entra.clone(), slow_boss));
    let report = one(
        &m,
        plan(vec![
            create("boss", "boss@vandijkgroep.nl", json!({})),
            create(
                "report",
                "report@vandijkgroep.nl",
                json!({"manager": "boss"}),
            ),
            json!({"op": "update_account", "person": "other", "changes": {"manager": [null, "boss"]}}),
        ]),
    );
    // `other` has no account: its update fails, but only after boss's create.
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].0, "other");
    let users = t.sim.users();
    let made = users
        .iter()
        .find(|u| u["userPrincipalName"] == "report@vandijkgroep.nl")
        .unwrap();
    assert_eq!(
        made["manager"], "boss@vandijkgroep.nl",
        "the link is made, not left out"
    );
}

#[test]
fn graph_answers_of_the_wrong_shape_name_the_call_and_never_panic() {
    use axum::routing::{get, post};
    // A "Graph" that signs in fine but answers lists without `value`, creates without
    // an id, and an Exchange that answers with something that is not JSON.
    let router = axum::Router::new()
        .route(
            "/:tenant/oauth2/v2.0/token",
            post(|| async {
                axum::Json(json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "t"}))
            }),
        )
        .route(
            "/v1.0/users",
            get(|q: axum::extract::RawQuery| async move {
                // p1's lookup gets a list without `value`; p2's a proper empty list.
                if q.0.unwrap_or_default().contains("p2") {
                    axum::Json(json!({"value": []}))
                } else {
                    axum::Json(json!({"items": []}))
                }
            })
            .post(|| async { (axum::http::StatusCode::CREATED, axum::Json(json!({}))) }),
        )
        .route(
            "/adminapi/beta/:tenant/InvokeCommand",
            post(|| async { "<html>maintenance</html>" }),
        );
    let base = stroom::simulate::spawn(router).unwrap();
    let sim = MicrosoftSim::new(TenantSetup::default());
    let (entra, exchange) = connect(&sim, &base, "s");
    let e = entra.correlate("p1").unwrap_err();
    assert!(
        e.message.contains("GET /v1.0/users") && e.message.contains("`value`"),
        "{e}"
    );
    let e = entra
        .create(
            "p2",
            &json!({"mail": "p2@example.nl"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap_err();
    assert!(
        e.message.contains("POST /users") && e.message.contains("no id"),
        "{e}"
    );
    // Not JSON where a list was expected: an error naming the cmdlet, not "no mailbox".
    let e = exchange.correlate("p1").unwrap_err();
    assert!(
        e.message.contains("Get-Mailbox") && e.message.contains("`value`"),
        "{e}"
    );
}

/// `stroom apply` writes a state store (`--state-out state.db`) as it writes the file:
/// the same accounts and grants, and a run that changes nothing writes no row.
#[test]
fn stroom_apply_writes_a_state_store() {
    let c = cli(Faults::default(), 30);
    let secret = c.sim.setup().client_secret.clone();
    let run = |out: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args(["apply", "--plan", "plan.json", "--state-out", out])
            .current_dir(c.dir.path())
            .env("STROOM_ENTRA_CLIENT_SECRET", &secret)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run("data/state.db");
    // The journal has the plan as done: a second run carries out nothing and gives the
    // same state, here as the JSON file.
    run("data/state.json");
    let file: State = serde_json::from_str(
        &std::fs::read_to_string(c.dir.path().join("data/state.json")).unwrap(),
    )
    .unwrap();
    let store =
        stroom::source::state_store::StateStore::open(&c.dir.path().join("data/state.db")).unwrap();
    let mut held = store.load().unwrap();
    let mut file = file;
    for s in [&mut held, &mut file] {
        s.accounts
            .sort_by(|a, b| (&a.person, &a.target).cmp(&(&b.person, &b.target)));
        s.grants
            .sort_by(|a, b| (&a.person, &a.target, &a.name).cmp(&(&b.person, &b.target, &b.name)));
    }
    assert_eq!(held, file);
    assert_eq!(
        held.accounts.iter().filter(|a| a.target == "entra").count(),
        3
    );
    let mut store = store;
    assert_eq!(
        store.replace(&file).unwrap(),
        stroom::source::state_store::StateChanges::default()
    );
}

/// Reconcile reads Exchange Online beside Entra ID: every mailbox by its person id,
/// the FullAccess and SendAs permissions on the objects the rules name, and the members
/// of their distribution groups. A right added by hand shows as drift; a shared mailbox
/// is an object, not an unmanaged account; right after Stroom made it all, the rest is
/// clean.
#[test]
fn reconcile_reads_exchange_mailboxes_permissions_and_distribution_groups() {
    let t = tenant(Faults::default());
    let people = persons(24);
    let text = plan_text(&people, &State::default(), "2026-12-01");
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let report = run(&text, &targets(&t), &journal, &options());
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    let checked = stroom::check_sources(&[("m365.stroom", RULES)]);
    let program = checked.program.unwrap();
    // Someone outside Klantenservice gets FullAccess on its mailbox by hand.
    let outsider = people
        .iter()
        .find(|p| {
            p.contracts
                .iter()
                .all(|c| c.department.as_deref() != Some("Klantenservice"))
        })
        .unwrap();
    let upn = t
        .sim
        .users()
        .into_iter()
        .find(|u| u["onPremisesExtensionAttributes"]["extensionAttribute1"] == *outsider.id)
        .unwrap()["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_string();
    let client = stroom::targets::microsoft::MicrosoftClient::new(
        api(&t.sim, &t.base, true, &t.secret),
        "Exchange",
    )
    .unwrap();
    let rt = stroom::targets::microsoft::runtime("Exchange").unwrap();
    let answer = rt
        .block_on(client.send(
            stroom::targets::microsoft::Method::Post,
            &format!("/adminapi/beta/{}/InvokeCommand", t.sim.setup().tenant_id),
            Some(&json!({"CmdletInput": {"CmdletName": "Add-MailboxPermission", "Parameters": {"Identity": "klantenservice@vandijkgroep.nl", "User": upn, "AccessRights": ["FullAccess"]}}})),
            &[("X-AnchorMailbox", "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@vandijkgroep.onmicrosoft.com")],
        ))
        .unwrap();
    assert!(answer.ok(), "{}", answer.body);
    let entra: Arc<dyn Target> = t.entra.clone();
    let exchange: Arc<dyn Target> = t.exchange.clone();
    let (inventories, _) = stroom::targets::read_inventories(
        &program,
        &[("entra", entra.as_ref()), ("exchange", exchange.as_ref())],
    )
    .unwrap();
    let exo = &inventories[1];
    assert_eq!(
        exo.accounts.len(),
        24,
        "user mailboxes only: {:?}",
        exo.accounts.iter().map(|a| &a.name).collect::<Vec<_>>()
    );
    let state = State::default();
    let policy = stroom::reconcile::ReconcilePolicy::default();
    let done = stroom::reconcile::reconcile(&stroom::reconcile::ReconcileInput {
        program: &program,
        persons: &people,
        today: date("2026-12-01"),
        inventories: &inventories,
        policy: &policy,
        state: &state,
        only_person: None,
    });
    let report = serde_json::to_value(&done.report).unwrap();
    let exo = &report["targets"][1];
    assert_eq!(exo["target"], "exchange");
    assert_eq!(exo["counts"]["linked"], 24);
    assert_eq!(
        exo["counts"]["unmanaged"], 0,
        "the shared mailbox is an object: {exo:#}"
    );
    let drift: Vec<(&str, &str, &str)> = exo["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["person"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
                d["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        drift,
        [(&*outsider.id, "unexplained", "FullAccess")],
        "{exo:#}"
    );
    assert_eq!(
        report["targets"][0]["counts"]["drift"], 0,
        "{:#}",
        report["targets"][0]
    );
    // Read alone, Exchange is not reconciled: its accounts are Entra's.
    let alone = stroom::reconcile::reconcile(&stroom::reconcile::ReconcileInput {
        program: &program,
        persons: &people,
        today: date("2026-12-01"),
        inventories: &inventories[1..],
        policy: &policy,
        state: &state,
        only_person: None,
    });
    assert!(alone.report.targets.is_empty());
    assert!(
        alone
            .report
            .notes
            .iter()
            .any(|n| n.contains("read entra too")),
        "{:?}",
        alone.report.notes
    );
}

const GROUP_RULES: &str = r#"
default target entra
group "DEP-*" in entra {
  type security
  description "Department {name}, kept by Stroom"
}
account in entra {
  set mail = lower(ascii(first_name) + "." + employee_number + "@vandijkgroep.nl")
  set displayName = display_name
}
when contract.active
  grant group "DEP-" + lower(department)
  grant group "All Staff"
"#;

fn group_plan(rules: &str, persons: &[Person], state: &State) -> String {
    plan_of(rules, persons, state, "2026-12-01")
}

/// Groups named after what a person is: `group "DEP-*" in entra` lets Stroom make
/// each department's group before its first grant, once, through lag and throttling;
/// one made by hand is left as it is; a repeated create (a lost answer, a resumed
/// run) finds the group it made instead of making a second; an undeclared missing
/// group stays a refusal that says how to declare it.
#[test]
fn managed_groups_are_made_once_before_their_first_grant() {
    let mut setup = TenantSetup::default();
    setup.groups.push("DEP-hr".into());
    let t = tenant_with(
        setup,
        Faults {
            throttle_every: 9,
            replication_lag_ms: 150,
            index_lag_ms: 1_000,
            ..Faults::default()
        },
        None,
    );
    let staff = persons(12);
    let mut departments: Vec<String> = staff
        .iter()
        .filter_map(|p| p.contracts.first()?.department.as_deref())
        .map(|d| format!("DEP-{}", d.to_lowercase()))
        .collect();
    departments.sort();
    departments.dedup();
    assert!(departments.len() >= 6, "{departments:?}");

    let text = group_plan(GROUP_RULES, &staff, &State::default());
    let doc = parse_plan("plan.json", &text).unwrap();
    let creates: Vec<_> = doc
        .actions
        .iter()
        .filter(|a| a.op == stroom::rules::program::OpKind::CreateGroup)
        .collect();
    // One per department (the state knows no group yet), first in the plan, with the
    // settings the declaration gives; `All Staff` is not covered and not made.
    let mut made: Vec<&str> = creates.iter().map(|a| a.name.as_deref().unwrap()).collect();
    made.sort();
    assert_eq!(made, departments);
    assert!(creates
        .iter()
        .enumerate()
        .all(|(k, a)| a.seq == k as u32 + 1));
    let first = creates[0];
    let settings = first.group.as_ref().unwrap();
    assert_eq!(
        settings.description.as_deref(),
        Some(
            format!(
                "Department {}, kept by Stroom",
                first.name.as_deref().unwrap()
            )
            .as_str()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let preview = t.entra.preview(first).unwrap();
    assert!(
        preview.contains("PATCH /v1.0/groups(uniqueName='stroom-dep-")
            && preview.contains("\"securityEnabled\":true"),
        "{preview}"
    );
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let report = run(&text, &targets(&t), &journal, &options());
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    assert!(report.waiting.is_empty(), "{:?}", report.waiting);

    let groups = t.sim.groups();
    for name in &departments {
        let same: Vec<&Value> = groups
            .iter()
            .filter(|g| {
                g["displayName"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case(name)
            })
            .collect();
        assert_eq!(same.len(), 1, "{name}: {same:#?}");
        let g = same[0];
        let members = staff
            .iter()
            .filter(|p| {
                p.contracts
                    .first()
                    .and_then(|c| c.department.as_deref())
                    .is_some_and(|d| format!("DEP-{}", d.to_lowercase()) == *name)
            })
            .count();
        assert_eq!(g["members"].as_array().unwrap().len(), members, "{name}");
        if name == "DEP-hr" {
            // Made by hand: left as it was.
            assert!(g["uniqueName"].is_null());
            assert!(g["description"].is_null());
        } else {
            assert_eq!(g["securityEnabled"], true);
            assert_eq!(g["groupTypes"], json!([]));
            assert!(g["uniqueName"].as_str().unwrap().starts_with("stroom-dep-"));
            assert_eq!(
                g["description"],
                format!("Department {name}, kept by Stroom").as_str()
            );
            assert!(!g["mailNickname"].as_str().unwrap().contains(' '));
        }
    }
    let calls = t.sim.calls_by_kind();
    // Made once each; the one made by hand not at all.
    assert_eq!(
        calls.get("PATCH /v1.0/groups(uniqueName={key})").copied(),
        Some(departments.len() as u64 - 1),
        "{calls:#?}"
    );

    // The next plan knows the groups from their members: nothing to make.
    let doc = parse_plan("plan.json", &text).unwrap();
    let steps = journal.steps(&plan_id(&text)).unwrap();
    let state = state_after_apply(&State::default(), &doc, &steps);
    let again = group_plan(GROUP_RULES, &staff, &state);
    let again = parse_plan("again.json", &again).unwrap();
    assert!(again.actions.is_empty(), "{:#?}", again.actions);

    // A create repeated by a process that does not remember it, while the filter
    // index still lags: the upsert finds the group it made.
    let fresh = restarted(&t);
    let entra = &fresh["entra"];
    let name = "DEP-nieuw";
    let settings = stroom::model::group::GroupSettings::default();
    let id = entra.create_group(name, &settings).unwrap();
    let fresh = restarted(&t);
    assert_eq!(fresh["entra"].create_group(name, &settings).unwrap(), id);
    let count = t
        .sim
        .groups()
        .iter()
        .filter(|g| g["displayName"] == name)
        .count();
    assert_eq!(count, 1);

    // Not declared and not there: refused, with how to declare it.
    let undeclared = GROUP_RULES.replace("grant group \"DEP-\"", "grant group \"PROJ-\"");
    let newcomer = persons(14).split_off(12);
    let text = group_plan(&undeclared, &newcomer, &State::default());
    let report = run(
        &text,
        &targets(&t),
        &Journal::open(&dir.path().join("j2.db")).unwrap(),
        &options(),
    );
    let refusal = report
        .failures
        .iter()
        .map(|f| f.2.as_str())
        .find(|e| e.contains("there is no group named"))
        .unwrap_or_else(|| panic!("{:#?}", report.failures));
    assert!(refusal.contains("in entra { ... }"), "{refusal}");
}
