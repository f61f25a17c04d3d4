//! The grant-heavy matrix (`stroom::generate::matrix`: every rule grants its own group),
//! each engine figure beside a plain unindexed loop measured in the same run:
//! - `evaluate`: the rules against every person (what each person gets, handed on per
//!   chunk as the planner takes it);
//! - `plan, empty state`: evaluate and plan everything as new (up to 100k the plan is
//!   built whole; at 300k × 5,000 outlined and then made a window at a time, as
//!   `stroom plan --format json` does);
//! - `plan JSON, empty state`: the same, written as the plan document (to a sink; up to
//!   100k, the 17 GB of 300k × 5,000 are timed with `stroom plan` in the book);
//! - `plan, no change`: plan against a state that already holds every grant (writes no
//!   action; not at 300k × 5,000, whose state of 67 million grants does not fit here).
//!
//! Run: `cargo bench --bench matrix` (STROOM_BENCH_QUICK=1: only 10k × 100 and
//! 100k × 1,000; STROOM_BENCH_THREADS=1: the engine on one thread).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rustc_hash::FxHashSet;
use std::hint::black_box;
use std::time::Duration;
use stroom::generate::matrix::{rule_set, Rule};
use stroom::model::{Person, State};
use stroom::plan::{build_plan, plan_outline, state_after, write_plan_json, PlanInput};
use stroom::rules::eval::{evaluate_chunks, in_scope, Population};
use stroom::rules::program::Program;

const RULE_SEED: u64 = 7;

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

fn persons(n: usize) -> Vec<Person> {
    let mut json = Vec::with_capacity(n * 400);
    if stroom::generate::matrix::persons_json(n, 42, &mut json).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8(json).unwrap_or_default();
    stroom::source::persons::parse_persons("matrix.json", &text).unwrap_or_default()
}

fn program(rules: usize) -> Program {
    let text = stroom::generate::matrix::rules(rules, RULE_SEED);
    match stroom::check_sources(&[("matrix.stroom", &text)]).program {
        Some(p) => p,
        None => panic!("the matrix rules must check"),
    }
}

/// A grant as the reference loop holds it: person index, rule index (its group is
/// `M{rule}` in `ad`).
type Grant = (u32, u32);

/// The plain reference: every rule, as data, tested directly on the fields of every
/// in-scope contract of every person; no engine, no index, one thread; the grants in
/// person and rule order, once each.
fn reference_grants(program: &Program, rules: &[Rule], persons: &[Person]) -> Vec<Grant> {
    let mut out = Vec::new();
    let today = today();
    for (i, p) in persons.iter().enumerate() {
        let scoped: Vec<_> = p
            .contracts
            .iter()
            .filter(|c| in_scope(program, c, today))
            .collect();
        for (r, rule) in rules.iter().enumerate() {
            if scoped.iter().any(|c| rule.holds(p, c, today)) {
                out.push((i as u32, r as u32));
            }
        }
    }
    out
}

/// The reference's grants counted, none kept: what `evaluate` hands on.
fn reference_count(program: &Program, rules: &[Rule], persons: &[Person]) -> usize {
    reference_each(program, rules, persons, &mut |_| {})
}

/// Calls `f` with each reference grant; returns how many there are.
fn reference_each(
    program: &Program,
    rules: &[Rule],
    persons: &[Person],
    f: &mut dyn FnMut(Grant),
) -> usize {
    let today = today();
    let mut n = 0;
    let mut scoped = Vec::new();
    for (i, p) in persons.iter().enumerate() {
        scoped.clear();
        scoped.extend(p.contracts.iter().filter(|c| in_scope(program, c, today)));
        for (r, rule) in rules.iter().enumerate() {
            if scoped.iter().any(|c| rule.holds(p, c, today)) {
                n += 1;
                f((i as u32, r as u32));
            }
        }
    }
    n
}

/// The reference plan: the reference grants less what the state already holds.
fn reference_plan(
    program: &Program,
    rules: &[Rule],
    persons: &[Person],
    held: &FxHashSet<Grant>,
) -> usize {
    let mut new = 0;
    reference_each(program, rules, persons, &mut |g| {
        new += usize::from(!held.contains(&g))
    });
    new
}

/// The reference plan written as JSON: one action object per new grant, with the
/// fields a plan's grant has, pretty-printed by serde.
fn reference_json(program: &Program, rules: &[Rule], persons: &[Person]) -> usize {
    let mut out = std::io::sink();
    let mut seq = 0u32;
    reference_each(program, rules, persons, &mut |(p, r)| {
        seq += 1;
        let action = serde_json::json!({
            "seq": seq,
            "op": "grant",
            "person": &*persons[p as usize].id,
            "target": "ad",
            "kind": "group",
            "name": format!("M{r}"),
            "because": [{"rule": "matrix.stroom:2", "file": "matrix.stroom", "line": r + 3}],
        });
        let _ = serde_json::to_writer_pretty(&mut out, &action);
    })
}

/// The state's grants as the reference holds them (person index, rule index).
fn held_grants(persons: &[Person], state: &State) -> FxHashSet<Grant> {
    let index: rustc_hash::FxHashMap<&str, u32> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| (&*p.id, i as u32))
        .collect();
    state
        .grants
        .iter()
        .filter_map(|g| {
            let rule = g.name.strip_prefix('M')?.parse().ok()?;
            Some((*index.get(g.person.as_str())?, rule))
        })
        .collect()
}

