//! Deterministic generators of realistic test data: Dutch persons (prefixes, partner
//! names, diacritics, part-timers, future starters, leavers, two contracts, rehires)
//! and large rule sets, for the examples, the tests and the benchmarks.

use serde_json::{json, Value};

/// A small deterministic random source (SplitMix64), so that generated data is the same
/// on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FIRST_NAMES: &[(&str, &str)] = &[
    ("Jan", "male"),
    ("Pieter", "male"),
    ("Daan", "male"),
    ("Sem", "male"),
    ("Lucas", "male"),
    ("Bram", "male"),
    ("Thijs", "male"),
    ("Ruben", "male"),
    ("Joël", "male"),
    ("Stijn", "male"),
    ("Mohammed", "male"),
    ("Mehmet", "male"),
    ("Wouter", "male"),
    ("Sjoerd", "male"),
    ("Gert-Jan", "male"),
    ("Anna", "female"),
    ("Emma", "female"),
    ("Sophie", "female"),
    ("Julia", "female"),
    ("Zoë", "female"),
    ("Noëlle", "female"),
    ("Fleur", "female"),
    ("Lotte", "female"),
    ("Sanne", "female"),
    ("Ilse", "female"),
    ("Fatima", "female"),
    ("Aïcha", "female"),
    ("Marieke", "female"),
    ("Renée", "female"),
    ("Inge", "female"),
    ("Chloë", "female"),
    ("Eline", "female"),
    ("Maaike", "female"),
    ("Søren", "male"),
    ("Łukasz", "male"),
];
const PREFIXES: &[&str] = &[
    "van", "de", "van der", "van den", "van de", "ter", "den", "in 't", "van 't", "op de",
];
const LAST_NAMES: &[&str] = &[
    "Jong",
    "Vries",
    "Berg",
    "Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "Boer",
    "Mulder",
    "Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Leeuwen",
    "Dekker",
    "Brouwer",
    "Wit",
    "Dijkstra",
    "Smits",
    "Graaf",
    "Linden",
    "Kok",
    "Jacobs",
    "Haan",
    "Vermeulen",
    "Heuvel",
    "Veen",
    "Broek",
    "Bruijn",
    "Schouten",
    "Beek",
    "Willems",
    "Hoekstra",
    "Koster",
    "Prins",
    "Huisman",
    "Kuipers",
    "Yılmaz",
    "El Amrani",
    "Öztürk",
    "Nguyễn",
    "Müller",
    "Çelik",
    "Wijnaldum",
    "IJzerman",
    "Ĳsselstein",
    "Hart",
];
const PREFIXED: &[&str] = &[
    "Berg", "Dijk", "Vries", "Leeuwen", "Heuvel", "Veen", "Broek", "Beek", "Linden", "Hart",
    "Graaf", "Wit", "Haan", "Jong", "Boer",
];

/// The companies of the example group.
pub const COMPANIES: &[&str] = &[
    "Van Dijk Holding B.V.",
    "Van Dijk Logistiek B.V.",
    "Van Dijk Techniek B.V.",
];

/// Departments with their functions (name, code).
pub const DEPARTMENTS: &[(&str, &str, &[&str])] = &[
    ("Directie", "10", &["Directeur", "Office Manager"]),
    (
        "Finance",
        "20",
        &[
            "Controller",
            "Financieel Medewerker",
            "Payroll Administrator",
            "Payroll Approver",
        ],
    ),
    ("HR", "30", &["HR Adviseur", "Recruiter", "HR Manager"]),
    ("Sales", "40", &["Account Manager", "Sales Manager"]),
    ("Inside Sales", "41", &["Inside Sales Medewerker"]),
    ("Marketing", "50", &["Marketeer", "Content Specialist"]),
    (
        "IT",
        "60",
        &[
            "Developer",
            "DevOps",
            "Servicedesk Medewerker",
            "IT Manager",
        ],
    ),
    (
        "Engineering",
        "70",
        &["Werkvoorbereider", "Monteur", "Engineer"],
    ),
    (
        "Logistiek",
        "80",
        &["Chauffeur", "Planner", "Magazijnmedewerker"],
    ),
    (
        "Klantenservice",
        "90",
        &["Klantenservice Medewerker", "Teamleider Klantenservice"],
    ),
];

