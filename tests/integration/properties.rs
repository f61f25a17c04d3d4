//! Properties that must hold for any input: the parser never panics, formatting is
//! idempotent and keeps the meaning, and the rule index never changes a result.

use crate::common;
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

/// JSON-like text: the shapes of persons, state and plan files with random damage.
fn json_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"id\"".to_string()),
        Just("\"last_name\"".to_string()),
        Just("\"contracts\"".to_string()),
        Just("\"start\"".to_string()),
        Just("\"2026-01-01\"".to_string()),
        Just("\"accounts\"".to_string()),
        Just("\"grants\"".to_string()),
        Just("\"actions\"".to_string()),
        Just("\"op\"".to_string()),
        Just("\"grant\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-1e999".to_string()),
        Just("18446744073709551616".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\n".to_string()),
        "\\PC{0,8}".prop_map(|s| format!("{s:?}")),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// Any JSON value, for the Nmbrs wire types.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("pagination".to_string()),
                        Just("data".to_string()),
                        Just("employeeId".to_string()),
                        Just("contracts".to_string()),
                        Just("totalPages".to_string()),
                        Just("nextPage".to_string()),
                        Just("period".to_string()),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn data_readers_never_panic(text in json_like()) {
        let _ = stroom::source::persons::parse_persons("p.json", &text);
        let _ = stroom::source::state::parse_state("s.json", &text);
        let _ = stroom::plan::read::parse_plan("plan.json", &text);
    }

    #[test]
    fn nmbrs_wire_types_never_panic(v in json_value()) {
        use stroom::source::nmbrs::wire::*;
        let text = v.to_string();
        let _ = serde_json::from_str::<Page<Employee>>(&text);
        let _ = serde_json::from_str::<Page<EmployeeContracts>>(&text);
        let _ = serde_json::from_str::<Page<EmployeePersonalInfo>>(&text);
        let _ = serde_json::from_str::<Page<EmployeeDepartments>>(&text);
        let _ = serde_json::from_str::<Page<EmployeeManagers>>(&text);
        let _ = serde_json::from_str::<Page<EmployeeCostCenters>>(&text);
        let _ = serde_json::from_str::<Page<CurrentPeriod>>(&text);
        let _ = serde_json::from_str::<ErrorBody>(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The config reader never panics, and its errors never show a value from the file.
    #[test]
    fn config_reader_never_panics_or_shows_values(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[nmbrs]".to_string()),
                Just("[targets.entra]".to_string()),
                Just("[store]".to_string()),
                Just("client_id = \"Zq9SecretValue\"".to_string()),
                Just("client_secret = \"Zq9SecretValue\"".to_string()),
                Just("client_secrt = \"Zq9SecretValue\"".to_string()),
                Just("page_size = Zq9SecretValue".to_string()),
                Just("max_gone_percent = \"Zq9SecretValue\"".to_string()),
                Just("Zq9SecretValue".to_string()),
                Just("base_url = 'Zq9SecretValue".to_string()),
                "[a-z_]{1,10} = [0-9]{1,4}",
            ],
            0..8,
        )
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("stroom.toml");
        std::fs::write(&path, lines.join("\n")).expect("write");
        if let Err(e) = stroom::config::Config::load_with_env(Some(&path), &|_| None) {
            let shown = e.to_string();
            prop_assert!(!shown.contains("Zq9SecretValue"), "{}", shown);
        }
    }
}

/// The evaluator's fast path (index lookup, the rest of a condition after a key, sorted
/// and merged grants) against a plain reference: random conditions held as data and
/// tested directly on the fields of each contract in scope.
mod fast_path {
    use proptest::prelude::*;
    use stroom::model::{Contract, Person};
    use stroom::rules::eval::{evaluate_person, in_scope, Population};

    const DEPARTMENTS: &[&str] = &["Sales", "IT", "HR", "Finance"];
    const FUNCTIONS: &[&str] = &["Intern", "Lead", "Dev", "Clerk"];
    const COMPANIES: &[&str] = &["A", "B"];

