//! The SCIM 2.0 target against a SCIM server nobody on the project wrote: `scim2-server`
//! (PyPI, the python-scim project) on loopback with a bearer token. A joiner, a mover,
//! a leaver and a rehire, through plans and the apply engine; hostile values in
//! filters; the server's error bodies.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stroom::apply::audit::Audit;
use stroom::apply::journal::Journal;
use stroom::apply::{apply, plan_id, state_after_apply, ApplyOptions};
use stroom::model::State;
use stroom::plan::read::parse_plan;
use stroom::rules::program::{TargetDecl, TargetKind};
use stroom::secret::Secret;
use stroom::targets::scim::{Scim, ScimConfig};
use stroom::targets::Target;

const TOKEN: &str = "scim-test-token";

/// `scim2-server` on a free loopback port.
struct ScimServer {
    child: Child,
    base: String,
}

impl ScimServer {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more of the command line's options (`--resource-type FILE`, ...).
    fn start_with(options: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The package's own command line, through the interpreter (the script's
        // folder need not be on PATH).
        let child = Command::new("python3")
            .args([
                "-c",
                "import sys; from scim2_server.testserver.cli import main; sys.exit(main())",
                "--port",
                &port.to_string(),
                "--bearer-token",
                TOKEN,
            ])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with scim2-server (pip install scim2-server)");
        let base = format!("http://127.0.0.1:{port}/v2");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http("GET", &base, "/ServiceProviderConfig", None).0 != 200 {
            assert!(Instant::now() < deadline, "scim2-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        ScimServer { child, base }
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as an administrator of the application would send it.
fn http(method: &str, base: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut r = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json");
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        match r.send().await {
            Ok(a) => {
                let status = a.status().as_u16();
                let v = a.json::<Value>().await.unwrap_or(Value::Null);
                (status, v)
            }
            Err(_) => (0, Value::Null),
        }
    })
}

fn target(base: &str, token: &str) -> Arc<dyn Target> {
    target_paged(base, token, 100)
}

fn target_paged(base: &str, token: &str, page_size: u32) -> Arc<dyn Target> {
    target_with(base, token, page_size, 4)
}

fn target_with(base: &str, token: &str, page_size: u32, concurrency: u32) -> Arc<dyn Target> {
    let config = ScimConfig {
        base_url: base.to_string(),
        token_file: None,
        token_url: None,
        client_id: None,
        client_secret_file: None,
        scope: None,
        timeout_seconds: 10,
        page_size,
        max_concurrent_requests: concurrency,
    };
    Arc::new(Scim::new(config.settings("portal", Secret::new(token))).unwrap())
}

const RULES: &str = r#"
account in portal {
  disable 0 days after end
  set userName = lower(ascii(first_name) + "." + ascii(last_name))
  set displayName = display_name
  set givenName = first_name
  set familyName = last_name
  set email = lower(ascii(first_name) + "." + ascii(last_name)) + "@acme.nl"
  set department = department
  set employeeNumber = employee_number + ""
}
when contract.active
  grant group "All Staff" in portal
when department == "Sales"
  grant group "Sales" in portal
"#;

/// The groups an administrator made in the application before Stroom.
fn add_groups(base: &str) {
    for g in ["All Staff", "Sales"] {
        let (status, _) = http(
            "POST",
            base,
            "/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": g}),
            ),
        );
        assert_eq!(status, 201, "{g}");
    }
}

