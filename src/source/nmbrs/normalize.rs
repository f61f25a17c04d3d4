//! Nmbrs API records → normalized persons (`spec/data.md`).
//!
//! Histories (personal info, departments, functions, managers, cost centers) hold one
//! entry per payroll period; the current value is the latest entry whose period is not
//! after the company's current period (ties: the latest `createdAt`). When every entry
//! lies in the future (a new hire), the earliest one is taken, so rules can prepare the
//! account before the first day. Records that cannot be trusted are skipped and
//! reported with the employee id; they are never silently dropped.

use super::wire::{self, Period};
use crate::model::{Contract, NameConvention, Person};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// Everything read from one company.
#[derive(Debug, Clone, Default)]
pub struct CompanyData {
    /// The company.
    pub company_id: String,
    /// Its name (the person's `company`).
    pub company_name: String,
    /// The current payroll period; `None` when Nmbrs did not say.
    pub period: Option<Period>,
    /// Employee list.
    pub employees: Vec<wire::Employee>,
    /// Personal info histories.
    pub personal_info: Vec<wire::EmployeePersonalInfo>,
    /// Contracts.
    pub contracts: Vec<wire::EmployeeContracts>,
    /// Employments.
    pub employments: Vec<wire::EmployeeEmployments>,
    /// Department histories.
    pub departments: Vec<wire::EmployeeDepartments>,
    /// Function histories.
    pub functions: Vec<wire::EmployeeFunctions>,
    /// Manager histories.
    pub managers: Vec<wire::EmployeeManagers>,
    /// Cost center histories.
    pub cost_centers: Vec<wire::EmployeeCostCenters>,
}

/// How serious a [`RecordProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemLevel {
    /// The employee was skipped: no record for them in this import.
    Skipped,
    /// The record was kept; one value could not be filled in.
    Warning,
}

/// A problem with one employee's data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordProblem {
    /// Skipped or warning.
    pub severity: ProblemLevel,
    /// Company name.
    pub company: String,
    /// The Nmbrs employee id.
    pub employee_id: String,
    /// The employee number, when known.
    pub employee_number: Option<i64>,
    /// Which field, e.g. `contracts[2].startDate`.
    pub field: String,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            ProblemLevel::Skipped => "skipped",
            ProblemLevel::Warning => "warning",
        };
        write!(f, "{what}: {}, employee {}", self.company, self.employee_id)?;
        if let Some(n) = self.employee_number {
            write!(f, " (number {n})")?;
        }
        write!(f, ", `{}`: {}", self.field, self.message)
    }
}

/// The result of normalization.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Good persons, ordered by company then employee number then id.
    pub persons: Vec<Person>,
    /// Skipped employees and warnings.
    pub problems: Vec<RecordProblem>,
}

impl Normalized {
    /// Ids of the employees that were skipped.
    pub fn skipped_ids(&self) -> HashSet<&str> {
        self.problems
            .iter()
            .filter(|p| p.severity == ProblemLevel::Skipped)
            .map(|p| p.employee_id.as_str())
            .collect()
    }
}

/// Parses an Nmbrs date or date-time into the Dutch calendar date. Date-times with an
/// offset are converted to Europe/Amsterdam (midnight UTC stays the same day there).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(crate::model::dutch_date(t.with_timezone(&chrono::Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.date());
        }
    }
    None
}

