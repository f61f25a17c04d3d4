//! Times one evaluate+plan run at a given size and prints peak memory (for the book):
//! `cargo run --release --example scale -- 300000 5000 [persons.json]`

#[path = "support/memory.rs"]
mod memory;
use memory::*;

use std::time::Instant;

use stroom::model::State;
use stroom::plan::{build_plan, PlanInput};

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let (n, rules) = (
        args.first().copied().unwrap_or(100_000),
        args.get(1).copied().unwrap_or(1_000),
    );
    let t = Instant::now();
    // A persons file written by `stroom-gen scale-persons N RULES`, or generated here.
    let json = match raw.get(2) {
        Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
        None => {
            serde_json::Value::Array(stroom::generate::persons_for_rules(n, 42, rules)).to_string()
        }
    };
    let people = match stroom::source::persons::parse_persons("scale.json", &json) {
        Ok(p) => p,
        Err(e) => return eprintln!("{e}"),
    };
    drop(json);
    let text = stroom::generate::rules(rules, 7);
    let t_check = Instant::now();
    let Some(program) = stroom::check_sources(&[("scale.stroom", &text)]).program else {
        return eprintln!("generated rules do not check");
    };
    let check = t_check.elapsed();
    println!(
        "generate+load {n} persons: {:.2?}; parse+check {rules} rules: {check:.2?}",
        t.elapsed() - check
    );
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!(
        "memory before planning: {:.0} MB (persons and rules loaded)",
        status_mb("VmRSS:")
    );
    reset_peak();
    for run in 1..=runs {
        let t = Instant::now();
        let plan = build_plan(&PlanInput {
            program: &program,
            persons: &people,
            state: &State::default(),
            today,
        });
        println!(
            "run {run}: evaluate+plan {:.2?}, {} actions",
            t.elapsed(),
            plan.actions.len()
        );
    }
    println!("peak memory while planning: {:.0} MB", status_mb("VmHWM:"));
}