fn date(days_from_epoch_2026: i64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let d = if days_from_epoch_2026 >= 0 {
        base.checked_add_days(chrono::Days::new(days_from_epoch_2026 as u64))
    } else {
        base.checked_sub_days(chrono::Days::new(days_from_epoch_2026.unsigned_abs()))
    };
    d.unwrap_or(base).format("%Y-%m-%d").to_string()
}

fn contract(
    rng: &mut Rng,
    id: String,
    start: i64,
    end: Option<i64>,
    manager: Option<&str>,
) -> Value {
    let (dept, code, functions) = rng.pick(DEPARTMENTS);
    let function = rng.pick(functions);
    let hours = *rng.pick(&[
        40.0, 40.0, 40.0, 36.0, 32.0, 32.0, 24.0, 20.0, 16.0, 12.0, 8.0,
    ]);
    json!({
        "id": id,
        "start": date(start),
        "end": end.map(date),
        "hours_per_week": hours,
        "department": dept,
        "department_code": code,
        "function": function,
        "function_code": format!("{code}{}", functions.iter().position(|f| f == function).unwrap_or(0)),
        "cost_center": dept,
        "cost_center_code": format!("{code}00"),
        "manager_id": manager,
    })
}

/// Generates `n` person records as JSON. Dates are spread around 2026 so that a plan
/// on 2026-12-01 has joiners, future starters (within and beyond 14 days), leavers,
/// people with two contracts and rehires. Deterministic for a seed.
pub fn persons(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    let managers = (n / 12).max(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, i);
        let (first, gender) = *rng.pick(FIRST_NAMES);
        let prefixed = rng.chance(30);
        let (prefix, last) = if prefixed {
            (Some(*rng.pick(PREFIXES)), *rng.pick(PREFIXED))
        } else {
            (None, *rng.pick(LAST_NAMES))
        };
        let married = rng.chance(25);
        let (partner_prefix, partner_last, convention) = if married {
            let pp = rng.chance(40).then(|| *rng.pick(PREFIXES));
            let pl = if pp.is_some() {
                *rng.pick(PREFIXED)
            } else {
                *rng.pick(LAST_NAMES)
            };
            (
                pp,
                Some(pl),
                *rng.pick(&["own", "partner", "own_partner", "partner_own"]),
            )
        } else {
            (None, None, "own")
        };
        let manager = (i >= managers).then(|| {
            format!(
                "{:08x}-0000-4000-8000-{:012x}",
                seed as u32,
                rng.below(managers)
            )
        });
        let external = i >= managers && rng.chance(8);
        // Scenario mix: most are current staff; some start later, some left, some have
        // two contracts, a few are rehires.
        let scenario = if i < managers { 0 } else { rng.below(100) };
        let mut r = |n: usize| rng.below(n) as i64;
        let spans: Vec<(i64, Option<i64>)> = match scenario {
            0..=64 => vec![(-r(2500), None)],
            65..=71 => vec![(334 + r(40), None)],
            72..=81 => vec![(-r(1500) - 60, Some(300 + r(60)))],
            82..=89 => vec![(-r(1500), None), (-r(300), Some(400 + r(300)))],
            90..=94 => vec![(-900, Some(-200)), (320 + r(30), None)],
            _ => vec![(-r(1000) - 400, Some(-r(200)))],
        };
        let contracts: Vec<Value> = spans
            .into_iter()
            .enumerate()
            .map(|(k, (start, end))| {
                contract(
                    &mut rng,
                    format!("{id}-{}", k + 1),
                    start,
                    end,
                    manager.as_deref(),
                )
            })
            .collect();
        let employee_type = if external {
            "external"
        } else if scenario >= 95 {
            "formerPayroll"
        } else {
            "payroll"
        };
        let initials: String = first
            .chars()
            .next()
            .map(|c| format!("{c}."))
            .unwrap_or_default();
        out.push(json!({
            "id": id,
            "employee_number": 1000 + i,
            "company": rng.pick(COMPANIES),
            "employee_type": employee_type,
            "first_name": first,
            "first_name_full": first,
            "initials": initials,
            "prefix": prefix,
            "last_name": last,
            "partner_prefix": partner_prefix,
            "partner_last_name": partner_last,
            "name_convention": convention,
            "gender": gender,
            "birth_date": date(-(8000 + rng.below(12000) as i64)),
            "business_email": null,
            "private_email": format!("{}.{}@example.org", crate::model::text::ascii(&first.to_lowercase()), i),
            "business_phone": null,
            "business_mobile": rng.chance(60).then(|| format!("+3161{:07}", rng.below(10_000_000))),
            "manager_id": manager,
            "extra": { "Badge": format!("B-{:05}", i) },
            "contracts": contracts,
        }));
    }
    out
}