/// Maps the Nmbrs ascription (naamstelling) to a convention: by its text first (`B`,
/// `P`, `BP`, `PB`, or the Dutch/English description), then by code 0-3 in the order
/// own, partner, partner-own, own-partner.
pub fn name_convention(a: &wire::Ascription) -> Option<NameConvention> {
    if let Some(text) = a.ascription.as_deref() {
        let t = text.trim().to_lowercase();
        let by_text = match t.as_str() {
            "b" | "e" | "own" | "eigen naam" | "own name" | "geboortenaam" => {
                Some(NameConvention::Own)
            }
            "p" | "partner" | "naam partner" | "partner name" | "partnernaam" => {
                Some(NameConvention::Partner)
            }
            "bp" | "ep" | "own_partner" => Some(NameConvention::OwnPartner),
            "pb" | "pe" | "partner_own" => Some(NameConvention::PartnerOwn),
            _ => {
                let own = t
                    .find("eigen")
                    .or_else(|| t.find("own"))
                    .or_else(|| t.find("geboorte"));
                let partner = t.find("partner");
                match (own, partner) {
                    (Some(o), Some(p)) if o < p => Some(NameConvention::OwnPartner),
                    (Some(_), Some(_)) => Some(NameConvention::PartnerOwn),
                    _ => None,
                }
            }
        };
        if by_text.is_some() {
            return by_text;
        }
    }
    match a.code? {
        0 => Some(NameConvention::Own),
        1 => Some(NameConvention::Partner),
        2 => Some(NameConvention::PartnerOwn),
        3 => Some(NameConvention::OwnPartner),
        _ => None,
    }
}

/// Picks the current entry of a period history (see the module docs): the latest
/// entry not after `now` (ties: latest `createdAt`), else the earliest one.
pub(crate) fn current<T>(
    items: &[T],
    now: Option<Period>,
    key: impl Fn(&T) -> (Option<Period>, Option<&str>),
) -> Option<&T> {
    let applies = |t: &&T| match (key(t).0, now) {
        (Some(p), Some(now)) => p <= now,
        _ => true,
    };
    let order = |t: &&T| {
        let (p, created) = key(t);
        (p, created.map(str::to_string))
    };
    items
        .iter()
        .filter(applies)
        .max_by_key(order)
        .or_else(|| items.iter().min_by_key(order))
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A record being built, with the problems found so far.
struct Builder<'a> {
    company: &'a str,
    employee_id: &'a str,
    employee_number: Option<i64>,
    problems: Vec<RecordProblem>,
}

impl Builder<'_> {
    fn problem(
        &mut self,
        severity: ProblemLevel,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(RecordProblem {
            severity,
            company: self.company.to_string(),
            employee_id: self.employee_id.to_string(),
            employee_number: self.employee_number,
            field: field.into(),
            message: message.into(),
        });
    }

    fn skipped(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.severity == ProblemLevel::Skipped)
    }

    /// A date that must parse when present; a broken one skips the record.
    fn date(&mut self, field: String, text: &Option<String>) -> Option<NaiveDate> {
        let text = non_empty(text)?;
        let parsed = parse_date(&text);
        if parsed.is_none() {
            self.problem(
                ProblemLevel::Skipped,
                field,
                format!("{text:?} is not a date; correct it in Nmbrs (YYYY-MM-DD)"),
            );
        }
        parsed
    }
}

/// Per-employee histories of one company, by employee id.
struct ByEmployee<'a> {
    info: HashMap<&'a str, &'a [wire::PersonalInfo]>,
    contracts: HashMap<&'a str, &'a [wire::Contract]>,
    employments: HashMap<&'a str, &'a [wire::Employment]>,
    departments: HashMap<&'a str, &'a [wire::OrgAssignment]>,
    functions: HashMap<&'a str, &'a [wire::OrgAssignment]>,
    managers: HashMap<&'a str, &'a [wire::ManagerAssignment]>,
    cost_centers: HashMap<&'a str, &'a [wire::CostCenterAssignment]>,
}

