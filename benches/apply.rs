//! Apply benchmarks: the engine's own cost per action (journal in SQLite, audit log,
//! scheduling) with a target that does nothing, and a joiner plan carried out in
//! Entra ID and Exchange Online through the in-process tenant simulator (HTTP, JSON,
//! token, retries). Active Directory figures come from `examples/apply_all.rs`
//! against Samba (see book/src/performance.md).
//!
//! `cargo bench --bench apply`

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, ApplyOptions};
use stroom::plan::read::{parse_plan, PlanDocument};
use stroom::simulate::joiner_plan;
use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
use stroom::targets::entra::{EntraId, EntraSettings};
use stroom::targets::exchange::{ExchangeOnline, ExchangeSettings};
use stroom::targets::{AccountRef, Entitlement, Target, TargetResult};

/// A target that accepts everything at once; every account is there already.
struct Null(&'static str);

impl Target for Null {
    fn name(&self) -> &str {
        self.0
    }
    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        Ok(Some(AccountRef {
            id: person.to_string(),
            enabled: Some(true),
        }))
    }
    fn read_grants(&self, _: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    fn create(&self, person: &str, _: &Map<String, Value>) -> TargetResult<AccountRef> {
        Ok(AccountRef {
            id: person.to_string(),
            enabled: Some(false),
        })
    }
    fn update(&self, _: &AccountRef, _: &Map<String, Value>) -> TargetResult<()> {
        Ok(())
    }
    fn enable(&self, _: &AccountRef) -> TargetResult<()> {
        Ok(())
    }
    fn disable(&self, _: &AccountRef) -> TargetResult<()> {
        Ok(())
    }
    fn delete(&self, _: &AccountRef) -> TargetResult<()> {
        Ok(())
    }
    fn grant(&self, _: &AccountRef, _: &Entitlement) -> TargetResult<()> {
        Ok(())
    }
    fn revoke(&self, _: &AccountRef, _: &Entitlement) -> TargetResult<()> {
        Ok(())
    }
}

fn doc(text: &str) -> PlanDocument {
    parse_plan("bench", text).unwrap_or_else(|e| panic!("{e}"))
}

fn run(
    text: &str,
    doc: &PlanDocument,
    targets: &HashMap<String, Arc<dyn Target>>,
    concurrency: usize,
) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let journal = Journal::open(&dir.path().join("j.db")).unwrap_or_else(|e| panic!("{e}"));
    let audit = Audit::open(&dir.path().join("audit.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let options = ApplyOptions {
        concurrency,
        ..ApplyOptions::default()
    };
    let report = apply(doc, &plan_id(text), targets, &journal, &audit, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.failed,
        0,
        "first failure: {:?}",
        report.failures.first()
    );
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_engine");
    group.sample_size(10);
    for persons in [1_000usize, 5_000] {
        let text = joiner_plan(persons, "x", &["ad", "entra", "exchange"]);
        let d = doc(&text);
        group.throughput(Throughput::Elements(d.actions.len() as u64));
        let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
        for name in ["ad", "entra", "exchange"] {
            targets.insert(name.into(), Arc::new(Null(name)));
        }
        group.bench_with_input(
            BenchmarkId::new("null_targets", persons),
            &persons,
            |b, _| b.iter(|| run(&text, &d, &targets, 8)),
        );
    }
    group.finish();
}

fn microsoft(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_microsoft_sim");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let persons = 200;
    let text = joiner_plan(persons, "x", &["entra", "exchange"]);
    let d = doc(&text);
    group.throughput(Throughput::Elements(d.actions.len() as u64));
    for concurrency in [4usize, 16] {
        group.bench_with_input(
            BenchmarkId::new("joiners_200", concurrency),
            &concurrency,
            |b, &conc| {
                b.iter_batched(
                    || {
                        let sim = MicrosoftSim::new(TenantSetup::default());
                        let base = sim.start().unwrap_or_else(|e| panic!("{e}"));
                        let entra = EntraId::new(EntraSettings {
                            settle_delay: Duration::from_millis(20),
                            ..EntraSettings::new(sim.api_settings(&base, false))
                        })
                        .unwrap_or_else(|e| panic!("{e}"));
                        let exchange = ExchangeOnline::new(ExchangeSettings::new(
                            sim.api_settings(&base, true),
                            "bench.onmicrosoft.com",
                        ))
                        .unwrap_or_else(|e| panic!("{e}"));
                        let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
                        targets.insert("entra".into(), Arc::new(entra));
                        targets.insert("exchange".into(), Arc::new(exchange));
                        (sim, targets)
                    },
                    |(_sim, targets)| run(&text, &d, &targets, conc),
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, engine, microsoft);
criterion_main!(benches);
