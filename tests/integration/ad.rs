//! The Active Directory target against a real Samba AD domain controller on loopback
//! (started once per run by tests/samba.sh): lifecycle, idempotence, hostile names,
//! and the apply engine end to end.

use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, ApplyOptions};
use stroom::plan::read::parse_plan;
use stroom::simulate::microsoft::{Faults, MicrosoftSim, TenantSetup};
use stroom::source::nmbrs::auth::Secret;
use stroom::targets::ad::{ActiveDirectory, AdSettings};
use stroom::targets::entra::{EntraId, EntraSettings};
use stroom::targets::exchange::{ExchangeOnline, ExchangeSettings};
use stroom::targets::{Entitlement, Target};

const BASE: &str = "DC=stroom,DC=test";
const ADMIN: &str = "Administrator@STROOM.TEST";
const PASS: &str = "Str00m-Test-Pass!";

pub fn samba() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samba.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Samba AD could not be started: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn admin() -> ldap3::LdapConn {
    let mut c = ldap3::LdapConn::with_settings(
        ldap3::LdapConnSettings::new().set_no_tls_verify(true),
        "ldaps://127.0.0.1:636",
    )
    .unwrap();
    c.simple_bind(ADMIN, PASS).unwrap().success().unwrap();
    c
}

/// A fresh OU (with Users, Disabled and two groups) for one test.
fn add_group(c: &mut ldap3::LdapConn, ou: &str, cn: &str) {
    c.add(
        &format!("CN={cn},{ou}"),
        vec![
            ("objectClass", HashSet::from(["group"])),
            ("sAMAccountName", HashSet::from([cn])),
        ],
    )
    .unwrap()
    .success()
    .unwrap();
}

/// Names are domain-wide in AD (sAMAccountName), so each sandbox has a tag.
pub fn sandbox(name: &str) -> (String, ActiveDirectory, String) {
    samba();
    let tag = format!("{:06x}", stroom::random::random_u64() & 0xffffff);
    let ou = format!("OU={name}-{tag},{BASE}");
    let mut c = admin();
    let add_ou = |c: &mut ldap3::LdapConn, dn: &str| {
        c.add(
            dn,
            vec![("objectClass", HashSet::from(["organizationalUnit"]))],
        )
        .unwrap()
        .success()
        .unwrap();
    };
    add_ou(&mut c, &ou);
    add_ou(&mut c, &format!("OU=Users,{ou}"));
    add_ou(&mut c, &format!("OU=Disabled,{ou}"));
    for g in ["Staff", "Engineering"] {
        add_group(&mut c, &ou, &format!("{g}-{tag}"));
    }
    let settings = AdSettings {
        name: "ad".into(),
        url: "ldaps://127.0.0.1:636".into(),
        starttls: false,
        accept_invalid_certificates: true,
        bind_dn: ADMIN.into(),
        bind_password: Secret::new(PASS),
        users_dn: format!("OU=Users,{ou}"),
        groups_dn: ou.clone(),
        disabled_dn: Some(format!("OU=Disabled,{ou}")),
        correlation_attribute: "employeeNumber".into(),
        timeout: Duration::from_secs(20),
        page_size: 500,
    };
    (ou.clone(), ActiveDirectory::new(settings).unwrap(), tag)
}

fn read(dn: &str, attrs: &[&str]) -> Option<HashMap<String, Vec<String>>> {
    let mut c = admin();
    let (entries, _) = c
        .search(dn, ldap3::Scope::Base, "(objectClass=*)", attrs.to_vec())
        .ok()?
        .success()
        .ok()?;
    entries
        .into_iter()
        .next()
        .map(|e| ldap3::SearchEntry::construct(e).attrs)
}