fn users(base: &str) -> Vec<Value> {
    http("GET", base, "/Users", None).1["Resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn members(base: &str, group: &str) -> Vec<String> {
    let filter = stroom::http::encode(&format!("displayName eq \"{group}\""));
    let g = http("GET", base, &format!("/Groups?filter={filter}"), None).1;
    g["Resources"][0]["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn joiner_mover_leaver_and_rehire_in_a_real_scim_server() {
    let server = ScimServer::start();
    let base = &server.base;
    add_groups(base);
    let checked = stroom::rules::check::check_for(
        stroom::rules::load::parse_sources(&[("portal.stroom", RULES)]),
        &[TargetDecl::new("portal", TargetKind::Scim)],
    );
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("portal".into(), target(base, TOKEN));
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let run = |people: &[stroom::model::Person], state: &State| {
        let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
            program: &program,
            persons: people,
            state,
            today: day("2026-12-01"),
        });
        let text = serde_json::to_string(&plan).unwrap();
        let doc = parse_plan("plan.json", &text).unwrap();
        let report = apply(
            &doc,
            &plan_id(&text),
            &targets,
            &journal,
            &Audit::none(),
            &ApplyOptions {
                backoff: Duration::from_millis(20),
                ..ApplyOptions::default()
            },
        )
        .unwrap();
        assert_eq!(report.failed, 0, "{:#?}", report.failures);
        state_after_apply(state, &doc, &journal.steps(&plan_id(&text)).unwrap())
    };
    let joiner = |department: &str, end: Option<&str>| {
        persons(
            json!([{ "id": "p-1", "employee_number": 1042, "first_name": "Zoë", "last_name": "Öztürk",
            "contracts": [{ "id": "c", "start": "2026-01-01", "end": end, "department": department }] }]),
        )
    };

    // A joiner: made with the core and Enterprise attributes, active, in both groups.
    let state = run(&joiner("Sales", None), &State::default());
    let all = users(base);
    assert_eq!(all.len(), 1, "{all:#?}");
    let u = &all[0];
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u["externalId"], "p-1");
    assert_eq!(u["userName"], "zoe.ozturk");
    assert_eq!(u["name"]["givenName"], "Zoë");
    assert_eq!(u["emails"][0]["value"], "zoe.ozturk@acme.nl");
    assert_eq!(u["active"], true);
    let ent = &u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ent["department"], "Sales");
    assert_eq!(ent["employeeNumber"], "1042");
    assert_eq!(members(base, "All Staff"), vec![id.clone()]);
    assert_eq!(members(base, "Sales"), vec![id.clone()]);

    // A mover: the department changes by PATCH, Sales is left.
    let state = run(&joiner("IT", None), &state);
    let u = &users(base)[0];
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "IT"
    );
    assert!(members(base, "Sales").is_empty());
    assert_eq!(members(base, "All Staff"), vec![id.clone()]);

    // A leaver: deactivated, out of the groups; the user is kept.
    let state = run(&joiner("IT", Some("2026-11-15")), &state);
    let u = &users(base)[0];
    assert_eq!(u["active"], false);
    assert!(members(base, "All Staff").is_empty());

    // A rehire: the same user, active again.
    let _ = run(&joiner("IT", None), &state);
    let all = users(base);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all[0]["active"], true);
    assert_eq!(members(base, "All Staff"), vec![id.clone()]);

    // Hostile values in filters match nothing and widen nothing.
    let portal = target(base, TOKEN);
    for hostile in [
        "\" or \"1\" eq \"1",
        "p-1\" or externalId pr or \"",
        "*",
        "p-1\\",
    ] {
        assert!(
            portal.correlate(hostile).unwrap().is_none(),
            "{hostile:?} found someone"
        );
    }
    assert!(portal.correlate("p-1").unwrap().is_some());

    // A refused token stops the run with the fix; the token is never shown.
    let wrong = target(base, "wrong-token");
    let e = wrong.correlate("p-1").unwrap_err();
    assert_eq!(e.kind, stroom::targets::ErrorKind::Fatal, "{e}");
    assert!(
        e.message.contains("HTTP 401") && e.message.contains("STROOM_PORTAL_TOKEN"),
        "{e}"
    );
    assert!(!e.message.contains("wrong-token"));

    // The server's error body is the message: a userName another user has.
    let (status, _) = http(
        "POST",
        base,
        "/Users",
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "taken.name"}),
        ),
    );
    assert_eq!(status, 201);
    let mut attrs = serde_json::Map::new();
    attrs.insert("userName".into(), json!("taken.name"));
    let e = portal.create("p-2", &attrs).unwrap_err();
    assert_eq!(e.kind, stroom::targets::ErrorKind::Refused, "{e}");
    assert!(e.message.contains("HTTP 409 uniqueness"), "{e}");
    assert!(e.message.contains("make it unique in the rules"), "{e}");

    // Reconciliation reads every user, a page of one at a time, and the managed
    // groups' members.
    let paged = target_paged(base, TOKEN, 1);
    let (inventories, _) =
        stroom::targets::read_inventories(&program, &[("portal", paged.as_ref())]).unwrap();
    let inv = &inventories[0];
    assert_eq!(inv.accounts.len(), 2, "{inv:#?}");
    let zoe = inv
        .accounts
        .iter()
        .find(|a| a.person.as_deref() == Some("p-1"))
        .unwrap();
    assert_eq!(zoe.id, id);
    assert_eq!(zoe.name, "zoe.ozturk");
    assert_eq!(zoe.enabled, Some(true));
    assert_eq!(zoe.attributes["department"], "IT");
    assert_eq!(zoe.attributes["email"], "zoe.ozturk@acme.nl");
    assert!(inv.calls >= 4, "{}", inv.calls);
    let held: Vec<(&str, &str)> = inv
        .holdings
        .iter()
        .map(|h| (h.account.as_str(), h.name.as_str()))
        .collect();
    assert_eq!(held, vec![(id.as_str(), "All Staff")]);
}