/// Department and function names of the large generated data sets: a rule set of `n`
/// statements has about n/10 departments and n/5 functions, as real matrices do.
pub fn scale_names(n_rules: usize) -> (Vec<String>, Vec<String>) {
    let departments = (0..(n_rules / 10).max(10))
        .map(|k| format!("Afdeling {k:04}"))
        .collect();
    let functions = (0..(n_rules / 5).max(10))
        .map(|k| format!("Functie {k:04}"))
        .collect();
    (departments, functions)
}

/// Persons for a rule set of `n_rules` statements (see [`scale_names`]): the person mix
/// of [`persons`], with departments and functions drawn from the larger sets.
pub fn persons_for_rules(n: usize, seed: u64, n_rules: usize) -> Vec<Value> {
    let (departments, functions) = scale_names(n_rules);
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut out = persons(n, seed);
    for p in &mut out {
        if let Some(contracts) = p["contracts"].as_array_mut() {
            for c in contracts {
                let d = rng.pick(&departments).clone();
                let f = rng.pick(&functions).clone();
                c["department_code"] = Value::String(d[9..].to_string());
                c["department"] = Value::String(d);
                c["function_code"] = Value::String(f[8..].to_string());
                c["function"] = Value::String(f);
            }
        }
    }
    out
}

/// Generates a rule set of `n` statements in the shape real matrices have: most test a
/// department or a function (so the index narrows them), some a list or an `or` of
/// those, and about 1% apply to everyone with a non-indexable test.
pub fn rules(n: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let (departments, functions) = scale_names(n);
    let mut out = String::from(
        "default target ad\nscope from 14 days before start until 30 days after end\n\n",
    );
    for i in 0..n {
        let dept = rng.pick(&departments).clone();
        let other = rng.pick(&departments).clone();
        let f = rng.pick(&functions).clone();
        let line = match rng.below(100) {
            0..=44 => format!("when department == \"{dept}\" and contract.hours_per_week >= {}\n  grant group \"G{i}\"\n", rng.below(30)),
            45..=74 => format!("when function == \"{f}\" and company != \"X{i}\"\n  grant group \"F{i}\" in entra\n"),
            75..=84 => format!("when department in [\"{dept}\", \"{other}\"] and contract.start <= today - {} days\n  grant group \"S{i}\"\n", rng.below(400)),
            85..=94 => format!("rule \"r{i}\" {{\n  when function == \"{f}\" or department_code == \"{}\"\n    grant group \"R{i}\"\n}}\n", &dept[9..]),
            95..=98 => format!("when lower(department) == \"{}\" and starts_with(function, \"Functie\")\n  grant group \"L{i}\"\n", dept.to_lowercase()),
            _ => format!("when contract.hours_per_week >= {} and ends_with(function, \"{}\")\n  grant group \"U{i}\"\n", 8 + rng.below(30), rng.below(10)),
        };
        out.push_str(&line);
    }
    out
}