    /// A condition as data.
    #[derive(Debug, Clone)]
    enum Cond {
        DepartmentIs(usize),
        DepartmentLowerIs(usize),
        DepartmentIn(Vec<usize>),
        FunctionIn(Vec<usize>),
        FunctionIsNot(usize),
        CompanyIs(usize),
        HoursAtLeast(u32),
        Started,
        And(Vec<Cond>),
        Or(Vec<Cond>),
        Not(Box<Cond>),
    }

    fn list(names: &[&str], picks: &[usize]) -> String {
        let items: Vec<String> = picks.iter().map(|i| format!("{:?}", names[*i])).collect();
        format!("[{}]", items.join(", "))
    }

    impl Cond {
        fn text(&self) -> String {
            match self {
                Cond::DepartmentIs(d) => format!("department == {:?}", DEPARTMENTS[*d]),
                Cond::DepartmentLowerIs(d) => {
                    format!("lower(department) == {:?}", DEPARTMENTS[*d].to_lowercase())
                }
                Cond::DepartmentIn(ds) => format!("department in {}", list(DEPARTMENTS, ds)),
                Cond::FunctionIn(fs) => format!("function in {}", list(FUNCTIONS, fs)),
                Cond::FunctionIsNot(f) => format!("function != {:?}", FUNCTIONS[*f]),
                Cond::CompanyIs(c) => format!("company == {:?}", COMPANIES[*c]),
                Cond::HoursAtLeast(h) => format!("contract.hours_per_week >= {h}"),
                Cond::Started => "contract.start <= today".into(),
                Cond::And(parts) => join(parts, " and "),
                Cond::Or(parts) => join(parts, " or "),
                Cond::Not(c) => format!("not ({})", c.text()),
            }
        }

        /// Tested directly on the fields: what the rule means, written plainly.
        fn holds(&self, p: &Person, c: &Contract, today: chrono::NaiveDate) -> bool {
            let department = c.department.as_deref();
            let function = c.function.as_deref();
            match self {
                Cond::DepartmentIs(d) => department == Some(DEPARTMENTS[*d]),
                Cond::DepartmentLowerIs(d) => {
                    department.map(str::to_lowercase) == Some(DEPARTMENTS[*d].to_lowercase())
                }
                Cond::DepartmentIn(ds) => ds.iter().any(|d| department == Some(DEPARTMENTS[*d])),
                Cond::FunctionIn(fs) => fs.iter().any(|f| function == Some(FUNCTIONS[*f])),
                // A comparison with a missing value is false, `!=` too.
                Cond::FunctionIsNot(f) => function.is_some_and(|x| x != FUNCTIONS[*f]),
                Cond::CompanyIs(k) => p.company.as_deref() == Some(COMPANIES[*k]),
                Cond::HoursAtLeast(h) => c.hours_per_week.is_some_and(|x| x >= f64::from(*h)),
                Cond::Started => c.start.is_some_and(|s| s <= today),
                Cond::And(parts) => parts.iter().all(|x| x.holds(p, c, today)),
                Cond::Or(parts) => parts.iter().any(|x| x.holds(p, c, today)),
                Cond::Not(x) => !x.holds(p, c, today),
            }
        }
    }

    fn join(parts: &[Cond], by: &str) -> String {
        let texts: Vec<String> = parts.iter().map(|p| format!("({})", p.text())).collect();
        texts.join(by)
    }

