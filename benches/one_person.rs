//! `stroom sync --person`: one person read from Nmbrs now, planned, and carried out in
//! Entra ID with the address written back, against the in-process Nmbrs and Microsoft
//! 365 simulators (real HTTP on loopback, OAuth, JSON). Beside it, in the same run, the
//! plain way to get one person in: a full import of everyone, stored, and a plan of
//! everyone. Two tenant shapes: 1,000 and 20,000 employees.
//!
//! `cargo bench --bench one_person`; the figures are in book/src/performance.md.

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, ApplyOptions};
use stroom::config::Config;
use stroom::model::{Person, State};
use stroom::rules::program::Program;
use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
use stroom::simulate::nmbrs::{Credentials, Sim};
use stroom::source::nmbrs::auth::TokenStore;
use stroom::sync::{sync_once, sync_person, ImportOptions};

const RULES: &str = r#"default target entra
rule "entra-account" {
  account in entra {
    create 14 days before start
    disable 0 days after end
    set mail = unique [lower(ascii(first_name) + "." + replace(ascii(family_name), " ", "")), lower(ascii(first_name) + "." + replace(ascii(family_name), " ", "") + employee_number)] max 64 ending "@vandijkgroep.nl"
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
"#;

struct Tenant {
    _nmbrs: Arc<Sim>,
    _dir: tempfile::TempDir,
    config: Config,
    options: ImportOptions,
    program: Program,
    /// Persons with a contract today and no address yet: each iteration takes the next.
    joiners: Vec<Person>,
    /// What the applied runs made so far (unique names are chosen against it).
    state: std::cell::RefCell<State>,
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

impl Tenant {
    fn new(n: usize) -> Self {
        let nmbrs = Arc::new(Sim::generate(n, 7, today(), Credentials::default()));
        let base =
            stroom::simulate::spawn(nmbrs.clone().router()).unwrap_or_else(|e| panic!("{e}"));
        let ms = MicrosoftSim::new(TenantSetup::default());
        let graph = ms.start().unwrap_or_else(|e| panic!("{e}"));
        let setup = ms.setup().clone();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        nmbrs
            .sign_in(&TokenStore::new(dir.path().join("tokens.json")))
            .unwrap_or_else(|e| panic!("{e}"));
        let toml = format!(
            "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"tokens.json\"\n\
             [store]\ndatabase = \"stroom.db\"\nmax_gone_percent = 100\n\
             [apply]\naudit_log = \"audit.jsonl\"\n\
             [targets.entra]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority = \"{graph}\"\ngraph_url = \"{graph}\"\n",
            setup.tenant_id, setup.client_id
        );
        std::fs::write(dir.path().join("stroom.toml"), toml).unwrap_or_else(|e| panic!("{e}"));
        let c = Credentials::default();
        let secret = setup.client_secret.clone();
        let env = move |k: &str| match k {
            "STROOM_NMBRS_BASE_URL" | "STROOM_NMBRS_IDENTITY_URL" => Some(base.clone()),
            "STROOM_NMBRS_CLIENT_SECRET" => Some(c.client_secret.clone()),
            "STROOM_NMBRS_SUBSCRIPTION_KEY" => Some(c.subscription_key.clone()),
            "STROOM_ENTRA_CLIENT_SECRET" => Some(secret.clone()),
            _ => None,
        };
        let config = Config::load_with_env(Some(&dir.path().join("stroom.toml")), &env)
            .unwrap_or_else(|e| panic!("{e}"));
        let options = ImportOptions {
            env: Some(Arc::new(env)),
            ..ImportOptions::default()
        };
        let rules = dir.path().join("rules.stroom");
        std::fs::write(&rules, RULES).unwrap_or_else(|e| panic!("{e}"));
        let program = stroom::check_paths(&[rules])
            .ok()
            .and_then(|c| c.program)
            .unwrap_or_else(|| panic!("the bench rules do not check"));
        let joiners: Vec<Person> = nmbrs
            .persons()
            .into_iter()
            .filter(|p| {
                p.business_email.is_none()
                    && p.contracts.iter().any(|c| {
                        c.start.is_some_and(|d| d <= today()) && c.end.is_none_or(|d| d > today())
                    })
            })
            .collect();
        let t = Tenant {
            _nmbrs: nmbrs,
            _dir: dir,
            config,
            options,
            program,
            joiners,
            state: std::cell::RefCell::new(State::default()),
        };
        // The snapshot the one-person runs take the others from.
        sync_once(
            &t.config,
            &t.program,
            &State::default(),
            today(),
            &t.options,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        t
    }

    /// `stroom sync --person ID --apply` for one joiner: read, plan, create the account,
    /// grant, write the address back.
    fn one_person_applied(&self, who: &Person) {
        let mut state = self.state.borrow_mut();
        let synced = sync_person(
            &self.config,
            &self.program,
            &state,
            today(),
            &who.id,
            &self.options,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (doc, id) =
            stroom::sync::apply_document_of(&synced.plan).unwrap_or_else(|e| panic!("{e}"));
        let env = self.options.env.clone();
        let lookup = move |k: &str| env.as_ref().and_then(|e| e(k));
        let targets = self
            .config
            .plan_targets(
                &[&synced.person.id],
                &lookup,
                std::slice::from_ref(&synced.person),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let journal = Journal::open(&self.config.store.database).unwrap_or_else(|e| panic!("{e}"));
        let audit = Audit::open(&self.config.apply.audit_log).unwrap_or_else(|e| panic!("{e}"));
        let report = apply(
            &doc,
            &id,
            &targets,
            &journal,
            &audit,
            &ApplyOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.failed, 0, "{:?}", report.failures.first());
        assert!(report.done >= 3, "{report:?}");
        let steps = journal.steps(&id).unwrap_or_else(|e| panic!("{e}"));
        *state = stroom::apply::state_after_apply(&state, &doc, &steps);
    }
}

fn one_person(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_person_now");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for n in [1_000usize, 20_000] {
        let tenant = Tenant::new(n);
        let mut next = 0usize;
        // Every iteration a new joiner: a real create, never the idempotent rerun.
        group.bench_with_input(BenchmarkId::new("sync_person_apply", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let who = &tenant.joiners[next % tenant.joiners.len()];
                    next += 1;
                    let started = Instant::now();
                    tenant.one_person_applied(who);
                    total += started.elapsed();
                }
                total
            })
        });
        group.bench_with_input(BenchmarkId::new("sync_person_plan", n), &n, |b, _| {
            let who = &tenant.joiners[0];
            b.iter(|| {
                sync_person(
                    &tenant.config,
                    &tenant.program,
                    &State::default(),
                    today(),
                    &who.id,
                    &tenant.options,
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
        });
        // The plain way: import everyone, store the snapshot, plan everyone.
        group.bench_with_input(BenchmarkId::new("full_sync_plan", n), &n, |b, _| {
            b.iter(|| {
                sync_once(
                    &tenant.config,
                    &tenant.program,
                    &State::default(),
                    today(),
                    &tenant.options,
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, one_person);
criterion_main!(benches);
