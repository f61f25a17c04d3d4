//! Times `stroom reconcile` at scale outside criterion and prints requests and peak
//! memory (for the book):
//!
//! - `cargo run --release --example reconcile -- entra [USERS] [adopt|nochange]`: a
//!   simulated tenant of USERS (default 50,000) users, all in `All Staff`; `adopt`
//!   leaves every tenth without the person id (found by the employee number), `nochange`
//!   links them all with the values the rules give.
//! - `cargo run --release --example reconcile -- ad [ACCOUNTS]`: the same against the
//!   Samba AD of the tests (`bash tests/samba.sh` first), ACCOUNTS (default 10,000)
//!   added to a fresh OU with LDAP, every tenth without the person id.

#[path = "support/memory.rs"]
mod memory;
use memory::*;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Instant;
use stroom::model::live::ReadRequest;
use stroom::model::{Person, State};
use stroom::reconcile::{
    managed_entitlements, read_attributes, reconcile, ReconcileInput, ReconcilePolicy,
};
use stroom::targets::Target;

fn persons(n: usize) -> Vec<Person> {
    let list: Vec<Value> = (0..n)
        .map(|k| {
            json!({"id": format!("p-{k:06}"), "employee_number": 100_000 + k, "first_name": "Naam",
                   "last_name": format!("Achter{k:06}"), "employee_type": "payroll",
                   "contracts": [{"id": "c", "start": "2020-01-01", "department": "Sales"}]})
        })
        .collect();
    stroom::source::persons::parse_persons("persons.json", &Value::Array(list).to_string())
        .unwrap_or_default()
}

fn run(target: &dyn Target, rules: &str, people: &[Person]) {
    let Some(program) = stroom::check_sources(&[("reconcile.stroom", rules)]).program else {
        return eprintln!("the rules do not check");
    };
    let Some(t) = program.target_id(target.name()) else {
        return eprintln!("no target {}", target.name());
    };
    let (managed, _) = managed_entitlements(&program, t);
    let attributes = read_attributes(&program, t);
    reset_peak();
    let clock = Instant::now();
    let inventory = match target.read_inventory(&ReadRequest {
        attributes: &attributes,
        managed: &managed,
    }) {
        Ok(i) => i,
        Err(e) => return eprintln!("read: {e}"),
    };
    println!(
        "read {} accounts and {} memberships in {} requests: {:.2?}, peak {:.0} MB",
        inventory.accounts.len(),
        inventory.holdings.len(),
        inventory.calls,
        clock.elapsed(),
        status_mb("VmHWM:")
    );
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let inventories = [inventory];
    let policy = ReconcilePolicy::default();
    let state = State::default();
    let input = ReconcileInput {
        program: &program,
        persons: people,
        today,
        inventories: &inventories,
        policy: &policy,
        state: &state,
        only_person: None,
    };
    let clock = Instant::now();
    let done = reconcile(&input);
    report("reconciled", clock, &done);
    // Again, with the state that adoption leaves: what a daily reconcile costs.
    let state = done.live_state.clone();
    drop(done);
    let input = ReconcileInput {
        state: &state,
        ..input
    };
    let clock = Instant::now();
    let again = reconcile(&input);
    report("again, with the state after adoption", clock, &again);
}

fn report(what: &str, clock: Instant, done: &stroom::reconcile::Reconciled) {
    let c = &done.report.targets[0].counts;
    println!(
        "{what}: {:.2?}, peak {:.0} MB; linked {}, matched {}, ambiguous {}, missing {}, unmanaged {}, drift {}; {} link_account; clean: {}",
        clock.elapsed(),
        status_mb("VmHWM:"),
        c.linked,
        c.matched,
        c.ambiguous,
        c.missing,
        c.unmanaged,
        c.drift,
        done.adoption.len(),
        done.report.is_clean()
    );
}