fn members(ou: &str, group: &str) -> Vec<String> {
    read(&format!("CN={group},{ou}"), &["member"])
        .and_then(|a| a.get("member").cloned())
        .unwrap_or_default()
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn the_account_lifecycle_is_real_and_idempotent() {
    let (ou, ad, tag) = sandbox("life");
    let staff = &format!("Staff-{tag}");
    assert!(ad.correlate("p-1").unwrap().is_none());
    let acc = ad
        .create("p-1", &attrs(json!({"cn": "Jan van der Berg", "sAMAccountName": format!("jberg{tag}"), "givenName": "Jan", "sn": "Berg", "userPrincipalName": format!("jberg{tag}@stroom.test"), "title": null})))
        .unwrap();
    assert_eq!(acc.id, format!("CN=Jan van der Berg,OU=Users,{ou}"));
    let uac =
        |dn: &str| read(dn, &["userAccountControl"]).unwrap()["userAccountControl"][0].clone();
    assert_eq!(uac(&acc.id), "514", "created disabled");
    // A second create (a resumed run) adopts the account instead of failing.
    assert_eq!(
        ad.create("p-1", &attrs(json!({"cn": "Jan van der Berg"})))
            .unwrap()
            .id,
        acc.id
    );
    ad.enable(&acc).unwrap();
    assert_eq!(uac(&acc.id), "512");
    assert_eq!(ad.correlate("p-1").unwrap().unwrap().enabled, Some(true));
    // Groups: twice in, twice out, all fine.
    let g = Entitlement {
        kind: stroom::rules::program::Kind::Group,
        name: staff,
        on: None,
    };
    ad.grant(&acc, &g).unwrap();
    ad.grant(&acc, &g).unwrap();
    assert_eq!(members(&ou, staff), vec![acc.id.clone()]);
    assert_eq!(
        ad.read_grants(&acc).unwrap(),
        vec![("group".to_string(), staff.to_string())]
    );
    ad.revoke(&acc, &g).unwrap();
    ad.revoke(&acc, &g).unwrap();
    assert!(members(&ou, staff).is_empty());
    let err = ad
        .grant(
            &acc,
            &Entitlement {
                kind: stroom::rules::program::Kind::Group,
                name: "Nope",
                on: None,
            },
        )
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{err}");
    // Update: attributes, a manager by person id, a rename.
    let boss = ad
        .create(
            "p-boss",
            &attrs(json!({"cn": "Eva Groot", "sAMAccountName": format!("egroot{tag}")})),
        )
        .unwrap();
    ad.update(
        &acc,
        &attrs(
            json!({"title": "Engineer", "manager": "p-boss", "cn": "Jan van der Berg-de Vries"}),
        ),
    )
    .unwrap();
    let moved = ad.correlate("p-1").unwrap().unwrap();
    assert_eq!(
        moved.id,
        format!("CN=Jan van der Berg-de Vries,OU=Users,{ou}")
    );
    let a = read(&moved.id, &["title", "manager"]).unwrap();
    assert_eq!(a["title"], vec!["Engineer"]);
    assert_eq!(a["manager"], vec![boss.id.clone()]);
    ad.update(&moved, &attrs(json!({"title": null}))).unwrap();
    ad.update(&moved, &attrs(json!({"title": null}))).unwrap();
    assert!(!read(&moved.id, &["title"]).unwrap().contains_key("title"));
    // Disable moves to the disabled OU; delete twice is fine.
    ad.disable(&moved).unwrap();
    let gone = ad.correlate("p-1").unwrap().unwrap();
    assert_eq!(
        gone.id,
        format!("CN=Jan van der Berg-de Vries,OU=Disabled,{ou}")
    );
    assert_eq!(gone.enabled, Some(false));
    ad.delete(&gone).unwrap();
    ad.delete(&gone).unwrap();
}

#[test]
fn hostile_names_never_widen_a_search_or_touch_another_object() {
    let (ou, ad, tag) = sandbox("hostile");
    let staff = format!("Staff-{tag}");
    let victim = ad
        .create(
            "victim",
            &attrs(json!({"cn": "Victim", "sAMAccountName": format!("victim{tag}")})),
        )
        .unwrap();
    for id in [
        "*",
        "victim)(employeeNumber=*",
        "*)(objectClass=*",
        "\\2a",
        "v*",
    ] {
        assert!(
            ad.correlate(id).unwrap().is_none(),
            "{id:?} must match nothing"
        );
    }
    let names = [
        ("h-1", "O'Brien (Jr)*"),
        ("h-2", "Berg, Jan + \"de\" <x>; y=z \\"),
        ("h-3", " #leading and trailing "),
        ("h-4", "Zoë Ünal-Çelik"),
        ("*", "Star"),
    ];
    for (k, (id, cn)) in names.iter().enumerate() {
        let acc = ad
            .create(
                id,
                &attrs(json!({"cn": cn, "sAMAccountName": format!("h{k}{tag}")})),
            )
            .unwrap_or_else(|e| panic!("{cn:?}: {e}"));
        // Found again by id, and it is this object (AD spells the DN its own way).
        let found = ad.correlate(id).unwrap().unwrap();
        let back = read(&found.id, &["cn", "employeeNumber"]).unwrap();
        assert_eq!(back["cn"], vec![cn.to_string()]);
        assert_eq!(back["employeeNumber"], vec![id.to_string()]);
        ad.grant(
            &acc,
            &Entitlement {
                kind: stroom::rules::program::Kind::Group,
                name: &staff,
                on: None,
            },
        )
        .unwrap();
    }
    // The person whose id is `*` is exactly one account, and deleting it leaves the victim.
    let star = ad.correlate("*").unwrap().unwrap();
    ad.delete(&star).unwrap();
    assert!(ad.correlate("victim").unwrap().is_some());
    assert_eq!(members(&ou, &staff).len(), 4);
    assert!(!members(&ou, &staff).contains(&victim.id));
    // A group name that is a filter never matches a group.
    let err = ad
        .grant(
            &victim,
            &Entitlement {
                kind: stroom::rules::program::Kind::Group,
                name: "*",
                on: None,
            },
        )
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{err}");
}

#[test]
fn a_plan_is_applied_to_ad_and_a_second_run_changes_nothing() {
    let (ou, ad, tag) = sandbox("plan");
    let mut actions = Vec::new();
    let mut seq = 0;
    for (p, cn) in [("e-1", "Anna de Wit"), ("e-2", "Bram Klein")] {
        for a in [
            json!({"op": "create_account", "person": p, "attributes": {"cn": cn, "sAMAccountName": format!("{p}{tag}"), "department": "Sales"}}),
            json!({"op": "enable_account", "person": p}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Staff-{tag}")}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Engineering-{tag}")}),
        ] {
            seq += 1;
            let mut a = a;
            a["seq"] = json!(seq);
            a["target"] = json!("ad");
            actions.push(a);
        }
    }
    let text = json!({"today": "2026-12-01", "blocked": null, "actions": actions}).to_string();
    let doc = parse_plan("plan.json", &text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("ad".into(), Arc::new(ad));
    let options = ApplyOptions {
        concurrency: 2,
        backoff: Duration::from_millis(50),
        ..ApplyOptions::default()
    };
    // A dry run says what would be sent, and sends nothing.
    let dry = ApplyOptions {
        dry_run: true,
        ..options.clone()
    };
    let preview = apply(
        &doc,
        &plan_id(&text),
        &targets,
        &journal,
        &Audit::none(),
        &dry,
    )
    .unwrap();
    assert!(
        preview.would[0].contains(&format!("LDAP add CN=Anna de Wit,OU=Users,{ou}")),
        "{:?}",
        preview.would
    );
    assert!(preview.would[0].contains("unicodePwd (generated, never shown)"));
    assert!(targets["ad"].correlate("e-1").unwrap().is_none());
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets,
        &journal,
        &Audit::none(),
        &options,
    )
    .unwrap();
    assert_eq!(
        (report.done, report.failed),
        (8, 0),
        "{:?}",
        report.failures
    );
    assert_eq!(members(&ou, &format!("Staff-{tag}")).len(), 2);
    // The same plan again under a new id (a fresh journal): every step is idempotent.
    let report = apply(&doc, "again", &targets, &journal, &Audit::none(), &options).unwrap();
    assert_eq!(
        (report.done, report.failed),
        (8, 0),
        "{:?}",
        report.failures
    );
    assert_eq!(members(&ou, &format!("Engineering-{tag}")).len(), 2);
}

