//! A simulator of the Nmbrs REST API and its identity service, shaped like the
//! official OpenAPI file: `{pagination, data}` envelopes with `nextPage` links,
//! `pageSize` at most 100, the Nmbrs error body, `X-Subscription-Key` and Bearer
//! checks, and an OAuth token endpoint whose refresh tokens rotate (a used one is
//! dead). Its people come from [`crate::generate::persons`], so tests can compare what
//! Stroom imports with what the simulator holds.
//!
//! Control endpoints under `/_sim/` switch faults on, change people and read counters.

use crate::model::{NameConvention, Person};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Faults to inject. Counters are over API calls (not OAuth or `/_sim/` calls), so a
/// test knows exactly which call fails.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next N API calls answer 429 (code 42908), without Retry-After.
    pub throttle_burst: u32,
    /// Every Nth API call answers 429.
    pub throttle_every: u32,
    /// Seconds to send in Retry-After with a 429 (none when absent, as Nmbrs).
    pub retry_after_seconds: Option<u64>,
    /// Every Nth API call answers 500, 502 or 503 (in turn).
    pub server_error_every: u32,
    /// Every Nth API call breaks the connection halfway through the answer.
    pub drop_every: u32,
    /// Delay of every API answer, in milliseconds.
    pub slow_ms: u64,
    /// This page always fails with 500: `(path ending, page number)`, e.g.
    /// `("/employees/contracts", 3)`.
    pub fail_page: Option<(String, u32)>,
    /// Every list answer's `nextPage` points one page further, for ever (the envelope's
    /// `totalPages` and `totalRecords` stay true).
    pub endless_paging: bool,
    /// Lists that the OpenAPI file marks `nullable: true` come as `null` when empty, and
    /// every other empty list inside a record is left out.
    pub null_lists: bool,
    /// The `employeeId` filter is ignored: every employee comes back (a gateway or
    /// API version that does not know it).
    pub ignore_employee_filter: bool,
}

/// Who may sign in.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// API subscription key.
    pub subscription_key: String,
    /// Lifetime of access tokens.
    pub access_token_seconds: i64,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            client_id: "stroom-test".into(),
            client_secret: "sim-client-secret".into(),
            subscription_key: "sim-subscription-key".into(),
            access_token_seconds: 3600,
        }
    }
}

/// One employee as Nmbrs keeps it: histories by period.
#[derive(Debug, Clone)]
struct Employee {
    person: Person,
    company: usize,
    ascription: (i64, &'static str),
    /// (code, description, period, createdAt)
    departments: Vec<(i64, String, (i32, i32), String)>,
    functions: Vec<(i64, String, (i32, i32), String)>,
    /// (managerId, period)
    managers: Vec<(String, (i32, i32))>,
    /// (code, description, period)
    cost_centers: Vec<(String, String, (i32, i32))>,
    /// Overrides for fault tests: a raw birth date text.
    raw_birth_date: Option<String>,
    /// Employments: (id, start, end)
    employments: Vec<(String, NaiveDate, Option<NaiveDate>)>,
}

#[derive(Debug, Clone)]
struct Manager {
    id: String,
    number: Option<i64>,
    first_name: String,
    last_name: String,
    email: Option<String>,
}

/// The simulated tenant.
struct Data {
    debtor_id: String,
    companies: Vec<(String, String)>,
    employees: Vec<Employee>,
    managers: Vec<Manager>,
    period: (i32, i32),
    /// Monotonic counter for createdAt of changes.
    changes: u32,
    /// Per company, the indexes of its employees (rebuilt when employees are removed).
    staff: Vec<Vec<usize>>,
    /// Manager index by id.
    manager_index: HashMap<String, usize>,
    /// Employees removed, for [`Sim::restore`].
    removed: Vec<Employee>,
}

impl Data {
    /// The employee with this id.
    fn employee_mut(&mut self, employee_id: &str) -> Option<&mut Employee> {
        self.employees
            .iter_mut()
            .find(|e| e.person.id.as_ref() == employee_id)
    }

    fn reindex(&mut self) {
        self.staff = vec![Vec::new(); self.companies.len()];
        for (k, e) in self.employees.iter().enumerate() {
            if let Some(list) = self.staff.get_mut(e.company) {
                list.push(k);
            }
        }
        self.manager_index = self
            .managers
            .iter()
            .enumerate()
            .map(|(k, m)| (m.id.clone(), k))
            .collect();
    }

    fn staff(&self, company: usize) -> Vec<&Employee> {
        self.staff
            .get(company)
            .map(|list| list.iter().filter_map(|k| self.employees.get(*k)).collect())
            .unwrap_or_default()
    }

