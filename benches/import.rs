//! Nmbrs import benchmarks against the in-process simulator: a full import (all calls,
//! paging, decoding, normalization) and the intake of an unchanged resync (hashing,
//! comparison with the stored snapshot, SQLite).
//!
//! `cargo bench --bench import`; the end-to-end CLI figures (calls, memory) are made
//! as shown in book/src/performance.md.

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::sync::Arc;
use std::time::Duration;
use stroom::simulate::nmbrs::{Credentials, Sim};
use stroom::source::intake::{intake, IntakeRules};
use stroom::source::nmbrs::auth::{OAuthClient, Secret, Session, TokenStore};
use stroom::source::nmbrs::client::{Client, ClientSettings};
use stroom::source::nmbrs::{import, Selection};
use stroom::source::snapshots::Store;

struct Bench {
    sim: Arc<Sim>,
    base: String,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new(n: usize) -> Self {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        let sim = Arc::new(Sim::generate(n, 5, today, Credentials::default()));
        let base = stroom::simulate::spawn(sim.clone().router()).unwrap_or_default();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        Self { sim, base, dir }
    }

    fn client(&self) -> Client {
        let store = TokenStore::new(self.dir.path().join("tokens.json"));
        let _ = self.sim.sign_in(&store);
        let c = Credentials::default();
        let oauth = OAuthClient {
            identity_url: self.base.clone(),
            client_id: c.client_id,
            client_secret: Secret::new(c.client_secret),
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            scopes: vec![],
        };
        let settings = ClientSettings {
            base_url: self.base.clone(),
            subscription_key: Secret::new(c.subscription_key),
            concurrency: 4,
            page_size: 100,
            timeout: Duration::from_secs(30),
            max_attempts: 6,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            max_pages: ClientSettings::DEFAULT_MAX_PAGES,
            deadline: ClientSettings::DEFAULT_DEADLINE,
        };
        Client::new(settings, Session::new(oauth, store)).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn imports(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("nmbrs");
    group.sample_size(10);
    for n in [5_000usize, 50_000] {
        let bench = Bench::new(n);
        group.bench_with_input(BenchmarkId::new("full_import", n), &n, |b, _| {
            b.iter(|| {
                let client = bench.client();
                rt.block_on(import(&client, &Selection::default()))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });
        let client = bench.client();
        let got = rt
            .block_on(import(&client, &Selection::default()))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut store =
            Store::open(&bench.dir.path().join("s.db")).unwrap_or_else(|e| panic!("{e}"));
        let rules = IntakeRules {
            max_gone_percent: 10.0,
            approve: false,
        };
        let _ = intake(&mut store, got.normalized.persons.clone(), &[], rules);
        group.bench_with_input(
            BenchmarkId::new("resync_intake_no_change", n),
            &n,
            |b, _| b.iter(|| intake(&mut store, got.normalized.persons.clone(), &[], rules)),
        );
    }
    group.finish();
}

criterion_group!(benches, imports);
criterion_main!(benches);