fn big_plan(tag: &str, persons: usize) -> String {
    let mut actions = Vec::new();
    for k in 0..persons {
        let p = format!("k-{k}");
        for a in [
            json!({"op": "create_account", "person": p, "attributes": {"cn": format!("Kill Test {k}"), "sAMAccountName": format!("k{k}{tag}")}}),
            json!({"op": "update_account", "person": p, "changes": {"title": [null, "Tester"]}}),
            json!({"op": "enable_account", "person": p}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Staff-{tag}")}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Engineering-{tag}")}),
        ] {
            let mut a = a;
            a["seq"] = json!(actions.len() + 1);
            a["target"] = json!("ad");
            actions.push(a);
        }
    }
    json!({"today": "2026-12-01", "blocked": null, "actions": actions}).to_string()
}

#[test]
fn kill_9_in_the_middle_of_stroom_apply_resumes_cleanly() {
    let (ou, _, tag) = sandbox("kill");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\nconcurrency = 3\n\
             [targets.ad]\nurl = \"ldaps://127.0.0.1:636\"\naccept_invalid_certificates = true\n\
             bind_dn = \"{ADMIN}\"\nusers_dn = \"OU=Users,{ou}\"\ngroups_dn = \"{ou}\"\n"
        ),
    )
    .unwrap();
    let persons = 30;
    std::fs::write(dir.path().join("plan.json"), big_plan(&tag, persons)).unwrap();
    let stroom = |wait: Option<usize>| {
        crate::common::apply_killed_at(
            dir.path(),
            "plan.json",
            &[("STROOM_AD_PASSWORD", PASS)],
            wait,
        )
    };
    // Killed three times at different points, then run to the end.
    for at in [7, 52, 118] {
        let out = stroom(Some(at));
        assert!(
            !out.status.success(),
            "killed at {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = stroom(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("0 failed"), "{text}");
    // The directory holds exactly the intended objects: 30 enabled accounts, each in
    // both groups once.
    let mut c = admin();
    let (entries, _) = c
        .search(
            &format!("OU=Users,{ou}"),
            ldap3::Scope::Subtree,
            "(objectClass=user)",
            vec!["userAccountControl", "title", "employeeID"],
        )
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), persons);
    for e in entries.into_iter().map(ldap3::SearchEntry::construct) {
        assert_eq!(e.attrs["userAccountControl"], vec!["512"], "{}", e.dn);
        assert_eq!(e.attrs["title"], vec!["Tester"], "{}", e.dn);
    }
    assert_eq!(members(&ou, &format!("Staff-{tag}")).len(), persons);
    assert_eq!(members(&ou, &format!("Engineering-{tag}")).len(), persons);
    // The state records every account with its DN and every grant.
    let state: stroom::model::State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state.accounts.len(), persons);
    assert!(state
        .accounts
        .iter()
        .all(|a| a.enabled && a.id.as_deref().is_some_and(|id| id.ends_with(&ou))));
    assert_eq!(state.grants.len(), 2 * persons);
    // Every step was audited as done; a step cut off by a kill may be repeated.
    let audit = std::fs::read_to_string(dir.path().join("data/audit.jsonl")).unwrap();
    let ok = audit
        .lines()
        .filter(|l| l.contains("\"result\":\"ok\""))
        .count();
    assert!(
        (5 * persons..=5 * persons + 9).contains(&ok),
        "{ok} ok lines"
    );
}