/// The grant-heavy matrix workload (issue "plans whose cost follows the answer"): every
/// rule grants its own group, so a person gets dozens to hundreds of groups. Its shape is
/// fixed by the benchmark's definition:
/// - 60 departments, each with 4 home functions, and 10 generic functions (one of them
///   `Intern`);
/// - 5 companies with 35/25/20/12/8 % of the persons;
/// - 85 % of persons have one contract, 15 % two (the second in another department);
/// - contract starts uniform over 2015–2027, 20 % with an end, 8 to 40 hours a week.
pub mod matrix {
    use super::Rng;
    use serde_json::{json, Value};

    /// Departments.
    pub const DEPARTMENTS: usize = 60;
    /// Home functions per department.
    pub const HOME_FUNCTIONS: usize = 4;
    /// The generic functions (any department).
    pub const GENERIC_FUNCTIONS: [&str; 10] = [
        "Intern",
        "Stagiair",
        "Trainee",
        "Secretaresse",
        "Receptionist",
        "Medewerker",
        "Senior Medewerker",
        "Teamleider",
        "Adviseur",
        "Projectleider",
    ];
    /// The companies and their share of the persons, in percent.
    pub const COMPANIES: [(&str, u64); 5] = [
        ("Noord B.V.", 35),
        ("Oost B.V.", 25),
        ("Zuid B.V.", 20),
        ("West B.V.", 12),
        ("Midden B.V.", 8),
    ];

    /// The name of department `d`.
    pub fn department(d: usize) -> String {
        format!("Afdeling {d:02}")
    }

    /// The name of home function `f` of department `d`.
    pub fn home_function(d: usize, f: usize) -> String {
        format!("Functie {d:02}-{f}")
    }

