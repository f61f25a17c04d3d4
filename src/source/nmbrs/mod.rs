//! The Visma Nmbrs REST connector: sign-in, bulk reads per company, normalization into
//! person records.
//!
//! An import reads, per company, eight list endpoints (employees, personal info,
//! contracts, employments, departments, functions, managers, cost centers) page by
//! page: the number of calls grows with pages, never with employees. It either returns
//! every record or fails: there is no partial import.

pub mod auth;
pub mod client;
pub mod login;
pub mod normalize;
pub mod wire;

use client::Client;
use futures_util::future::try_join_all;
use normalize::{CompanyData, Normalized};
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Everything that can go wrong talking to Nmbrs. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum NmbrsError {
    /// No token store yet.
    #[error("not signed in to Nmbrs: no token store at {store}\n  help: run `stroom nmbrs login` once to consent in a browser")]
    NotSignedIn {
        /// Token store path.
        store: String,
    },
    /// The token store cannot be read or written.
    #[error("token store {path}: {message}")]
    TokenStore {
        /// Token store path.
        path: String,
        /// What failed.
        message: String,
    },
    /// The identity service refused a code or refresh token.
    #[error("the Nmbrs identity service refused the sign-in (HTTP {status}, {error}{}{description})\n  help: {}", if description.is_empty() { "" } else { ": " }, token_refused_help(error))]
    TokenRefused {
        /// HTTP status.
        status: u16,
        /// OAuth error code, e.g. `invalid_grant`.
        error: String,
        /// OAuth error description.
        description: String,
    },
    /// Nmbrs answered with an error.
    #[error("{}", api_message(endpoint, *status, body))]
    Api {
        /// Path without query.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The Nmbrs error body (empty when there was none).
        body: Box<wire::ErrorBody>,
    },
    /// The connection failed.
    #[error("{endpoint}: {message}")]
    Transport {
        /// Path without query.
        endpoint: String,
        /// What failed.
        message: String,
    },
    /// Retries did not help.
    #[error("gave up on {endpoint} after {attempts} attempts; last: {last}")]
    GaveUp {
        /// Path without query.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<NmbrsError>,
    },
    /// The answer does not have the documented shape.
    #[error("unexpected answer from {endpoint}: {message}")]
    BadAnswer {
        /// Path without query.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
    /// Bad settings.
    #[error("configuration: {0}")]
    Config(String),
}

fn api_message(endpoint: &str, status: u16, body: &wire::ErrorBody) -> String {
    let mut s = format!("Nmbrs answered HTTP {status} on {endpoint}");
    if let Some(code) = body.code {
        s.push_str(&format!(" (code {code})"));
    }
    if let Some(title) = &body.title {
        s.push_str(&format!(": {title}"));
    }
    if let Some(detail) = &body.detail {
        s.push_str(&format!(": {detail}"));
    }
    for p in &body.invalid_params {
        s.push_str(&format!(
            "\n  parameter {}: {}",
            p.name.as_deref().unwrap_or("?"),
            p.reason.as_deref().unwrap_or("?")
        ));
    }
    if let Some(m) = &body.message {
        s.push_str(&format!(": {m}"));
    }
    let help = match (status, body.code) {
        (401, _) if refuses_subscription_key(body) => {
            "the subscription key was refused: check STROOM_NMBRS_SUBSCRIPTION_KEY or \
             nmbrs.subscription_key_file against the key in the Nmbrs developer portal"
        }
        (401, _) => "the token was refused; run `stroom nmbrs login` to sign in again",
        (403, _) => "the signed-in user or the app lacks a scope or access to this company; check the consented scopes (see the book, Connecting to Nmbrs)",
        (404, Some(40404)) => "the company id is not known to Nmbrs; check `companies` in stroom.toml",
        (429, _) => "Nmbrs throttled the calls; lower `concurrency` in stroom.toml or run less often",
        (500..=599, _) => "Nmbrs had a server error; the import was not stored, try again later",
        _ => "",
    };
    if !help.is_empty() {
        s.push_str("\n  help: ");
        s.push_str(help);
    }
    s
}

/// The fix for an OAuth error code of the identity service (RFC 6749 section 5.2).
fn token_refused_help(error: &str) -> &'static str {
    match error {
        "invalid_client" => {
            "the identity service does not accept the app's client id or secret: \
             check nmbrs.client_id and the secret (STROOM_NMBRS_CLIENT_SECRET or \
             nmbrs.client_secret_file) against the app in the Nmbrs developer portal"
        }
        "invalid_scope" => {
            "a scope in nmbrs.scopes is not granted to the app: compare them with \
             the app's scopes in the developer portal"
        }
        "unauthorized_client" => {
            "the app may not use the authorization-code flow: enable it for \
             the app in the developer portal"
        }
        "invalid_grant" => {
            "a refresh token lasts about 30 days and works once (another run may \
             have used it); run `stroom nmbrs login` to sign in again"
        }
        _ => {
            "run `stroom nmbrs login` to sign in again; if that fails too, check the app's \
             settings in the developer portal"
        }
    }
}

