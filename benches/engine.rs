//! Benchmarks of the engine (see book/src/performance.md for figures):
//! parse+check of a 10,000-statement rule set, and evaluate+plan for 100,000 persons ×
//! 1,000 rules and 300,000 persons × 5,000 rules, against an empty state.
//!
//! Run: `cargo bench --bench engine` (set STROOM_BENCH_QUICK=1 to skip the largest).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;
use stroom::model::{Person, State};
use stroom::plan::{build_plan, PlanInput};

fn persons(n: usize, rules: usize) -> Vec<Person> {
    let json =
        serde_json::Value::Array(stroom::generate::persons_for_rules(n, 42, rules)).to_string();
    stroom::source::persons::parse_persons("bench.json", &json).unwrap_or_default()
}

fn program(n: usize) -> stroom::rules::program::Program {
    let text = stroom::generate::rules(n, 7);
    match stroom::check_sources(&[("bench.stroom", &text)]).program {
        Some(p) => p,
        None => panic!("generated rules must check"),
    }
}

fn check(c: &mut Criterion) {
    let text = stroom::generate::rules(10_000, 7);
    let mut g = c.benchmark_group("check");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("parse+check 10k statements", |b| {
        b.iter(|| black_box(stroom::check_sources(&[("bench.stroom", &text)])))
    });
    g.finish();
}

fn plan(c: &mut Criterion) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let state = State::default();
    let mut sizes = vec![(100_000, 1_000)];
    if std::env::var_os("STROOM_BENCH_QUICK").is_none() {
        sizes.push((300_000, 5_000));
    }
    let mut g = c.benchmark_group("plan");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (n, rules) in sizes {
        let people = persons(n, rules);
        let program = program(rules);
        g.bench_function(format!("evaluate+plan {n} persons x {rules} rules"), |b| {
            b.iter(|| {
                black_box(build_plan(&PlanInput {
                    program: &program,
                    persons: &people,
                    state: &state,
                    today,
                }))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, check, plan);
criterion_main!(benches);