    fn company(rng: &mut Rng) -> &'static str {
        let mut roll = rng.below(100) as u64;
        for (name, share) in COMPANIES {
            if roll < share {
                return name;
            }
            roll -= share;
        }
        COMPANIES[0].0
    }

    /// Days from 2015-01-01 to 2027-12-31.
    const START_SPAN: usize = 4747;

    fn day(offset: usize) -> String {
        let base = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default();
        base.checked_add_days(chrono::Days::new(offset as u64))
            .unwrap_or(base)
            .format("%Y-%m-%d")
            .to_string()
    }

    fn contract(rng: &mut Rng, id: String, dept: usize) -> Value {
        // Three in four have a home function of their department.
        let function = if rng.chance(75) {
            home_function(dept, rng.below(HOME_FUNCTIONS))
        } else {
            rng.pick(&GENERIC_FUNCTIONS).to_string()
        };
        let start = rng.below(START_SPAN + 1);
        let end = rng.chance(20).then(|| day(start + 30 + rng.below(2000)));
        json!({
            "id": id,
            "start": day(start),
            "end": end,
            "hours_per_week": 8 + rng.below(33),
            "department": department(dept),
            "function": function,
        })
    }

    /// Person `i` of the matrix workload for a seed (records are made one at a time, so
    /// millions can be streamed to a file).
    pub fn person(i: usize, seed: u64) -> Value {
        let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let id = format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, i);
        let first = rng.below(DEPARTMENTS);
        let mut contracts = vec![contract(&mut rng, format!("{id}-1"), first)];
        if rng.chance(15) {
            let other = (first + 1 + rng.below(DEPARTMENTS - 1)) % DEPARTMENTS;
            contracts.push(contract(&mut rng, format!("{id}-2"), other));
        }
        json!({
            "id": id,
            "employee_number": 100_000 + i,
            "company": company(&mut rng),
            "first_name": "Sam",
            "last_name": format!("Persoon {i}"),
            "contracts": contracts,
        })
    }

    /// `n` persons as one JSON array, written without holding them all.
    pub fn persons_json(n: usize, seed: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(b"[")?;
        for i in 0..n {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            serde_json::to_writer(&mut *out, &person(i, seed))?;
        }
        out.write_all(b"]\n")
    }

    /// One rule of the matrix, as data: what [`rules`] writes as text, and what a plain
    /// loop can test without the engine (the benchmarks' reference).
    #[derive(Debug, Clone, PartialEq)]
    pub enum Rule {
        /// `department == D`
        Department(String),
        /// `department == D and function in [F, ...]`
        DepartmentFunction(String, Vec<String>),
        /// `company == C and contract.hours_per_week >= H`
        CompanyHours(&'static str, u32),
        /// `contract.start <= today and department in [D, ...] and function != "Intern"`
        StartedIn(Vec<String>),
    }

    impl Rule {
        /// The condition as Stroom writes it.
        pub fn condition(&self) -> String {
            let quoted = |names: &[String]| {
                names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match self {
                Rule::Department(d) => format!("department == \"{d}\""),
                Rule::DepartmentFunction(d, f) => {
                    format!("department == \"{d}\" and function in [{}]", quoted(f))
                }
                Rule::CompanyHours(c, h) => {
                    format!("company == \"{c}\" and contract.hours_per_week >= {h}")
                }
                Rule::StartedIn(ds) => format!(
                    "contract.start <= today and department in [{}] and function != \"Intern\"",
                    quoted(ds)
                ),
            }
        }

        /// True when the rule holds for this person's contract on `today`, tested
        /// directly on the fields.
        pub fn holds(
            &self,
            person: &crate::model::Person,
            contract: &crate::model::Contract,
            today: chrono::NaiveDate,
        ) -> bool {
            let department = contract.department.as_deref();
            let function = contract.function.as_deref();
            match self {
                Rule::Department(d) => department == Some(d.as_str()),
                Rule::DepartmentFunction(d, fs) => {
                    department == Some(d.as_str())
                        && function.is_some_and(|f| fs.iter().any(|x| x == f))
                }
                Rule::CompanyHours(c, h) => {
                    person.company.as_deref() == Some(*c)
                        && contract.hours_per_week.is_some_and(|x| x >= f64::from(*h))
                }
                Rule::StartedIn(ds) => {
                    contract.start.is_some_and(|s| s <= today)
                        && department.is_some_and(|d| ds.iter().any(|x| x == d))
                        && function != Some("Intern")
                }
            }
        }
    }

    /// `n` rules, rule `i` granting its own group `M{i}`: 30 % `department ==`, 30 % a
    /// department and `function in [...]`, 15 % a company and `hours_per_week >=`, 25 %
    /// `contract.start <= today` with the department in a list and `function !=
    /// "Intern"`.
    pub fn rule_set(n: usize, seed: u64) -> Vec<Rule> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let d = rng.below(DEPARTMENTS);
                match rng.below(100) {
                    0..=29 => Rule::Department(department(d)),
                    30..=59 => {
                        let mut functions = vec![home_function(d, rng.below(HOME_FUNCTIONS))];
                        functions.push(if rng.chance(50) {
                            home_function(d, rng.below(HOME_FUNCTIONS))
                        } else {
                            rng.pick(&GENERIC_FUNCTIONS).to_string()
                        });
                        Rule::DepartmentFunction(department(d), functions)
                    }
                    60..=74 => Rule::CompanyHours(rng.pick(&COMPANIES).0, 8 + rng.below(33) as u32),
                    _ => Rule::StartedIn(
                        (0..5).map(|_| department(rng.below(DEPARTMENTS))).collect(),
                    ),
                }
            })
            .collect()
    }

    /// The rule file of [`rule_set`]: `default target ad`, then
    /// `when CONDITION grant group "M{i}"` per rule.
    pub fn rules(n: usize, seed: u64) -> String {
        let mut out = String::from("default target ad\n\n");
        for (i, rule) in rule_set(n, seed).iter().enumerate() {
            out.push_str(&format!("when {} grant group \"M{i}\"\n", rule.condition()));
        }
        out
    }
}