    fn manager(&self, id: &str) -> Option<&Manager> {
        self.manager_index
            .get(id)
            .and_then(|k| self.managers.get(*k))
    }
}

#[derive(Default)]
struct Auth {
    codes: HashMap<String, String>,
    access: HashMap<String, chrono::DateTime<chrono::Utc>>,
    refresh: HashSet<String>,
    issued: u64,
    refreshed: u64,
}

/// The simulator's shared state.
pub struct Sim {
    data: Mutex<Data>,
    auth: Mutex<Auth>,
    faults: Mutex<Faults>,
    credentials: Credentials,
    calls: AtomicU64,
    by_path: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn period_of(d: NaiveDate) -> (i32, i32) {
    (d.year(), d.month() as i32)
}

fn token(prefix: &str) -> String {
    format!(
        "{prefix}-{:016x}{:016x}",
        crate::random::random_u64(),
        crate::random::random_u64()
    )
}

fn mail_domain(company: &str) -> String {
    let word: String = company
        .split_whitespace()
        .take(2)
        .collect::<String>()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    format!("{word}.example")
}

impl Sim {
    /// A tenant of `n` generated employees (deterministic for `seed`) in the three
    /// companies of one debtor, with the current payroll period of `today`.
    pub fn generate(n: usize, seed: u64, today: NaiveDate, credentials: Credentials) -> Self {
        let records = crate::generate::persons(n, seed);
        let text = serde_json::to_string(&records).unwrap_or_default();
        let persons = crate::source::persons::parse_persons("generated", &text).unwrap_or_default();
        let mut companies: Vec<(String, String)> = Vec::new();
        let mut company_of: HashMap<String, usize> = HashMap::new();
        let mut managed: HashSet<String> = HashSet::new();
        for p in &persons {
            if let Some(m) = &p.manager_id {
                managed.insert(m.clone());
            }
        }
        let mut employees = Vec::with_capacity(persons.len());
        let mut managers = Vec::new();
        let mut manager_of_person: HashMap<String, String> = HashMap::new();
        let period = period_of(today);
        for (k, mut p) in persons.into_iter().enumerate() {
            let company_name = p.company.clone().unwrap_or_else(|| "Company".into());
            let company = *company_of.entry(company_name.clone()).or_insert_with(|| {
                companies.push((
                    format!("c0a80000-0000-4000-8000-{:012x}", companies.len() + 1),
                    company_name.clone(),
                ));
                companies.len() - 1
            });
            // Managers get a business address, as in most tenants; some are linked by
            // number or name only, to exercise every way of linking.
            if managed.contains(p.id.as_ref()) {
                let mode = k % 10;
                if mode != 7 && mode != 8 {
                    let first = crate::model::text::ascii(
                        &p.first_name.clone().unwrap_or_default().to_lowercase(),
                    );
                    let last =
                        crate::model::text::ascii(&p.last_name.to_lowercase()).replace(' ', "");
                    p.business_email =
                        Some(format!("{first}.{last}{k}@{}", mail_domain(&company_name)));
                }
                let manager_id = format!("a1a00000-0000-4000-8000-{:012x}", managers.len() + 1);
                let full_last = match &p.prefix {
                    Some(prefix) => format!("{prefix} {}", p.last_name),
                    None => p.last_name.clone(),
                };
                managers.push(Manager {
                    id: manager_id.clone(),
                    number: (mode != 8).then_some(p.employee_number).flatten(),
                    first_name: p.first_name.clone().unwrap_or_default(),
                    last_name: full_last,
                    email: p.business_email.clone(),
                });
                manager_of_person.insert(p.id.to_string(), manager_id);
            }
            p.compute_names();
            let ascription = match p.name_convention.unwrap_or_default() {
                NameConvention::Own => (0, "B"),
                NameConvention::Partner => (1, "P"),
                NameConvention::PartnerOwn => (2, "PB"),
                NameConvention::OwnPartner => (3, "BP"),
            };
            let current = p.contracts.last().cloned().unwrap_or_default();
            let start_period = current.start.map(period_of).unwrap_or(period);
            let mut departments = Vec::new();
            let mut functions = Vec::new();
            // A history: an older department a year before, then the current one.
            if let (Some(d), true) = (&current.department, k % 3 == 0 && start_period <= period) {
                departments.push((
                    99,
                    format!("{d} (oud)"),
                    (start_period.0 - 1, start_period.1),
                    "2020-01-01T09:00:00Z".to_string(),
                ));
            }
            if let Some(d) = &current.department {
                let code = current
                    .department_code
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                departments.push((code, d.clone(), start_period, "2021-01-01T09:00:00Z".into()));
            }
            if let Some(f) = &current.function {
                let code = current
                    .function_code
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                functions.push((code, f.clone(), start_period, "2021-01-01T09:00:00Z".into()));
            }
            let cost_centers = current
                .cost_center
                .iter()
                .map(|cc| {
                    (
                        current.cost_center_code.clone().unwrap_or_default(),
                        cc.clone(),
                        start_period,
                    )
                })
                .collect();
            let employments = p
                .contracts
                .iter()
                .filter_map(|c| c.start.map(|s| (format!("{}-e", c.id), s, c.end)))
                .collect();
            employees.push(Employee {
                person: p,
                company,
                ascription,
                departments,
                functions,
                managers: Vec::new(),
                cost_centers,
                raw_birth_date: None,
                employments,
            });
        }
        for e in &mut employees {
            let first_start = e
                .person
                .contracts
                .first()
                .and_then(|c| c.start)
                .map(period_of)
                .unwrap_or(period);
            if let Some(m) = e
                .person
                .manager_id
                .as_ref()
                .and_then(|m| manager_of_person.get(m))
            {
                e.managers.push((m.clone(), first_start));
            }
        }
        let mut data = Data {
            debtor_id: "d0d00000-0000-4000-8000-000000000001".into(),
            companies,
            employees,
            managers,
            period,
            changes: 0,
            staff: Vec::new(),
            manager_index: HashMap::new(),
            removed: Vec::new(),
        };
        data.reindex();
        Self {
            data: Mutex::new(data),
            auth: Mutex::new(Auth::default()),
            faults: Mutex::new(Faults::default()),
            credentials,
            calls: AtomicU64::new(0),
            by_path: Mutex::new(BTreeMap::new()),
        }
    }

