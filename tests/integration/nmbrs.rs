//! The Nmbrs connector against the simulator: complete imports, every fault, token
//! rotation across restarts, bad records.

use chrono::NaiveDate;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use stroom::model::Person;
use stroom::simulate::nmbrs::{Credentials, Faults, Sim};
use stroom::source::nmbrs::auth::{OAuthClient, Secret, Session, TokenStore};
use stroom::source::nmbrs::client::{Client, ClientSettings};
use stroom::source::nmbrs::{import, Import, NmbrsError, Selection};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

struct Fixture {
    sim: Arc<Sim>,
    base: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let sim = Arc::new(Sim::generate(n, 7, today(), Credentials::default()));
        let base = stroom::simulate::spawn(sim.clone().router()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = Self { sim, base, dir };
        // As if `stroom nmbrs login` had run: a refresh token and no access token yet.
        f.sim.sign_in(&f.store()).unwrap();
        f
    }

    fn store(&self) -> TokenStore {
        TokenStore::new(self.dir.path().join("tokens.json"))
    }

    fn oauth(&self) -> OAuthClient {
        let c = Credentials::default();
        OAuthClient {
            identity_url: self.base.clone(),
            client_id: c.client_id,
            client_secret: Secret::new(c.client_secret),
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            scopes: vec!["employee.info.read".into()],
        }
    }

    fn client(&self) -> Client {
        self.client_with(self.settings())
    }

    fn client_with(&self, settings: ClientSettings) -> Client {
        Client::new(settings, Session::new(self.oauth(), self.store())).unwrap()
    }

    fn settings(&self) -> ClientSettings {
        ClientSettings {
            base_url: self.base.clone(),
            subscription_key: Secret::new(Credentials::default().subscription_key),
            concurrency: 4,
            page_size: 100,
            timeout: Duration::from_secs(5),
            // The fault tests hit about a third of all calls; with 12 attempts a call
            // gives up by bad luck with odds of 0.31^12, about 1 in 10^6.
            max_attempts: 12,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(50),
            max_pages: ClientSettings::DEFAULT_MAX_PAGES,
            deadline: ClientSettings::DEFAULT_DEADLINE,
        }
    }

    fn import(&self) -> Result<Import, NmbrsError> {
        let client = self.client();
        runtime().block_on(import(&client, &Selection::default()))
    }

