//! `stroom-gen`: writes generated test data (persons or rules) to stdout.
//!
//! ```text
//! stroom-gen persons 250 [SEED]   # JSON array of person records
//! stroom-gen rules 1000 [SEED]    # a rule file
//! stroom-gen scale-persons 300000 5000  # persons for a generated rule set of that size
//! stroom-gen matrix-persons 100000 [SEED]  # the grant-heavy matrix workload's persons
//! stroom-gen matrix-rules 1000 [SEED]       # and its rules: each grants its own group
//! stroom-gen state RULES PERSONS YYYY-MM-DD
//!     # the state after carrying out the plan of that day, with every 15th person
//!     # in another department then (so that a later plan shows movers)
//! ```

// Input must never crash Stroom: no unwrap, expect or panic outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[path = "../cli/out.rs"]
#[macro_use]
mod out;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str);
    let n = args.get(1).and_then(|s| s.parse::<usize>().ok());
    let seed = args
        .get(2)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(2026);
    match (what, n) {
        (Some("persons"), Some(n)) => {
            match serde_json::to_string_pretty(&stroom::generate::persons(n, seed)) {
                Ok(s) => outln!("{s}"),
                Err(e) => {
                    errln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (Some("rules"), Some(n)) => out!("{}", stroom::generate::rules(n, seed)),
        (Some("matrix-rules"), Some(n)) => {
            out!("{}", stroom::generate::matrix::rules(n, seed))
        }
        (Some("matrix-persons"), Some(n)) => {
            use std::io::Write;
            // Streamed: 300,000 persons are never held at once.
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let written =
                stroom::generate::matrix::persons_json(n, seed, &mut w).and_then(|()| w.flush());
            out::note_stdout(written);
        }
        (Some("scale-persons"), Some(n)) => {
            let rules = args
                .get(2)
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(1000);
            match serde_json::to_string(&stroom::generate::persons_for_rules(n, 42, rules)) {
                Ok(s) => outln!("{s}"),
                Err(e) => {
                    errln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (Some("state"), _) if args.len() == 4 => {
            match earlier_state(&args[1], &args[2], &args[3]) {
                Ok(s) => outln!("{s}"),
                Err(e) => {
                    errln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => {
            errln!("usage: stroom-gen persons|rules|matrix-persons|matrix-rules COUNT [SEED] | scale-persons COUNT RULES | state RULES PERSONS DATE");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(out::exit_status(0))
}

fn earlier_state(rules: &str, persons: &str, day: &str) -> Result<String, String> {
    let parsed = stroom::rules::load::load_paths(&[rules]).map_err(|e| e.to_string())?;
    let checked = stroom::rules::check::check(parsed);
    let program = checked
        .program
        .ok_or("the rules have errors; run stroom check")?;
    let text = stroom::files::read_text(std::path::Path::new(persons))
        .map_err(|e| format!("{persons}: {e}"))?;
    let mut people =
        stroom::source::persons::parse_persons(persons, &text).map_err(|e| e.to_string())?;
    let departments = stroom::generate::DEPARTMENTS;
    for (i, p) in people.iter_mut().enumerate() {
        if i % 15 == 7 {
            if let Some(c) = p.contracts.first_mut() {
                c.department = Some(departments[i % departments.len()].0.to_string());
            }
        }
    }
    let today = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| format!("{day:?} is not a date"))?;
    let empty = stroom::model::State::default();
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program: &program,
        persons: &people,
        state: &empty,
        today,
    });
    let state = stroom::plan::state_after(&empty, &plan);
    serde_json::to_string_pretty(&state).map_err(|e| e.to_string())
}