/// True when a 401 is about the subscription key (the API gateway's answer), not the
/// token: signing in again would not help, and must not spend a token rotation.
pub fn refuses_subscription_key(body: &wire::ErrorBody) -> bool {
    [&body.title, &body.detail, &body.message]
        .into_iter()
        .flatten()
        .any(|t| t.to_ascii_lowercase().contains("subscription key"))
}

/// Which companies to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Debtor ids; empty: every debtor the token can see.
    pub debtors: Vec<String>,
    /// Company ids; empty: every company of the selected debtors.
    pub companies: Vec<String>,
}

/// Figures of one import.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportStats {
    /// Companies read.
    pub companies: usize,
    /// Employees listed by Nmbrs.
    pub employees: usize,
    /// Persons produced.
    pub persons: usize,
    /// Employees skipped for bad data.
    pub skipped: usize,
    /// Warnings.
    pub warnings: usize,
    /// HTTP calls (retries included).
    pub calls: u64,
    /// Pages read.
    pub pages: u64,
    /// Retried calls.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A complete import.
#[derive(Debug, Clone)]
pub struct Import {
    /// Persons and problems.
    pub normalized: Normalized,
    /// Figures.
    pub stats: ImportStats,
}

/// The company's current payroll period (`None` when Nmbrs does not say).
pub async fn current_period(
    client: &Client,
    company: &str,
) -> Result<Option<wire::Period>, NmbrsError> {
    let periods: wire::Page<wire::CurrentPeriod> = client
        .get(&format!("/api/companies/{company}/period"))
        .await?;
    Ok(periods.data.into_iter().next().map(|p| p.period))
}

/// The eight bulk lists Stroom reads of a company, in [`CompanyData`]'s order
/// (employees, personal info, contracts, employments, departments, functions, managers,
/// cost centres); with `only`, filtered to that employee (`employeeId`).
pub fn employee_lists(company: &str, only: Option<&str>) -> [String; 8] {
    let base = format!("/api/companies/{company}/employees");
    let filter = only
        .map(|e| format!("?employeeId={}", crate::http::encode(e)))
        .unwrap_or_default();
    [
        "",
        "/personalinfo",
        "/contracts",
        "/employments",
        "/departments",
        "/functions",
        "/managers",
        "/costcenters",
    ]
    .map(|what| format!("{base}{what}{filter}"))
}

/// Everything Stroom reads of one company; with `only`, of that one employee (the
/// `employeeId` filter of the bulk endpoints).
async fn company(
    client: &Client,
    id: &str,
    name: &str,
    only: Option<&str>,
) -> Result<CompanyData, NmbrsError> {
    let [e, pi, co, em, de, fu, ma, cc] = employee_lists(id, only);
    let period = current_period(client, id);
    let (
        period,
        employees,
        personal_info,
        contracts,
        employments,
        departments,
        functions,
        managers,
        cost_centers,
    ) = tokio::try_join!(
        period,
        client.get_all(e),
        client.get_all(pi),
        client.get_all(co),
        client.get_all(em),
        client.get_all(de),
        client.get_all(fu),
        client.get_all(ma),
        client.get_all(cc),
    )?;
    Ok(CompanyData {
        company_id: id.to_string(),
        company_name: name.to_string(),
        period,
        employees,
        personal_info,
        contracts,
        employments,
        departments,
        functions,
        managers,
        cost_centers,
    })
}