/// The project's fault-injecting wrapper: a proxy in front of the real server that
/// answers every `throttle_every`th request 429 (with `Retry-After`) and every
/// `fail_every`th 503 with a SCIM error body, and counts what it forwards.
struct Faulty {
    base: String,
    forwarded: Arc<std::sync::atomic::AtomicU64>,
    refused: Arc<std::sync::atomic::AtomicU64>,
    /// The most requests it had in flight at once.
    most_in_flight: Arc<std::sync::atomic::AtomicU64>,
}

fn faulty(upstream: &str, throttle_every: u64, fail_every: u64) -> Faulty {
    faulty_slow(upstream, throttle_every, fail_every, Duration::ZERO)
}

/// [`faulty`] that also holds each forwarded request for `delay`, so that requests
/// sent at once are seen at once.
fn faulty_slow(upstream: &str, throttle_every: u64, fail_every: u64, delay: Duration) -> Faulty {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use std::sync::atomic::{AtomicU64, Ordering};
    let seen = Arc::new(AtomicU64::new(0));
    let forwarded = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let most_in_flight = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));
    let upstream = upstream.trim_end_matches("/v2").to_string();
    let client = reqwest::Client::new();
    let (f, r, most) = (forwarded.clone(), refused.clone(), most_in_flight.clone());
    let router = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (seen, f, r, client, upstream, most, in_flight) = (
                seen.clone(),
                f.clone(),
                r.clone(),
                client.clone(),
                upstream.clone(),
                most.clone(),
                in_flight.clone(),
            );
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let answer = async {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                let error = |status: u16, detail: &str| -> Response {
                    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                      "status": status.to_string(), "detail": detail});
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [
                            ("retry-after", "0"),
                            ("content-type", "application/scim+json"),
                        ],
                        body.to_string(),
                    )
                        .into_response()
                };
                if n % throttle_every == 0 {
                    r.fetch_add(1, Ordering::SeqCst);
                    return error(429, "Too many requests");
                }
                if n % fail_every == 0 {
                    r.fetch_add(1, Ordering::SeqCst);
                    return error(503, "Service unavailable");
                }
                f.fetch_add(1, Ordering::SeqCst);
                let mut req = client.request(
                    method.as_str().parse().unwrap(),
                    format!(
                        "{upstream}{}",
                        uri.path_and_query().map_or("", |p| p.as_str())
                    ),
                );
                for (k, v) in &headers {
                    if k != "host" && k != "content-length" {
                        req = req.header(k.as_str(), v.as_bytes());
                    }
                }
                match req.body(body.to_vec()).send().await {
                    Ok(a) => {
                        let status = StatusCode::from_u16(a.status().as_u16()).unwrap();
                        let etag = a
                            .headers()
                            .get("etag")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let text = a.text().await.unwrap_or_default();
                        let mut h = HeaderMap::new();
                        h.insert("content-type", "application/scim+json".parse().unwrap());
                        if !etag.is_empty() {
                            h.insert("etag", etag.parse().unwrap());
                        }
                        (status, h, text).into_response()
                    }
                    Err(_) => error(502, "upstream down"),
                }
                }
                .await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                answer
            }
        },
    );
    let base = stroom::simulate::spawn(router).unwrap();
    Faulty {
        base: format!("{base}/v2"),
        forwarded,
        refused,
        most_in_flight,
    }
}

