//! Applies a joiner plan of N persons (create, enable, two groups each) to the Samba AD
//! domain controller of the tests, and reports actions per second and peak memory.
//!
//! ```sh
//! bash tests/samba.sh
//! cargo run --release --example apply_ad -- 5000 8     # persons, concurrency
//! ```

use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, ApplyOptions};
use stroom::plan::read::parse_plan;
use stroom::source::nmbrs::auth::Secret;
use stroom::targets::ad::{ActiveDirectory, AdSettings};
use stroom::targets::Target;

fn status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let persons: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let tag = format!("{:06x}", stroom::http::random_u64() & 0xffffff);
    let base = "DC=stroom,DC=test";
    let ou = format!("OU=bench-{tag},{base}");
    let mut admin = ldap3::LdapConn::with_settings(
        ldap3::LdapConnSettings::new().set_no_tls_verify(true),
        "ldaps://127.0.0.1:636",
    )?;
    admin
        .simple_bind("Administrator@STROOM.TEST", "Str00m-Test-Pass!")?
        .success()?;
    for dn in [ou.clone(), format!("OU=Users,{ou}")] {
        admin
            .add(
                &dn,
                vec![("objectClass", HashSet::from(["organizationalUnit"]))],
            )?
            .success()?;
    }
    for g in ["Staff", "Sales"] {
        let cn = format!("{g}-{tag}");
        admin
            .add(
                &format!("CN={cn},{ou}"),
                vec![
                    ("objectClass", HashSet::from(["group"])),
                    ("sAMAccountName", HashSet::from([cn.as_str()])),
                ],
            )?
            .success()?;
    }
    let mut actions = Vec::new();
    for k in 0..persons {
        let p = format!("b{k}-{tag}");
        for a in [
            json!({"op": "create_account", "person": p, "attributes": {"cn": format!("Bench Person {k}"), "sAMAccountName": format!("b{k}{tag}"), "department": "Sales"}}),
            json!({"op": "enable_account", "person": p}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Staff-{tag}")}),
            json!({"op": "grant", "person": p, "kind": "group", "name": format!("Sales-{tag}")}),
        ] {
            let mut a = a;
            a["seq"] = json!(actions.len() + 1);
            a["target"] = json!("ad");
            actions.push(a);
        }
    }
    let text = json!({"today": "2026-12-01", "blocked": null, "actions": actions}).to_string();
    let doc = parse_plan("bench", &text)?;
    let ad = ActiveDirectory::new(AdSettings {
        name: "ad".into(),
        url: "ldaps://127.0.0.1:636".into(),
        starttls: false,
        accept_invalid_certificates: true,
        bind_dn: "Administrator@STROOM.TEST".into(),
        bind_password: Secret::new("Str00m-Test-Pass!"),
        users_dn: format!("OU=Users,{ou}"),
        groups_dn: ou.clone(),
        disabled_dn: None,
        correlation_attribute: "employeeNumber".into(),
        timeout: Duration::from_secs(60),
    })?;
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("ad".into(), Arc::new(ad));
    let dir = tempfile::tempdir()?;
    let journal = Journal::open(&dir.path().join("journal.db"))?;
    let audit = Audit::open(&dir.path().join("audit.jsonl"))?;
    let options = ApplyOptions {
        concurrency,
        ..ApplyOptions::default()
    };
    let started = Instant::now();
    let report = apply(&doc, &plan_id(&text), &targets, &journal, &audit, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{persons} persons, {} actions ({} failed) in {seconds:.1} s: {:.0} actions/s with concurrency {concurrency}; peak memory {:.0} MB",
        report.done,
        report.failed,
        report.done as f64 / seconds,
        status_mb("VmHWM:")
    );
    Ok(())
}