    /// The persons as the simulator holds them now (the truth an import must find).
    pub fn persons(&self) -> Vec<Person> {
        lock(&self.data)
            .employees
            .iter()
            .map(|e| e.person.clone())
            .collect()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// API calls answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// API calls whose path ends with `ending` (e.g. `/personalInfo`).
    pub fn calls_to(&self, ending: &str) -> u64 {
        lock(&self.by_path)
            .iter()
            .filter(|(path, _)| path.ends_with(ending))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Writes a token store as `stroom nmbrs login` would after a person consented:
    /// a fresh refresh token and no access token yet. For tests and demos.
    pub fn sign_in(
        &self,
        store: &crate::source::nmbrs::auth::TokenStore,
    ) -> Result<(), crate::source::nmbrs::NmbrsError> {
        use crate::source::nmbrs::auth::{Secret, Tokens};
        store.save(&Tokens {
            access_token: Secret::new(""),
            access_expires_at: chrono::Utc::now(),
            refresh_token: Secret::new(self.grant_refresh_token()),
            scope: None,
            obtained_at: chrono::Utc::now(),
        })
    }

    /// Issues a refresh token directly (as if a person had consented), for tests and
    /// demos without a browser.
    pub fn grant_refresh_token(&self) -> String {
        let t = token("rt");
        lock(&self.auth).refresh.insert(t.clone());
        t
    }

    /// Invalidates every access token (as when Nmbrs revokes them early): the next
    /// call gets 401 and must refresh.
    pub fn revoke_access_tokens(&self) {
        lock(&self.auth).access.clear();
    }

    /// Refresh-token trades so far.
    pub fn refreshes(&self) -> u64 {
        lock(&self.auth).refreshed
    }

    /// Moves an employee to another department from the current period on.
    pub fn move_department(&self, employee_id: &str, department: &str, code: i64) -> bool {
        let mut data = lock(&self.data);
        data.changes += 1;
        let created = format!("2030-01-01T00:00:{:02}Z", data.changes % 60);
        let period = data.period;
        let Some(e) = data.employee_mut(employee_id) else {
            return false;
        };
        e.departments
            .push((code, department.to_string(), period, created));
        for c in &mut e.person.contracts {
            c.department = Some(department.to_string());
            c.department_code = Some(code.to_string());
        }
        true
    }

    /// Removes employees (as if deleted in Nmbrs); returns how many were found.
    pub fn remove(&self, employee_ids: &[&str]) -> usize {
        let mut data = lock(&self.data);
        let (gone, kept): (Vec<Employee>, Vec<Employee>) = std::mem::take(&mut data.employees)
            .into_iter()
            .partition(|e| employee_ids.contains(&e.person.id.as_ref()));
        data.employees = kept;
        let n = gone.len();
        data.removed.extend(gone);
        data.reindex();
        n
    }

    /// Enters a removed employee again, as if entered in Nmbrs after the last import
    /// (a new hire the snapshot does not know); false when none was removed.
    pub fn restore(&self, employee_id: &str) -> bool {
        let mut data = lock(&self.data);
        let Some(k) = data
            .removed
            .iter()
            .position(|e| e.person.id.as_ref() == employee_id)
        else {
            return false;
        };
        let e = data.removed.remove(k);
        data.employees.push(e);
        data.reindex();
        true
    }

    /// Breaks a record the way real data breaks: `birth_date` (unparseable text) or
    /// `last_name` (empty).
    pub fn corrupt(&self, employee_id: &str, what: &str) -> bool {
        let mut data = lock(&self.data);
        let Some(e) = data.employee_mut(employee_id) else {
            return false;
        };
        match what {
            "birth_date" => e.raw_birth_date = Some("31-02-1990".into()),
            "last_name" => e.person.last_name = String::new(),
            _ => return false,
        }
        true
    }

    /// Gives an employee another name (two employees of one name, for tests).
    pub fn rename(&self, employee_id: &str, first: &str, last: &str) -> bool {
        let mut data = lock(&self.data);
        let Some(e) = data.employee_mut(employee_id) else {
            return false;
        };
        e.person.first_name = Some(first.to_string());
        e.person.last_name = last.to_string();
        true
    }

    /// Ends an employee's employment and contracts on `day`.
    pub fn end_employment(&self, employee_id: &str, day: NaiveDate) -> bool {
        let mut data = lock(&self.data);
        let Some(e) = data.employee_mut(employee_id) else {
            return false;
        };
        for c in &mut e.person.contracts {
            if c.end.is_none_or(|end| end > day) && c.start.is_some_and(|s| s <= day) {
                c.end = Some(day);
            }
        }
        for m in &mut e.employments {
            if m.2.is_none_or(|end| end > day) && m.1 <= day {
                m.2 = Some(day);
            }
        }
        true
    }

    /// The HTTP routes.
    pub fn router(self: Arc<Self>) -> Router {
        let api = Router::new()
            .route("/api/debtors", get(debtors))
            .route("/api/debtors/:id/companies", get(debtor_companies))
            .route("/api/debtors/:id/managers", get(debtor_managers))
            .route("/api/companies/:id/period", get(company_period))
            .route("/api/companies/:id/employees", get(employees_list))
            .route("/api/companies/:id/employees/:what", get(employees_history))
            .route(
                "/api/employees/:id/personalInfo",
                axum::routing::put(put_personal_info),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate_layer,
            ));
        Router::new()
            .route("/connect/authorize", get(authorize))
            .route("/connect/token", post(token_endpoint))
            .merge(api)
            .route("/_sim/faults", post(set_faults))
            .route("/_sim/stats", get(stats))
            .route("/_sim/employees/:id/department", post(sim_move))
            .route("/_sim/employees/:id", axum::routing::delete(sim_remove))
            .with_state(self)
    }
}

type Shared = State<Arc<Sim>>;

fn error(status: StatusCode, kind: &str, code: u32, title: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({
            "type": kind,
            "httpStatus": status.as_u16(),
            "code": code,
            "title": title,
            "detail": detail,
            "invalid-params": [],
            "docUrl": "https://support.nmbrs.com/hc/en-us/articles/api-errors",
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

/// Consent is given at once: redirect back with a code.
async fn authorize(State(sim): Shared, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.response_type.as_deref() != Some("code")
        || q.client_id.as_deref() != Some(&sim.credentials.client_id)
    {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported_response_type or unknown client",
        )
            .into_response();
    }
    let Some(redirect) = q.redirect_uri else {
        return (StatusCode::BAD_REQUEST, "redirect_uri missing").into_response();
    };
    let code = token("code");
    lock(&sim.auth)
        .codes
        .insert(code.clone(), q.scope.unwrap_or_default());
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect}{sep}code={code}");
    if let Some(state) = q.state {
        location.push_str("&state=");
        location.push_str(&state);
    }
    (
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64_lite::decode;
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// A minimal base64 decoder for HTTP Basic credentials (the simulator's only use).
mod base64_lite {
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = 0u32;
        let mut bits = 0;
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => break,
                _ => return None,
            };
            buf = (buf << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        Some(out)
    }
}

async fn token_endpoint(
    State(sim): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (id, secret) = basic_credentials(&headers)
        .or_else(|| {
            Some((
                form.get("client_id")?.clone(),
                form.get("client_secret")?.clone(),
            ))
        })
        .unwrap_or_default();
    if id != sim.credentials.client_id || secret != sim.credentials.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    let mut auth = lock(&sim.auth);
    let scope = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(scope) = form.get("code").and_then(|c| auth.codes.remove(c)) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                );
            };
            scope
        }
        Some("refresh_token") => {
            let Some(rt) = form.get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token missing",
                );
            };
            // Rotation: a refresh token works once.
            if !auth.refresh.remove(rt) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "invalid refresh token",
                );
            }
            auth.refreshed += 1;
            "offline_access".to_string()
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            )
        }
    };
    let access = token("at");
    auth.access.insert(
        access.clone(),
        chrono::Utc::now() + chrono::Duration::seconds(sim.credentials.access_token_seconds),
    );
    auth.issued += 1;
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": sim.credentials.access_token_seconds,
        "scope": scope,
    });
    if scope.split_whitespace().any(|s| s == "offline_access") {
        let rt = token("rt");
        auth.refresh.insert(rt.clone());
        answer["refresh_token"] = json!(rt);
    }
    Json(answer).into_response()
}