/// Through throttling and server errors (the fault-injecting wrapper), then `kill -9`
/// in the middle of `stroom apply` three times: the application ends with exactly the
/// intended users and memberships, each once; `--dry-run` shows the SCIM requests.
#[test]
fn through_throttling_and_kill_9_a_rollout_ends_exactly_right() {
    use std::sync::atomic::Ordering;
    let server = ScimServer::start();
    add_groups(&server.base);
    let proxy = faulty(&server.base, 7, 11);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\nconcurrency = 3\n\
             [targets.portal]\nkind = \"scim\"\nbase_url = \"{}\"\n",
            proxy.base
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("rules.stroom"), RULES).unwrap();
    let n = 24;
    let people: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "id": format!("p-{i:03}"), "employee_number": 2000 + i, "first_name": format!("Test{i}"),
                    "last_name": "Persoon", "contracts": [{ "id": "c", "start": "2026-01-01",
                    "department": if i % 2 == 0 { "Sales" } else { "IT" } }] })
        })
        .collect();
    std::fs::write(
        dir.path().join("persons.json"),
        Value::Array(people).to_string(),
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"));
        c.args(args)
            .current_dir(dir.path())
            .env("STROOM_PORTAL_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let plan = cmd(&[
        "plan",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--today",
        "2026-12-01",
        "--format",
        "json",
    ])
    .output()
    .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    std::fs::write(dir.path().join("plan.json"), &plan.stdout).unwrap();

    // A dry run says what would be sent, and sends nothing.
    let before = proxy.forwarded.load(Ordering::SeqCst);
    let dry = cmd(&["apply", "--plan", "plan.json", "--dry-run"])
        .output()
        .unwrap();
    let out =
        String::from_utf8_lossy(&dry.stdout).to_string() + &String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success(), "{out}");
    assert!(out.contains("POST /Users {"), "{out}");
    assert!(out.contains("\"externalId\":\"p-000\""), "{out}");
    assert!(
        out.contains("PATCH /Users/{id} replace active = true"),
        "{out}"
    );
    assert!(
        out.contains("PATCH /Groups/{id of \"Sales\"} add members"),
        "{out}"
    );
    assert_eq!(
        proxy.forwarded.load(Ordering::SeqCst),
        before,
        "a dry run sent requests"
    );
    assert!(!out.contains(TOKEN));

    let apply = |kill_at: Option<usize>| {
        crate::common::apply_killed_at(
            dir.path(),
            "plan.json",
            &[("STROOM_PORTAL_TOKEN", TOKEN)],
            kill_at,
        )
    };
    for at in [5, 30, 61] {
        let out = apply(Some(at));
        assert!(
            !out.status.success(),
            "killed at {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = apply(None);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("0 failed"), "{err}");
    assert!(!err.contains(TOKEN));
    assert!(
        proxy.refused.load(Ordering::SeqCst) > 5,
        "the wrapper throttled"
    );
    eprintln!(
        "scim rollout of {n}: {} requests forwarded, {} answered 429/503 by the wrapper",
        proxy.forwarded.load(Ordering::SeqCst),
        proxy.refused.load(Ordering::SeqCst)
    );

    // Exactly the intended users, each once and active, and each membership once.
    let all = users(&server.base);
    assert_eq!(all.len(), n as usize, "{all:#?}");
    let mut ids: Vec<&str> = all
        .iter()
        .map(|u| u["externalId"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n as usize);
    assert!(all.iter().all(|u| u["active"] == true));
    assert_eq!(members(&server.base, "All Staff").len(), n as usize);
    assert_eq!(
        members(&server.base, "Sales").len(),
        (n as usize).div_ceil(2)
    );
    let state: State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state.accounts.len(), n as usize);
    assert!(state.accounts.iter().all(|a| a.enabled && a.id.is_some()));
}

/// The request count and time of a 1,000-person first rollout against scim2-server
/// (figures for the book; `cargo test --release --test integration -- --ignored
/// scim_rollout --nocapture`).
#[test]
#[ignore]
fn scim_rollout_of_a_thousand() {
    use std::sync::atomic::Ordering;
    let server = ScimServer::start();
    add_groups(&server.base);
    let counter = faulty(&server.base, u64::MAX, u64::MAX);
    let n = 1000;
    let people: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "id": format!("p-{i:04}"), "employee_number": 3000 + i, "first_name": format!("Test{i}"),
                    "last_name": "Persoon", "contracts": [{ "id": "c", "start": "2026-01-01",
                    "department": if i % 2 == 0 { "Sales" } else { "IT" } }] })
        })
        .collect();
    let started = Instant::now();
    let (actions, report) = roll_out(
        people,
        target(&counter.base, TOKEN),
        &ApplyOptions::default(),
    );
    let took = started.elapsed();
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    eprintln!(
        "scim rollout of {n} persons: {actions} actions, {} requests, {:.1} s",
        counter.forwarded.load(Ordering::SeqCst),
        took.as_secs_f64()
    );
    assert_eq!(users(&server.base).len(), n as usize);
}

