//! The first-day hand-over, end to end against servers nobody on the project wrote: a
//! real SMTP server (aiosmtpd from PyPI) on loopback that requires STARTTLS with a
//! certificate from a test CA, and the Microsoft 365 simulator's Temporary Access Pass
//! endpoint. The pass reaches the manager once, from the start date; it is in no plan,
//! state, journal, audit log or report; a failed delivery is retried, reported, the
//! pass withdrawn and the hand-over left due for the next run; an interrupted one is
//! never sent twice; a webhook gets the same message.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stroom::apply::audit::Audit;
use stroom::apply::journal::{Journal, StepStatus};
use stroom::apply::{apply, plan_id, state_after_apply, ApplyOptions, ApplyReport, Delivery};
use stroom::model::notice::HandoverState;
use stroom::model::State;
use stroom::notify::Deliver;
use stroom::plan::read::parse_plan;
use stroom::simulate::microsoft::{MicrosoftSim, TenantSetup};
use stroom::targets::entra::{EntraId, EntraSettings};
use stroom::targets::Target;

/// A test CA and a certificate for `localhost` signed by it (openssl).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Stroom test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// aiosmtpd on loopback, writing what it receives to a Maildir; with `tls`, STARTTLS
/// is offered and required before any mail.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    fn start(dir: &Path, port: u16, tls: Option<(&Path, &Path)>) -> Self {
        let maildir = dir.join("maildir");
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// Every message received: (recipient, subject, text), read by Python's own
    /// e-mail parser (headers decoded, transfer encoding undone).
    fn received(&self) -> Vec<(String, String, String)> {
        const SCRIPT: &str = r#"
import email.header, json, mailbox, os, sys
box = mailbox.Maildir(sys.argv[1], create=False)
out = []
for name in sorted(os.listdir(os.path.join(sys.argv[1], "new"))):
    with open(os.path.join(sys.argv[1], "new", name), "rb") as f:
        m = email.message_from_binary_file(f)
    subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    body = m.get_payload(decode=True).decode("utf-8")
    out.append([m["To"], subject, body])
print(json.dumps(out))
"#;
        if !self.maildir.join("new").exists() {
            return Vec::new();
        }
        let out = Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(&self.maildir)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Vec<(String, String, String)> = serde_json::from_slice(&out.stdout).unwrap();
        parsed
            .into_iter()
            .map(|(to, subject, body)| (to, subject, body.replace("\r\n", "\n")))
            .collect()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

const RULES: &str = r#"
default target entra
account in entra {
  create 14 days before start
  set mail = lower(ascii(first_name) + "." + ascii(last_name)) + "@vandijkgroep.nl"
  set userPrincipalName = lower(ascii(first_name) + "." + ascii(last_name)) + "@vandijkgroep.nl"
  set displayName = display_name
  set manager = manager.id
}
handover in entra {
  on create
  valid 2 days
  notify disable
}
"#;

fn staff(extra: Value) -> Vec<stroom::model::Person> {
    let mut all = vec![
        json!({ "id": "m-1", "employee_number": 1001, "first_name": "Marieke", "last_name": "Manager", "business_email": "marieke.manager@vandijkgroep.nl",
                "contracts": [{ "id": "c", "start": "2020-01-01" }] }),
        json!({ "id": "j-1", "employee_number": 1042, "first_name": "Zoë", "last_name": "Öztürk", "manager_id": "m-1",
                "contracts": [{ "id": "c", "start": "2026-12-07" }] }),
        json!({ "id": "j-2", "employee_number": 1043, "first_name": "Noah", "last_name": "Zonder", "manager_id": "nobody",
                "contracts": [{ "id": "c", "start": "2026-12-07" }] }),
    ];
    if let Some(more) = extra.as_array() {
        all.extend(more.iter().cloned());
    }
    persons(Value::Array(all))
}

fn entra(sim: &Arc<MicrosoftSim>, base: &str) -> Arc<dyn Target> {
    let api = sim.api_settings(base, false);
    Arc::new(
        EntraId::new(EntraSettings {
            settle_delay: Duration::from_millis(20),
            ..EntraSettings::new(api)
        })
        .unwrap(),
    )
}

fn notifier(port: u16, ca: &Path) -> Arc<stroom::notify::Notifier> {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[notify]\nsmtp = \"localhost\"\nport = {port}\nfrom = \"Stroom <iam@vandijkgroep.nl>\"\nca_file = \"{}\"\ntimeout_seconds = 5\n",
        ca.display()
    );
    let path = temp_file(dir.path(), "stroom.toml", toml);
    let config = stroom::config::Config::load_with_env(Some(&path), &|_| None).unwrap();
    Arc::new(config.notifier_with_env(&|_| None).unwrap().unwrap())
}

