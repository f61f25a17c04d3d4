//! Reconciliation (correlate, report, drift, adoption) beside a plain reference measured
//! in the same run: for each person, scan every account for the person id, then for
//! each `correlate` line; then compare the attributes the rules set and the one managed
//! group with what the account holds.
//! The reference is quadratic, as hand-written correlation scripts are; the engine
//! indexes each key once. Both must give the same counts (checked before timing).
//!
//! Two shapes, at 2,000 and 10,000 persons:
//! - `linked`: a directory Stroom already manages (every account carries its person
//!   id, every membership right): the daily no-change reconcile;
//! - `old`: a directory before adoption: a third linked, a third found by the
//!   employee number, the rest by given name and surname, one in twenty lacking the
//!   group, one in fifty with a second account of the same name (ambiguous).
//!
//! Run: `cargo bench --bench reconcile`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Duration;
use stroom::model::live::{Holding, Inventory, LiveAccount};
use stroom::model::{Kind, Person, State};
use stroom::reconcile::{reconcile, ReconcileInput, ReconcilePolicy};
use stroom::rules::program::Program;

const RULES: &str = r#"default target ad
account in ad {
  set givenName = first_name
  set sn = last_name
  set employeeID = employee_number + ""
  correlate employeeID = employee_number + ""
  correlate givenName, sn
}
when contract.active grant group "Staff"
"#;

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

struct Shape {
    persons: Vec<Person>,
    inventory: Vec<Inventory>,
}

fn shape(n: usize, old: bool) -> Shape {
    let list: Vec<Value> = (0..n)
        .map(|k| {
            json!({"id": format!("p{k:06}"), "employee_number": k, "first_name": format!("F{}", k % 97),
                   "last_name": format!("L{k}"), "contracts": [{"id": "c", "start": "2020-01-01"}]})
        })
        .collect();
    let persons = stroom::source::persons::parse_persons("p.json", &Value::Array(list).to_string())
        .unwrap_or_default();
    let mut accounts = Vec::with_capacity(n + n / 50);
    let mut holdings = Vec::with_capacity(n);
    for k in 0..n {
        let id = format!("a{k:06}");
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("givenName".to_string(), Value::from(format!("F{}", k % 97)));
        attributes.insert("sn".to_string(), Value::from(format!("L{k}")));
        let third = if old { k % 3 } else { 0 };
        if third != 2 {
            attributes.insert("employeeID".to_string(), Value::from(k.to_string()));
        }
        accounts.push(LiveAccount {
            id: id.clone(),
            name: format!("u{k}"),
            person: (third == 0).then(|| format!("p{k:06}")),
            enabled: Some(true),
            created: None,
            last_logon: None,
            attributes,
        });
        if !(old && k % 20 == 0) {
            holdings.push(Holding {
                account: id,
                kind: Kind::Group,
                name: "Staff".into(),
                on: None,
            });
        }
        if old && k % 50 == 7 {
            let mut twin = std::collections::BTreeMap::new();
            twin.insert("givenName".to_string(), Value::from(format!("F{}", k % 97)));
            twin.insert("sn".to_string(), Value::from(format!("L{k}")));
            accounts.push(LiveAccount {
                id: format!("b{k:06}"),
                name: format!("u{k}b"),
                person: None,
                enabled: Some(true),
                created: None,
                last_logon: None,
                attributes: twin,
            });
        }
    }
    Shape {
        persons,
        inventory: vec![Inventory {
            target: "ad".into(),
            accounts,
            holdings,
            calls: 1,
        }],
    }
}

/// Counts as the report gives them: linked, matched, ambiguous, missing, drift.
type Counts = (usize, usize, usize, usize, usize);

fn engine(program: &Program, s: &Shape) -> Counts {
    let policy = ReconcilePolicy::default();
    let state = State::default();
    let done = reconcile(&ReconcileInput {
        program,
        persons: &s.persons,
        today: today(),
        inventories: &s.inventory,
        policy: &policy,
        state: &state,
        only_person: None,
    });
    let c = done
        .report
        .targets
        .first()
        .map(|t| t.counts)
        .unwrap_or_default();
    (c.linked, c.matched, c.ambiguous, c.missing, c.drift)
}

/// The plain way: scan everything for everyone.
fn reference(s: &Shape) -> Counts {
    let inv = &s.inventory[0];
    let text = |a: &LiveAccount, k: &str| {
        a.attributes
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_lowercase)
    };
    let mut out = (0, 0, 0, 0, 0);
    for p in &s.persons {
        let linked: Vec<&LiveAccount> = inv
            .accounts
            .iter()
            .filter(|a| a.person.as_deref() == Some(&*p.id))
            .collect();
        let free = |a: &&LiveAccount| a.person.is_none();
        let number = p.employee_number.map(|n| n.to_string());
        let by_number: Vec<&LiveAccount> = inv
            .accounts
            .iter()
            .filter(free)
            .filter(|a| number.is_some() && text(a, "employeeID") == number)
            .collect();
        let first = p.first_name.as_deref().map(str::to_lowercase);
        let last = p.last_name.to_lowercase();
        let by_name = || -> Vec<&LiveAccount> {
            inv.accounts
                .iter()
                .filter(free)
                .filter(|a| {
                    text(a, "givenName") == first && text(a, "sn").as_deref() == Some(last.as_str())
                })
                .collect()
        };
        let found = if !by_number.is_empty() {
            by_number
        } else {
            by_name()
        };
        let account = match (linked.as_slice(), found.as_slice()) {
            ([one], _) => {
                out.0 += 1;
                Some(*one)
            }
            ([], [one]) => {
                out.1 += 1;
                Some(*one)
            }
            ([], []) => {
                out.3 += 1;
                None
            }
            _ => {
                out.2 += 1;
                None
            }
        };
        if let Some(a) = account {
            // The attributes the rules set, as they set them.
            let wanted = [
                ("givenName", p.first_name.clone()),
                ("sn", Some(p.last_name.clone())),
                ("employeeID", number.clone()),
            ];
            for (attr, value) in wanted {
                if a.attributes.get(attr).and_then(Value::as_str) != value.as_deref() {
                    out.4 += 1;
                }
            }
            let held = inv
                .holdings
                .iter()
                .any(|h| h.account == a.id && h.name == "Staff");
            if !held {
                out.4 += 1;
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let Some(program) = stroom::check_sources(&[("bench.stroom", RULES)]).program else {
        return eprintln!("the bench rules do not check");
    };
    let mut group = c.benchmark_group("reconcile");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (label, old) in [("linked", false), ("old", true)] {
        for n in [2_000, 10_000] {
            let s = shape(n, old);
            let (e, r) = (engine(&program, &s), reference(&s));
            assert_eq!(e, r, "{label} {n}: the engine and the reference disagree");
            let id = format!("{label} {n}");
            group.bench_with_input(BenchmarkId::new("engine", &id), &s, |b, s| {
                b.iter(|| black_box(engine(&program, s)))
            });
            group.bench_with_input(BenchmarkId::new("plain loop", &id), &s, |b, s| {
                b.iter(|| black_box(reference(s)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
