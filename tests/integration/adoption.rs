//! Taking over a directory Stroom did not make: a Samba AD populated by the test with
//! `ldapadd` (not through Stroom), shaped like a real old directory, then
//! `stroom reconcile` (every situation), `--adopt` through `stroom apply` (killed
//! with SIGKILL on the way), the first plan afterwards, and the policy enforced.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const BASE: &str = "DC=stroom,DC=test";
const ADMIN: &str = "Administrator@STROOM.TEST";
const PASS: &str = "Str00m-Test-Pass!";

/// Extra old accounts found by employee number, so that adoption has enough steps to
/// be killed in the middle of.
const EXTRA: usize = 40;

fn b64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An LDIF line; values that are not plain ASCII go base64 (RFC 2849).
fn line(attr: &str, value: &str) -> String {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if plain {
        format!("{attr}: {value}\n")
    } else {
        format!("{attr}:: {}\n", b64(value.as_bytes()))
    }
}

struct Old<'a> {
    cn: &'a str,
    sam: String,
    given: &'a str,
    sn: &'a str,
    department: &'a str,
    employee_id: Option<String>,
    person: Option<&'a str>,
    enabled: bool,
}

fn user_ldif(ou: &str, u: &Old) -> String {
    let pwd: Vec<u8> = "\"Old-Passw0rd!23\""
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut s = line("dn", &format!("CN={},OU=Users,{ou}", u.cn));
    s += "objectClass: user\n";
    s += &line("sAMAccountName", &u.sam);
    s += &line("givenName", u.given);
    s += &line("sn", u.sn);
    s += &line("displayName", u.cn);
    s += &line("department", u.department);
    if let Some(e) = &u.employee_id {
        s += &line("employeeID", e);
    }
    if let Some(p) = u.person {
        s += &line("employeeNumber", p);
    }
    s += &format!("unicodePwd:: {}\n", b64(&pwd));
    s += &format!(
        "userAccountControl: {}\n\n",
        if u.enabled { 512 } else { 514 }
    );
    s
}