fn index<'a, T, I: 'a>(
    items: &'a [T],
    id: impl Fn(&'a T) -> &'a str,
    list: impl Fn(&'a T) -> &'a [I],
) -> HashMap<&'a str, &'a [I]> {
    items.iter().map(|t| (id(t), list(t))).collect()
}

impl<'a> ByEmployee<'a> {
    fn new(c: &'a CompanyData) -> Self {
        Self {
            info: index(&c.personal_info, |e| &e.employee_id, |e| &e.info),
            contracts: index(&c.contracts, |e| &e.employee_id, |e| &e.contracts),
            employments: index(&c.employments, |e| &e.employee_id, |e| &e.employments),
            departments: index(&c.departments, |e| &e.employee_id, |e| &e.departments),
            functions: index(&c.functions, |e| &e.employee_id, |e| &e.functions),
            managers: index(&c.managers, |e| &e.employee_id, |e| &e.managers),
            cost_centers: index(
                &c.cost_centers,
                |e| &e.employee_id,
                |e| &e.employee_cost_centers,
            ),
        }
    }
}

/// The current manager entity of a person, to be linked after all persons are known.
struct ManagerRef {
    person: usize,
    manager: wire::ManagerAssignment,
    company: String,
    employee_number: Option<i64>,
}

/// Turns the records of several companies into persons. `debtor_managers` (from
/// `/api/debtors/{id}/managers`) adds manager numbers for linking.
pub fn normalize(companies: &[CompanyData], debtor_managers: &[wire::DebtorManager]) -> Normalized {
    normalize_among(companies, debtor_managers, &[])
}

/// [`normalize`] for part of the organisation (one person read on demand): managers
/// are looked for among the persons read and among `known` (the last snapshot), as a
/// full import would find them.
pub fn normalize_among(
    companies: &[CompanyData],
    debtor_managers: &[wire::DebtorManager],
    known: &[Person],
) -> Normalized {
    let mut out = Normalized::default();
    let mut manager_refs = Vec::new();
    // An id that occurs twice cannot be trusted in either place.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in companies {
        for e in &c.employees {
            *count.entry(e.employee_id.as_str()).or_default() += 1;
        }
    }
    for c in companies {
        let by = ByEmployee::new(c);
        for e in &c.employees {
            let mut b = Builder {
                company: &c.company_name,
                employee_id: &e.employee_id,
                employee_number: e
                    .employee_basic_info
                    .as_ref()
                    .and_then(|i| i.employee_number),
                problems: Vec::new(),
            };
            if e.employee_id.is_empty() {
                b.problem(
                    ProblemLevel::Skipped,
                    "employeeId",
                    "Nmbrs sent an employee without employeeId; it cannot be told apart \
                     from others and is left out (check the employee list in Nmbrs)",
                );
            } else if count.get(e.employee_id.as_str()).copied().unwrap_or(0) > 1 {
                b.problem(
                    ProblemLevel::Skipped,
                    "employeeId",
                    "this employee id occurs more than once in the Nmbrs answers; \
                     correct the duplicate in Nmbrs",
                );
            }
            let built = person(c, e, &by, &mut b);
            // Text from Nmbrs meets the same rule as a persons file: no control or
            // bidirectional characters; such an employee keeps the previous record.
            if let Some((p, _)) = &built {
                let json = crate::source::persons::person_to_json(p);
                for (path, ch) in crate::model::text::forbidden_in_json(&json) {
                    b.problem(ProblemLevel::Skipped, path, crate::model::text::refusal(ch));
                }
            }
            let skipped = b.skipped();
            out.problems.append(&mut b.problems);
            if let (Some((p, manager)), false) = (built, skipped) {
                if let Some(m) = manager {
                    manager_refs.push(ManagerRef {
                        person: out.persons.len(),
                        manager: m.clone(),
                        company: c.company_name.clone(),
                        employee_number: p.employee_number,
                    });
                }
                out.persons.push(p);
            }
        }
    }
    link_managers(&mut out, &manager_refs, debtor_managers, known);
    out
}

/// Builds one person; also returns their current manager entity.
fn person<'a>(
    c: &'a CompanyData,
    e: &'a wire::Employee,
    by: &ByEmployee<'a>,
    b: &mut Builder,
) -> Option<(Person, Option<&'a wire::ManagerAssignment>)> {
    let id = e.employee_id.as_str();
    let history = by.info.get(id).copied().unwrap_or(&[]);
    let info = current(history, c.period, |i| (i.period, i.created_at.as_deref()));
    let basic = info
        .and_then(|i| i.basic_info.as_ref())
        .or(e.employee_basic_info.as_ref());
    let Some(basic) = basic else {
        b.problem(
            ProblemLevel::Skipped,
            "basicInfo",
            "Nmbrs sent no basic info for this employee; check the employee in Nmbrs",
        );
        return None;
    };
    if b.employee_number.is_none() {
        b.employee_number = basic.employee_number;
    }
    let Some(last_name) = non_empty(&basic.last_name) else {
        b.problem(
            ProblemLevel::Skipped,
            "basicInfo.lastName",
            "no last name; fill in the last name in Nmbrs",
        );
        return None;
    };
    let birth = info.and_then(|i| i.birth_info.clone()).unwrap_or_default();
    let contact = info
        .and_then(|i| i.contact_info.clone())
        .unwrap_or_default();
    let partner = info
        .and_then(|i| i.partner_info.clone())
        .unwrap_or_default();
    let name_convention = match &partner.ascription {
        None => None,
        Some(a) => {
            let convention = name_convention(a);
            if convention.is_none() && (a.code.is_some() || a.ascription.is_some()) {
                b.problem(
                    ProblemLevel::Warning,
                    "partnerInfo.ascription",
                    format!(
                        "unknown naming convention (code {:?}, {:?}); the own name is used",
                        a.code, a.ascription
                    ),
                );
            }
            convention
        }
    };
    let birth_date = b.date("birthInfo.birthDate".into(), &birth.birth_date);

    let department = current(
        by.departments.get(id).copied().unwrap_or(&[]),
        c.period,
        |d| (d.period, d.created_at.as_deref()),
    );
    let function = current(
        by.functions.get(id).copied().unwrap_or(&[]),
        c.period,
        |d| (d.period, d.created_at.as_deref()),
    );
    let manager = current(by.managers.get(id).copied().unwrap_or(&[]), c.period, |m| {
        (m.period, m.created_at.as_deref())
    });
    let cost_center =
        current_cost_center(by.cost_centers.get(id).copied().unwrap_or(&[]), c.period);

    let employments: Vec<(NaiveDate, Option<NaiveDate>, &str)> = by
        .employments
        .get(id)
        .copied()
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .filter_map(|(k, m)| {
            let start = b.date(format!("employments[{k}].startDate"), &m.start_date);
            let end = b.date(format!("employments[{k}].endDate"), &m.end_date);
            start.map(|s| (s, end, m.employment_id.as_str()))
        })
        .collect();
    let covering = |day: NaiveDate| {
        employments
            .iter()
            .find(|(s, e, _)| *s <= day && e.is_none_or(|e| day <= e))
    };
    let mut contracts = Vec::new();
    let nmbrs_contracts = by.contracts.get(id).copied().unwrap_or(&[]);
    for (k, nc) in nmbrs_contracts.iter().enumerate() {
        let start = b.date(format!("contracts[{k}].startDate"), &nc.start_date);
        let mut end = b.date(format!("contracts[{k}].endDate"), &nc.end_date);
        // Out of service ends the contract, whatever the contract says.
        if let Some(emp_end) = start.and_then(covering).and_then(|(_, e, _)| *e) {
            if end.is_none_or(|end| emp_end < end) {
                end = Some(emp_end);
            }
        }
        // The OpenAPI file does not promise a contractId; one is made up in the
        // employee's own namespace so the contract can still be bound to.
        let id = if nc.contract_id.is_empty() {
            format!("{}-contract-{}", e.employee_id, k + 1)
        } else {
            nc.contract_id.clone()
        };
        contracts.push(Contract {
            id,
            start,
            end,
            hours_per_week: nc.hours_per_week,
            ..Contract::default()
        });
    }
    if nmbrs_contracts.is_empty() {
        // Some companies register employments only: each one is then a contract.
        for (start, end, employment_id) in &employments {
            contracts.push(Contract {
                id: (*employment_id).to_string(),
                start: Some(*start),
                end: *end,
                ..Contract::default()
            });
        }
    }
    for contract in &mut contracts {
        contract.department = department.and_then(|d| non_empty(&d.description));
        contract.department_code = department.and_then(|d| d.code).map(|c| c.to_string());
        contract.function = function.and_then(|f| non_empty(&f.description));
        contract.function_code = function.and_then(|f| f.code).map(|c| c.to_string());
        contract.cost_center = cost_center.and_then(|cc| non_empty(&cc.description));
        contract.cost_center_code = cost_center.and_then(|cc| non_empty(&cc.code));
    }
    contracts.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));

    let mut extra = BTreeMap::new();
    extra.insert("nmbrs_company_id".to_string(), c.company_id.clone());
    let mut p = Person {
        id: Arc::from(id),
        employee_number: basic.employee_number,
        company: Some(c.company_name.clone()),
        employee_type: non_empty(&basic.employee_type),
        first_name: non_empty(&basic.first_name),
        first_name_full: non_empty(&basic.first_name_in_full),
        initials: non_empty(&basic.initials),
        prefix: non_empty(&basic.prefix),
        last_name,
        partner_prefix: non_empty(&partner.partner_prefix),
        partner_last_name: non_empty(&partner.partner_name),
        name_convention,
        gender: non_empty(&birth.gender),
        birth_date,
        business_email: non_empty(&contact.business_email),
        private_email: non_empty(&contact.private_email),
        business_phone: non_empty(&contact.business_phone),
        business_mobile: non_empty(&contact.business_mobile_phone),
        manager_id: None,
        extra,
        contracts,
        ..Person::default()
    };
    p.compute_names();
    Some((p, manager))
}