/// OAuth 2.0 client credentials: the token comes from the token endpoint once and is
/// kept; a refused client stops the run with the fix, its secret never shown.
#[test]
fn oauth_client_credentials_fetch_the_token_once() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let server = ScimServer::start();
    let asked = Arc::new(AtomicU64::new(0));
    let count = asked.clone();
    let router = axum::Router::new().route(
        "/token",
        axum::routing::post(move |body: String| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let form: HashMap<String, String> = url_pairs(&body);
                let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                    && form.get("client_id").map(String::as_str) == Some("stroom")
                    && form.get("client_secret").map(String::as_str) == Some("client-secret-1");
                if ok {
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})),
                    )
                } else {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": "invalid_client"})),
                    )
                }
            }
        }),
    );
    let issuer = stroom::simulate::spawn(router).unwrap();
    let with = |secret: &str| -> Arc<dyn Target> {
        let config = ScimConfig {
            base_url: server.base.clone(),
            token_file: None,
            token_url: Some(format!("{issuer}/token")),
            client_id: Some("stroom".into()),
            client_secret_file: None,
            scope: Some("scim".into()),
            timeout_seconds: 10,
            page_size: 100,
            max_concurrent_requests: 4,
        };
        Arc::new(Scim::new(config.settings("portal", Secret::new(secret))).unwrap())
    };
    let portal = with("client-secret-1");
    for i in 0..5 {
        assert!(portal.correlate(&format!("p-{i}")).unwrap().is_none());
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "one token for six requests"
    );
    let e = with("wrong-secret").correlate("p-1").unwrap_err();
    assert_eq!(e.kind, stroom::targets::ErrorKind::Fatal, "{e}");
    assert!(
        e.message.contains("invalid_client") && e.message.contains("STROOM_PORTAL_CLIENT_SECRET"),
        "{e}"
    );
    assert!(!e.message.contains("wrong-secret"));
}