/// Runs [`gate`] before every `/api/` handler.
async fn gate_layer(
    State(sim): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    let page = request
        .uri()
        .query()
        .and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "pageNumber")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(1);
    match gate(&sim, request.headers(), &path, page).await {
        Ok(()) => {
            let faults = lock(&sim.faults).clone();
            let answer = next.run(request).await;
            if faults.endless_paging || faults.null_lists {
                reshape(answer, &faults, page).await
            } else {
                answer
            }
        }
        Err(answer) => answer,
    }
}

/// The lists the OpenAPI file marks `nullable: true`.
const NULLABLE_LISTS: [&str; 4] = ["contracts", "departments", "functions", "employments"];

/// Rewrites a list answer for the `endless_paging` and `null_lists` faults.
async fn reshape(answer: Response, faults: &Faults, page: u32) -> Response {
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if faults.endless_paging {
        if let Some(p) = v.get_mut("pagination").and_then(Value::as_object_mut) {
            let last = p
                .get("lastPage")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let base = last.split('?').next().unwrap_or("").to_string();
            p.insert(
                "nextPage".into(),
                json!(format!("{base}?pageNumber={}&pageSize=100", page + 1)),
            );
        }
    }
    if faults.null_lists {
        if let Some(data) = v.get_mut("data").and_then(Value::as_array_mut) {
            for record in data.iter_mut().filter_map(Value::as_object_mut) {
                record.retain(|k, field| {
                    let empty = field.as_array().is_some_and(Vec::is_empty);
                    !empty || NULLABLE_LISTS.contains(&k.as_str())
                });
                for k in NULLABLE_LISTS {
                    if record
                        .get(k)
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
                    {
                        record.insert(k.into(), Value::Null);
                    }
                }
            }
        }
    }
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(v.to_string()))
}