struct Run {
    text: String,
    report: ApplyReport,
    state: State,
}

fn run_plan(
    program: &stroom::rules::program::Program,
    people: &[stroom::model::Person],
    state: &State,
    targets: &HashMap<String, Arc<dyn Target>>,
    journal: &Journal,
    audit: &Audit,
    deliver: Arc<dyn Deliver>,
) -> Run {
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program,
        persons: people,
        state,
        today: day("2026-12-01"),
    });
    let text = serde_json::to_string(&plan).unwrap();
    let doc = parse_plan("plan.json", &text).unwrap();
    let options = ApplyOptions {
        concurrency: 2,
        max_attempts: 3,
        backoff: Duration::from_millis(20),
        deliver: Some(Delivery(deliver)),
        ..ApplyOptions::default()
    };
    let id = plan_id(&text);
    let report = apply(&doc, &id, targets, journal, audit, &options).unwrap();
    let state = state_after_apply(state, &doc, &journal.steps(&id).unwrap());
    Run {
        text,
        report,
        state,
    }
}

fn handover_of(state: &State, person: &str) -> Option<HandoverState> {
    state
        .accounts
        .iter()
        .find(|a| a.person == person && a.target == "entra")
        .and_then(|a| a.handover)
}

#[test]
fn the_first_credential_reaches_the_manager_once_and_is_kept_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let port = free_port();
    let mut smtp = SmtpServer::start(dir.path(), port, Some((&cert, &key)));
    let sim = MicrosoftSim::new(TenantSetup::default());
    let base = sim.start().unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("entra".into(), entra(&sim, &base));
    let program = program(RULES);
    let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let audit = Audit::open(&audit_path).unwrap();
    let mail = notifier(smtp.port, &ca);

    // Joiners: the manager (already working) and two who start on 7 December.
    let people = staff(json!([]));
    let first = run_plan(
        &program,
        &people,
        &State::default(),
        &targets,
        &journal,
        &audit,
        mail.clone(),
    );
    let doc = parse_plan("plan.json", &first.text).unwrap();
    let notices: Vec<_> = doc
        .actions
        .iter()
        .filter_map(|a| a.notice.as_ref().map(|n| (a, n)))
        .collect();
    // Zoë's goes to her manager; Noah has no manager with an address: a note, no guess.
    assert_eq!(notices.len(), 1, "{:#?}", doc.actions);
    let (zoe, notice) = notices[0];
    assert_eq!(zoe.person, "j-1");
    assert_eq!(notice.to, "marieke.manager@vandijkgroep.nl");
    assert!(notice.credential);
    assert_eq!(notice.from, Some(day("2026-12-07")));
    assert_eq!(notice.valid_days, Some(2));
    assert!(
        first
            .text
            .contains("no recipient for the hand-over in entra"),
        "{}",
        first.text
    );
    assert_eq!(
        first.report.failed, 0,
        "{:#?} {:#?}",
        first.report.failures, doc.actions
    );

    // One message, to the manager, with the pass the tenant made, valid from the
    // first day (midnight in the Netherlands) for two days.
    let got = smtp.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let (to, subject, body) = &got[0];
    assert_eq!(to, "marieke.manager@vandijkgroep.nl");
    assert_eq!(subject, "First sign-in for Zoë Öztürk (2026-12-07)");
    let tap = sim.tap("zoe.ozturk@vandijkgroep.nl").expect("a pass");
    let pass = tap["pass"].as_str().unwrap().to_string();
    assert!(body.contains(&format!("    {pass}\n")), "{body}");
    assert!(
        body.contains("zoe.ozturk@vandijkgroep.nl (entra)"),
        "{body}"
    );
    assert!(body.contains("It works until 2026-12-09."), "{body}");
    assert_eq!(tap["startDateTime"], "2026-12-06T23:00:00Z");
    assert_eq!(tap["lifetimeInMinutes"], 2880);
    assert_eq!(handover_of(&first.state, "j-1"), Some(HandoverState::Done));

    // The pass is in nothing Stroom keeps or shows.
    let journal_bytes = std::fs::read(dir.path().join("journal.db")).unwrap();
    let audit_text = std::fs::read_to_string(&audit_path).unwrap();
    let state_text = serde_json::to_string(&first.state).unwrap();
    let report_text = format!("{:?}", first.report);
    for (what, hay) in [
        ("plan", first.text.as_bytes()),
        ("journal", &journal_bytes[..]),
        ("audit log", audit_text.as_bytes()),
        ("state", state_text.as_bytes()),
        ("report", report_text.as_bytes()),
    ] {
        assert!(
            !hay.windows(pass.len()).any(|w| w == pass.as_bytes()),
            "the pass is in the {what}"
        );
    }
    assert!(audit_text.contains(
        "notify create to marieke.manager@vandijkgroep.nl via mail with the first credential"
    ));

    // The next run sends nothing: the state says it was handed over.
    let again = run_plan(
        &program,
        &people,
        &first.state,
        &targets,
        &journal,
        &audit,
        mail.clone(),
    );
    assert!(parse_plan("p", &again.text)
        .unwrap()
        .actions
        .iter()
        .all(|a| a.notice.is_none()));
    assert_eq!(smtp.received().len(), 1);

    // The mail server is down: tried three times, reported, the pass withdrawn, and
    // the hand-over due for the next run.
    smtp.stop();
    let more = staff(
        json!([{ "id": "j-3", "employee_number": 1044, "first_name": "Sem", "last_name": "Later", "manager_id": "m-1",
                              "contracts": [{ "id": "c", "start": "2026-12-07" }] }]),
    );
    let down = run_plan(
        &program,
        &more,
        &again.state,
        &targets,
        &journal,
        &audit,
        mail.clone(),
    );
    assert_eq!(down.report.failed, 1, "{:#?}", down.report);
    let why = &down.report.failures[0].2;
    assert!(why.contains("not delivered after 3 attempt(s)"), "{why}");
    assert!(
        why.contains("the credential was withdrawn and the next run sends a new one"),
        "{why}"
    );
    assert!(sim.tap("sem.later@vandijkgroep.nl").is_none(), "withdrawn");
    assert_eq!(handover_of(&down.state, "j-3"), Some(HandoverState::Due));
    // Due: planned again, and delivered once the server is back.
    let smtp = SmtpServer::start(dir.path(), port, Some((&cert, &key)));
    let retry = run_plan(
        &program,
        &more,
        &down.state,
        &targets,
        &journal,
        &audit,
        mail.clone(),
    );
    let doc = parse_plan("p", &retry.text).unwrap();
    let resent: Vec<_> = doc.actions.iter().filter(|a| a.notice.is_some()).collect();
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].person, "j-3");
    assert!(retry.text.contains("sent again"));
    assert_eq!(retry.report.failed, 0, "{:#?}", retry.report.failures);
    let got = smtp.received();
    assert_eq!(got.len(), 2, "{got:#?}");
    let sem = sim.tap("sem.later@vandijkgroep.nl").unwrap();
    assert!(
        got.iter()
            .any(|m| m.2.contains(sem["pass"].as_str().unwrap())),
        "{got:#?}"
    );
    assert_eq!(handover_of(&retry.state, "j-3"), Some(HandoverState::Done));

    // A leaver: the manager hears of the disable (no credential in it).
    let mut gone = more.clone();
    for p in &mut gone {
        if &*p.id == "j-1" {
            p.contracts[0].end = Some(day("2026-11-30"));
            p.contracts[0].start = Some(day("2025-01-01"));
        }
    }
    let mut enabled = retry.state.clone();
    for a in &mut enabled.accounts {
        if a.person == "j-1" {
            a.enabled = true;
        }
    }
    let left = run_plan(
        &program,
        &gone,
        &enabled,
        &targets,
        &journal,
        &audit,
        mail.clone(),
    );
    assert_eq!(left.report.failed, 0, "{:#?}", left.report.failures);
    let got = smtp.received();
    assert_eq!(got.len(), 3, "{got:#?}");
    let disabled = got
        .iter()
        .find(|m| {
            m.1 == "Account of Zoë Öztürk (1042) disabled"
                || m.1 == "Account of Zoë Öztürk disabled"
        })
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert_eq!(disabled.0, "marieke.manager@vandijkgroep.nl");
    assert!(
        disabled
            .2
            .contains("zoe.ozturk@vandijkgroep.nl (entra) of Zoë Öztürk (1042) was disabled"),
        "{}",
        disabled.2
    );
    assert!(!disabled.2.contains(&pass));
}

