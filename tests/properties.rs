//! Properties that must hold for any input: the parser never panics, formatting is
//! idempotent and keeps the meaning, and the rule index never changes a result.

mod common;
use proptest::prelude::*;
use stroom::rules::fmt::format_source;
use stroom::rules::parse::parse_file;

/// Fragments rule files are made of, so random text looks like almost-rules.
const TOKENS: &[&str] = &[
    "when",
    "grant",
    "group",
    "license",
    "in",
    "ad",
    "entra",
    "rule",
    "\"x\"",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "and",
    "or",
    "not",
    "==",
    "=",
    "!=",
    "<=",
    ">",
    "+",
    "-",
    "department",
    "contract.start",
    "today",
    "2026-01-01",
    "14 days",
    "1 week",
    "null",
    "true",
    "let",
    "a",
    "=",
    "lower(",
    "is empty",
    "is not empty",
    "#c\n",
    "\n",
    "\"é\\\"\"",
    "account",
    "set",
    "unique",
    "max",
    "20",
    "ending",
    "forbid",
    "with",
    "threshold",
    "5%",
    "scope",
    "from",
    "before",
    "start",
    "until",
    "after",
    "end",
    "include",
    "writeback",
    "business_email",
    "primary",
    "by",
    "desc",
    "&&",
    "'",
];

fn almost_rules() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "))
}

/// Valid statements, composed, for the formatter round trip.
fn valid_rules() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "department",
        "function",
        "contract.hours_per_week",
        "person.company",
        "primary.department",
    ]);
    let value = prop::sample::select(vec!["\"Sales\"", "\"IT\"", "\"a\\\"b\"", "\"Zoë\""]);
    let cmp = (field, prop::sample::select(vec!["==", "!="]), value).prop_map(|(f, o, v)| {
        if f == "contract.hours_per_week" {
            format!("{f} >= 16")
        } else {
            format!("{f} {o} {v}")
        }
    });
    let cond = prop::collection::vec(cmp, 1..4).prop_flat_map(|parts| {
        let n = parts.len();
        (
            Just(parts),
            prop::collection::vec(prop::sample::select(vec![" and ", " or "]), n),
            any::<bool>(),
        )
    });
    let stmt = cond.prop_map(|(parts, joins, paren)| {
        let mut s = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                s.push_str(joins[i]);
            }
            s.push_str(p);
        }
        if paren {
            s = format!("not ({s})");
        }
        format!("when {s}   # why\n grant group \"G-\" + lower(department) in ad\n")
    });
    prop::collection::vec(stmt, 1..6)
        .prop_map(|v| format!("# rules\nlet x = 1\n\n{}", v.join("\n")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn parser_and_checker_never_panic(src in almost_rules()) {
        let _ = parse_file(0, &src);
        let _ = common::checked(&src);
        let _ = format_source(&src);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        let _ = common::checked(&src);
    }

    #[test]
    fn fmt_is_idempotent_and_keeps_meaning(src in valid_rules()) {
        let once = format_source(&src).expect("valid input formats");
        let twice = format_source(&once).expect("formatted input formats");
        prop_assert_eq!(&once, &twice);
        let (a, _) = parse_file(0, &src);
        let (b, _) = parse_file(0, &once);
        prop_assert_eq!(a, b);
    }
}

/// The index is an optimisation only: evaluating every statement for every person gives
/// the same grants.
#[test]
fn index_never_changes_results() {
    use stroom::rules::eval::{evaluate_person, Population};
    let program = common::program(&stroom::generate::rules(300, 7));
    let people = common::persons(serde_json::Value::Array(
        stroom::generate::persons_for_rules(400, 11, 300),
    ));
    let population = Population::new(&people);
    let mut unindexed = program.clone();
    unindexed.index = stroom::rules::program::RuleIndex::default();
    for (i, st) in unindexed.statements.iter().enumerate() {
        if st.per_contract {
            unindexed.index.contract_always.push(i as u32);
        } else {
            unindexed.index.person_always.push(i as u32);
        }
    }
    let today = common::day("2026-12-01");
    let mut total = 0;
    for p in &people {
        let a = evaluate_person(&program, &population, p, today);
        let b = evaluate_person(&unindexed, &population, p, today);
        assert_eq!(a.grants, b.grants, "person {}", p.id);
        total += a.grants.len();
    }
    assert!(
        total > 2000,
        "the generated rules should grant plenty ({total})"
    );
}

/// Rules that exercise arithmetic, functions and nulls.
const TORTURE: &str = r#"
default target ad
scope from 9999 days before start until 9999 days after end
account in ad {
  create 30 days before start
  delete 1 day after disable
  set a = unique [left(ascii(first_name), 3) + ascii(last_name), ascii(display_name)] max 6 ending "@x"
  set b = substring(coalesce(first_name, initials, last_name), 2, 40)
}
when contract.start + 36500 days > today - 36500 days and today - contract.start > 0 days
  grant group "arith-" + days(contract.end - contract.start)
when year(birth_date) + employee_number > 0 or length(extra.K) == 3
  grant group "G-" + upper(trim(department)) + right(function, 2)
when matches(coalesce(function, ""), "^[A-Z]") and contains(display_name, "a")
  grant group replace(family_name, "a", "")
writeback business_email from ad.a
"#;

fn arb_date() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (1i32..=9999, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| Some(format!("{y:04}-{m:02}-{d:02}"))),
    ]
}

fn arb_text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        "\\PC{0,12}".prop_map(Some)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Evaluation and planning never panic on any data the persons reader accepts.
    #[test]
    fn evaluation_never_panics(
        people in prop::collection::vec((arb_text(), arb_text(), arb_date(), arb_date(), arb_date(), any::<i64>(), arb_text()), 1..6),
        today in arb_date(),
    ) {
        let records: Vec<serde_json::Value> = people
            .iter()
            .enumerate()
            .map(|(i, (first, dept, start, end, birth, number, function))| {
                let (start, end) = match (start, end) {
                    (Some(s), Some(e)) if e < s => (Some(e.clone()), Some(s.clone())),
                    other => (other.0.clone(), other.1.clone()),
                };
                serde_json::json!({
                    "id": format!("p{i}"), "last_name": "Ĳsselmeer-Çelik", "first_name": first,
                    "employee_number": number, "birth_date": birth, "extra": { "K": first },
                    "manager_id": "p0",
                    "contracts": [{ "id": "c", "start": start, "end": end, "department": dept, "function": function }]
                })
            })
            .collect();
        let persons = stroom::source::persons::parse_persons("p.json", &serde_json::Value::Array(records).to_string())
            .expect("generated records are valid");
        let checked = common::checked(TORTURE);
        let program = checked.program.expect("torture rules check");
        let today = today.map_or(common::day("2026-01-01"), |d| common::day(&d));
        let plan = common::plan(&program, &persons, &stroom::model::State::default(), &today.to_string());
        let again = stroom::plan::state_after(&stroom::model::State::default(), &plan);
        let _ = common::plan(&program, &persons, &again, &today.to_string());
    }
}