    fn picks(n: usize) -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0..n, 1..3)
    }

    fn cond() -> impl Strategy<Value = Cond> {
        let leaf = prop_oneof![
            (0..DEPARTMENTS.len()).prop_map(Cond::DepartmentIs),
            (0..DEPARTMENTS.len()).prop_map(Cond::DepartmentLowerIs),
            picks(DEPARTMENTS.len()).prop_map(Cond::DepartmentIn),
            picks(FUNCTIONS.len()).prop_map(Cond::FunctionIn),
            (0..FUNCTIONS.len()).prop_map(Cond::FunctionIsNot),
            (0..COMPANIES.len()).prop_map(Cond::CompanyIs),
            (8u32..41).prop_map(Cond::HoursAtLeast),
            Just(Cond::Started),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::Or),
                inner.prop_map(|c| Cond::Not(Box::new(c))),
            ]
        })
    }

    /// A contract: department, function (or none), hours, start.
    fn contract() -> impl Strategy<Value = serde_json::Value> {
        (
            0..DEPARTMENTS.len(),
            prop::option::of(0..FUNCTIONS.len()),
            prop::option::of(8u32..41),
            0i64..900,
        )
            .prop_map(|(d, f, h, start)| {
                let start = chrono::NaiveDate::from_ymd_opt(2025, 6, 1)
                    .and_then(|d| d.checked_add_signed(chrono::Duration::days(start)))
                    .unwrap_or_default();
                serde_json::json!({
                    "start": start.to_string(),
                    "department": DEPARTMENTS[d],
                    "function": f.map(|f| FUNCTIONS[f]),
                    "hours_per_week": h,
                })
            })
    }

    fn persons() -> impl Strategy<Value = Vec<serde_json::Value>> {
        prop::collection::vec(
            (0..COMPANIES.len(), prop::collection::vec(contract(), 1..3)),
            1..12,
        )
        .prop_map(|people| {
            people
                .into_iter()
                .enumerate()
                .map(|(i, (company, contracts))| {
                    let contracts: Vec<serde_json::Value> = contracts
                        .into_iter()
                        .enumerate()
                        .map(|(k, mut c)| {
                            c["id"] = format!("c{i}-{k}").into();
                            c
                        })
                        .collect();
                    serde_json::json!({
                        "id": format!("p{i}"),
                        "company": COMPANIES[company],
                        "first_name": "Sam",
                        "last_name": format!("P{i}"),
                        "contracts": contracts,
                    })
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_fast_path_grants_what_the_plain_reference_grants(
            conds in prop::collection::vec(cond(), 1..12),
            people in persons(),
        ) {
            // Rule i grants "G{i}"; every third grants "Shared" too, so grants merge.
            let mut text = String::from("default target ad\n");
            for (i, c) in conds.iter().enumerate() {
                text.push_str(&format!("when {} grant group \"G{i}\"\n", c.text()));
                if i % 3 == 0 {
                    text.push_str(&format!("when {} grant group \"Shared\"\n", c.text()));
                }
            }
            let program = crate::common::program(&text);
            let people = crate::common::persons(serde_json::Value::Array(people));
            let population = Population::new(&people);
            let today = crate::common::day("2026-12-01");
            for p in &people {
                let scoped: Vec<&Contract> =
                    p.contracts.iter().filter(|c| in_scope(&program, c, today)).collect();
                // The reference: group names with the lines of the rules that grant them.
                let mut want: Vec<(String, Vec<usize>)> = Vec::new();
                for (i, c) in conds.iter().enumerate() {
                    if scoped.iter().any(|k| c.holds(p, k, today)) {
                        want.push((format!("G{i}"), vec![]));
                        if i % 3 == 0 {
                            match want.iter_mut().find(|(n, _)| n == "Shared") {
                                Some((_, lines)) => lines.push(i),
                                None => want.push(("Shared".into(), vec![i])),
                            }
                        }
                    }
                }
                want.sort();
                let got = evaluate_person(&program, &population, p, today);
                let mut names: Vec<(String, Vec<usize>)> = got
                    .grants
                    .iter()
                    .map(|g| (g.name.to_string(), vec![]))
                    .collect();
                names.sort();
                let want_names: Vec<(String, Vec<usize>)> =
                    want.iter().map(|(n, _)| (n.clone(), vec![])).collect();
                prop_assert_eq!(&names, &want_names, "person {} under\n{}", p.id, text);
                // `Shared` cites every statement that granted it, once each.
                if let (Some(g), Some((_, lines))) = (
                    got.grants.iter().find(|g| g.name == "Shared"),
                    want.iter().find(|(n, _)| n == "Shared"),
                ) {
                    prop_assert_eq!(g.because.len(), lines.len());
                }
            }
        }
    }
}