/// The whole story for one person against Samba AD and the Nmbrs simulator:
/// joiner (account made disabled two weeks early, enabled on day one, e-mail written
/// back to Nmbrs), mover (groups follow the department), leaver (disabled the day
/// after the contract ends, deleted after the retention), rehire.
#[test]
fn joiner_mover_leaver_rehire_end_to_end() {
    use stroom::plan::{build_plan, PlanInput};
    use stroom::simulate::nmbrs::{Credentials, Sim};
    use stroom::source::nmbrs::auth::{OAuthClient, Session, TokenStore};
    use stroom::source::nmbrs::client::{Client, ClientSettings};
    use stroom::targets::nmbrs::NmbrsWriteback;

    let (ou, ad, tag) = sandbox("story");
    let mut c = admin();
    for g in ["Sales", "Finance"] {
        add_group(&mut c, &ou, &format!("{g}-{tag}"));
    }
    // Nmbrs: the person lives in the simulator, so the write-back is real.
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let sim = Arc::new(Sim::generate(
        3,
        9,
        date("2026-12-01"),
        Credentials::default(),
    ));
    let base = stroom::simulate::spawn(sim.clone().router()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path().join("tokens.json"));
    sim.sign_in(&store).unwrap();
    let creds = Credentials::default();
    let client = Client::new(
        ClientSettings {
            base_url: base.clone(),
            subscription_key: Secret::new(creds.subscription_key.clone()),
            concurrency: 2,
            page_size: 100,
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
            max_pages: ClientSettings::DEFAULT_MAX_PAGES,
            deadline: ClientSettings::DEFAULT_DEADLINE,
        },
        Session::new(
            OAuthClient {
                identity_url: base,
                client_id: creds.client_id,
                client_secret: Secret::new(creds.client_secret),
                redirect_uri: "http://127.0.0.1:1/cb".into(),
                scopes: vec![],
            },
            store,
        ),
    )
    .unwrap();
    let mut anna = sim.persons()[0].clone();
    // The company of each person comes from an import, as in `stroom apply`.
    let mut companies = HashMap::new();
    let imported = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(stroom::source::nmbrs::import(
            &client,
            &stroom::source::nmbrs::Selection::default(),
        ))
        .unwrap();
    for p in &imported.normalized.persons {
        companies.insert(p.id.to_string(), p.extra["nmbrs_company_id"].clone());
    }
    // Microsoft 365: the tenant simulator, with replication lag and a mailbox that
    // appears a moment after its licence.
    let m365 = MicrosoftSim::new(TenantSetup::default());
    m365.set_faults(Faults {
        replication_lag_ms: 100,
        index_lag_ms: 300,
        mailbox_delay_ms: 300,
        throttle_every: 9,
        ..Faults::default()
    });
    let m365_base = m365.start().unwrap();
    let entra = EntraId::new(EntraSettings {
        settle_delay: Duration::from_millis(50),
        ..EntraSettings::new(m365.api_settings(&m365_base, false))
    })
    .unwrap();
    let exchange = ExchangeOnline::new(ExchangeSettings::new(
        m365.api_settings(&m365_base, true),
        "stroomtest.onmicrosoft.com",
    ))
    .unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("ad".into(), Arc::new(ad));
    targets.insert("entra".into(), Arc::new(entra));
    targets.insert("exchange".into(), Arc::new(exchange));
    targets.insert(
        "nmbrs".into(),
        Arc::new(NmbrsWriteback::new(client, companies).unwrap()),
    );
    let cloud = |person: &str| {
        m365.users()
            .into_iter()
            .find(|u| u["onPremisesExtensionAttributes"]["extensionAttribute1"] == person)
    };

    let rules = format!(
        r#"
default target ad
rule "ad-account" {{
  account in ad {{
    create 14 days before start
    disable 0 days after end
    delete 30 days after disable
    set cn = display_name
    set sAMAccountName = unique [lower(left(ascii(first_name), 1) + replace(ascii(last_name), " ", "")) + "{tag}"] max 20
    set mail = lower(ascii(first_name) + "." + replace(ascii(last_name), " ", "")) + "@stroom.test"
    set department = department
    set employeeID = employee_number + ""
  }}
}}
rule "entra-account" {{
  account in entra {{
    create 14 days before start
    disable 0 days after end
    delete 30 days after disable
    set mail = lower(ascii(first_name) + "." + replace(ascii(last_name), " ", "")) + ".{tag}@example.nl"
    set displayName = display_name
    set department = department
    set usageLocation = "NL"
  }}
}}
rule "m365" {{
  when contract.active
    grant license "SPE_E3" in entra
    grant mailbox "UserMailbox" in exchange
}}
rule "sales" {{
  when department == "Sales"
    grant group "Sales-{tag}"
    grant group "Sales Team" in entra
}}
rule "finance" {{
  when department == "Finance"
    grant group "Finance-{tag}"
}}
rule "write-back-mail" {{
  writeback business_email from entra.mail
}}
"#
    );
    let checked = stroom::check_sources(&[("story.stroom", &rules)]);
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let options = ApplyOptions {
        concurrency: 1,
        backoff: Duration::from_millis(20),
        ready_backoff: Duration::from_millis(100),
        ..ApplyOptions::default()
    };
    let mut state = stroom::model::State::default();
    let day = |today: &str, anna: &stroom::model::Person, state: &mut stroom::model::State| {
        let plan = build_plan(&PlanInput {
            program: &program,
            persons: std::slice::from_ref(anna),
            state,
            today: date(today),
        });
        let text = serde_json::to_string(&plan).unwrap();
        let doc = parse_plan("plan.json", &text).unwrap();
        let id = plan_id(&text);
        let report = apply(&doc, &id, &targets, &journal, &Audit::none(), &options).unwrap();
        assert_eq!(report.failed, 0, "{today}: {:?}", report.failures);
        assert!(report.waiting.is_empty(), "{today}: {:?}", report.waiting);
        *state = stroom::apply::state_after_apply(state, &doc, &journal.steps(&id).unwrap());
        doc.actions.iter().map(|a| a.op).collect::<Vec<_>>()
    };
    let mailbox = |user: &Value| {
        m365.mailboxes()
            .into_iter()
            .find(|m| m["ExternalDirectoryObjectId"] == user["id"])
    };
    let set_contract =
        |anna: &mut stroom::model::Person, start: &str, end: Option<&str>, dept: &str| {
            anna.contracts = vec![stroom::model::Contract {
                id: "c-1".into(),
                start: Some(date(start)),
                end: end.map(date),
                department: Some(dept.into()),
                ..Default::default()
            }];
        };
    let account =
        |state: &stroom::model::State| state.accounts.iter().find(|a| a.target == "ad").cloned();
    let uac =
        |dn: &str| read(dn, &["userAccountControl"]).map(|a| a["userAccountControl"][0].clone());

    // Joiner: starts 2026-12-15 in Sales.
    set_contract(&mut anna, "2026-12-15", None, "Sales");
    assert!(
        day("2026-11-20", &anna, &mut state).is_empty(),
        "nothing yet, 25 days early"
    );
    let ops = day("2026-12-01", &anna, &mut state);
    assert!(
        ops.contains(&stroom::rules::program::OpKind::Create),
        "{ops:?}"
    );
    let dn = account(&state).unwrap().id.unwrap();
    assert_eq!(
        uac(&dn).as_deref(),
        Some("514"),
        "disabled before the start date"
    );
    let user = cloud(&anna.id).expect("an Entra account two weeks early");
    assert_eq!(user["accountEnabled"], false);
    assert_eq!(user["licenses"], json!([]), "no licence before day one");
    let ops = day("2026-12-15", &anna, &mut state);
    assert!(
        ops.contains(&stroom::rules::program::OpKind::Enable),
        "{ops:?}"
    );
    assert_eq!(uac(&dn).as_deref(), Some("512"), "enabled on day one");
    let user = cloud(&anna.id).unwrap();
    assert_eq!(user["accountEnabled"], true);
    assert_eq!(user["licenses"], json!(["SPE_E3"]));
    assert_eq!(user["memberOf"], json!(["Sales Team"]));
    let mbx = mailbox(&user).expect("the mailbox after the licence");
    assert_eq!(mbx["PrimarySmtpAddress"], user["mail"]);
    assert_eq!(mbx["HiddenFromAddressListsEnabled"], false);
    assert_eq!(members(&ou, &format!("Sales-{tag}")), vec![dn.clone()]);
    let mail = user["mail"].as_str().unwrap().to_string();
    let in_nmbrs = sim.persons().into_iter().find(|p| p.id == anna.id).unwrap();
    assert_eq!(
        in_nmbrs.business_email.as_deref(),
        Some(mail.as_str()),
        "the e-mail lands in Nmbrs"
    );
    anna.business_email = Some(mail);

    // Mover: to Finance.
    set_contract(&mut anna, "2026-12-15", None, "Finance");
    day("2027-01-10", &anna, &mut state);
    assert!(members(&ou, &format!("Sales-{tag}")).is_empty());
    assert_eq!(members(&ou, &format!("Finance-{tag}")), vec![dn.clone()]);
    assert_eq!(
        read(&dn, &["department"]).unwrap()["department"],
        vec!["Finance"]
    );
    let user = cloud(&anna.id).unwrap();
    assert_eq!(user["department"], "Finance");
    assert_eq!(user["memberOf"], json!([]), "left the Sales team in Entra");

    // Leaver: last day 2027-03-31; still enabled that day, disabled the day after.
    set_contract(&mut anna, "2026-12-15", Some("2027-03-31"), "Finance");
    day("2027-03-31", &anna, &mut state);
    assert_eq!(uac(&dn).as_deref(), Some("512"));
    let ops = day("2027-04-01", &anna, &mut state);
    assert!(
        ops.contains(&stroom::rules::program::OpKind::Disable),
        "{ops:?}"
    );
    let dn = account(&state).unwrap().id.unwrap_or(dn);
    let disabled = read(&dn, &["userAccountControl"]).or_else(|| {
        // Disabling moved it to the disabled OU.
        let moved = format!("{},OU=Disabled,{ou}", dn.split(",OU=").next().unwrap());
        read(&moved, &["userAccountControl"])
    });
    assert_eq!(disabled.unwrap()["userAccountControl"][0], "514");
    let user = cloud(&anna.id).unwrap();
    assert_eq!(user["accountEnabled"], false);
    assert_eq!(user["revocations"], 1, "sign-in sessions revoked");
    assert_eq!(user["licenses"], json!([]), "licence freed");
    // Deleted after the 30-day retention.
    let ops = day("2027-05-01", &anna, &mut state);
    assert!(
        ops.contains(&stroom::rules::program::OpKind::Delete),
        "{ops:?}"
    );
    assert!(targets["ad"].correlate(&anna.id).unwrap().is_none());
    assert!(account(&state).is_none());
    assert!(cloud(&anna.id).is_none(), "the Entra account is deleted");
    assert_eq!(
        m365.deleted().len(),
        1,
        "soft-deleted, restorable for 30 days"
    );

    // Rehire on 2027-09-01: a new account two weeks early, enabled on day one.
    anna.contracts.push(stroom::model::Contract {
        id: "c-2".into(),
        start: Some(date("2027-09-01")),
        department: Some("Sales".into()),
        ..Default::default()
    });
    let ops = day("2027-08-18", &anna, &mut state);
    assert!(
        ops.contains(&stroom::rules::program::OpKind::Create),
        "{ops:?}"
    );
    day("2027-09-01", &anna, &mut state);
    let again = targets["ad"].correlate(&anna.id).unwrap().unwrap();
    assert_eq!(again.enabled, Some(true));
    assert_eq!(members(&ou, &format!("Sales-{tag}")), vec![again.id]);
    let user = cloud(&anna.id).expect("a new Entra account");
    assert_eq!(user["accountEnabled"], true);
    assert!(mailbox(&user).is_some());
}

