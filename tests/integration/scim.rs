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
    let config = ScimConfig {
        base_url: base.to_string(),
        token_file: None,
        timeout_seconds: 10,
        page_size: 100,
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
    for g in ["All Staff", "Sales"] {
        let (status, _) = http(
            "POST",
            base,
            "/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": g}),
            ),
        );
        assert_eq!(status, 201);
    }
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
}
