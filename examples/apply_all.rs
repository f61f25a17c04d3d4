//! Applies a joiner plan of N persons to the Samba AD domain controller of the tests
//! (create, enable, two groups each) and to the Microsoft 365 simulator (Entra account,
//! enable, group, licence; Exchange mailbox), and reports actions per second and peak
//! memory.
//!
//! ```sh
//! bash tests/samba.sh
//! cargo run --release --example apply_all -- 5000 8 ad,entra,exchange   # persons, concurrency, targets
//! ```

#[path = "support/memory.rs"]
mod memory;
use memory::*;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, ApplyOptions};
use stroom::plan::read::parse_plan;
use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
use stroom::source::nmbrs::auth::Secret;
use stroom::targets::ad::{ActiveDirectory, AdSettings};
use stroom::targets::entra::{EntraId, EntraSettings};
use stroom::targets::exchange::{ExchangeOnline, ExchangeSettings};
use stroom::targets::Target;

/// An OU with two groups on the test DC, and the AD target on it.
fn ad_target(tag: &str) -> Result<ActiveDirectory, Box<dyn std::error::Error>> {
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
    Ok(ActiveDirectory::new(AdSettings {
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
        page_size: 500,
    })?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let persons: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let wanted_text = args.next().unwrap_or_else(|| "ad,entra,exchange".into());
    let wanted: Vec<&str> = wanted_text.split(',').collect();
    let tag = format!("{:06x}", stroom::random::random_u64() & 0xffffff);
    let text = stroom::simulate::joiner_plan(persons, &tag, &wanted);
    let doc = parse_plan("bench", &text)?;
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    if wanted.contains(&"ad") {
        targets.insert("ad".into(), Arc::new(ad_target(&tag)?));
    }
    // The tenant simulator runs in this process and shares its cores.
    let sim = MicrosoftSim::new(TenantSetup::default());
    let sim_base = sim.start()?;
    if wanted.contains(&"entra") {
        let entra = EntraId::new(EntraSettings {
            settle_delay: Duration::from_millis(20),
            ..EntraSettings::new(sim.api_settings(&sim_base, false))
        })?;
        targets.insert("entra".into(), Arc::new(entra));
    }
    if wanted.contains(&"exchange") {
        let exchange = ExchangeOnline::new(ExchangeSettings::new(
            sim.api_settings(&sim_base, true),
            "bench.onmicrosoft.com",
        ))?;
        targets.insert("exchange".into(), Arc::new(exchange));
    }
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
        "{persons} persons, {} actions on {wanted_text} ({} failed) in {seconds:.1} s: {:.0} actions/s with concurrency {concurrency}; peak memory {:.0} MB",
        report.done,
        report.failed,
        report.done as f64 / seconds,
        status_mb("VmHWM:")
    );
    Ok(())
}