/// Checks the subscription key and token, counts the call and applies faults.
/// `Err` is the answer to send instead of the real one.
async fn gate(sim: &Sim, headers: &HeaderMap, path: &str, page: u32) -> Result<(), Response> {
    let n = sim.calls.fetch_add(1, Ordering::Relaxed) + 1;
    *lock(&sim.by_path).entry(path.to_string()).or_default() += 1;
    let key = headers
        .get("X-Subscription-Key")
        .and_then(|v| v.to_str().ok());
    if key != Some(sim.credentials.subscription_key.as_str()) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authenticationError",
            40101,
            "Unauthorized",
            "Access denied due to missing or invalid subscription key.",
        ));
    }
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = bearer.is_some_and(|t| {
        lock(&sim.auth)
            .access
            .get(t)
            .is_some_and(|exp| *exp > chrono::Utc::now())
    });
    if !valid {
        let (code, detail) = if bearer.is_none() {
            (40101, "Bearer token missing")
        } else {
            (40102, "Invalid or expired token")
        };
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "authenticationError",
            code,
            "Unauthorized",
            detail,
        ));
    }
    let faults = lock(&sim.faults).clone();
    if faults.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    if let Some((ending, fail)) = &faults.fail_page {
        if path.ends_with(ending.as_str()) && page == *fail {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "apiError",
                50000,
                "Internal Server Error",
                "An unexpected error occurred.",
            ));
        }
    }
    if faults.throttle_burst > 0 {
        lock(&sim.faults).throttle_burst -= 1;
        return Err(throttled(faults.retry_after_seconds));
    }
    if faults.throttle_every > 0 && n.is_multiple_of(u64::from(faults.throttle_every)) {
        return Err(throttled(faults.retry_after_seconds));
    }
    if faults.server_error_every > 0 && n.is_multiple_of(u64::from(faults.server_error_every)) {
        let status = match (n / u64::from(faults.server_error_every)) % 3 {
            0 => StatusCode::INTERNAL_SERVER_ERROR,
            1 => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        return Err(error(
            status,
            "apiError",
            u32::from(status.as_u16()) * 100,
            status.canonical_reason().unwrap_or("Error"),
            "Please try again later.",
        ));
    }
    if faults.drop_every > 0 && n.is_multiple_of(u64::from(faults.drop_every)) {
        return Err(dropped());
    }
    Ok(())
}

