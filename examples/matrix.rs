//! Times the grant-heavy matrix outside criterion and prints peak memory (for the book):
//! `cargo run --release --example matrix -- PERSONS RULES [evaluate|plan|nochange]`
//! (default 100000 1000 evaluate). Peak memory is the process's high-water mark after
//! the persons are loaded, so it includes them.

#[path = "support/memory.rs"]
mod memory;
use memory::*;

use std::time::Instant;
use stroom::model::State;
use stroom::plan::{build_plan, state_after, PlanInput};
use stroom::rules::eval::{evaluate_all, evaluate_chunks, Population};

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| raw.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (n, rules) = (num(0, 100_000), num(1, 1_000));
    let what = raw.get(2).map_or("evaluate", String::as_str);
    let runs = num(3, 3);
    let mut json = Vec::new();
    if let Err(e) = stroom::generate::matrix::persons_json(n, 42, &mut json) {
        return eprintln!("{e}");
    }
    let text = String::from_utf8(json).unwrap_or_default();
    let t = Instant::now();
    let people = match stroom::source::persons::parse_persons("matrix.json", &text) {
        Ok(p) => p,
        Err(e) => return eprintln!("{e}"),
    };
    println!(
        "read {} MB of persons: {:.3?}",
        text.len() >> 20,
        t.elapsed()
    );
    drop(text);
    let rules_text = stroom::generate::matrix::rules(rules, 7);
    let Some(program) = stroom::check_sources(&[("matrix.stroom", &rules_text)]).program else {
        return eprintln!("the matrix rules do not check");
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    println!(
        "loaded {n} persons, {rules} rules: {:.0} MB",
        status_mb("VmRSS:")
    );
    let empty = State::default();
    let input = PlanInput {
        program: &program,
        persons: &people,
        state: &empty,
        today,
    };
    let full;
    let input = if what == "nochange" {
        full = state_after(&empty, &build_plan(&input));
        println!(
            "state of {} grants: {:.0} MB",
            full.grants.len(),
            status_mb("VmRSS:")
        );
        PlanInput {
            state: &full,
            ..input
        }
    } else {
        input
    };
    let population = Population::new(&people);
    for run in 1..=runs {
        let t = Instant::now();
        let count = match what {
            "evaluate" => evaluate_chunks(&program, &population, today, |evals| {
                evals.iter().map(|e| e.grants.len()).sum::<usize>()
            })
            .iter()
            .sum::<usize>(),
            "collect" => evaluate_all(&program, &population, today)
                .iter()
                .map(|e| e.grants.len())
                .sum::<usize>(),
            _ => build_plan(&input).actions.len(),
        };
        println!("run {run}: {what} {:.3?}, {count}", t.elapsed());
    }
    println!("peak memory: {:.0} MB", status_mb("VmHWM:"));
}