/// The companies `selection` names (debtor id, company), checked against what the
/// sign-in can see, and the managers of their debtors.
async fn selected_companies(
    client: &Client,
    selection: &Selection,
) -> Result<(Vec<(String, wire::Company)>, Vec<wire::DebtorManager>), NmbrsError> {
    let debtors: Vec<wire::Debtor> = client.get_all("/api/debtors".to_string()).await?;
    for wanted in &selection.debtors {
        if !debtors
            .iter()
            .any(|d| d.debtor_id.eq_ignore_ascii_case(wanted))
        {
            return Err(NmbrsError::Config(format!(
                "debtor {wanted} is not among the {} debtors this sign-in can see; check `debtors` in stroom.toml",
                debtors.len()
            )));
        }
    }
    let debtors: Vec<&wire::Debtor> = debtors
        .iter()
        .filter(|d| {
            selection.debtors.is_empty()
                || selection
                    .debtors
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(&d.debtor_id))
        })
        .collect();
    let company_lists = try_join_all(debtors.iter().map(|d| {
        client.get_all::<wire::Company>(format!("/api/debtors/{}/companies", d.debtor_id))
    }))
    .await?;
    let mut companies: Vec<(String, wire::Company)> = Vec::new();
    for (d, list) in debtors.iter().zip(company_lists) {
        for c in list {
            if selection.companies.is_empty()
                || selection
                    .companies
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(&c.company_id))
            {
                companies.push((d.debtor_id.clone(), c));
            }
        }
    }
    for wanted in &selection.companies {
        if !companies
            .iter()
            .any(|(_, c)| c.company_id.eq_ignore_ascii_case(wanted))
        {
            return Err(NmbrsError::Config(format!(
                "company {wanted} is not in the selected debtors; check `companies` in stroom.toml"
            )));
        }
    }
    let used_debtors: Vec<&str> = debtors
        .iter()
        .map(|d| d.debtor_id.as_str())
        .filter(|d| companies.iter().any(|(cd, _)| cd == d))
        .collect();
    let managers = try_join_all(used_debtors.iter().map(|d| async move {
        match client
            .get_all::<wire::DebtorManager>(format!("/api/debtors/{d}/managers"))
            .await
        {
            Ok(list) => Ok(list),
            // Manager numbers only help linking; without the scope, link by e-mail and name.
            Err(NmbrsError::Api { status: 403, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }))
    .await?
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    Ok((companies, managers))
}

/// Reads the selected companies and normalizes their people. All or nothing: any
/// call that still fails after its retries fails the import.
pub async fn import(client: &Client, selection: &Selection) -> Result<Import, NmbrsError> {
    let started = Instant::now();
    let (companies, managers) = selected_companies(client, selection).await?;
    let data = try_join_all(companies.iter().map(|(_, c)| {
        company(
            client,
            &c.company_id,
            c.name.as_deref().unwrap_or(&c.company_id),
            None,
        )
    }))
    .await?;
    let employees = data.iter().map(|c| c.employees.len()).sum();
    let normalized = normalize::normalize(&data, &managers);
    drop(data);
    let stats = ImportStats::of(client, started, companies.len(), employees, &normalized);
    Ok(Import { normalized, stats })
}

impl ImportStats {
    /// The figures of an import that read `companies` and `employees` and made
    /// `normalized`, from the client's counters.
    fn of(
        client: &Client,
        started: Instant,
        companies: usize,
        employees: usize,
        normalized: &Normalized,
    ) -> Self {
        ImportStats {
            companies,
            employees,
            persons: normalized.persons.len(),
            skipped: normalized.skipped_ids().len(),
            warnings: normalized
                .problems
                .iter()
                .filter(|p| p.severity == normalize::ProblemLevel::Warning)
                .count(),
            calls: client.stats.calls.load(Ordering::Relaxed),
            pages: client.stats.pages.load(Ordering::Relaxed),
            retries: client.stats.retries.load(Ordering::Relaxed),
            throttled: client.stats.throttled.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// Whom [`import_person`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The Nmbrs employee id; `company`: the name of the company the person was last
    /// seen in, asked first.
    Id {
        /// The employee id.
        id: String,
        /// The company name to try first.
        company: Option<String>,
    },
    /// An employee number, looked up in the companies' employee lists.
    Number(i64),
    /// A name as the employee list has it ("Jan de Vries" or "Jan Vries"), without case.
    Name(String),
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wanted::Id { id, .. } => write!(f, "employee id {id}"),
            Wanted::Number(n) => write!(f, "employee number {n}"),
            Wanted::Name(n) => write!(f, "name {n:?}"),
        }
    }
}

/// What [`import_person`] found.
#[derive(Debug, Clone)]
pub enum PersonFound {
    /// The one employee, read whole from one company. `normalized` holds the person,
    /// or no person and the problems that made Stroom skip them.
    One {
        /// The person (or the reason it was skipped).
        normalized: Normalized,
        /// The company's name.
        company: String,
        /// Figures of the reading.
        stats: ImportStats,
    },
    /// No selected company has this employee.
    Nobody {
        /// Companies searched.
        companies: usize,
    },
    /// Several employees fit a number or name: (id, name, company) each.
    Several(Vec<(String, String, String)>),
}

/// A name from an employee list's basic info, folded for comparison: with and without
/// the prefix.
fn basic_names(info: &wire::BasicInfo) -> [String; 2] {
    let first = info.first_name.as_deref().unwrap_or("");
    let last = info.last_name.as_deref().unwrap_or("");
    let prefix = info.prefix.as_deref().unwrap_or("");
    [
        normalize::fold(&format!("{first} {prefix} {last}")),
        normalize::fold(&format!("{first} {last}")),
    ]
}

/// Reads one employee now, through the `employeeId` filter of the bulk endpoints (a
/// handful of calls, however large the organisation): the helpdesk's "she starts
/// today". Managers are linked among the persons read and `known` (the last
/// snapshot). Records for other employees, should Nmbrs ignore the filter, are
/// dropped, never taken for this person.
pub async fn import_person(
    client: &Client,
    selection: &Selection,
    wanted: &Wanted,
    known: &[crate::model::Person],
) -> Result<PersonFound, NmbrsError> {
    let started = Instant::now();
    let (companies, managers) = selected_companies(client, selection).await?;
    let name_of = |c: &wire::Company| c.name.clone().unwrap_or_else(|| c.company_id.clone());
    // (employee id, company index) of every employee that fits.
    let mut fits: Vec<(String, usize, String)> = Vec::new();
    match wanted {
        Wanted::Id { id, company } => {
            // The company it was last seen in first; the others only when it moved.
            let mut order: Vec<usize> = (0..companies.len()).collect();
            if let Some(hint) = company {
                order.sort_by_key(|k| name_of(&companies[*k].1) != *hint);
            }
            for k in order {
                let path = format!(
                    "/api/companies/{}/employees?employeeId={}",
                    companies[k].1.company_id,
                    crate::http::encode(id)
                );
                let listed: Vec<wire::Employee> = client.get_all(path).await?;
                if let Some(e) = listed.iter().find(|e| e.employee_id == *id) {
                    let name = e.employee_basic_info.as_ref().map(basic_names);
                    fits.push((id.clone(), k, name.map(|[n, _]| n).unwrap_or_default()));
                    break;
                }
            }
        }
        Wanted::Number(_) | Wanted::Name(_) => {
            let folded = match wanted {
                Wanted::Name(n) => normalize::fold(n),
                _ => String::new(),
            };
            let lists = try_join_all(companies.iter().map(|(_, c)| {
                client
                    .get_all::<wire::Employee>(format!("/api/companies/{}/employees", c.company_id))
            }))
            .await?;
            for (k, list) in lists.iter().enumerate() {
                for e in list {
                    let Some(info) = &e.employee_basic_info else {
                        continue;
                    };
                    let names = basic_names(info);
                    let fit = match wanted {
                        Wanted::Number(n) => info.employee_number == Some(*n),
                        Wanted::Name(_) => names.contains(&folded),
                        Wanted::Id { .. } => false,
                    };
                    if fit && !e.employee_id.is_empty() {
                        let [name, _] = names;
                        fits.push((e.employee_id.clone(), k, name));
                    }
                }
            }
        }
    }
    let (id, k) = match fits.as_slice() {
        [] => {
            return Ok(PersonFound::Nobody {
                companies: companies.len(),
            })
        }
        [(id, k, _)] => (id.clone(), *k),
        several => {
            return Ok(PersonFound::Several(
                several
                    .iter()
                    .map(|(id, k, name)| (id.clone(), name.clone(), name_of(&companies[*k].1)))
                    .collect(),
            ))
        }
    };
    let c = &companies[k].1;
    let name = name_of(c);
    let mut data = company(client, &c.company_id, &name, Some(&id)).await?;
    keep_only(&mut data, &id);
    let employees = data.employees.len();
    let normalized = normalize::normalize_among(std::slice::from_ref(&data), &managers, known);
    let stats = ImportStats::of(client, started, 1, employees, &normalized);
    Ok(PersonFound::One {
        normalized,
        company: name,
        stats,
    })
}

/// Drops every record that is not `id`'s: an API that ignored the `employeeId`
/// filter must not lend this person another's data.
fn keep_only(data: &mut CompanyData, id: &str) {
    data.employees.retain(|e| e.employee_id == id);
    data.personal_info.retain(|e| e.employee_id == id);
    data.contracts.retain(|e| e.employee_id == id);
    data.employments.retain(|e| e.employee_id == id);
    data.departments.retain(|e| e.employee_id == id);
    data.functions.retain(|e| e.employee_id == id);
    data.managers.retain(|e| e.employee_id == id);
    data.cost_centers.retain(|e| e.employee_id == id);
}

/// Default time limit of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