/// `stroom sync --apply`: import from the Nmbrs simulator, plan, and carry the plan
/// out in AD with the e-mail written back; a second sync has nothing left to do.
#[test]
fn sync_apply_provisions_ad_and_writes_back_to_nmbrs() {
    use stroom::simulate::nmbrs::{Credentials, Sim};
    use stroom::source::nmbrs::auth::TokenStore;
    let (ou, _, tag) = sandbox("sync");
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let sim = Arc::new(Sim::generate(25, 21, date, Credentials::default()));
    let base = stroom::simulate::spawn(sim.clone().router()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    sim.sign_in(&TokenStore::new(dir.path().join("data/tokens.json")))
        .unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\n\
             [store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n\
             [sync]\nstate = \"data/state.json\"\n\
             [targets.ad]\nurl = \"ldaps://127.0.0.1:636\"\naccept_invalid_certificates = true\n\
             bind_dn = \"{ADMIN}\"\nusers_dn = \"OU=Users,{ou}\"\ngroups_dn = \"{ou}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.stroom"),
        format!(
            r#"default target ad
rule "ad-account" {{
  account in ad {{
    create 14 days before start
    disable 0 days after end
    delete 30 days after disable
    set cn = display_name + " " + employee_number
    set sAMAccountName = "s" + employee_number + "{tag}"
    set mail = "s" + employee_number + "{tag}@stroom.test"
  }}
}}
rule "write-back-mail" {{
  writeback business_email from ad.mail
}}
"#
        ),
    )
    .unwrap();
    let c = Credentials::default();
    let sync = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args([
                "sync",
                "--rules",
                "rules.stroom",
                "--today",
                "2026-12-01",
                "--apply",
                "--format",
                "json",
            ])
            .current_dir(dir.path())
            .env("STROOM_NMBRS_BASE_URL", &base)
            .env("STROOM_NMBRS_IDENTITY_URL", &base)
            .env("STROOM_NMBRS_CLIENT_SECRET", &c.client_secret)
            .env("STROOM_NMBRS_SUBSCRIPTION_KEY", &c.subscription_key)
            .env("STROOM_AD_PASSWORD", PASS)
            .output()
            .unwrap()
    };
    let out = sync();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("apply:") && text.contains(" 0 failed"),
        "{text}"
    );
    let state: stroom::model::State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("data/state.json")).unwrap())
            .unwrap();
    let accounts: Vec<_> = state.accounts.iter().filter(|a| a.target == "ad").collect();
    assert!(accounts.len() >= 10, "{} accounts", accounts.len());
    for a in &accounts {
        let dn = a.id.as_deref().unwrap();
        assert!(read(dn, &["cn"]).is_some(), "{dn} exists in AD");
        let mail = a.attributes["mail"].as_str().unwrap().to_string();
        let p = sim
            .persons()
            .into_iter()
            .find(|p| *p.id == *a.person)
            .unwrap();
        if a.enabled {
            assert_eq!(
                p.business_email.as_deref(),
                Some(mail.as_str()),
                "written back for {}",
                a.person
            );
        }
    }
    // Nothing left to do on the same day.
    let out = sync();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{text}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["actions"].as_array().unwrap().len(), 0, "{text}");
}