/// A run stopped while the pass was being sent leaves the step started in the
/// journal: the resumed run does not send it again, and says so.
#[test]
fn an_interrupted_hand_over_is_never_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let sim = MicrosoftSim::new(TenantSetup::default());
    let base = sim.start().unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("entra".into(), entra(&sim, &base));
    let program = program(RULES);
    let people = staff(json!([]));
    let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
        program: &program,
        persons: &people,
        state: &State::default(),
        today: day("2026-12-01"),
    });
    let text = serde_json::to_string(&plan).unwrap();
    let doc = parse_plan("plan.json", &text).unwrap();
    let id = plan_id(&text);
    let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
    let notify = doc.actions.iter().find(|a| a.notice.is_some()).unwrap();
    journal.begin(&id).unwrap();
    journal
        .mark(&id, notify.seq, StepStatus::Started, None, None)
        .unwrap();
    let sent = Arc::new(Recorder::default());
    let options = ApplyOptions {
        deliver: Some(Delivery(sent.clone())),
        ..ApplyOptions::default()
    };
    let report = apply(&doc, &id, &targets, &journal, &Audit::none(), &options).unwrap();
    assert!(sent.messages.lock().unwrap().is_empty(), "sent again");
    assert!(
        sim.tap("zoe.ozturk@vandijkgroep.nl").is_none(),
        "no second pass made"
    );
    assert_eq!(report.failed, 1, "{report:#?}");
    assert!(
        report.failures[0]
            .2
            .contains("it may have arrived, so it is not sent again"),
        "{report:#?}"
    );
    let state = state_after_apply(&State::default(), &doc, &journal.steps(&id).unwrap());
    assert_eq!(handover_of(&state, "j-1"), Some(HandoverState::Done));
    // And a plan with a hand-over is not applied without a channel to carry it.
    let err = apply(
        &doc,
        "other",
        &targets,
        &journal,
        &Audit::none(),
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, stroom::apply::ApplyError::NoDelivery),
        "{err}"
    );
}