/// `a=b&c=d` as a map (what a form body holds).
fn url_pairs(body: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// `max_concurrent_requests` holds however many apply workers there are: 8 workers send
/// at most 2 requests at once to an application limited to 2, and more to one that is
/// not (so the count can tell).
#[test]
fn requests_in_flight_stay_within_the_applications_limit() {
    use std::sync::atomic::Ordering;
    let server = ScimServer::start();
    add_groups(&server.base);
    let mut most = Vec::new();
    for (limit, offset) in [(2, 0), (8, 100)] {
        let proxy = faulty_slow(&server.base, u64::MAX, u64::MAX, Duration::from_millis(30));
        let people: Vec<Value> = (0..16)
            .map(|i| {
                json!({ "id": format!("c-{}", offset + i), "employee_number": 5000 + offset + i,
                        "first_name": format!("Para{}", offset + i), "last_name": "Llel",
                        "contracts": [{ "id": "c", "start": "2026-01-01", "department": "IT" }] })
            })
            .collect();
        let options = ApplyOptions {
            concurrency: 8,
            ..ApplyOptions::default()
        };
        let (_, report) = roll_out(
            people,
            target_with(&proxy.base, TOKEN, 100, limit),
            &options,
        );
        assert_eq!(report.failed, 0, "{:#?}", report.failures);
        most.push(proxy.most_in_flight.load(Ordering::SeqCst));
    }
    assert!(most[0] <= 2 && most[0] >= 1, "limit 2: {} at once", most[0]);
    assert!(most[1] > 2, "limit 8: only {} at once", most[1]);
}

/// Plans `people` (JSON persons) with the portal rules from nothing and applies the plan
/// through `portal`; returns the plan's action count and the report.
fn roll_out(
    people: Vec<Value>,
    portal: Arc<dyn Target>,
    options: &ApplyOptions,
) -> (usize, stroom::apply::ApplyReport) {
    let checked = stroom::rules::check::check_for(
        stroom::rules::load::parse_sources(&[("portal.stroom", RULES)]),
        &[TargetDecl::new("portal", TargetKind::Scim)],
    );
    let program = checked.program.unwrap();
    let people = persons(Value::Array(people));
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program: &program,
        persons: &people,
        state: &State::default(),
        today: day("2026-12-01"),
    });
    let text = serde_json::to_string(&plan).unwrap();
    let doc = parse_plan("plan.json", &text).unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("portal".into(), portal);
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let report = apply(
        &doc,
        &plan_id(&text),
        &targets,
        &journal,
        &Audit::none(),
        options,
    )
    .unwrap();
    (doc.actions.len(), report)
}

/// How the fake server of [`paging_fake`] lists its users.
#[derive(Clone, Copy)]
enum Listing {
    /// The same first page at every startIndex.
    SamePage,
    /// `totalResults: 3`, and new users on every page after it.
    PastTotal,
    /// No `totalResults`; five users, then an empty page.
    NoTotal,
    /// `totalResults: 9`, but an empty page after four.
    Short,
}

/// A SCIM server that lists users wrongly in one of the ways above (pages of two).
fn paging_fake(listing: Listing) -> String {
    use axum::extract::Query;
    let router = axum::Router::new()
        .route(
            "/v2/ServiceProviderConfig",
            axum::routing::get(|| async {
                axum::Json(json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 100},
                                  "etag": {"supported": false}, "bulk": {"supported": false}}))
            }),
        )
        .route(
            "/v2/Groups",
            axum::routing::get(|| async { axum::Json(json!({"totalResults": 0, "Resources": []})) }),
        )
        .route(
            "/v2/Users",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move {
                let start: u64 = q.get("startIndex").and_then(|s| s.parse().ok()).unwrap_or(1);
                let user = |i: u64| json!({"id": format!("u{i}"), "userName": format!("user{i}"), "active": true});
                let page = |from: u64, to: u64| (from..to).map(user).collect::<Vec<_>>();
                axum::Json(match listing {
                    Listing::SamePage => json!({"totalResults": 10, "Resources": page(1, 3)}),
                    Listing::PastTotal => json!({"totalResults": 3, "Resources": page(start, start + 2)}),
                    Listing::NoTotal => json!({"Resources": page(start, (start + 2).min(6))}),
                    Listing::Short => json!({"totalResults": 9, "Resources": page(start, (start + 2).min(5))}),
                })
            }),
        );
    format!("{}/v2", stroom::simulate::spawn(router).unwrap())
}

