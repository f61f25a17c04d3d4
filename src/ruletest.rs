//! Rule tests: small TOML files with a few persons, a date, and the entitlements each
//! person must and must not get. They run the real evaluator and report rule coverage:
//! the rules that no test made fire.
//!
//! ```toml
//! rules = "../rules-examples/acme"   # relative to this file
//! today = "2026-12-01"
//!
//! [[persons]]
//! id = "p1"
//! last_name = "Berg"
//! contracts = [{ id = "c1", start = "2026-01-01", department = "Sales" }]
//!
//! [[cases]]
//! name = "sales staff use the CRM"
//! person = "p1"
//! must = ['group "CRM-Users" in ad']
//! must_not = ['group "Engineering" in ad']
//! ```

use crate::model::Person;
use crate::rules::eval::{evaluate_person, Population};
use crate::rules::parse::parse_entitlement;
use crate::rules::program::{Kind, Program, TargetId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A rule test file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule file or directory, relative to the test file.
    pub rules: Option<String>,
    /// Default evaluation date of the cases.
    pub today: Option<String>,
    /// Person records (same fields as the persons file).
    #[serde(default)]
    pub persons: Vec<toml::Value>,
    /// A persons file instead of (or besides) inline persons, relative to the test file.
    pub persons_file: Option<String>,
    /// The cases.
    #[serde(default)]
    pub cases: Vec<Case>,
}

/// One expectation about one person.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report.
    pub name: Option<String>,
    /// The person's id.
    pub person: String,
    /// Overrides the file's date.
    pub today: Option<String>,
    /// Entitlements the person must get, written as in a grant: `group "X" in ad`.
    #[serde(default)]
    pub must: Vec<String>,
    /// Entitlements the person must not get.
    #[serde(default)]
    pub must_not: Vec<String>,
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseResult {
    /// Case name (or person id).
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// What did not hold.
    pub failures: Vec<String>,
}

/// The outcome of a test file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileResult {
    /// The cases.
    pub cases: Vec<CaseResult>,
    /// Origins (statement indexes) that fired in some case.
    #[serde(skip)]
    pub fired: BTreeSet<u32>,
}

/// Converts TOML person tables to JSON text for the persons reader (TOML dates become
/// `YYYY-MM-DD` strings).
pub fn persons_json(persons: &[toml::Value]) -> String {
    fn conv(v: &toml::Value) -> serde_json::Value {
        match v {
            toml::Value::String(s) => s.clone().into(),
            toml::Value::Integer(i) => (*i).into(),
            toml::Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            toml::Value::Boolean(b) => (*b).into(),
            toml::Value::Datetime(d) => d.to_string().into(),
            toml::Value::Array(a) => a.iter().map(conv).collect::<Vec<_>>().into(),
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, v)| (k.clone(), conv(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
    serde_json::Value::Array(persons.iter().map(conv).collect()).to_string()
}

fn date(s: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{what}: {s:?} is not a date (YYYY-MM-DD)"))
}

fn resolve(
    program: &Program,
    text: &str,
) -> Result<(TargetId, Kind, String, Option<String>), String> {
    let e = parse_entitlement(0, text).map_err(|d| {
        format!(
            "{text:?}: {}; write it as in a grant: group \"Name\" in ad",
            d.problem
        )
    })?;
    let kind = Kind::parse(&e.kind.name)
        .ok_or_else(|| format!("{text:?}: unknown kind `{}`", e.kind.name))?;
    let lit = |x: &crate::rules::ast::Expr| match &x.kind {
        crate::rules::ast::ExprKind::Literal(crate::rules::ast::Literal::Str(s)) => Ok(s.clone()),
        _ => Err(format!("{text:?}: write the name as a plain string")),
    };
    let name = lit(&e.name)?;
    let on = e.on.as_ref().map(lit).transpose()?;
    let target = match &e.target {
        Some(t) => program
            .target_id(&t.name)
            .ok_or_else(|| format!("{text:?}: unknown target `{}`", t.name))?,
        None => program.default_target.ok_or_else(|| {
            format!("{text:?}: add `in TARGET` (the rules have no default target)")
        })?,
    };
    Ok((target, kind, name, on))
}

/// Runs the cases of a test file against a program.
pub fn run_cases(
    program: &Program,
    persons: &[Person],
    file: &TestFile,
) -> Result<FileResult, String> {
    let population = Population::new(persons);
    let default_today = file
        .today
        .as_deref()
        .map(|d| date(d, "today"))
        .transpose()?;
    let mut fired = BTreeSet::new();
    let mut cases = Vec::new();
    for (n, case) in file.cases.iter().enumerate() {
        let name = case
            .name
            .clone()
            .unwrap_or_else(|| format!("case {} ({})", n + 1, case.person));
        let today = match (&case.today, default_today) {
            (Some(d), _) => date(d, &name)?,
            (None, Some(d)) => d,
            (None, None) => {
                return Err(format!(
                    "{name}: no date; set `today` in the file or the case"
                ))
            }
        };
        let Some(person) = population.get(&case.person) else {
            return Err(format!(
                "{name}: no person with id {:?} in this file",
                case.person
            ));
        };
        let ev = evaluate_person(program, &population, person, today);
        for g in &ev.grants {
            fired.extend(g.because.iter().copied());
        }
        fired.extend(ev.writebacks.iter().map(|w| w.because));
        let has = |want: &(TargetId, Kind, String, Option<String>)| {
            ev.grants.iter().any(|g| {
                g.target == want.0
                    && g.kind == want.1
                    && *g.name == *want.2
                    && g.on.as_deref() == want.3.as_deref()
            })
        };
        let mut failures = Vec::new();
        for m in &case.must {
            if !has(&resolve(program, m)?) {
                failures.push(format!(
                    "must get {m}, did not (see `stroom explain --person {}`)",
                    case.person
                ));
            }
        }
        for m in &case.must_not {
            if has(&resolve(program, m)?) {
                failures.push(format!("must not get {m}, did"));
            }
        }
        cases.push(CaseResult {
            name,
            passed: failures.is_empty(),
            failures,
        });
    }
    Ok(FileResult { cases, fired })
}
