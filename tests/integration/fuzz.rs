//! A grammar-aware fuzzer for every input parser: rule files (parse, check, format,
//! plan, explain), persons files, state files, plan files and stroom.toml. Inputs are the
//! shipped examples mutated with the language's own tokens, deep nesting, long chains,
//! hostile characters and byte damage. No input may panic, abort or take over 5 s.
//!
//! `cargo test --release --test integration -- --ignored fuzz::` runs it for `STROOM_FUZZ_SECONDS`
//! (default 60); `.ci/run` runs it for a bounded time on every change. A failing input
//! is written to `target/fuzz-failure.txt`, to be added to `tests/fuzz-regressions/`,
//! which the quick test below replays on every `cargo test`.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    "#",
    "\n",
    " ",
    ",",
    ".",
    "=",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "+",
    "-",
    "%",
    "and",
    "or",
    "not",
    "in",
    "not in",
    "is empty",
    "is not empty",
    "when",
    "grant",
    "group",
    "license",
    "mailbox",
    "rule \"r\" {",
    "let x =",
    "account in ad {",
    "set mail =",
    "unique [",
    "max 20",
    "ending",
    "writeback",
    "from",
    "forbid",
    "with",
    "threshold",
    "revoke",
    "scope",
    "primary contract by",
    "include \"x\"",
    "default target ad",
    "target t",
    "today",
    "null",
    "true",
    "2026-02-30",
    "2026-01-01",
    "14 days",
    "99999999999999999999",
    "1.5",
    "department",
    "contract.start",
    "manager.",
    "extra.x",
    "lower(",
    "upper(",
    "ascii(",
    "matches(",
    "\"[\"",
    "\u{feff}",
    "\u{202e}",
    "\0",
    "é",
    "😀",
    "\r\n",
    "\t",
];

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["rules-examples/vandijk", "tests/fuzz-regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    out.push(t);
                }
            }
        }
    }
    out.push("when department == \"Sales\" grant group \"CRM\" in ad\n".into());
    out.push(INVENTORY.into());
    out
}

/// A small inventory: the seed of inventory files, and what fuzzed rules reconcile.
const INVENTORY: &str = r#"[{"target": "ad", "calls": 1, "accounts": [
  {"id": "CN=Jan Berg,OU=U", "name": "jberg", "enabled": true, "attributes": {"employeeID": "7", "sn": "Berg", "manager": "CN=X"}},
  {"id": "CN=Jan Berg (2),OU=U", "name": "jberg2", "person": "p1", "attributes": {"employeeID": ["7", "8"]}},
  {"id": "CN=svc,OU=U", "name": "svc", "enabled": false, "attributes": {}}],
  "holdings": [{"account": "CN=Jan Berg,OU=U", "kind": "group", "name": "DEP-sales"},
               {"account": "CN=nobody", "kind": "group", "name": "CRM"}]}]"#;

/// Reconciles `inventories` against `program` for one person (must never panic).
fn reconcile_once(
    program: &stroom::rules::program::Program,
    inventories: &[stroom::model::live::Inventory],
    persons: &[stroom::model::Person],
) {
    let policy = stroom::reconcile::ReconcilePolicy::default();
    let state = stroom::model::State::default();
    let input = stroom::reconcile::ReconcileInput {
        program,
        persons,
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
        inventories,
        policy: &policy,
        state: &state,
        only_person: None,
    };
    let done = stroom::reconcile::reconcile(&input);
    let _ = done.plan(&input, true);
}

fn mutate(rng: &mut Rng, seeds: &[String]) -> String {
    let mut s = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        let at = floor_char(&s, rng.below(s.len() + 1));
        match rng.below(7) {
            0 | 1 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            2 => {
                let end = floor_char(&s, (at + rng.below(40)).min(s.len()));
                s.replace_range(at..end, "");
            }
            3 => {
                // Deep nesting or a long chain, past and below the limits.
                let n = [5, 31, 33, 127, 129, 300, 3000][rng.below(7)];
                let piece = match rng.below(5) {
                    0 => format!("{}x{}", "(".repeat(n), ")".repeat(n)),
                    1 => vec!["x == 1"; n].join(" and "),
                    2 => vec!["\"a\""; n].join(" + "),
                    3 => "not ".repeat(n.min(40)),
                    _ => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
                };
                s.insert_str(at, &piece);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = floor_char(other, rng.below(other.len() + 1));
                let to = floor_char(other, (from + rng.below(400)).min(other.len()));
                s.insert_str(at, &other[from..to]);
            }
            5 => {
                let line = "x".repeat(70_000);
                s.insert_str(at, &line);
            }
            _ => {
                let bytes = unsafe_free_byte_damage(&s, rng);
                s = bytes;
            }
        }
    }
    s
}