/// The current cost center: among the entries of the current period, the default one,
/// else the one with the largest share.
fn current_cost_center(
    items: &[wire::CostCenterAssignment],
    now: Option<Period>,
) -> Option<&wire::CodeName> {
    let latest = current(items, now, |c| (c.period, c.created_at.as_deref()))?;
    items
        .iter()
        .filter(|c| c.period == latest.period)
        .max_by(|a, b| {
            (a.default.unwrap_or(false), a.percentage.unwrap_or(0.0))
                .partial_cmp(&(b.default.unwrap_or(false), b.percentage.unwrap_or(0.0)))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .and_then(|c| c.cost_centers.as_ref())
}

/// Text as names and addresses are compared: whitespace collapsed, without case.
pub(super) fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Links each manager entity to an employee: by e-mail, then by employee number (the
/// manager's number from the debtor's manager list), then by name. A link that finds
/// several employees, or none, is reported and left empty: never guessed. `known`
/// persons are candidates too, unless read again in `out`.
fn link_managers(
    out: &mut Normalized,
    refs: &[ManagerRef],
    debtor_managers: &[wire::DebtorManager],
    known: &[Person],
) {
    let read: HashSet<&str> = out.persons.iter().map(|p| &*p.id).collect();
    let candidates: Vec<&Person> = out
        .persons
        .iter()
        .chain(known.iter().filter(|p| !read.contains(&*p.id)))
        .collect();
    let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_number: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (k, p) in candidates.iter().enumerate() {
        if let Some(e) = &p.business_email {
            by_email.entry(fold(e)).or_default().push(k);
        }
        if let Some(n) = p.employee_number {
            by_number.entry(n).or_default().push(k);
        }
        if let Some(first) = &p.first_name {
            let own = match &p.prefix {
                Some(prefix) => format!("{first} {prefix} {}", p.last_name),
                None => format!("{first} {}", p.last_name),
            };
            by_name.entry(fold(&own)).or_default().push(k);
            if p.prefix.is_some() {
                let bare = fold(&format!("{first} {}", p.last_name));
                by_name.entry(bare).or_default().push(k);
            }
        }
    }
    for list in by_name.values_mut() {
        list.dedup();
    }
    let numbers: HashMap<&str, i64> = debtor_managers
        .iter()
        .filter_map(|m| m.number.map(|n| (m.manager_id.as_str(), n)))
        .collect();
    let mut linked: HashMap<&str, Result<usize, String>> = HashMap::new();
    let mut links: Vec<(&ManagerRef, Result<Arc<str>, String>)> = Vec::with_capacity(refs.len());
    for r in refs {
        let m = &r.manager;
        let result = linked
            .entry(m.manager_id.as_str())
            .or_insert_with(|| {
                let mut tried = Vec::new();
                let email = m.email.as_deref().map(fold).filter(|e| !e.is_empty());
                if let Some(email) = &email {
                    match by_email.get(email).map(Vec::as_slice) {
                        Some([one]) => return Ok(*one),
                        Some(many) if many.len() > 1 => {
                            return Err(format!(
                                "manager {} ({email}) matches {} employees by e-mail; \
                                 make the business e-mail addresses unique in Nmbrs",
                                m.manager_id,
                                many.len()
                            ))
                        }
                        _ => tried.push(format!("e-mail {email}")),
                    }
                }
                if let Some(number) = numbers.get(m.manager_id.as_str()) {
                    match by_number.get(number).map(Vec::as_slice) {
                        Some([one]) => return Ok(*one),
                        Some(many) if many.len() > 1 => {
                            return Err(format!(
                                "manager {} (number {number}) matches {} employees by \
                                 employee number; give the manager an e-mail address in Nmbrs",
                                m.manager_id,
                                many.len()
                            ))
                        }
                        _ => tried.push(format!("number {number}")),
                    }
                }
                let name = fold(&format!(
                    "{} {}",
                    m.first_name.as_deref().unwrap_or(""),
                    m.last_name.as_deref().unwrap_or("")
                ));
                if !name.is_empty() {
                    match by_name.get(&name).map(Vec::as_slice) {
                        Some([one]) => return Ok(*one),
                        Some(many) if many.len() > 1 => {
                            return Err(format!(
                                "manager {} ({name}) matches {} employees by name; give \
                                 the manager an e-mail address in Nmbrs",
                                m.manager_id,
                                many.len()
                            ))
                        }
                        _ => tried.push(format!("name {name:?}")),
                    }
                }
                Err(format!(
                    "manager {} matches no employee (tried {}); the manager is left empty",
                    m.manager_id,
                    if tried.is_empty() {
                        "nothing: no e-mail, number or name".to_string()
                    } else {
                        tried.join(", ")
                    }
                ))
            })
            .clone()
            .map(|k| candidates[k].id.clone());
        links.push((r, result));
    }
    drop(candidates);
    for (r, result) in links {
        match result {
            Ok(id) if *id == *out.persons[r.person].id => out.problems.push(RecordProblem {
                severity: ProblemLevel::Warning,
                company: r.company.clone(),
                employee_id: out.persons[r.person].id.to_string(),
                employee_number: r.employee_number,
                field: "managers".into(),
                message: "the employee is their own manager in Nmbrs; the manager is left empty"
                    .into(),
            }),
            Ok(id) => {
                let manager_id = id.to_string();
                let p = &mut out.persons[r.person];
                for c in &mut p.contracts {
                    c.manager_id = Some(manager_id.clone());
                }
                p.manager_id = Some(manager_id);
            }
            Err(message) => out.problems.push(RecordProblem {
                severity: ProblemLevel::Warning,
                company: r.company.clone(),
                employee_id: out.persons[r.person].id.to_string(),
                employee_number: r.employee_number,
                field: "managers".into(),
                message,
            }),
        }
    }
}