/// The simulated tenant, in a process of its own so that the figures are the
/// reader's: prints its base URL, then serves until killed.
fn serve(n: usize, adopt: bool) {
    use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
    let sim = MicrosoftSim::new(TenantSetup::default());
    let Ok(base) = sim.start() else {
        return eprintln!("the simulator did not start");
    };
    for k in 0..n {
        let id = format!("p-{k:06}");
        let mut props = json!({"userPrincipalName": format!("m{}@vandijkgroep.nl", 100_000 + k),
            "mail": format!("m{}@vandijkgroep.nl", 100_000 + k), "accountEnabled": true,
            "displayName": format!("Naam Achter{k:06}"), "employeeId": format!("{}", 100_000 + k)});
        if !(adopt && k % 10 == 0) {
            props["onPremisesExtensionAttributes"] = json!({"extensionAttribute1": id});
        }
        let uid = sim.add_user(props);
        sim.add_member("All Staff", &uid);
    }
    println!("{base}");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn entra(n: usize, adopt: bool) {
    use std::io::BufRead;
    use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
    use stroom::targets::entra::{EntraId, EntraSettings};
    let Ok(me) = std::env::current_exe() else {
        return eprintln!("no program path");
    };
    let mode = if adopt { "adopt" } else { "nochange" };
    let Ok(mut child) = std::process::Command::new(me)
        .args(["serve", &n.to_string(), mode])
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        return eprintln!("cannot start the simulator");
    };
    let mut base = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut base);
    }
    let base = base.trim().to_string();
    let people = persons(n);
    println!(
        "tenant of {n} users (another process), {n} persons: {:.0} MB",
        status_mb("VmRSS:")
    );
    // The settings of the simulated tenant (its URL is the other process's).
    let settings = MicrosoftSim::new(TenantSetup::default()).api_settings(&base, false);
    match EntraId::new(EntraSettings::new(settings)) {
        Ok(target) => {
            let rules = r#"default target entra
account in entra {
  set mail = unique [lower("m" + employee_number)] ending "@vandijkgroep.nl"
  set displayName = display_name
  set employeeId = employee_number + ""
  correlate employeeId = employee_number + ""
  correlate mail
}
when contract.active grant group "All Staff"
"#;
            run(&target, rules, &people);
        }
        Err(e) => eprintln!("no Entra target: {e}"),
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn ad(n: usize) {
    use ldap3::{LdapConn, LdapConnSettings};
    use stroom::targets::ad::{ActiveDirectory, AdSettings};
    const ADMIN: &str = "Administrator@STROOM.TEST";
    const PASS: &str = "Str00m-Test-Pass!";
    let tag = format!("{:05x}", stroom::random::random_u64() & 0xfffff);
    let ou = format!("OU=scale-{tag},DC=stroom,DC=test");
    let Ok(mut c) = LdapConn::with_settings(
        LdapConnSettings::new().set_no_tls_verify(true),
        "ldaps://127.0.0.1:636",
    ) else {
        return eprintln!("no Samba on ldaps://127.0.0.1:636: run bash tests/samba.sh");
    };
    if c.simple_bind(ADMIN, PASS)
        .and_then(|r| r.success())
        .is_err()
    {
        return eprintln!("cannot bind to Samba");
    }
    let add = |c: &mut LdapConn, dn: &str, attrs: Vec<(&str, HashSet<&str>)>| {
        c.add(dn, attrs).and_then(|r| r.success()).is_ok()
    };
    add(
        &mut c,
        &ou,
        vec![("objectClass", HashSet::from(["organizationalUnit"]))],
    );
    let clock = Instant::now();
    let mut members = Vec::new();
    for k in 0..n {
        let dn = format!("CN=Naam Achter{k:06},{ou}");
        let sam = format!("s{tag}{k:06}");
        let number = format!("{}", 100_000 + k);
        let id = format!("p-{k:06}");
        let mut attrs = vec![
            ("objectClass", HashSet::from(["user"])),
            ("sAMAccountName", HashSet::from([sam.as_str()])),
            ("displayName", HashSet::from(["Naam"])),
            ("employeeID", HashSet::from([number.as_str()])),
            ("userAccountControl", HashSet::from(["514"])),
        ];
        if k % 10 != 0 {
            attrs.push(("employeeNumber", HashSet::from([id.as_str()])));
        }
        if add(&mut c, &dn, attrs) {
            members.push(dn);
        }
    }
    let group = format!("Staff-{tag}");
    let member_set: HashSet<&str> = members.iter().map(String::as_str).collect();
    add(
        &mut c,
        &format!("CN={group},{ou}"),
        vec![
            ("objectClass", HashSet::from(["group"])),
            ("sAMAccountName", HashSet::from([group.as_str()])),
            ("member", member_set),
        ],
    );
    println!(
        "added {} accounts and a group of them with LDAP: {:.1?}",
        members.len(),
        clock.elapsed()
    );
    let people = persons(n);
    let settings = AdSettings {
        name: "ad".into(),
        url: "ldaps://127.0.0.1:636".into(),
        starttls: false,
        accept_invalid_certificates: true,
        bind_dn: ADMIN.into(),
        bind_password: stroom::secret::Secret::new(PASS),
        users_dn: ou.clone(),
        groups_dn: ou.clone(),
        disabled_dn: None,
        correlation_attribute: "employeeNumber".into(),
        timeout: std::time::Duration::from_secs(120),
        page_size: 1000,
    };
    let Ok(target) = ActiveDirectory::new(settings) else {
        return eprintln!("no AD target");
    };
    let rules = format!(
        r#"default target ad
account in ad {{
  set employeeID = employee_number + ""
  correlate employeeID = employee_number + ""
}}
when contract.active grant group "{group}"
"#
    );
    run(&target, &rules, &people);
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| raw.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match raw.first().map(String::as_str) {
        Some("ad") => ad(num(1, 10_000)),
        Some("serve") => serve(
            num(1, 50_000),
            raw.get(2).map(String::as_str) != Some("nochange"),
        ),
        _ => entra(
            num(1, 50_000),
            raw.get(2).map(String::as_str) != Some("nochange"),
        ),
    }
}