fn throttled(retry_after: Option<u64>) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "throttlingError",
        42908,
        "Too_Many_Calls",
        "Too many calls in a short period. Please slow down.",
    );
    if let Some(s) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    r
}

/// An answer whose body breaks off: the client sees a dropped connection.
fn dropped() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"pagination\": {\"pageNumber\": 1, ")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ];
    let mut r = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    page_number: Option<u32>,
    page_size: Option<u32>,
    /// The `employeeId` filter of the employee endpoints.
    employee_id: Option<String>,
}

/// Pages `items` into the Nmbrs envelope.
fn paged(headers: &HeaderMap, path: &str, q: &Paging, items: Vec<Value>) -> Response {
    let total = items.len();
    paged_with(headers, path, q, total, |range| items[range].to_vec())
}

/// Pages `total` records into the Nmbrs envelope, rendering only the records of the
/// page asked for (`render` gets their index range).
fn paged_with(
    headers: &HeaderMap,
    path: &str,
    q: &Paging,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
) -> Response {
    let size = q.page_size.unwrap_or(20);
    if size == 0 || size > 100 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "type": "validationError",
                "httpStatus": 400,
                "code": 40033,
                "title": "Invalid parameter",
                "detail": "One or more parameters are not valid.",
                "invalid-params": [{"name": "pageSize", "reason": "must be between 1 and 100"}],
                "docUrl": "https://support.nmbrs.com/hc/en-us/articles/api-errors",
            })),
        )
            .into_response();
    }
    let page = q.page_number.unwrap_or(1).max(1);
    let total = total as u64;
    let pages = total.div_ceil(u64::from(size)).max(1);
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let link = |n: u64| format!("http://{host}{path}?pageNumber={n}&pageSize={size}");
    let from = (u64::from(page - 1) * u64::from(size)).min(total) as usize;
    let to = (from + size as usize).min(total as usize);
    let data = render(from..to);
    Json(json!({
        "pagination": {
            "pageNumber": page,
            "pageSize": size,
            "firstPage": link(1),
            "lastPage": link(pages),
            "totalPages": pages,
            "totalRecords": total,
            "nextPage": (u64::from(page) < pages).then(|| link(u64::from(page) + 1)),
            "previousPage": (page > 1).then(|| link(u64::from(page) - 1)),
        },
        "data": data,
    }))
    .into_response()
}

async fn debtors(State(sim): Shared, headers: HeaderMap, Query(q): Query<Paging>) -> Response {
    let id = lock(&sim.data).debtor_id.clone();
    paged(
        &headers,
        "/api/debtors",
        &q,
        vec![json!({"debtorId": id, "number": "1", "name": "Van Dijk Groep"})],
    )
}

async fn debtor_companies(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> Response {
    let path = format!("/api/debtors/{id}/companies");
    let data = lock(&sim.data);
    if data.debtor_id != id {
        return unknown_debtor();
    }
    let items = data
        .companies
        .iter()
        .enumerate()
        .map(|(k, (cid, name))| json!({"companyId": cid, "number": (k + 1).to_string(), "name": name, "debtorId": id}))
        .collect();
    drop(data);
    paged(&headers, &path, &q, items)
}

async fn debtor_managers(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> Response {
    let path = format!("/api/debtors/{id}/managers");
    let data = lock(&sim.data);
    if data.debtor_id != id {
        return unknown_debtor();
    }
    let items = data
        .managers
        .iter()
        .map(|m| {
            json!({
                "managerId": m.id, "number": m.number, "firstName": m.first_name,
                "lastName": m.last_name, "gender": "unknown",
                "department": null, "function": null, "phoneNumber": "", "cellphone": "", "fax": "",
                "email": m.email,
            })
        })
        .collect();
    drop(data);
    paged(&headers, &path, &q, items)
}

fn unknown_debtor() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalidRequestError",
        40401,
        "Not Found",
        "Debtor not found.",
    )
}

fn company_index(data: &Data, id: &str) -> Option<usize> {
    data.companies.iter().position(|(c, _)| c == id)
}

fn invalid_company() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalidRequestError",
        40404,
        "Invalid company",
        "The company does not exist or you have no access to it.",
    )
}

async fn company_period(State(sim): Shared, Path(id): Path<String>) -> Response {
    let data = lock(&sim.data);
    if company_index(&data, &id).is_none() {
        return invalid_company();
    }
    let (year, period) = data.period;
    Json(json!({
        "pagination": {"pageNumber": 1, "pageSize": 1, "totalPages": 1, "totalRecords": 1, "nextPage": null, "previousPage": null},
        "data": [{"period": {"year": year, "period": period}, "periodType": "month", "displayPeriod": format!("{period} - {year}")}],
    }))
    .into_response()
}