fn ldap(tool: &str, ldif: &str) {
    let mut child = std::process::Command::new(tool)
        .args(["-H", "ldaps://127.0.0.1:636", "-x", "-D", ADMIN, "-w", PASS])
        .env("LDAPTLS_REQCERT", "never")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{tool}: {}\n{ldif}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn search(base: &str, filter: &str, attrs: &[&str]) -> Vec<ldap3::SearchEntry> {
    let mut c = ldap3::LdapConn::with_settings(
        ldap3::LdapConnSettings::new().set_no_tls_verify(true),
        "ldaps://127.0.0.1:636",
    )
    .unwrap();
    c.simple_bind(ADMIN, PASS).unwrap().success().unwrap();
    let (entries, _) = c
        .search(base, ldap3::Scope::Subtree, filter, attrs.to_vec())
        .unwrap()
        .success()
        .unwrap();
    entries
        .into_iter()
        .map(ldap3::SearchEntry::construct)
        .collect()
}

fn members(ou: &str, group: &str) -> Vec<String> {
    search(ou, &format!("(cn={group})"), &["member"])
        .pop()
        .and_then(|e| e.attrs.get("member").cloned())
        .unwrap_or_default()
}

fn person(
    id: &str,
    number: u32,
    first: &str,
    last: &str,
    department: &str,
    end: Option<&str>,
) -> Value {
    serde_json::json!({
        "id": id, "employee_number": number, "first_name": first, "last_name": last,
        "employee_type": if end.is_some() { "formerPayroll" } else { "payroll" },
        "contracts": [{"id": format!("c-{id}"), "start": "2020-01-01", "end": end, "department": department}]
    })
}

/// `stroom` in a test's folder, with the target's secret in its environment.
struct Cli<'d> {
    dir: &'d std::path::Path,
    secret: (&'static str, String),
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args(args)
            .current_dir(self.dir)
            .env(self.secret.0, &self.secret.1)
            .output()
            .unwrap()
    }

    /// `stroom reconcile --format json` on the folder's rules and persons: the exit
    /// status, the report and what went to stderr.
    fn reconcile(&self, extra: &[&str]) -> (Option<i32>, Value, String) {
        let mut args = vec![
            "reconcile",
            "--rules",
            "rules.stroom",
            "--persons",
            "persons.json",
            "--today",
            "2026-12-01",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code(),
            report,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The report's persons of one situation, as `person → account name`.
fn situation(report: &Value, which: &str) -> BTreeMap<String, String> {
    report["targets"][0]["persons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["situation"] == which)
        .map(|p| {
            (
                p["person"].as_str().unwrap().to_string(),
                p["account"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn an_old_directory_is_reconciled_adopted_planned_and_enforced() {
    super::ad::samba();
    let tag = format!("{:05x}", stroom::random::random_u64() & 0xfffff);
    let ou = format!("OU=old-{tag},{BASE}");
    let (staff, golf) = (format!("Staff-{tag}"), format!("Golf-{tag}"));
    let dep = |d: &str| format!("DEP{tag}-{d}");
    let users = format!("OU=Users,{ou}");
    // The directory as an organisation has it before Stroom.
    let mut ldif = String::new();
    for dn in [ou.clone(), users.clone()] {
        ldif += &format!("dn: {dn}\nobjectClass: organizationalUnit\n\n");
    }
    let s = |name: &str| format!("{name}{tag}");
    let mut old = vec![
        // Found by the employee number; a member of her department's group and of a
        // group no rule mentions.
        Old {
            cn: "Anna de Vries",
            sam: s("avries"),
            given: "Anna",
            sn: "de Vries",
            department: "Sales",
            employee_id: Some("1001".into()),
            person: None,
            enabled: true,
        },
        // Two accounts with one name and no employee number: ambiguous.
        Old {
            cn: "Jan Jansen",
            sam: s("jjansen"),
            given: "Jan",
            sn: "Jansen",
            department: "Sales",
            employee_id: None,
            person: None,
            enabled: true,
        },
        Old {
            cn: "Jan Jansen (2)",
            sam: s("jjansen2"),
            given: "Jan",
            sn: "Jansen",
            department: "Sales",
            employee_id: None,
            person: None,
            enabled: true,
        },
        // A leaver, disabled years ago.
        Old {
            cn: "Piet Bakker",
            sam: s("pbakker"),
            given: "Piet",
            sn: "Bakker",
            department: "IT",
            employee_id: Some("1003".into()),
            person: None,
            enabled: false,
        },
        // Linked already (carries the person id), added to a managed group by hand.
        Old {
            cn: "Karel Smit",
            sam: s("ksmit"),
            given: "Karel",
            sn: "Smit",
            department: "IT",
            employee_id: Some("1004".into()),
            person: Some("p-4"),
            enabled: true,
        },
        // Diacritics and LDAP metacharacters in the names.
        Old {
            cn: "Zoë O'Brien (Jr)*",
            sam: s("zobrien"),
            given: "Zoë",
            sn: "O'Brien (Jr)*",
            department: "Sales",
            employee_id: Some("1005".into()),
            person: None,
            enabled: true,
        },
        // Linked, but a duplicate carries the same employee number: a conflict.
        Old {
            cn: "Bram Mulder",
            sam: s("bmulder"),
            given: "Bram",
            sn: "Mulder",
            department: "IT",
            employee_id: Some("1007".into()),
            person: Some("p-7"),
            enabled: true,
        },
        Old {
            cn: "Bram Mulder (old)",
            sam: s("bram"),
            given: "Bram",
            sn: "Mulder",
            department: "IT",
            employee_id: Some("1007".into()),
            person: None,
            enabled: true,
        },
        // Someone no longer in Nmbrs, and a service account (excluded by the policy).
        Old {
            cn: "Oud Medewerker",
            sam: s("oud"),
            given: "Oud",
            sn: "Medewerker",
            department: "IT",
            employee_id: Some("1999".into()),
            person: None,
            enabled: true,
        },
        Old {
            cn: "svc-backup",
            sam: s("svc"),
            given: "",
            sn: "backup",
            department: "IT",
            employee_id: None,
            person: None,
            enabled: true,
        },
    ];
    let extra_names: Vec<String> = (0..EXTRA).map(|k| format!("Extra{k:02}")).collect();
    for (k, name) in extra_names.iter().enumerate() {
        old.push(Old {
            cn: name,
            sam: s(&format!("x{k:02}")),
            given: "Extra",
            sn: name,
            department: "Sales",
            employee_id: Some(format!("{}", 2000 + k)),
            person: None,
            enabled: true,
        });
    }
    for u in old.iter_mut().filter(|u| u.given.is_empty()) {
        u.given = "svc";
    }
    for u in &old {
        ldif += &user_ldif(&ou, u);
    }
    let member_dn = |cn: &str| format!("CN={cn},{users}");
    let group = |name: &str, members: &[String]| {
        let mut g = line("dn", &format!("CN={name},{ou}"));
        g += "objectClass: group\n";
        g += &line("sAMAccountName", name);
        for m in members {
            g += &line("member", m);
        }
        g + "\n"
    };
    ldif += &group(&dep("sales"), &[member_dn("Anna de Vries")]);
    ldif += &group(
        &dep("it"),
        &[member_dn("Karel Smit"), member_dn("Bram Mulder")],
    );
    ldif += &group(&staff, &[member_dn("Karel Smit")]);
    ldif += &group(
        &golf,
        &[member_dn("Anna de Vries"), member_dn("Karel Smit")],
    );
    ldap("ldapadd", &ldif);
    let before = search(&ou, "(objectClass=user)", &["cn"]).len();
    assert_eq!(before, old.len());

    let dir = tempfile::tempdir().unwrap();
    let config = |drift: &str| {
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\nconcurrency = 2\n\
             [targets.ad]\nurl = \"ldaps://127.0.0.1:636\"\naccept_invalid_certificates = true\n\
             bind_dn = \"{ADMIN}\"\nusers_dn = \"{users}\"\ngroups_dn = \"{ou}\"\npage_size = 7\n\
             [targets.ad.reconcile]\ndrift = \"{drift}\"\n\
             exclude = [{{ account = \"{svc}\", until = 2027-06-30, reason = \"backup service account\" }}]\n",
            svc = s("svc")
        )
    };
    std::fs::write(dir.path().join("stroom.toml"), config("report")).unwrap();
    std::fs::write(
        dir.path().join("rules.stroom"),
        format!(
            r#"default target ad
rule "accounts" {{
  account in ad {{
    set cn = display_name
    set sAMAccountName = unique [lower(left(ascii(first_name), 1) + ascii(last_name)) + "{tag}"] max 20
    set givenName = first_name
    set sn = family_name
    set department = department
    set employeeID = employee_number + ""
    correlate employeeID = employee_number + ""
    correlate givenName, sn
  }}
}}
rule "groups" {{
  when department is not empty
    grant group "DEP{tag}-" + lower(department)
  when department == "Sales"
    grant group "{staff}"
}}
"#
        ),
    )
    .unwrap();
    let mut persons = vec![
        person("p-1", 1001, "Anna", "Vries", "Sales", None),
        person("p-2", 1002, "Jan", "Jansen", "Sales", None),
        person("p-3", 1003, "Piet", "Bakker", "IT", Some("2023-06-30")),
        person("p-4", 1004, "Karel", "Smit", "IT", None),
        person("p-5", 1005, "Zoë", "O'Brien (Jr)*", "Sales", None),
        person("p-6", 1006, "Lotte", "Visser", "Sales", None),
        person("p-7", 1007, "Bram", "Mulder", "IT", None),
    ];
    persons[0]["prefix"] = Value::from("de");
    for (k, name) in extra_names.iter().enumerate() {
        persons.push(person(
            &format!("x-{k:02}"),
            2000 + k as u32,
            "Extra",
            name,
            "Sales",
            None,
        ));
    }
    std::fs::write(
        dir.path().join("persons.json"),
        serde_json::to_string(&persons).unwrap(),
    )
    .unwrap();
    let cli = Cli {
        dir: dir.path(),
        secret: ("STROOM_AD_PASSWORD", PASS.to_string()),
    };
    let stroom = |args: &[&str]| cli.run(args);
    let reconcile = |extra: &[&str]| cli.reconcile(extra);

    // 1. The report: every situation, exactly.
    let (code, report, err) = reconcile(&[]);
    assert_eq!(code, Some(1), "findings give exit 1: {err}");
    let t = &report["targets"][0];
    let mut matched: BTreeMap<String, String> = BTreeMap::from([
        ("p-1".to_string(), s("avries")),
        ("p-3".to_string(), s("pbakker")),
        ("p-5".to_string(), s("zobrien")),
    ]);
    for k in 0..EXTRA {
        matched.insert(format!("x-{k:02}"), s(&format!("x{k:02}")));
    }
    assert_eq!(situation(&report, "matched"), matched, "{report:#}");
    assert_eq!(
        situation(&report, "missing").keys().collect::<Vec<_>>(),
        ["p-6"]
    );
    assert_eq!(
        situation(&report, "conflict"),
        BTreeMap::from([("p-7".into(), s("bmulder"))])
    );
    let ambiguous = &t["persons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["situation"] == "ambiguous")
        .unwrap();
    assert_eq!(ambiguous["person"], "p-2");
    let mut candidates: Vec<&str> = ambiguous["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    candidates.sort_unstable();
    let mut want = [s("jjansen"), s("jjansen2")];
    want.sort_unstable();
    assert_eq!(candidates, want);
    let conflict = t["persons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["situation"] == "conflict")
        .unwrap();
    assert_eq!(conflict["candidates"][0]["name"], s("bram"));
    let unmanaged: Vec<&str> = t["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["account"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(unmanaged, [s("oud")], "{report:#}");
    assert_eq!(t["excluded"][0]["account"]["name"], s("svc"));
    assert_eq!(t["excluded"][0]["until"], "2027-06-30");
    assert_eq!(t["counts"]["linked"], 1);
    assert_eq!(t["counts"]["accounts"], old.len());
    // Read a page of 7 at a time: more than one page of accounts.
    assert!(
        t["calls"].as_u64().unwrap() >= (old.len() / 7) as u64,
        "{}",
        t["calls"]
    );
    // Drift on the linked account: the hand-added membership of a managed group; the
    // unmanaged group (Golf) is nobody's business.
    let drift: Vec<(String, String, String)> = t["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["person"].as_str().unwrap().into(),
                d["kind"].as_str().unwrap().into(),
                d["name"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        drift.contains(&("p-4".into(), "unexplained".into(), staff.clone())),
        "{drift:?} {report:#}"
    );
    assert!(!drift.iter().any(|d| d.2 == golf), "{drift:?}");
    // Nothing was written: no account carries a person id it did not carry before.
    let linked_now = search(&ou, "(employeeNumber=*)", &["employeeNumber"]).len();
    assert_eq!(linked_now, 2);
    // The table says the same for people.
    let out = stroom(&[
        "reconcile",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--today",
        "2026-12-01",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("{} ", s("oud"))), "{table}");
    assert!(
        table.contains("ambiguous:") && table.contains("conflict:"),
        "{table}"
    );

    // 2. The admin settles the ambiguity in the directory: the right Jan gets his
    // employee number.
    ldap(
        "ldapmodify",
        &format!("dn: CN=Jan Jansen,{users}\nchangetype: modify\nreplace: employeeID\nemployeeID: 1002\n\n"),
    );

    // 3. Adoption, through the journal, killed twice on the way.
    let (code, _, err) = reconcile(&["--adopt", "--plan-out", "adopt.json"]);
    assert_eq!(code, Some(1), "{err}");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("adopt.json")).unwrap())
            .unwrap();
    let links: Vec<&Value> = plan["actions"].as_array().unwrap().iter().collect();
    assert!(links.iter().all(|a| a["op"] == "link_account"), "{plan:#}");
    // Matched (with Jan now) and the two linked ones the state did not know.
    assert_eq!(links.len(), matched.len() + 1 + 2, "{plan:#}");
    assert!(plan["blocked"].is_null(), "{}", plan["blocked"]);
    let apply = |wait: Option<usize>| {
        crate::common::apply_killed_at(
            dir.path(),
            "adopt.json",
            &[("STROOM_AD_PASSWORD", PASS)],
            wait,
        )
    };
    // A dry run says what each link would write, and writes nothing.
    let out = stroom(&[
        "apply",
        "--plan",
        "adopt.json",
        "--state",
        "state.json",
        "--dry-run",
        "--format",
        "json",
    ]);
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    let would: Vec<&str> = dry["would"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        would.iter().any(|w| w.contains(&format!(
            "LDAP modify CN=Anna de Vries,{users}: replace employeeNumber = p-1"
        ))),
        "{would:#?}"
    );
    assert_eq!(
        search(&ou, "(employeeNumber=*)", &["employeeNumber"]).len(),
        2
    );
    for at in [5, 20] {
        let out = apply(Some(at));
        assert!(
            !out.status.success(),
            "killed at audit line {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = apply(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(" 0 failed"), "{err}");
    // Linked without a single new account; the conflict's duplicate was not touched.
    assert_eq!(search(&ou, "(objectClass=user)", &["cn"]).len(), before);
    let carried: BTreeMap<String, String> = search(
        &ou,
        "(employeeNumber=*)",
        &["employeeNumber", "sAMAccountName"],
    )
    .into_iter()
    .map(|e| {
        (
            e.attrs["employeeNumber"][0].clone(),
            e.attrs["sAMAccountName"][0].clone(),
        )
    })
    .collect();
    let mut expected = matched.clone();
    expected.insert("p-2".into(), s("jjansen"));
    expected.insert("p-4".into(), s("ksmit"));
    expected.insert("p-7".into(), s("bmulder"));
    assert_eq!(carried, expected);
    let state: stroom::model::State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state.accounts.len(), expected.len());
    let zoe = state.accounts.iter().find(|a| a.person == "p-5").unwrap();
    assert_eq!(
        zoe.attributes["sAMAccountName"],
        s("zobrien"),
        "the old name is kept"
    );
    assert!(
        zoe.id
            .as_deref()
            .unwrap()
            .starts_with("CN=Zoë O'Brien (Jr)*,"),
        "{:?}",
        zoe.id
    );

    // 4. The first plan afterwards: only the really missing account is created; the
    // hand-added membership stays (the policy reports drift), the unmanaged group too.
    let out = stroom(&[
        "plan",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--state",
        "state.json",
        "--today",
        "2026-12-01",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let creates: Vec<&str> = first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] == "create_account")
        .map(|a| a["person"].as_str().unwrap())
        .collect();
    assert_eq!(creates, ["p-6"], "{first:#}");
    let revokes: Vec<&Value> = first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] == "revoke")
        .collect();
    assert!(revokes.is_empty(), "{revokes:#?}");
    // The leaver's old account stays disabled; nobody is deleted who was not made by
    // the rules' lifecycle... the plan asks nothing of p-3 but what the lifecycle says.
    assert!(!first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["person"] == "p-3" && a["op"] == "enable_account"));

    // 5. Enforce: the policy now revokes the hand-added managed membership, and leaves
    // the unmanaged group alone.
    std::fs::write(dir.path().join("stroom.toml"), config("enforce")).unwrap();
    let (_, report, err) = reconcile(&["--plan-out", "enforce.json", "--state", "state.json"]);
    assert!(
        report["targets"][0]["drift"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["enforced"] == true),
        "{err}"
    );
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("enforce.json")).unwrap())
            .unwrap();
    let revokes: Vec<(&str, &str)> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] == "revoke")
        .map(|a| (a["person"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(revokes, [("p-4", staff.as_str())], "{plan:#}");
    let out = stroom(&["apply", "--plan", "enforce.json", "--state", "state.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let karel = member_dn("Karel Smit").to_lowercase();
    assert!(!members(&ou, &staff)
        .iter()
        .any(|m| m.to_lowercase() == karel));
    assert!(
        members(&ou, &golf)
            .iter()
            .any(|m| m.to_lowercase() == karel),
        "the unmanaged group is left alone"
    );
}

/// Graph as an admin's script uses it: the test makes the tenant's old users and
/// memberships through the simulator's Graph endpoints, not through Stroom's targets.
struct Graph {
    client: stroom::targets::microsoft::MicrosoftClient,
    runtime: tokio::runtime::Runtime,
}

impl Graph {
    fn call(
        &self,
        method: stroom::targets::microsoft::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let answer = self
            .runtime
            .block_on(self.client.send(method, path, body.as_ref(), &[]))
            .unwrap();
        assert!(answer.ok(), "{path}: {} {}", answer.status, answer.body);
        answer.body
    }

    fn user(&self, upn: &str, name: &str, extra: Value) -> String {
        let mut body = serde_json::json!({
            "accountEnabled": true, "displayName": name, "userPrincipalName": upn,
            "mailNickname": upn.split('@').next().unwrap(), "mail": upn, "usageLocation": "NL",
            "passwordProfile": {"password": "Old-Passw0rd!23", "forceChangePasswordNextSignIn": false}
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let made = self.call(
            stroom::targets::microsoft::Method::Post,
            "/v1.0/users",
            Some(body),
        );
        made["id"].as_str().unwrap().to_string()
    }

    fn add_member(&self, group: &str, user: &str) {
        let groups = self.call(
            stroom::targets::microsoft::Method::Get,
            "/v1.0/groups?$top=999",
            None,
        );
        let gid = groups["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["displayName"] == group)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.call(
            stroom::targets::microsoft::Method::Post,
            &format!("/v1.0/groups/{gid}/members/$ref"),
            Some(serde_json::json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")})),
        );
    }
}

/// The same story in Entra ID: more than one page of users, a list that lags behind
/// the writes, adoption, the first plan, enforcement.
#[test]
fn an_old_tenant_is_reconciled_over_many_pages_and_adopted() {
    use stroom::simulate::microsoft::{Faults, MicrosoftSim, TenantSetup};
    const N: usize = 1100;
    let sim = MicrosoftSim::new(TenantSetup::default());
    let base = sim.start().unwrap();
    let setup = sim.setup().clone();
    let graph = Graph {
        client: stroom::targets::microsoft::MicrosoftClient::new(
            sim.api_settings(&base, false),
            "Graph",
        )
        .unwrap(),
        runtime: stroom::targets::microsoft::runtime("Graph").unwrap(),
    };
    // The old tenant: N users found by employee number; one linked, leaving, with a
    // hand-added managed group and an unmanaged one; two "Jan Jansen"s; a printer.
    let mut persons = Vec::new();
    for k in 0..N {
        let id = format!("e-{k:04}");
        let upn = format!("medewerker{k:04}@vandijkgroep.nl");
        let mut extra = serde_json::json!({"employeeId": format!("{}", 5000 + k)});
        if k == 0 {
            extra["onPremisesExtensionAttributes"] = serde_json::json!({"extensionAttribute1": id});
        }
        let uid = graph.user(&upn, &format!("Medewerker {k:04}"), extra);
        if k == 0 {
            graph.add_member("All Staff", &uid);
            graph.add_member("Sales Team", &uid);
        }
        let end = (k == 0).then_some("2026-06-30");
        persons.push(person(
            &id,
            5000 + k as u32,
            "Medewerker",
            &format!("{k:04}"),
            "Sales",
            end,
        ));
    }
    let jan1 = graph.user(
        "jan.jansen@vandijkgroep.nl",
        "Jan Jansen",
        serde_json::json!({}),
    );
    graph.user(
        "j.jansen@vandijkgroep.nl",
        "Jan Jansen",
        serde_json::json!({}),
    );
    graph.user(
        "printer@vandijkgroep.nl",
        "Printer 2e verdieping",
        serde_json::json!({}),
    );
    persons.push(person("jan", 9001, "Jan", "Jansen", "Sales", None));
    persons.push(person("new", 9002, "Lotte", "Visser", "Sales", None));

    let dir = tempfile::tempdir().unwrap();
    let config = |drift: &str| {
        format!(
            "[store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n\
             [targets.entra]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority = \"{base}\"\ngraph_url = \"{base}\"\n\
             [targets.entra.reconcile]\ndrift = \"{drift}\"\n",
            setup.tenant_id, setup.client_id
        )
    };
    std::fs::write(dir.path().join("stroom.toml"), config("report")).unwrap();
    std::fs::write(
        dir.path().join("rules.stroom"),
        r#"default target entra
let staff = person.employee_type in ["payroll", "newHire"]
rule "entra-account" {
  account in entra {
    disable 0 days after end
    set mail = unique [lower(ascii(first_name) + "." + ascii(last_name)), lower(left(ascii(first_name), 1) + "." + ascii(last_name))] max 48 ending "@vandijkgroep.nl"
    set displayName = display_name
    set employeeId = employee_number + ""
    set usageLocation = "NL"
    correlate employeeId = employee_number + ""
    correlate mail
  }
}
rule "groups" {
  when staff and contract.active
    grant group "All Staff"
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("persons.json"),
        serde_json::to_string(&persons).unwrap(),
    )
    .unwrap();
    let cli = Cli {
        dir: dir.path(),
        secret: ("STROOM_ENTRA_CLIENT_SECRET", setup.client_secret.clone()),
    };
    let stroom = |args: &[&str]| cli.run(args);
    let reconcile = |extra: &[&str]| cli.reconcile(extra).1;

    // Eventual consistency: users made moments ago are not in the list yet. They show
    // as missing; nothing is created from such a read (reconcile writes nothing).
    let lagging = "lagging@vandijkgroep.nl";
    sim.set_faults(Faults {
        index_lag_ms: 60_000,
        ..Faults::default()
    });
    let late = graph.user(
        lagging,
        "Laat Later",
        serde_json::json!({"employeeId": "9003"}),
    );
    persons.push(person("late", 9003, "Laat", "Later", "Sales", None));
    std::fs::write(
        dir.path().join("persons.json"),
        serde_json::to_string(&persons).unwrap(),
    )
    .unwrap();
    let report = reconcile(&[]);
    assert_eq!(
        situation(&report, "missing").keys().collect::<Vec<_>>(),
        ["late", "new"],
        "{:#}",
        report["targets"][0]["counts"]
    );
    sim.set_faults(Faults::default());
    let _ = late;
    // Once the directory has caught up (a user made before the lag was switched off
    // stays late for its minute, so it is made again, visible now).
    persons.pop();

    std::fs::write(
        dir.path().join("persons.json"),
        serde_json::to_string(&persons).unwrap(),
    )
    .unwrap();
    let report = reconcile(&[]);
    let t = &report["targets"][0];
    assert_eq!(t["counts"]["accounts"], N + 3, "{:#}", t["counts"]);
    // Two pages of users at $top=999, the groups, and the members of the managed one.
    assert!(t["calls"].as_u64().unwrap() >= 4, "{}", t["calls"]);
    assert_eq!(t["counts"]["matched"], N - 1);
    assert_eq!(t["counts"]["linked"], 1);
    assert_eq!(
        situation(&report, "missing").keys().collect::<Vec<_>>(),
        ["new"]
    );
    let ambiguous = t["persons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["situation"] == "ambiguous")
        .unwrap();
    assert_eq!(ambiguous["person"], "jan");
    assert_eq!(ambiguous["candidates"].as_array().unwrap().len(), 2);
    let unmanaged: Vec<&str> = t["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["account"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(unmanaged, ["printer@vandijkgroep.nl"]);
    let on_linked: Vec<&Value> = t["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["linked"] == true)
        .collect();
    let drift: Vec<(&str, &str)> = on_linked
        .iter()
        .map(|d| (d["person"].as_str().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        drift,
        [("e-0000", "enabled"), ("e-0000", "unexplained")],
        "{:#}",
        t["drift"]
    );
    assert_eq!(
        on_linked[1]["name"], "All Staff",
        "the unmanaged Sales Team is not mentioned"
    );
    // On the matched accounts: what the first plan after adoption will do (the group
    // the rules give them), never enforced before they are linked.
    let after: Vec<&Value> = t["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["linked"] == false)
        .collect();
    assert_eq!(after.len(), N - 1);
    assert!(after
        .iter()
        .all(|d| d["kind"] == "lacking" && d["name"] == "All Staff" && d["enforced"] == false));

    // The admin gives the right Jan his employee number; then adoption.
    graph.call(
        stroom::targets::microsoft::Method::Patch,
        &format!("/v1.0/users/{jan1}"),
        Some(serde_json::json!({"employeeId": "9001"})),
    );
    let before = sim.users().len();
    reconcile(&["--adopt", "--plan-out", "adopt.json"]);
    let out = stroom(&["apply", "--plan", "adopt.json", "--state", "state.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = sim.users();
    assert_eq!(users.len(), before, "adoption creates nobody");
    let linked = users
        .iter()
        .filter(|u| u["onPremisesExtensionAttributes"]["extensionAttribute1"].is_string())
        .count();
    assert_eq!(linked, N + 1, "every employee and the right Jan");
    // The first plan: one create (the really missing one); the leaver's disable, as any
    // leaver; the hand-added membership is not the state's, so it stays until enforced.
    let out = stroom(&[
        "plan",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--state",
        "state.json",
        "--today",
        "2026-12-01",
        "--format",
        "json",
    ]);
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops: Vec<(&str, &str)> = first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] != "grant")
        .map(|a| (a["op"].as_str().unwrap(), a["person"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ops,
        [
            ("disable_account", "e-0000"),
            ("create_account", "new"),
            ("enable_account", "new")
        ],
        "{first:#}"
    );
    // Enforce: the policy revokes the hand-added managed membership; Sales Team stays.
    std::fs::write(dir.path().join("stroom.toml"), config("enforce")).unwrap();
    reconcile(&["--state", "state.json", "--plan-out", "enforce.json"]);
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("enforce.json")).unwrap())
            .unwrap();
    let fixes: Vec<(&str, &str)> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["op"].as_str().unwrap(), a["person"].as_str().unwrap()))
        .collect();
    // The leaver is disabled and loses the hand-added group; everyone else gets the
    // group the rules give and lacked.
    assert_eq!(
        fixes[..2],
        [("disable_account", "e-0000"), ("revoke", "e-0000")],
        "{plan:#}"
    );
    assert_eq!(
        fixes[2..].iter().filter(|f| f.0 == "grant").count(),
        N,
        "{plan:#}"
    );
    assert_eq!(fixes.len(), N + 2);
    let out = stroom(&["apply", "--plan", "enforce.json", "--state", "state.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let leaver = sim
        .users()
        .into_iter()
        .find(|u| u["userPrincipalName"] == "medewerker0000@vandijkgroep.nl")
        .unwrap();
    assert_eq!(leaver["accountEnabled"], false);
    assert_eq!(leaver["memberOf"], serde_json::json!(["Sales Team"]));
}

/// `stroom sync --every` reconciles on its own schedule: the first tick imports,
/// plans and reconciles (here: a hand-made account nobody owns), writes the report to
/// sync.reconcile_out and says so in one line.
#[test]
fn sync_reconciles_on_its_own_schedule() {
    use stroom::simulate::nmbrs::{Credentials, Sim};
    use stroom::source::nmbrs::auth::TokenStore;
    let (ou, _, tag) = super::ad::sandbox("sched");
    ldap(
        "ldapadd",
        &user_ldif(
            &ou,
            &Old {
                cn: "Hand Made",
                sam: format!("hand{tag}"),
                given: "Hand",
                sn: "Made",
                department: "IT",
                employee_id: None,
                person: None,
                enabled: true,
            },
        ),
    );
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let sim = std::sync::Arc::new(Sim::generate(5, 3, date, Credentials::default()));
    let base = stroom::simulate::spawn(sim.clone().router()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    sim.sign_in(&TokenStore::new(dir.path().join("data/tokens.json")))
        .unwrap();
    std::fs::write(
        dir.path().join("stroom.toml"),
        format!(
            "[nmbrs]\nclient_id = \"stroom-test\"\ntoken_store = \"data/tokens.json\"\n\
             [store]\ndatabase = \"data/stroom.db\"\n[apply]\naudit_log = \"data/audit.jsonl\"\n\
             [sync]\nrules = [\"rules.stroom\"]\nreconcile_every = \"24h\"\nreconcile_out = \"data/reconcile.json\"\n\
             [targets.ad]\nurl = \"ldaps://127.0.0.1:636\"\naccept_invalid_certificates = true\n\
             bind_dn = \"{ADMIN}\"\nusers_dn = \"OU=Users,{ou}\"\ngroups_dn = \"{ou}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.stroom"),
        format!("account in ad {{\n  set sAMAccountName = \"s\" + employee_number + \"{tag}\"\n  correlate employeeID = employee_number + \"\"\n}}\n"),
    )
    .unwrap();
    let c = Credentials::default();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
        .args(["sync", "--every", "1h", "--today", "2026-12-01"])
        .current_dir(dir.path())
        .env("STROOM_NMBRS_BASE_URL", &base)
        .env("STROOM_NMBRS_IDENTITY_URL", &base)
        .env("STROOM_NMBRS_CLIENT_SECRET", &c.client_secret)
        .env("STROOM_NMBRS_SUBSCRIPTION_KEY", &c.subscription_key)
        .env("STROOM_AD_PASSWORD", PASS)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let report_file = dir.path().join("data/reconcile.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !report_file.exists()
        && std::time::Instant::now() < deadline
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report_file).unwrap_or_else(|e| panic!("{e}: {err}")),
    )
    .unwrap();
    let unmanaged: Vec<&str> = report["targets"][0]["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["account"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(unmanaged, [format!("hand{tag}")], "{err}");
    assert!(
        err.contains("reconcile: ") && err.contains("1 unmanaged"),
        "{err}"
    );
    assert_eq!(
        report["targets"][0]["counts"]["missing"], 5,
        "the HR data's persons are all missing: {err}"
    );
}

/// Every situation from an inventory file, without a directory: precedence of the
/// `correlate` lines, disputes, exclusions (running and ended), orphans enforced by
/// their account id, memberships nobody manages ignored, one person on request.
#[test]
fn reconciliation_rules_without_a_directory() {
    let program = crate::common::program(
        r#"default target ad
account in ad {
  set sn = last_name
  correlate employeeID = employee_number + ""
  correlate sn
}
when department is not empty grant group "DEP-" + lower(department)
"#,
    );
    let mut list = Vec::new();
    for (id, number, last) in [
        ("p1", 1, "Een"),
        ("p2", 2, "Twee"),
        ("p3", 3, "Drie"),
        ("p4", 4, "Smit"),
        ("p5", 5, "Smit"),
        ("p6", 6, "Zes"),
        ("p7", 7, "Zeven"),
    ] {
        list.push(person(id, number, "X", last, "Sales", None));
    }
    let persons = crate::common::persons(Value::Array(list));
    let inventory = stroom::reconcile::parse_inventories(
        "inv.json",
        &serde_json::json!([{"target": "ad", "calls": 1, "accounts": [
            {"id": "a1", "name": "een", "person": "p1", "enabled": true, "attributes": {"sn": "Een"}},
            {"id": "a2", "name": "twee", "enabled": true, "attributes": {"employeeID": "2"}},
            {"id": "a3", "name": "drie", "enabled": true, "attributes": {"employeeID": "3"}},
            {"id": "a4", "name": "drie2", "enabled": true, "attributes": {"employeeID": " 3 "}},
            {"id": "a5", "name": "smit", "enabled": true, "attributes": {"sn": "SMIT"}},
            {"id": "a6", "name": "zes", "enabled": true, "attributes": {"employeeID": "6", "sn": "Zeven"}},
            {"id": "a7", "name": "gone", "person": "p-gone", "enabled": true, "attributes": {}},
            {"id": "a8", "name": "svc-backup", "enabled": true, "attributes": {}},
            {"id": "a9", "name": "ext-old", "enabled": true, "attributes": {}}],
          "holdings": [
            {"account": "a1", "kind": "group", "name": "DEP-sales"},
            {"account": "a1", "kind": "group", "name": "DEP-it"},
            {"account": "a1", "kind": "group", "name": "Golf"}]}])
        .to_string(),
    )
    .unwrap();
    let policy: stroom::reconcile::TargetPolicy = toml::from_str(
        r#"orphans = "enforce"
exclude = [{ account = "svc-backup", until = "2027-01-01", reason = "backup" }, { account = "ext-old", until = "2026-11-30" }]"#,
    )
    .unwrap();
    let policy = stroom::reconcile::ReconcilePolicy {
        targets: [("ad".to_string(), policy)].into(),
    };
    let state = stroom::model::State::default();
    let input = stroom::reconcile::ReconcileInput {
        program: &program,
        persons: &persons,
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        inventories: &inventory,
        policy: &policy,
        state: &state,
        only_person: None,
    };
    let done = stroom::reconcile::reconcile(&input);
    let report = serde_json::to_value(&done.report).unwrap();
    let t = &report["targets"][0];
    assert_eq!(
        situation(&report, "matched"),
        BTreeMap::from([("p2".into(), "twee".into()), ("p6".into(), "zes".into())])
    );
    // Two accounts by the employee number (compared without spaces); one account two
    // persons find by the same line; a weaker claim on p6's account leaves p7 without.
    let ambiguous: BTreeMap<String, usize> = t["persons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["situation"] == "ambiguous")
        .map(|p| {
            (
                p["person"].as_str().unwrap().to_string(),
                p["candidates"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        ambiguous,
        BTreeMap::from([("p3".into(), 2), ("p4".into(), 1), ("p5".into(), 1)])
    );
    assert_eq!(
        situation(&report, "missing").keys().collect::<Vec<_>>(),
        ["p7"]
    );
    let unmanaged: Vec<&str> = t["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["account"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(unmanaged, ["gone", "ext-old"]);
    assert!(t["unmanaged"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("p-gone"));
    assert_eq!(t["excluded"].as_array().unwrap().len(), 1);
    assert!(
        report["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("exclusion of ext-old ended on 2026-11-30")),
        "{report:#}"
    );
    // Drift on the linked account: the unexplained managed group; Golf is nobody's.
    let drift: Vec<(&str, &str)> = t["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["person"] == "p1")
        .map(|d| {
            (
                d["kind"].as_str().unwrap(),
                d["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(drift, [("unexplained", "DEP-it")]);
    // Orphans enforced: disabled by their account id, with no person.
    let disables: Vec<(&str, &str)> = done
        .enforcement
        .iter()
        .map(|a| (a.person.as_ref(), a.account().unwrap().id.as_str()))
        .collect();
    assert_eq!(disables, [("", "a7"), ("", "a9")]);
    let plan = done.plan(&input, true);
    let links: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.op == stroom::rules::program::OpKind::Link)
        .map(|a| a.person.as_ref())
        .collect();
    assert_eq!(
        links,
        ["p1", "p2", "p6"],
        "linked p1 is recorded, matched p2 and p6 are linked"
    );
    // The plan document reads back, and its schema holds.
    let text = serde_json::to_string(&plan).unwrap();
    let doc = stroom::plan::read::parse_plan("plan.json", &text).unwrap();
    assert_eq!(
        doc.actions[0].account.as_ref().unwrap().grants.len(),
        1,
        "only the explained membership comes into the state"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/plan.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let schema = jsonschema::JSONSchema::compile(&schema).unwrap();
    assert!(schema.is_valid(&serde_json::from_str(&text).unwrap()));
    // One person, linked included.
    let one = stroom::reconcile::reconcile(&stroom::reconcile::ReconcileInput {
        only_person: Some("p1"),
        ..input
    });
    let shown = serde_json::to_value(&one.report).unwrap();
    assert_eq!(
        situation(&shown, "linked").keys().collect::<Vec<_>>(),
        ["p1"]
    );
    assert_eq!(shown["targets"][0]["persons"].as_array().unwrap().len(), 1);
    assert!(shown["targets"][0]["unmanaged"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// What goes wrong says where and what to do, exits as documented, and shows no secret.
#[test]
fn reconcile_failures_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stroom"))
            .args(args)
            .current_dir(dir.path())
            .env("STROOM_AD_PASSWORD", "Very-Secret-Pa55")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::write(
        dir.path().join("rules.stroom"),
        "account in ad {\n  correlate employeeID = employee_number + \"\"\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("persons.json"), "[]").unwrap();
    let base = [
        "reconcile",
        "--rules",
        "rules.stroom",
        "--persons",
        "persons.json",
        "--today",
        "2026-12-01",
    ];
    // --adopt makes a plan: it needs a place.
    let (code, err) = run(&[&base[..], &["--adopt"]].concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--plan-out"), "{err}");
    // An unreachable directory: exit 2, the target named, nothing reconciled.
    std::fs::write(
        dir.path().join("stroom.toml"),
        "[targets.ad]\nurl = \"ldaps://127.0.0.1:1\"\naccept_invalid_certificates = true\nbind_dn = \"svc@acme.nl\"\nusers_dn = \"OU=U,DC=acme\"\ntimeout_seconds = 2\n",
    )
    .unwrap();
    let (code, err) = run(&base);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("target `ad`") && err.contains("nothing was reconciled"),
        "{err}"
    );
    assert!(!err.contains("Very-Secret"), "{err}");
    // A policy with a wrong value: the place and the choices, not the value.
    std::fs::write(
        dir.path().join("stroom.toml"),
        "[targets.ad]\nurl = \"ldaps://127.0.0.1:1\"\nbind_dn = \"svc@acme.nl\"\nusers_dn = \"OU=U,DC=acme\"\n[targets.ad.reconcile]\ndrift = \"Very-Secret-Typo\"\n",
    )
    .unwrap();
    let (code, err) = run(&base);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("[targets.ad.reconcile]") && err.contains("enforce"),
        "{err}"
    );
    assert!(!err.contains("Very-Secret-Typo"), "{err}");
    // An inventory with one id twice (no directory has that) is refused, naming it.
    let twice = stroom::reconcile::parse_inventories(
        "inv.json",
        r#"[{"target": "ad", "accounts": [{"id": "CN=a", "name": "a"}, {"id": "CN=a", "name": "b"}], "holdings": []}]"#,
    );
    assert!(
        twice
            .as_ref()
            .is_err_and(|e| e.contains("\"CN=a\" is there twice")),
        "{twice:?}"
    );
    // A damaged inventory file names itself and where.
    std::fs::write(
        dir.path().join("inv.json"),
        r#"[{"target": "ad", "accounts": [{"id": 5}]}]"#,
    )
    .unwrap();
    let (code, err) = run(&[
        &base[..],
        &["--inventory", "inv.json", "--config", "/dev/null"],
    ]
    .concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("inv.json") && err.contains("accounts[0].id"),
        "{err}"
    );
}