/// A list read in part is never taken for the whole: a server that repeats a page or
/// ends before its `totalResults` is refused with what it did (reconciliation then
/// reads nothing from it); pages past `totalResults` are not asked for; a list without
/// `totalResults` is read to its empty page.
#[test]
fn a_user_list_that_cannot_be_read_whole_is_refused() {
    let checked = stroom::rules::check::check_for(
        stroom::rules::load::parse_sources(&[("portal.stroom", RULES)]),
        &[TargetDecl::new("portal", TargetKind::Scim)],
    );
    let program = checked.program.unwrap();
    let read = |listing| {
        let t = target_with(&paging_fake(listing), TOKEN, 2, 4);
        stroom::targets::read_inventories(&program, &[("portal", t.as_ref())])
    };
    let refused = |listing, words: &str| match read(listing) {
        Ok((inv, _)) => panic!("read {} accounts from a broken list", inv[0].accounts.len()),
        Err((_, e)) => {
            assert_eq!(e.kind, stroom::targets::ErrorKind::Refused, "{e}");
            assert!(e.message.contains(words), "{e}");
        }
    };
    refused(
        Listing::SamePage,
        "sent a page it sent before (startIndex 3)",
    );
    refused(Listing::Short, "ended after 4 of the 9 it announced");
    let names = |listing| {
        let (inv, _) = read(listing).unwrap_or_else(|(_, e)| panic!("{e}"));
        let mut names: Vec<String> = inv[0].accounts.iter().map(|a| a.name.clone()).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(Listing::NoTotal),
        ["user1", "user2", "user3", "user4", "user5"]
    );
    // Two pages of two for a total of three: the third page is never asked for.
    assert_eq!(
        names(Listing::PastTotal),
        ["user1", "user2", "user3", "user4"]
    );
}

/// A change costs one request: `If-Match` carries the version Stroom last saw of the
/// user. When an administrator changed the user since (the server answers 412), the
/// user is read and the change sent again, and the administrator's change stays.
#[test]
fn a_change_sends_the_version_it_saw_and_survives_a_change_made_since() {
    use std::sync::atomic::Ordering;
    let server = ScimServer::start();
    let counter = faulty(&server.base, u64::MAX, u64::MAX);
    let portal = target(&counter.base, TOKEN);
    // As the engine does: looked for first (which reads what the server offers).
    assert!(portal.correlate("p-etag").unwrap().is_none());
    let attributes = json!({ "userName": "eva.etag", "displayName": "Eva" });
    let account = portal
        .create("p-etag", attributes.as_object().unwrap())
        .unwrap();
    let sent = |before: u64| counter.forwarded.load(Ordering::SeqCst) - before;

    let before = counter.forwarded.load(Ordering::SeqCst);
    portal.enable(&account).unwrap();
    assert_eq!(
        sent(before),
        1,
        "one PATCH with the version from the create"
    );

    // An administrator renames her title in the application.
    let path = format!("/Users/{}", account.id);
    let (status, _) = http(
        "PATCH",
        &server.base,
        &path,
        Some(
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{ "op": "replace", "path": "title", "value": "Chef" }] }),
        ),
    );
    assert!((200..300).contains(&status), "{status}");

    let before = counter.forwarded.load(Ordering::SeqCst);
    let change = json!({ "displayName": "Eva de Vries" });
    portal
        .update(&account, change.as_object().unwrap())
        .unwrap();
    assert_eq!(
        sent(before),
        3,
        "a PATCH refused with 412, a GET, the PATCH again"
    );
    let (_, user) = http("GET", &server.base, &path, None);
    assert_eq!(user["displayName"], "Eva de Vries");
    assert_eq!(user["title"], "Chef", "the administrator's change stays");
    assert_eq!(user["active"], true);

    let before = counter.forwarded.load(Ordering::SeqCst);
    portal.disable(&account).unwrap();
    assert_eq!(
        sent(before),
        1,
        "the version of the last change is known again"
    );
}