fn sizes() -> Vec<(usize, usize)> {
    let mut sizes = vec![(10_000, 100), (100_000, 1_000)];
    if std::env::var_os("STROOM_BENCH_QUICK").is_none() {
        sizes.push((300_000, 5_000));
    }
    sizes
}

fn matrix(c: &mut Criterion) {
    let threads = std::env::var("STROOM_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("thread pool: {e}"));
    for (n, rules) in sizes() {
        let people = persons(n);
        let program = program(rules);
        let rule_data = rule_set(rules, RULE_SEED);
        let population = Population::new(&people);
        let size = format!("{n} x {rules}");
        // Same answer: the engine's grants are the reference's.
        let engine: usize = count_grants(&program, &population);
        let reference = reference_count(&program, &rule_data, &people);
        assert_eq!(engine, reference, "engine and reference disagree at {size}");
        if n <= 100_000 {
            // The same grants, not only as many: person by person, group by group.
            let mut engine = Vec::with_capacity(reference);
            for (i, ev) in stroom::rules::eval::evaluate_all(&program, &population, today())
                .iter()
                .enumerate()
            {
                engine.extend(ev.grants.iter().map(|g| (i as u32, group_number(&g.name))));
            }
            engine.sort_unstable();
            assert!(
                engine == reference_grants(&program, &rule_data, &people),
                "engine and reference grant different groups at {size}"
            );
        }
        eprintln!(
            "matrix {size}: {reference} grants, {:.1} per person",
            reference as f64 / n as f64
        );
        let mut g = c.benchmark_group(format!("matrix {size}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(if n > 100_000 { 60 } else { 10 }))
            .warm_up_time(Duration::from_secs(1));
        g.bench_function(BenchmarkId::new("evaluate", "engine"), |b| {
            b.iter(|| pool.install(|| black_box(count_grants(&program, &population))))
        });
        g.bench_function(BenchmarkId::new("evaluate", "unindexed loop"), |b| {
            b.iter(|| black_box(reference_count(&program, &rule_data, &people)))
        });
        let empty = State::default();
        let input = PlanInput {
            program: &program,
            persons: &people,
            state: &empty,
            today: today(),
        };
        // Up to 100k the plan is built whole (one pass); at 300k × 5,000 (55 million
        // actions) as `stroom plan` makes it: outlined, then made a window at a time.
        g.bench_function(BenchmarkId::new("plan, empty state", "engine"), |b| {
            if n > 100_000 {
                b.iter(|| pool.install(|| black_box(streamed_actions(&input))))
            } else {
                b.iter(|| pool.install(|| black_box(build_plan(&input).actions.len())))
            }
        });
        let nothing = FxHashSet::default();
        g.bench_function(
            BenchmarkId::new("plan, empty state", "unindexed loop"),
            |b| b.iter(|| black_box(reference_plan(&program, &rule_data, &people, &nothing))),
        );
        if n > 100_000 {
            // 17 GB of text per run: measured end to end with `stroom plan` instead.
            g.finish();
            continue;
        }
        g.bench_function(BenchmarkId::new("plan JSON, empty state", "engine"), |b| {
            b.iter(|| {
                pool.install(|| {
                    let outline = plan_outline(&input);
                    let mut sink = std::io::sink();
                    black_box(write_plan_json(&outline, &mut sink).is_ok())
                })
            })
        });
        g.bench_function(
            BenchmarkId::new("plan JSON, empty state", "unindexed loop"),
            |b| b.iter(|| black_box(reference_json(&program, &rule_data, &people))),
        );
        // A state that holds every grant: the plan must be empty.
        let full = state_after(&empty, &build_plan(&input));
        let input = PlanInput {
            state: &full,
            ..input
        };
        assert_eq!(build_plan(&input).actions.len(), 0, "a no-change plan");
        let held = held_grants(&people, &full);
        assert_eq!(reference_plan(&program, &rule_data, &people, &held), 0);
        g.bench_function(BenchmarkId::new("plan, no change", "engine"), |b| {
            b.iter(|| pool.install(|| black_box(build_plan(&input).actions.len())))
        });
        g.bench_function(BenchmarkId::new("plan, no change", "unindexed loop"), |b| {
            b.iter(|| black_box(reference_plan(&program, &rule_data, &people, &held)))
        });
        g.finish();
    }
}

/// The engine's grants counted per chunk, none kept.
fn count_grants(program: &Program, population: &Population) -> usize {
    evaluate_chunks(program, population, today(), |evals| {
        evals.iter().map(|e| e.grants.len()).sum::<usize>()
    })
    .iter()
    .sum()
}

/// The number of a matrix group (`M17` is rule 17).
fn group_number(name: &str) -> u32 {
    name.strip_prefix('M')
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Plans everything as the plan writer does, the actions made and dropped a window at
/// a time; returns how many there are.
fn streamed_actions(input: &PlanInput) -> usize {
    let outline = plan_outline(input);
    let mut n = 0;
    let _ = outline.map_action_chunks(16, &|actions| actions.len(), &mut |k| {
        n += k;
        Ok::<(), ()>(())
    });
    n
}

criterion_group!(benches, matrix);
criterion_main!(benches);