/// Two targets of one kind: `[targets.ad]` and `[targets.ad_emea]` (`kind = "ad"`), each
/// with its own OU and password variable. The rules name both; `check`, `plan` and
/// `apply` take them from stroom.toml, and each account lands in its own directory.
#[test]
fn two_ad_targets_from_one_stroom_toml() {
    let (ou, _, tag) = sandbox("two");
    let (ou_emea, _, tag_emea) = sandbox("emea");
    let dir = tempfile::tempdir().unwrap();
    let section = |name: &str, kind: &str, ou: &str| {
        format!(
            "[targets.{name}]\n{kind}url = \"ldaps://127.0.0.1:636\"\naccept_invalid_certificates = true\n\
             bind_dn = \"{ADMIN}\"\nusers_dn = \"OU=Users,{ou}\"\ngroups_dn = \"{ou}\"\n"
        )
    };
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n{}{}",
            section("ad", "", &ou),
            section("ad_emea", "kind = \"ad\"\n", &ou_emea),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.stroom"),
        format!(
            r#"rule "accounts" {{
  account in ad {{
    set cn = display_name
    set sAMAccountName = "n" + employee_number + "{tag}"
  }}
  account in ad_emea {{
    set cn = display_name
    set sAMAccountName = "e" + employee_number + "{tag_emea}"
  }}
}}
rule "groups" {{
  when department == "Sales"
    grant group "Staff-{tag}" in ad
  when department == "Sales"
    grant group "Engineering-{tag_emea}" in ad_emea
}}
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("persons.json"),
        r#"[{"id": "p-1", "employee_number": 7, "first_name": "Anna", "last_name": "Wit",
             "contracts": [{"id": "c1", "start": "2026-01-01", "department": "Sales"}]}]"#,
    )
    .unwrap();
    let stroom = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args(args)
            .current_dir(dir.path())
            .env("STROOM_AD_PASSWORD", PASS)
            .env("STROOM_AD_EMEA_PASSWORD", PASS)
            .output()
            .unwrap()
    };
    // Without the configuration the rules name a target nobody has.
    let out = stroom(&["check", "rules.stroom", "--config", "/dev/null"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("stroom::unknown_target"), "{text}");
    // With it (./stroom.toml is read by default) they check and plan.
    let out = stroom(&["check", "rules.stroom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stroom(&[
        "plan",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--today",
        "2026-12-01",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("plan.json"), &out.stdout).unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: HashSet<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, HashSet::from(["ad", "ad_emea"]), "{plan}");
    let out = stroom(&["apply", "--plan", "plan.json", "--state", "state.json"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    assert!(read(&format!("CN=Anna Wit,OU=Users,{ou}"), &["cn"]).is_some());
    assert!(read(&format!("CN=Anna Wit,OU=Users,{ou_emea}"), &["cn"]).is_some());
    assert_eq!(members(&ou, &format!("Staff-{tag}")).len(), 1);
    assert_eq!(
        members(&ou_emea, &format!("Engineering-{tag_emea}")).len(),
        1
    );
    assert!(members(&ou_emea, &format!("Staff-{tag_emea}")).is_empty());
    // The state keeps the two accounts apart, by target.
    let state: stroom::model::State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    let mut accounts: Vec<&str> = state.accounts.iter().map(|a| &*a.target).collect();
    accounts.sort();
    assert_eq!(accounts, ["ad", "ad_emea"]);
}

/// `create_group` on a real Samba DC: made in the declared OU with the scope and type
/// the rules give (groupType bits), left alone when it exists (twice is fine, and a
/// group made by hand is not touched), refused with the fix outside `groups_dn`; then
/// a plan's grants wait for the create and add their members.
#[test]
fn managed_groups_are_made_where_and_as_the_rules_say() {
    use stroom::model::group::{GroupScope, GroupSettings, GroupType};
    let (ou, ad, tag) = sandbox("groups");
    let mut c = admin();
    let departments = format!("OU=Departments,{ou}");
    c.add(
        &departments,
        vec![("objectClass", HashSet::from(["organizationalUnit"]))],
    )
    .unwrap()
    .success()
    .unwrap();
    let settings = GroupSettings {
        ou: Some(departments.clone()),
        scope: Some(GroupScope::Universal),
        group_type: GroupType::Security,
        description: Some("Everyone in Sales".into()),
    };
    let name = format!("DEP-sales-{tag}");
    let dn = ad.create_group(&name, &settings).unwrap();
    assert_eq!(dn, format!("CN={name},{departments}"));
    let entry = read(&dn, &["groupType", "description", "sAMAccountName"]).unwrap();
    // Universal (0x8) and security (0x80000000), as the signed number AD stores.
    assert_eq!(entry["groupType"], vec!["-2147483640".to_string()]);
    assert_eq!(entry["description"], vec!["Everyone in Sales".to_string()]);
    assert_eq!(entry["sAMAccountName"], vec![name.clone()]);
    // Again (a resumed run), and from a process that does not remember it: the same.
    assert_eq!(ad.create_group(&name, &settings).unwrap(), dn);
    // A group made by hand is found and left exactly as it is.
    let staff = format!("Staff-{tag}");
    assert_eq!(
        ad.create_group(&staff, &settings).unwrap(),
        format!("CN={staff},{ou}")
    );
    assert!(!read(&format!("CN={staff},{ou}"), &["description"])
        .unwrap()
        .contains_key("description"));
    // A distribution group of global scope: groupType 2, no security bit.
    let list = format!("DL-news-{tag}");
    let dl = ad
        .create_group(
            &list,
            &GroupSettings {
                group_type: GroupType::Distribution,
                ..GroupSettings::default()
            },
        )
        .unwrap();
    assert_eq!(dl, format!("CN={list},{ou}"));
    assert_eq!(
        read(&dl, &["groupType"]).unwrap()["groupType"],
        vec!["2".to_string()]
    );
    // Outside groups_dn, where grants would never find it: refused, with the fix.
    let outside = GroupSettings {
        ou: Some(format!("OU=Elsewhere,{BASE}")),
        ..GroupSettings::default()
    };
    let e = ad
        .create_group(&format!("DEP-x-{tag}"), &outside)
        .unwrap_err();
    assert_eq!(e.kind, stroom::targets::ErrorKind::Refused);
    assert!(e.message.contains("outside groups_dn"), "{e}");
    assert!(e.message.contains("help: choose an `ou` under"), "{e}");

    // A plan: the group is made first, the grants of two persons wait for it.
    let rules = format!(
        "default target ad\n\
         group \"DEP-*\" in ad {{\n  ou \"{departments}\"\n  description \"Department {{name}}\"\n}}\n\
         account in ad {{\n  set cn = display_name\n  set sAMAccountName = \"u\" + employee_number + \"{tag}\"\n}}\n\
         when contract.active grant group \"DEP-\" + lower(department) + \"-{tag}\"\n"
    );
    let checked = stroom::check_sources(&[("groups.stroom", rules.as_str())]);
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let text = std::fs::read_to_string("rules-examples/vandijk-persons.json").unwrap();
    let mut persons = stroom::source::persons::parse_persons("p", &text).unwrap();
    persons.retain(|p| {
        p.contracts
            .first()
            .is_some_and(|c| c.department.as_deref() == Some("Finance") && c.end.is_none())
    });
    persons.truncate(2);
    assert_eq!(persons.len(), 2);
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program: &program,
        persons: &persons,
        state: &stroom::model::State::default(),
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    });
    let text = serde_json::to_string(&plan).unwrap();
    let doc = parse_plan("plan.json", &text).unwrap();
    assert_eq!(
        doc.actions[0].op,
        stroom::rules::program::OpKind::CreateGroup
    );
    let finance = format!("DEP-finance-{tag}");
    assert_eq!(doc.actions[0].name.as_deref(), Some(finance.as_str()));
    // `apply --dry-run` says what would be sent.
    let preview = ad.preview(&doc.actions[0]).unwrap();
    assert!(
        preview.contains(&format!("if absent, LDAP add CN={finance},{departments}"))
            && preview.contains("groupType = -2147483646"),
        "{preview}"
    );
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("ad".into(), Arc::new(ad));
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets,
        &journal,
        &Audit::none(),
        &ApplyOptions {
            concurrency: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    let made = format!("CN={finance},{departments}");
    let entry = read(&made, &["member", "description", "groupType"]).unwrap();
    assert_eq!(entry["member"].len(), 2, "{entry:?}");
    assert_eq!(entry["description"], vec![format!("Department {finance}")]);
    assert_eq!(entry["groupType"], vec!["-2147483646".to_string()]);
}

/// The AD hand-over on a real DC: a new initial password, set over LDAPS and to be
/// changed at the first sign-in; the old one stops working; a withdrawn one is
/// replaced by one nobody knows.
#[test]
fn an_initial_password_is_made_to_change_at_first_sign_in() {
    let (_ou, ad, tag) = sandbox("handover");
    let sam = format!("h{tag}");
    let upn = format!("{sam}@stroom.test");
    let acc = ad
        .create(
            "p-h",
            &attrs(json!({"cn": format!("Hand Over {tag}"), "sAMAccountName": sam, "userPrincipalName": upn})),
        )
        .unwrap();
    ad.enable(&acc).unwrap();
    let credential = ad.issue_credential(&acc, None, None).unwrap();
    assert_eq!(credential.kind, "initial password");
    assert_eq!(format!("{:?}", credential.secret), "***");
    let entry = read(&acc.id, &["pwdLastSet"]).unwrap();
    assert_eq!(
        entry["pwdLastSet"],
        vec!["0".to_string()],
        "must change at first sign-in"
    );
    let bind = |password: &str| {
        let mut c = ldap3::LdapConn::with_settings(
            ldap3::LdapConnSettings::new().set_no_tls_verify(true),
            "ldaps://127.0.0.1:636",
        )
        .unwrap();
        c.simple_bind(&upn, password).map(|r| (r.rc, r.text))
    };
    // The password is the account's: a wrong one is told apart from it.
    let right = bind(credential.secret.expose()).unwrap();
    let wrong = bind("Wrong-Password-1!").unwrap();
    assert_ne!(wrong.0, 0);
    assert!(
        right.0 == 0 || right.1.contains("773"),
        "{right:?} vs {wrong:?}"
    );
    assert_ne!(right, wrong);
    // Withdrawn: the handed-out one works no more.
    ad.withdraw_credential(&acc, &credential).unwrap();
    let after = bind(credential.secret.expose()).unwrap();
    assert_eq!(after.0, wrong.0, "{after:?}");
}