/// `stroom check --online` in a folder holding RULES and a stroom.toml for `base`.
fn check_online(base: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!("[targets.portal]\nkind = \"scim\"\nbase_url = \"{base}\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("rules.stroom"), RULES).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
        .args(["check", "rules.stroom", "--online"])
        .args(extra)
        .current_dir(dir.path())
        .env("STROOM_PORTAL_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn check_online_warns_about_attributes_the_applications_schema_lacks() {
    // The default server: the core User and the Enterprise User extension take every
    // attribute RULES sets.
    let full = ScimServer::start();
    let schema = target(&full.base, TOKEN).schema().unwrap().unwrap();
    assert_eq!(schema.source, format!("{}/Schemas", full.base));
    let names: Vec<&str> = schema.attributes.iter().map(|a| &**a).collect();
    assert_eq!(
        names,
        TargetKind::Scim.known_attributes(),
        "all mapped, none read-only"
    );
    let out = check_online(&full.base, &["--deny-warnings"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("announces 16 of the 16 attributes"),
        "{stderr}"
    );
    assert!(stderr.contains("0 warning(s)"), "{stderr}");

    // An application whose User has no Enterprise User extension.
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("resource-types.json");
    std::fs::write(
        &types,
        json!([{
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:User"
        }, {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"
        }])
        .to_string(),
    )
    .unwrap();
    let core_only = ScimServer::start_with(&["--resource-type", types.to_str().unwrap()]);
    let schema = target(&core_only.base, TOKEN).schema().unwrap().unwrap();
    assert!(schema.attributes.iter().any(|a| &**a == "givenName"));
    assert!(!schema.attributes.iter().any(|a| &**a == "department"));
    let out = check_online(&core_only.base, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning only: {stderr}");
    assert!(stderr.contains("stroom::attribute_not_taken"), "{stderr}");
    assert!(
        stderr.contains("portal does not take the attribute `department`")
            && stderr.contains("portal does not take the attribute `employeeNumber`")
            && stderr.contains(&format!(
                "{}/Schemas announces no `department`",
                core_only.base
            )),
        "{stderr}"
    );
    assert!(
        stderr.contains("announces 10 of the 16 attributes"),
        "{stderr}"
    );
    assert!(stderr.contains("2 warning(s)"), "{stderr}");
    let out = check_online(&core_only.base, &["--deny-warnings", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "--deny-warnings");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["warnings"], 2);

    // An application that cannot be asked stops the check: never checked as if asked.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = check_online(&format!("http://127.0.0.1:{port}/v2"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--online") && stderr.contains("portal"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "no secret in an error");
}

/// How a fake application answers discovery.
#[derive(Clone, Copy)]
enum Discovery {
    /// 404 for `/Schemas`: it publishes none.
    NoSchemas,
    /// `/ResourceTypes` with a Group only: `base_url` is not its SCIM root for users.
    NoUserType,
    /// An HTML page where the schemas should be (a login page, a proxy's error).
    Html,
}

fn discovery_fake(answer: Discovery) -> String {
    use axum::response::IntoResponse;
    let router = axum::Router::new()
        .route(
            "/v2/Schemas",
            axum::routing::get(move || async move {
                match answer {
                    Discovery::NoSchemas => axum::http::StatusCode::NOT_FOUND.into_response(),
                    Discovery::NoUserType => axum::Json(json!({ "totalResults": 0, "Resources": [] })).into_response(),
                    Discovery::Html => axum::response::Html("<html>sign in</html>").into_response(),
                }
            }),
        )
        .route(
            "/v2/ResourceTypes",
            axum::routing::get(|| async {
                axum::Json(json!({ "totalResults": 1, "Resources": [{ "id": "Group", "name": "Group",
                    "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group" }] }))
            }),
        );
    format!("{}/v2", stroom::simulate::spawn(router).unwrap())
}

/// Discovery answers that say nothing or nonsense: no `/Schemas` is checked as without
/// `--online` and said so; no User resource type and a page that is not JSON stop the
/// check with what the application did and the fix.
#[test]
fn check_online_names_discovery_answers_it_cannot_use() {
    let none = discovery_fake(Discovery::NoSchemas);
    assert_eq!(target(&none, TOKEN).schema().unwrap(), None);
    let out = check_online(&none, &["--deny-warnings"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("portal: the application publishes no /Schemas"),
        "{stderr}"
    );

    let groups_only = discovery_fake(Discovery::NoUserType);
    let e = target(&groups_only, TOKEN).schema().unwrap_err();
    assert_eq!(e.kind, stroom::targets::ErrorKind::Fatal);
    assert!(
        e.message.contains("no User resource type") && e.message.contains("base_url"),
        "{}",
        e.message
    );
    let out = check_online(&groups_only, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let html = discovery_fake(Discovery::Html);
    let e = target(&html, TOKEN).schema().unwrap_err();
    assert!(
        e.message.contains("portal: GET /Schemas answered no JSON"),
        "{}",
        e.message
    );
    let out = check_online(&html, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("help: check base_url in [targets.portal]"),
        "{stderr}"
    );
}