    /// An import with other client settings.
    fn import_with(&self, settings: ClientSettings) -> Result<Import, NmbrsError> {
        let client = self.client_with(settings);
        runtime().block_on(import(&client, &Selection::default()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn by_id(persons: &[Person]) -> std::collections::BTreeMap<String, &Person> {
    persons.iter().map(|p| (p.id.to_string(), p)).collect()
}

/// Everything the simulator holds comes back: names, contracts, org data, managers.
/// A manager that could not be linked (ambiguous name, say) must be reported, not
/// guessed.
fn assert_same_people(got: &Import, truth: &[Person]) {
    let imported = &got.normalized.persons;
    let unlinked: std::collections::HashSet<&str> = got
        .normalized
        .problems
        .iter()
        .filter(|p| p.field == "managers")
        .map(|p| p.employee_id.as_str())
        .collect();
    assert_eq!(imported.len(), truth.len(), "person count");
    let truth = by_id(truth);
    for p in imported {
        let t = truth
            .get(p.id.as_ref())
            .unwrap_or_else(|| panic!("unknown id {}", p.id));
        assert_eq!(p.display_name, t.display_name, "{}", p.id);
        assert_eq!(p.name_last_first, t.name_last_first, "{}", p.id);
        assert_eq!(p.employee_number, t.employee_number);
        assert_eq!(p.company, t.company);
        assert_eq!(p.employee_type, t.employee_type);
        assert_eq!(p.birth_date, t.birth_date);
        assert_eq!(p.business_email, t.business_email);
        if p.manager_id.is_none() && unlinked.contains(p.id.as_ref()) {
            assert!(t.manager_id.is_some());
        } else {
            assert_eq!(p.manager_id, t.manager_id, "manager of {}", p.id);
        }
        assert_eq!(
            p.contracts.len(),
            t.contracts.len(),
            "contracts of {}",
            p.id
        );
        let last = t.contracts.last().unwrap();
        let mut expected = t.contracts.clone();
        expected.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        for (c, tc) in p.contracts.iter().zip(&expected) {
            assert_eq!(
                (c.start, c.end),
                (tc.start, tc.end),
                "contract dates of {}",
                p.id
            );
            assert_eq!(c.department, last.department, "department of {}", p.id);
            assert_eq!(c.manager_id, p.manager_id);
            assert_eq!(c.function, last.function);
            assert_eq!(c.cost_center, last.cost_center);
        }
    }
}

#[test]
fn a_full_import_returns_every_person_as_the_simulator_holds_them() {
    let f = Fixture::new(450);
    let got = f.import().unwrap();
    assert_same_people(&got, &f.sim.persons());
    assert_eq!(got.stats.skipped, 0);
    // Calls grow with pages, not with employees: 450 employees in 3 companies is
    // 1 debtor list + 1 company list + 1 manager list + per company (1 period + 8
    // endpoints x 2 pages at most) + 1 token refresh (not an API call).
    assert!(
        got.stats.calls <= 3 + 3 * (1 + 8 * 2),
        "{} calls",
        got.stats.calls
    );
    let linked = got
        .normalized
        .persons
        .iter()
        .filter(|p| p.manager_id.is_some())
        .count();
    assert!(linked > 380, "{linked} linked");
    for p in got
        .normalized
        .problems
        .iter()
        .filter(|p| p.field == "managers")
    {
        assert!(p.message.contains("matches"), "{p}");
    }
}

#[test]
fn faults_are_retried_until_the_import_is_complete() {
    let f = Fixture::new(300);
    f.sim.set_faults(Faults {
        throttle_burst: 3,
        server_error_every: 5,
        drop_every: 7,
        slow_ms: 2,
        ..Faults::default()
    });
    let got = f.import().unwrap();
    assert_same_people(&got, &f.sim.persons());
    assert!(got.stats.retries >= 5, "{} retries", got.stats.retries);
    assert!(got.stats.throttled >= 3);
}

#[test]
fn retry_after_is_honoured_and_throttling_every_few_calls_still_completes() {
    let f = Fixture::new(120);
    f.sim.set_faults(Faults {
        throttle_every: 3,
        retry_after_seconds: Some(0),
        ..Faults::default()
    });
    let got = f.import().unwrap();
    assert_eq!(got.normalized.persons.len(), 120);
    assert!(got.stats.throttled > 0);
}

#[test]
fn a_page_that_keeps_failing_fails_the_whole_import() {
    let f = Fixture::new(450);
    f.sim.set_faults(Faults {
        fail_page: Some(("/employees/contracts".into(), 2)),
        ..Faults::default()
    });
    let err = f.import().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, NmbrsError::GaveUp { .. }), "{text}");
    assert!(text.contains("/employees/contracts"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
}

#[test]
fn endless_paging_fails_the_import_naming_the_endpoint() {
    let f = Fixture::new(30);
    f.sim.set_faults(Faults {
        endless_paging: true,
        ..Faults::default()
    });
    let err = f.import().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, NmbrsError::BadAnswer { .. }), "{text}");
    assert!(text.contains("/api/"), "names the endpoint: {text}");
    assert!(text.contains("totalPages"), "{text}");
    // Stopped at the envelope, not after thousands of calls.
    assert!(f.sim.calls() < 20, "{} calls", f.sim.calls());
}

#[test]
fn the_page_cap_stops_a_next_page_without_an_envelope_total() {
    let f = Fixture::new(450);
    let err = f
        .import_with(ClientSettings {
            max_pages: 1,
            ..f.settings()
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than 1 pages") && err.contains("nmbrs.max_pages"),
        "{err}"
    );
}

#[test]
fn lists_the_openapi_file_marks_nullable_may_be_null() {
    let f = Fixture::new(120);
    f.sim.set_faults(Faults {
        null_lists: true,
        ..Faults::default()
    });
    let got = f.import().unwrap();
    assert_same_people(&got, &f.sim.persons());
}

#[test]
fn refresh_tokens_rotate_and_survive_restarts() {
    let f = Fixture::new(50);
    let first = f.store().load().unwrap().refresh_token;
    f.import().unwrap();
    let second = f.store().load().unwrap().refresh_token;
    assert_ne!(first, second, "the rotated refresh token was stored");
    // A new process: the stored token pair still works.
    f.sim.revoke_access_tokens();
    f.import().unwrap();
    let third = f.store().load().unwrap().refresh_token;
    assert_ne!(second, third);
    // The old refresh token is dead at Nmbrs; a store holding it gets a clear error.
    let mut stale = f.store().load().unwrap();
    stale.refresh_token = first;
    stale.access_token = Secret::new("");
    f.store().save(&stale).unwrap();
    let err = f.import().unwrap_err().to_string();
    assert!(
        err.contains("invalid_grant") && err.contains("stroom nmbrs login"),
        "{err}"
    );
    assert!(
        !err.contains(stale.refresh_token.expose()),
        "no secret in errors"
    );
}

#[cfg(unix)]
#[test]
fn the_token_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new(10);
    f.import().unwrap();
    let mode = std::fs::metadata(f.store().path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_revoked_access_token_is_refreshed_once_mid_import() {
    let f = Fixture::new(40);
    f.import().unwrap();
    let before = f.sim.refreshes();
    f.sim.revoke_access_tokens();
    f.import().unwrap();
    assert_eq!(f.sim.refreshes(), before + 1);
}

#[test]
fn bad_records_are_skipped_and_reported_with_their_id() {
    let f = Fixture::new(60);
    let ids: Vec<String> = f.sim.persons().iter().map(|p| p.id.to_string()).collect();
    assert!(f.sim.corrupt(&ids[10], "birth_date"));
    assert!(f.sim.corrupt(&ids[11], "last_name"));
    let got = f.import().unwrap();
    assert_eq!(got.normalized.persons.len(), 58);
    assert_eq!(got.stats.skipped, 2);
    let skipped = got.normalized.skipped_ids();
    assert!(skipped.contains(ids[10].as_str()) && skipped.contains(ids[11].as_str()));
    let text: Vec<String> = got
        .normalized
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        text.iter()
            .any(|t| t.contains("birthInfo.birthDate") && t.contains("31-02-1990")),
        "{text:?}"
    );
    assert!(text.iter().any(|t| t.contains("lastName")), "{text:?}");
}

#[test]
fn wrong_subscription_key_is_a_clear_error() {
    let f = Fixture::new(5);
    let err = f
        .import_with(ClientSettings {
            subscription_key: Secret::new("wrong"),
            max_attempts: 2,
            ..f.settings()
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("subscription key"),
        "{err}"
    );
    assert!(!err.contains("wrong"));
    // The hint fits the fault: the key, not a new sign-in; and no token was spent.
    assert!(err.contains("STROOM_NMBRS_SUBSCRIPTION_KEY"), "{err}");
    assert!(!err.contains("stroom nmbrs login"), "{err}");
    // The stored access token is stale, so the import starts with one refresh; a 401
    // for the key must not cost a second one.
    assert_eq!(
        f.sim.refreshes(),
        1,
        "a wrong key must not rotate the token"
    );
}

#[test]
fn unknown_companies_and_a_missing_sign_in_are_named() {
    let f = Fixture::new(5);
    let client = f.client();
    let err = runtime()
        .block_on(import(
            &client,
            &Selection {
                debtors: vec![],
                companies: vec!["nope".into()],
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("company nope"), "{err}");
    std::fs::remove_file(f.store().path()).unwrap();
    let err = f.import().unwrap_err().to_string();
    assert!(err.contains("stroom nmbrs login"), "{err}");
    let _ = Path::new("");
}

#[test]
fn answers_slower_than_the_timeout_are_retried_then_fail_the_import() {
    let f = Fixture::new(5);
    f.sim.set_faults(Faults {
        slow_ms: 400,
        ..Faults::default()
    });
    let err = f
        .import_with(ClientSettings {
            timeout: Duration::from_millis(100),
            max_attempts: 2,
            ..f.settings()
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gave up") && err.contains("timed out"),
        "{err}"
    );
}

#[test]
fn write_back_changes_only_the_intended_field_and_only_once() {
    use stroom::targets::nmbrs::NmbrsWriteback;
    use stroom::targets::Target;
    let f = Fixture::new(20);
    let got = f.import().unwrap();
    // Someone with a private e-mail and a mobile number: both must survive.
    let p = got
        .normalized
        .persons
        .iter()
        .find(|p| p.private_email.is_some() && p.business_mobile.is_some())
        .unwrap()
        .clone();
    let companies = got
        .normalized
        .persons
        .iter()
        .map(|p| (p.id.to_string(), p.extra["nmbrs_company_id"].clone()))
        .collect();
    let target = NmbrsWriteback::new(f.client(), companies).unwrap();
    let account = target.correlate(&p.id).unwrap().unwrap();
    let mut values = serde_json::Map::new();
    values.insert("business_email".into(), "jan.berg@vandijk.example".into());
    let puts = |sim: &Sim| sim.calls_to("/personalInfo");
    target.update(&account, &values).unwrap();
    assert_eq!(puts(&f.sim), 1);
    let now = f.sim.persons().into_iter().find(|x| x.id == p.id).unwrap();
    assert_eq!(
        now.business_email.as_deref(),
        Some("jan.berg@vandijk.example")
    );
    assert_eq!(
        now.private_email, p.private_email,
        "read-modify-write keeps the rest"
    );
    assert_eq!(now.business_mobile, p.business_mobile);
    // Already there: no second write.
    target.update(&account, &values).unwrap();
    assert_eq!(puts(&f.sim), 1);
    // Unknown persons and fields are refused with a reason.
    assert!(target.correlate("nobody").unwrap().is_none());
    values.insert("last_name".into(), "X".into());
    let err = target.update(&account, &values).unwrap_err();
    assert!(err.message.contains("cannot be written back"), "{err}");
}

/// A server that answers the token call properly and `/api/debtors` with `body`.
fn odd_server(body: &'static str) -> String {
    use axum::routing::{get, post};
    let router = axum::Router::new()
        .route(
            "/connect/token",
            post(|| async {
                axum::Json(serde_json::json!({"access_token": "a", "refresh_token": "r", "expires_in": 3600}))
            }),
        )
        .route(
            "/api/debtors",
            get(move || async move { ([("content-type", "application/json")], body) }),
        );
    stroom::simulate::spawn(router).unwrap()
}

#[test]
fn answers_of_the_wrong_shape_are_named_not_trusted() {
    let f = Fixture::new(1);
    for (body, expected) in [
        (
            r#"{"pagination": null, "data": [{"debtorId": 5}]}"#,
            "data[0].debtorId",
        ),
        ("<html>maintenance</html>", "documented shape"),
        (
            r#"{"pagination": {"pageNumber": 1, "nextPage": "https://x/api/debtors?pageNumber=1"}, "data": []}"#,
            "does not point forward",
        ),
    ] {
        let base = odd_server(body);
        let err = f
            .import_with(ClientSettings {
                base_url: base,
                ..f.settings()
            })
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, NmbrsError::BadAnswer { .. }), "{text}");
        assert!(
            text.contains("/api/debtors") && text.contains(expected),
            "{text}"
        );
    }
}

/// Answers generated from the official Nmbrs OpenAPI file by Stoplight Prism in dynamic
/// mode (a mock we did not write, with nulls, absent optional fields, dates from 1899,
/// negative hours): every list Stroom reads deserializes into the wire types, and
/// normalizing them (ids joined up so records meet) never panics and accounts for every
/// employee. `.ci/run` starts Prism with `tests/prism.sh` and sets `STROOM_PRISM_URL`.
#[test]
fn answers_generated_from_the_official_openapi_file_are_read() {
    use stroom::source::nmbrs::normalize::{normalize, CompanyData};
    use stroom::source::nmbrs::wire::{self, Page};
    let Some(base) = prism_url() else {
        return;
    };
    let http = reqwest::Client::new();
    let company = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    async fn page<T: serde::de::DeserializeOwned>(
        http: &reqwest::Client,
        base: &str,
        path: &str,
    ) -> Vec<T> {
        let url = format!("{base}{path}?pageNumber=1&pageSize=100");
        let answer = http
            .get(&url)
            .bearer_auth("prism")
            .header("X-Subscription-Key", "prism")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(answer.status().is_success(), "{url}: {}", answer.status());
        let body = answer.bytes().await.unwrap();
        let mut de = serde_json::Deserializer::from_slice(&body);
        let page: Page<T> = serde_path_to_error::deserialize(&mut de).unwrap_or_else(|e| {
            panic!(
                "{path}: the spec-shaped answer does not read at `{}`: {}\n{}",
                e.path(),
                e.inner(),
                String::from_utf8_lossy(&body)
            )
        });
        page.data
    }
    let rt = runtime();
    let mut employees_seen = 0;
    for round in 0..25 {
        let c = format!("/api/companies/{company}");
        let data = rt.block_on(async {
            let _: Vec<wire::Debtor> = page(&http, &base, "/api/debtors").await;
            let _: Vec<wire::Company> =
                page(&http, &base, &format!("/api/debtors/{company}/companies")).await;
            let managers: Vec<wire::DebtorManager> =
                page(&http, &base, &format!("/api/debtors/{company}/managers")).await;
            let period: Vec<wire::CurrentPeriod> = page(&http, &base, &format!("{c}/period")).await;
            let mut d = CompanyData {
                company_id: company.into(),
                company_name: format!("Prism {round}"),
                period: period.first().map(|p| p.period),
                employees: page(&http, &base, &format!("{c}/employees")).await,
                personal_info: page(&http, &base, &format!("{c}/employees/personalinfo")).await,
                contracts: page(&http, &base, &format!("{c}/employees/contracts")).await,
                employments: page(&http, &base, &format!("{c}/employees/employments")).await,
                departments: page(&http, &base, &format!("{c}/employees/departments")).await,
                functions: page(&http, &base, &format!("{c}/employees/functions")).await,
                managers: page(&http, &base, &format!("{c}/employees/managers")).await,
                cost_centers: page(&http, &base, &format!("{c}/employees/costcenters")).await,
            };
            // Prism makes every id up anew: join the lists to the employees so that
            // normalization sees whole people.
            let ids: Vec<String> = d.employees.iter().map(|e| e.employee_id.clone()).collect();
            if !ids.is_empty() {
                macro_rules! join {
                    ($($list:ident),*) => {$(
                        for (i, r) in d.$list.iter_mut().enumerate() {
                            r.employee_id = ids[i % ids.len()].clone();
                        }
                    )*};
                }
                join!(
                    personal_info,
                    contracts,
                    employments,
                    departments,
                    functions,
                    managers,
                    cost_centers
                );
            }
            (d, managers)
        });
        let (company_data, managers) = data;
        let n = company_data.employees.len();
        employees_seen += n;
        let normalized = normalize(std::slice::from_ref(&company_data), &managers);
        // Every employee is a person or named as skipped.
        let skipped = normalized.skipped_ids().len();
        let distinct: std::collections::HashSet<&str> = company_data
            .employees
            .iter()
            .map(|e| e.employee_id.as_str())
            .collect();
        assert!(
            normalized.persons.len() + skipped >= distinct.len(),
            "round {round}: {} persons + {skipped} skipped of {} employees",
            normalized.persons.len(),
            distinct.len()
        );
        assert!(normalized.persons.len() <= n, "round {round}");
    }
    assert!(employees_seen > 0, "Prism sent no employees in 25 rounds");
}

/// One person read through the `employeeId` filter and the employee lists, against
/// Prism on the official OpenAPI file: Prism checks each request against the spec
/// (an unknown parameter or a malformed id is a 4xx there), so every request
/// `stroom sync --person` makes is one the spec allows. The answers are random, so any
/// outcome but a refused request passes.
#[test]
fn one_person_requests_are_valid_for_the_official_openapi_file() {
    use stroom::source::nmbrs::auth::Tokens;
    use stroom::source::nmbrs::{import_person, Wanted};
    let Some(base) = prism_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path().join("tokens.json"));
    let now = chrono::Utc::now();
    store
        .save(&Tokens {
            access_token: Secret::new("prism"),
            access_expires_at: now + chrono::Duration::hours(1),
            refresh_token: Secret::new("prism"),
            scope: None,
            obtained_at: now,
        })
        .unwrap();
    let oauth = OAuthClient {
        identity_url: base.clone(),
        client_id: "prism".into(),
        client_secret: Secret::new("prism"),
        redirect_uri: "http://127.0.0.1:1/callback".into(),
        scopes: vec!["employee.info.read".into()],
    };
    let settings = ClientSettings {
        base_url: base.clone(),
        subscription_key: Secret::new("prism"),
        concurrency: 4,
        page_size: 100,
        timeout: Duration::from_secs(10),
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        // Prism's paging is made up: a few pages are enough to show the requests.
        max_pages: 3,
        deadline: ClientSettings::DEFAULT_DEADLINE,
    };
    let client = Client::new(settings, Session::new(oauth, store)).unwrap();
    let rt = runtime();
    // The employee lists filtered to one employee, through the client (which adds
    // the paging parameters): Prism answers each, so the spec allows each.
    let company = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let employee = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";
    let lists = stroom::source::nmbrs::employee_lists(company, Some(employee));
    assert!(lists
        .iter()
        .all(|p| p.ends_with(&format!("?employeeId={employee}"))));
    // Prism's paging is random (links that go back, totals that do not add up); a
    // refused request is what must never happen.
    let refused = |what: &str, e: NmbrsError| {
        let text = e.to_string();
        assert!(
            !text.contains("Nmbrs answered HTTP 4"),
            "{what}: Prism refused the request: {text}"
        );
    };
    for path in lists {
        if let Err(e) = rt.block_on(client.get_all::<serde_json::Value>(path.clone())) {
            refused(&path, e);
        }
    }
    // And the whole lookup, by id, number and name.
    for wanted in [
        Wanted::Id {
            id: employee.into(),
            company: None,
        },
        Wanted::Number(1042),
        Wanted::Name("Jan de Vries".into()),
    ] {
        let what = format!("{wanted:?}");
        if let Err(e) = rt.block_on(import_person(&client, &Selection::default(), &wanted, &[])) {
            refused(&what, e);
        }
    }
    assert!(
        client
            .stats
            .calls
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 8
    );
}

/// Prism's address (`.ci/run` starts it with `tests/prism.sh`); outside CI, without
/// it, the test is skipped with how to start it.
fn prism_url() -> Option<String> {
    let url = std::env::var("STROOM_PRISM_URL").ok();
    if url.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must start Prism first: STROOM_PRISM_URL=$(bash tests/prism.sh)"
        );
        eprintln!("skipped: STROOM_PRISM_URL is not set (STROOM_PRISM_URL=$(bash tests/prism.sh))");
    }
    url
}

/// A free loopback port for a redirect address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sign-in of `stroom nmbrs login`, end to end: the library listens on the loopback
/// redirect, a browser (reqwest following redirects) opens the consent address on the
/// simulator's authorize endpoint, the simulator sends it back with a code, and the
/// tokens that come out read Nmbrs. A stray request first (a favicon, a scanner that
/// says nothing) does not end or stall the sign-in.
#[test]
fn the_loopback_sign_in_gets_tokens_from_the_authorize_endpoint() {
    use stroom::source::nmbrs::login::Loopback;
    let f = Fixture::new(3);
    let oauth = OAuthClient {
        redirect_uri: format!("http://127.0.0.1:{}/callback", free_port()),
        ..f.oauth()
    };
    let rt = runtime();
    let loopback = rt.block_on(Loopback::open(&oauth)).unwrap();
    assert!(loopback
        .url
        .starts_with(&format!("{}/connect/authorize?", f.base)));
    let url = loopback.url.clone();
    let redirect = oauth.redirect_uri.clone();
    let browser = std::thread::spawn(move || {
        let rt = runtime();
        rt.block_on(async {
            // A scanner that connects and says nothing, and a favicon request.
            let silent = tokio::net::TcpStream::connect(
                redirect
                    .trim_start_matches("http://")
                    .trim_end_matches("/callback"),
            )
            .await
            .unwrap();
            let favicon = reqwest::get(redirect.replace("/callback", "/favicon.ico"))
                .await
                .unwrap();
            assert_eq!(favicon.status(), 404);
            let page = reqwest::get(&url).await.unwrap();
            let status = page.status();
            let text = page.text().await.unwrap();
            drop(silent);
            (status, text)
        })
    });
    // Less than READ_TIMEOUT: the silent connection must not hold up the redirect.
    assert!(stroom::source::nmbrs::login::READ_TIMEOUT > Duration::from_secs(5));
    let tokens = rt
        .block_on(loopback.finish(&oauth, Duration::from_secs(5)))
        .unwrap();
    let (status, page) = browser.join().unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("signed in"), "{page}");
    // The tokens are real: saved, they read every employee.
    let store = TokenStore::new(f.dir.path().join("fresh-tokens.json"));
    store.save(&tokens).unwrap();
    let client = Client::new(f.settings(), Session::new(f.oauth(), store)).unwrap();
    let imported = rt.block_on(import(&client, &Selection::default())).unwrap();
    assert_eq!(imported.normalized.persons.len(), 3);
}

/// The sign-in's failure paths: a redirect of another sign-in, a refused consent, no
/// redirect in time, and a redirect address off this machine.
#[test]
fn the_loopback_sign_in_refuses_what_is_not_its_answer() {
    use stroom::source::nmbrs::login::{LoginError, Loopback};
    let f = Fixture::new(1);
    let rt = runtime();
    let attempt = |query: &'static str| {
        let oauth = OAuthClient {
            redirect_uri: format!("http://127.0.0.1:{}/callback", free_port()),
            ..f.oauth()
        };
        let loopback = rt.block_on(Loopback::open(&oauth)).unwrap();
        let target = format!("{}?{query}", oauth.redirect_uri);
        let browser = std::thread::spawn(move || {
            runtime().block_on(async { reqwest::get(&target).await.unwrap().status() })
        });
        let result = rt.block_on(loopback.finish(&oauth, Duration::from_secs(10)));
        (result, browser.join().unwrap())
    };
    let (result, status) = attempt("code=abc&state=not-this-sign-in");
    assert!(
        matches!(result, Err(LoginError::StateMismatch)),
        "{result:?}"
    );
    assert_eq!(status, 400);
    let (result, _) = attempt("error=access_denied&error_description=The+user+declined");
    let e = result.unwrap_err();
    assert!(matches!(e, LoginError::Refused { .. }), "{e:?}");
    assert!(
        e.to_string().contains("access_denied: The user declined"),
        "{e}"
    );
    let oauth = OAuthClient {
        redirect_uri: format!("http://127.0.0.1:{}/callback", free_port()),
        ..f.oauth()
    };
    let loopback = rt.block_on(Loopback::open(&oauth)).unwrap();
    let e = rt
        .block_on(loopback.finish(&oauth, Duration::from_millis(300)))
        .unwrap_err();
    assert!(matches!(e, LoginError::Timeout(_)), "{e:?}");
    let remote = OAuthClient {
        redirect_uri: "http://login.example.com/callback".into(),
        ..f.oauth()
    };
    let e = rt.block_on(Loopback::open(&remote)).err().unwrap();
    assert!(e.to_string().contains("loopback"), "{e}");
}