/// Replaces one character by a random one (kept valid UTF-8: the readers get text).
fn unsafe_free_byte_damage(s: &str, rng: &mut Rng) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return s.to_string();
    }
    let i = rng.below(chars.len());
    let c = char::from_u32((rng.next() % 0x3000) as u32).unwrap_or('?');
    chars
        .iter()
        .enumerate()
        .map(|(j, x)| if j == i { c } else { *x })
        .collect()
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs every reader on one input; a panic or a slow input fails.
fn exercise(text: &str) -> Result<(), String> {
    if text.len() >= 1 << 20 {
        return Ok(());
    }
    let started = Instant::now();
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let checked = stroom::check_sources(&[("fuzz.stroom", text)]);
        let _ =
            stroom::rules::diagnostic::render_human(&checked.diagnostics, &checked.sources, false);
        if let Ok(formatted) = stroom::rules::fmt::format_source(text) {
            let again = stroom::rules::fmt::format_source(&formatted);
            assert_eq!(
                again.as_deref().ok(),
                Some(formatted.as_str()),
                "fmt is not idempotent"
            );
        }
        let persons = stroom::source::persons::parse_persons(
            "p.json",
            r#"[{"id": "p1", "employee_number": 7, "first_name": "Jan", "last_name": "Berg", "contracts": [{"id": "c1", "start": "2026-01-01", "department": "Sales"}]}]"#,
        )
        .unwrap_or_default();
        if let Ok(inventories) = stroom::reconcile::parse_inventories("inv.json", text) {
            let rules = "default target ad\naccount in ad {\n  set sn = last_name\n  set manager = manager.id\n  correlate employeeID = employee_number + \"\"\n  correlate sn\n}\nwhen department is not empty grant group \"DEP-\" + lower(department)\n";
            if let Some(program) = stroom::check_sources(&[("r.stroom", rules)]).program {
                reconcile_once(&program, &inventories, &persons);
            }
        }
        if let Some(program) = checked.program {
            if let Ok(inventories) = stroom::reconcile::parse_inventories("inv.json", INVENTORY) {
                reconcile_once(&program, &inventories, &persons);
            }
            let _ = stroom::plan::build_plan(&stroom::plan::PlanInput {
                program: &program,
                persons: &persons,
                state: &stroom::model::State::default(),
                today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
            });
        }
        let _ = stroom::source::persons::parse_persons("p.json", text);
        let _ = stroom::source::state::parse_state("s.json", text);
        let _ = stroom::plan::read::parse_plan("plan.json", text);
    }));
    let took = started.elapsed();
    match run {
        Err(_) => Err("panicked".into()),
        Ok(()) if took > Duration::from_secs(5) => Err(format!("took {took:?}")),
        Ok(()) => Ok(()),
    }
}

fn fuzz_for(budget: Duration, seed: u64) -> usize {
    let seeds = corpus();
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < budget {
        let input = mutate(&mut rng, &seeds);
        n += 1;
        if let Err(why) = exercise(&input) {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failure.txt");
            let _ = std::fs::write(&out, &input);
            panic!("input {n} {why}; written to {}", out.display());
        }
    }
    n
}

/// The saved inputs, each as it was found, and a few seconds of fuzzing, on every
/// `cargo test`.
#[test]
fn fuzz_regressions_and_a_short_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("utf-8 input");
        if let Err(why) = exercise(&text) {
            panic!("{} {why}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0);
    let n = fuzz_for(Duration::from_secs(3), 0x5eed);
    assert!(n > 0);
}

/// The long run (`.ci/run`, or by hand with `STROOM_FUZZ_SECONDS`).
#[test]
#[ignore]
fn fuzz_long() {
    let seconds = std::env::var("STROOM_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("STROOM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let n = fuzz_for(Duration::from_secs(seconds), seed);
    eprintln!("fuzz: {n} inputs in {seconds} s (seed {seed}), no panic, abort or input over 5 s");
}