fn basic_info(p: &Person) -> Value {
    json!({
        "employeeNumber": p.employee_number,
        "firstName": p.first_name,
        "firstNameInFull": p.first_name_full,
        "prefix": p.prefix,
        "initials": p.initials,
        "lastName": p.last_name,
        "employeeType": p.employee_type,
    })
}

fn datetime(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| json!(format!("{d}T00:00:00Z")))
}

fn period_json(p: (i32, i32)) -> Value {
    json!({"year": p.0, "period": p.1})
}

/// The `employeeId` filter asked for, unless the faults say it is ignored.
fn employee_filter(sim: &Sim, q: &Paging) -> Option<String> {
    let ignored = lock(&sim.faults).ignore_employee_filter;
    q.employee_id.clone().filter(|_| !ignored)
}

async fn employees_list(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> Response {
    let path = format!("/api/companies/{id}/employees");
    let only = employee_filter(&sim, &q);
    let data = lock(&sim.data);
    let Some(company) = company_index(&data, &id) else {
        return invalid_company();
    };
    let mut staff = data.staff(company);
    if let Some(only) = &only {
        staff.retain(|e| e.person.id.as_ref() == only);
    }
    paged_with(&headers, &path, &q, staff.len(), |range| {
        staff[range]
            .iter()
            .map(|e| json!({"employeeId": e.person.id.as_ref(), "employeeBasicInfo": basic_info(&e.person)}))
            .collect()
    })
}

fn history(e: &Employee, what: &str, period: (i32, i32)) -> Option<Value> {
    let p = &e.person;
    let id = p.id.as_ref();
    Some(match what {
        "personalinfo" => json!({
            "employeeId": id,
            "info": [{
                "personalInfoId": format!("{id}-pi"),
                "basicInfo": basic_info(p),
                "birthInfo": {
                    "birthDate": e.raw_birth_date.clone().map_or_else(|| datetime(p.birth_date), Value::from),
                    "birthCountry": {"codeISO": "NL", "description": "Nederland"},
                    "nationality": {"codeISO": "NL", "description": "Nederlandse"},
                    "deceasedOn": null,
                    "gender": p.gender,
                },
                "contactInfo": {
                    "privateEmail": p.private_email,
                    "businessEmail": p.business_email,
                    "businessPhone": p.business_phone,
                    "businessMobilePhone": p.business_mobile,
                    "privatePhone": null, "privateMobilePhone": null, "otherPhone": null,
                },
                "partnerInfo": {
                    "partnerPrefix": p.partner_prefix,
                    "partnerName": p.partner_last_name,
                    "ascription": {"code": e.ascription.0, "ascription": e.ascription.1},
                    "maritalStatus": if p.partner_last_name.is_some() { "married" } else { "unmarried" },
                },
                "emergencyInfo": {"emergencyContact": null, "emergencyPhone": null, "emergencyRelationship": null},
                "period": period_json(period),
                "createdAt": "2021-01-01T09:00:00Z",
            }],
        }),
        "contracts" => json!({
            "employeeId": id,
            "contracts": p.contracts.iter().map(|c| json!({
                "contractId": c.id,
                "startDate": datetime(c.start),
                "trialPeriod": null,
                "endDate": datetime(c.end),
                "indefinite": c.end.is_none(),
                "writtenContract": true,
                "hoursPerWeek": c.hours_per_week,
                "createdAt": "2021-01-01T09:00:00Z",
            })).collect::<Vec<_>>(),
        }),
        "employments" => json!({
            "employeeId": id,
            "employments": e.employments.iter().map(|(eid, s, end)| json!({
                "employmentId": eid,
                "creationDate": "2021-01-01T09:00:00Z",
                // Employments come without an offset, as Nmbrs sends some date-times.
                "startDate": format!("{s}T00:00:00"),
                "endDate": end.map(|d| format!("{d}T00:00:00")),
                "seniorityDate": null,
                "endContractReason": {"code": null, "reason": null},
                "changedDate": "2021-01-01T09:00:00Z",
            })).collect::<Vec<_>>(),
        }),
        "departments" | "functions" => {
            let (list, key, idkey) = if what == "departments" {
                (&e.departments, "departments", "departmentId")
            } else {
                (&e.functions, "functions", "functionId")
            };
            json!({
                "employeeId": id,
                key: list.iter().enumerate().map(|(k, (code, d, per, created))| json!({
                    idkey: format!("{id}-{what}-{k}"),
                    "code": code,
                    "description": d,
                    "createdAt": created,
                    "period": period_json(*per),
                })).collect::<Vec<_>>(),
            })
        }
        "managers" => json!({
            "employeeId": id,
            "managers": e.managers.iter().map(|(mid, per)| json!({
                "managerId": mid,
                "createdAt": "2021-01-01T09:00:00Z",
                "period": period_json(*per),
            })).collect::<Vec<_>>(),
        }),
        "costcenters" => json!({
            "employeeId": id,
            "employeeCostCenters": e.cost_centers.iter().map(|(code, d, per)| json!({
                "employeeCostCenterId": format!("{id}-cc"),
                "costCenters": {"costCenterId": format!("{id}-cc-{code}"), "code": code, "description": d},
                "costUnits": {"costUnitId": format!("{id}-cu"), "code": "1", "description": "Algemeen"},
                "percentage": 100.0,
                "default": true,
                "period": period_json(*per),
                "createdAt": "2021-01-01T09:00:00Z",
            })).collect::<Vec<_>>(),
        }),
        _ => return None,
    })
}

async fn employees_history(
    State(sim): Shared,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    Query(q): Query<Paging>,
) -> Response {
    let path = format!("/api/companies/{id}/employees/{what}");
    let only = employee_filter(&sim, &q);
    let data = lock(&sim.data);
    let Some(company) = company_index(&data, &id) else {
        return invalid_company();
    };
    if !matches!(
        what.as_str(),
        "personalinfo"
            | "contracts"
            | "employments"
            | "departments"
            | "functions"
            | "managers"
            | "costcenters"
    ) {
        return error(
            StatusCode::NOT_FOUND,
            "invalidRequestError",
            40401,
            "Not Found",
            "Resource not found.",
        );
    }
    let mut staff = data.staff(company);
    if let Some(only) = &only {
        staff.retain(|e| e.person.id.as_ref() == only);
    }
    paged_with(&headers, &path, &q, staff.len(), |range| {
        staff[range]
            .iter()
            .filter_map(|e| {
                let mut v = history(e, &what, data.period)?;
                // Manager entries carry the manager's name and e-mail, as Nmbrs sends them.
                if let Some(list) = v.get_mut("managers").and_then(Value::as_array_mut) {
                    for m in list {
                        let found = m
                            .get("managerId")
                            .and_then(Value::as_str)
                            .and_then(|mid| data.manager(mid));
                        if let (Some(found), Some(obj)) = (found, m.as_object_mut()) {
                            obj.insert("firstName".into(), json!(found.first_name));
                            obj.insert("lastName".into(), json!(found.last_name));
                            obj.insert("email".into(), json!(found.email));
                        }
                    }
                }
                Some(v)
            })
            .collect()
    })
}

/// `PUT /api/employees/{id}/personalInfo`. The OpenAPI file does not say whether
/// omitted fields are cleared; the simulator takes the strict reading (a `contactInfo`
/// sent replaces all contact fields, omitted ones become empty), so a client that does
/// not send the whole record back loses data here and the tests see it.
async fn put_personal_info(
    State(sim): Shared,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let invalid = |name: &str, reason: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "type": "validationError", "httpStatus": 400, "code": 40033,
                "title": "Invalid parameter", "detail": "One or more parameters are not valid.",
                "invalid-params": [{"name": name, "reason": reason}],
                "docUrl": "https://support.nmbrs.com/hc/en-us/articles/api-errors",
            })),
        )
            .into_response()
    };
    if body.get("basicInfo").is_some_and(|b| {
        b.get("lastName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    }) {
        return invalid("basicInfo.lastName", "is required when basicInfo is sent");
    }
    let mut data = lock(&sim.data);
    let Some(e) = data
        .employees
        .iter_mut()
        .find(|e| e.person.id.as_ref() == id)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "invalidRequestError",
            40401,
            "Not Found",
            "Employee not found.",
        );
    };
    if let Some(contact) = body.get("contactInfo") {
        let text = |k: &str| contact.get(k).and_then(Value::as_str).map(str::to_string);
        let p = &mut e.person;
        p.private_email = text("privateEmail");
        p.business_email = text("businessEmail");
        p.business_phone = text("businessPhone");
        p.business_mobile = text("businessMobilePhone");
    }
    Json(json!({"personalInfoId": format!("{id}-pi")})).into_response()
}

async fn set_faults(State(sim): Shared, Json(faults): Json<Faults>) -> Response {
    sim.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sim): Shared) -> Response {
    let auth = lock(&sim.auth);
    Json(json!({
        "calls": sim.calls(),
        "by_path": *lock(&sim.by_path),
        "tokens_issued": auth.issued,
        "refreshes": auth.refreshed,
        "employees": lock(&sim.data).employees.len(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct MoveBody {
    department: String,
    code: i64,
}

async fn sim_move(State(sim): Shared, Path(id): Path<String>, Json(b): Json<MoveBody>) -> Response {
    if sim.move_department(&id, &b.department, b.code) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn sim_remove(State(sim): Shared, Path(id): Path<String>) -> Response {
    if sim.remove(&[id.as_str()]) > 0 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