/// Records messages instead of sending them.
#[derive(Default)]
struct Recorder {
    messages: Mutex<Vec<String>>,
    templates: stroom::notify::Templates,
}

impl Deliver for Recorder {
    fn deliver(&self, m: &stroom::notify::Message) -> Result<(), stroom::notify::DeliveryError> {
        self.messages.lock().unwrap().push(m.subject.clone());
        Ok(())
    }

    fn templates(&self) -> &stroom::notify::Templates {
        &self.templates
    }
}

/// STARTTLS is required: a server that does not offer it gets nothing, in clear text
/// or otherwise.
#[test]
fn a_server_without_starttls_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = certificates(dir.path());
    let smtp = SmtpServer::start(dir.path(), free_port(), None);
    let mail = notifier(smtp.port, &ca);
    let m = stroom::notify::Message {
        event: stroom::model::notice::NoticeEvent::Create,
        to: "x@example.nl".into(),
        via: stroom::model::notice::Channel::Mail,
        subject: "s".into(),
        body: stroom::secret::Secret::new("secret-pass"),
    };
    let e = mail.deliver(&m).unwrap_err();
    assert!(e.message.contains("SMTP"), "{e}");
    assert!(!e.message.contains("secret-pass"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(smtp.received().is_empty());
}

/// A webhook (Teams, Slack, a ticketing system) gets the message as JSON `text`.
#[test]
fn a_webhook_gets_the_hand_over_as_json() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as many bytes as Content-Length says.
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        keep.lock()
                            .unwrap()
                            .push(serde_json::from_str(body).unwrap_or(Value::Null));
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let url_file = temp_file(
        dir.path(),
        "desk-url",
        format!("http://127.0.0.1:{port}/hook/abc-secret\n"),
    );
    let toml = format!(
        "[notify.webhooks.desk]\nurl_file = \"{}\"\n",
        url_file.display()
    );
    let path = temp_file(dir.path(), "stroom.toml", toml);
    let config = stroom::config::Config::load_with_env(Some(&path), &|_| None).unwrap();
    let notifier: Arc<dyn Deliver> =
        Arc::new(config.notifier_with_env(&|_| None).unwrap().unwrap());

    let sim = MicrosoftSim::new(TenantSetup::default());
    let base = sim.start().unwrap();
    let mut targets: HashMap<String, Arc<dyn Target>> = HashMap::new();
    targets.insert("entra".into(), entra(&sim, &base));
    let rules = RULES.replace(
        "  valid 2 days",
        "  via webhook \"desk\"\n  to \"servicedesk@vandijkgroep.nl\"",
    );
    let program = program(&rules);
    let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
    let people = staff(json!([]));
    let run = run_plan(
        &program,
        &people,
        &State::default(),
        &targets,
        &journal,
        &Audit::none(),
        notifier,
    );
    assert_eq!(run.report.failed, 0, "{:#?}", run.report.failures);
    let posts = got.lock().unwrap().clone();
    // Every new account, the manager's too: the recipient is fixed now.
    assert_eq!(posts.len(), 3, "{posts:#?}");
    let zoe = posts
        .iter()
        .find(|p| p["text"].as_str().unwrap().contains("Zoë"))
        .unwrap();
    assert_eq!(zoe["event"], "create");
    assert_eq!(zoe["to"], "servicedesk@vandijkgroep.nl");
    let pass = sim.tap("zoe.ozturk@vandijkgroep.nl").unwrap()["pass"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(zoe["text"].as_str().unwrap().contains(&pass));
    // A one-day pass by default.
    assert_eq!(
        sim.tap("zoe.ozturk@vandijkgroep.nl").unwrap()["lifetimeInMinutes"],
        1440
    );
}

/// `stroom apply` of a blocked plan tells the admins (`[notify] blocked_to`) by mail,
/// applies nothing and exits 3.
#[test]
fn a_blocked_plan_is_mailed_to_the_admins() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let smtp = SmtpServer::start(dir.path(), free_port(), Some((&cert, &key)));
    let toml = format!(
        "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n\
         [notify]\nsmtp = \"localhost\"\nport = {}\nfrom = \"Stroom <iam@vandijkgroep.nl>\"\n\
         ca_file = \"{}\"\nblocked_to = [\"iam-team@vandijkgroep.nl\"]\n",
        smtp.port,
        ca.display()
    );
    temp_file(dir.path(), "stroom.toml", toml);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let plan = json!({
        "today": "2026-12-01",
        "blocked": { "kind": "threshold", "op": "disable_account", "count": 30, "limit": "25",
                     "rule": { "rule": "settings", "file": "00-settings.stroom", "line": 17 },
                     "message": "the plan holds 30 disable_account action(s), more than the threshold of 25" },
        "actions": [{ "seq": 1, "op": "disable_account", "person": "p-1", "target": "ad", "because": [] }]
    });
    temp_file(dir.path(), "plan.json", plan.to_string());
    let out = stroom_cmd(&["apply", "--plan", "plan.json", "--state", "state.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let got = smtp.received();
    assert_eq!(got.len(), 1, "{got:#?} {}", text(&out));
    assert_eq!(got[0].0, "iam-team@vandijkgroep.nl");
    assert_eq!(got[0].1, "Stroom: a plan was blocked and not applied");
    assert!(
        got[0].2.contains("more than the threshold of 25"),
        "{}",
        got[0].2
    );
    assert!(!dir.path().join("state.json").exists(), "nothing applied");
}
