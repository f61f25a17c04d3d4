//! Normalization of Nmbrs records: histories, names, contracts, manager links, bad
//! records; mutation detection; the snapshot store; configuration.

use serde_json::{json, Value};
use stroom::model::NameConvention;
use stroom::source::mutations::{diff, MutationKind};
use stroom::source::nmbrs::normalize::{
    name_convention, normalize, parse_date, CompanyData, ProblemLevel,
};
use stroom::source::nmbrs::wire;
use stroom::source::snapshots::{records_of, Saved, Store};

fn de<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn basic(number: i64, first: &str, last: &str) -> Value {
    json!({"employeeNumber": number, "firstName": first, "lastName": last, "employeeType": "payroll"})
}

/// A company with one record per employee: (id, number, first, last, email).
fn company(people: &[(&str, i64, &str, &str, Option<&str>)]) -> CompanyData {
    CompanyData {
        company_id: "c1".into(),
        company_name: "Acme BV".into(),
        period: Some(wire::Period {
            year: 2026,
            period: 12,
        }),
        employees: people
            .iter()
            .map(|(id, n, f, l, _)| {
                de(json!({"employeeId": id, "employeeBasicInfo": basic(*n, f, l)}))
            })
            .collect(),
        personal_info: people
            .iter()
            .map(|(id, n, f, l, e)| {
                de(json!({"employeeId": id, "info": [{
                    "basicInfo": basic(*n, f, l),
                    "contactInfo": {"businessEmail": e},
                    "period": {"year": 2020, "period": 1}, "createdAt": "2020-01-01T00:00:00Z"}]}))
            })
            .collect(),
        contracts: people
            .iter()
            .map(|(id, ..)| {
                de(json!({"employeeId": id, "contracts": [{
                    "contractId": format!("{id}-c"), "startDate": "2024-01-01T00:00:00Z",
                    "endDate": null, "indefinite": true, "hoursPerWeek": 40.0,
                    "createdAt": "2024-01-01T00:00:00Z"}]}))
            })
            .collect(),
        ..CompanyData::default()
    }
}

#[test]
fn dates_from_nmbrs_become_dutch_dates() {
    assert_eq!(parse_date("2026-03-01").unwrap().to_string(), "2026-03-01");
    assert_eq!(
        parse_date("2026-03-01T00:00:00Z").unwrap().to_string(),
        "2026-03-01"
    );
    assert_eq!(
        parse_date("2026-03-01T00:00:00").unwrap().to_string(),
        "2026-03-01"
    );
    // 23:00 UTC on 30 June is 1 July in Amsterdam.
    assert_eq!(
        parse_date("2026-06-30T22:30:00Z").unwrap().to_string(),
        "2026-07-01"
    );
    assert_eq!(
        parse_date("2026-06-30T22:30:00+00:00").unwrap().to_string(),
        "2026-07-01"
    );
    assert!(parse_date("31-02-1990").is_none());
    assert!(parse_date("2026-02-30").is_none());
}

#[test]
fn ascription_by_text_then_code() {
    let a = |code: Option<i64>, text: Option<&str>| {
        name_convention(&wire::Ascription {
            code,
            ascription: text.map(String::from),
        })
    };
    assert_eq!(a(None, Some("BP")), Some(NameConvention::OwnPartner));
    assert_eq!(a(None, Some("pb")), Some(NameConvention::PartnerOwn));
    assert_eq!(
        a(Some(3), Some("Eigen naam gevolgd door naam partner")),
        Some(NameConvention::OwnPartner)
    );
    assert_eq!(
        a(Some(0), Some("Naam partner gevolgd door eigen naam")),
        Some(NameConvention::PartnerOwn)
    );
    assert_eq!(a(Some(1), None), Some(NameConvention::Partner));
    assert_eq!(a(Some(9), Some("??")), None);
}

#[test]
fn current_values_come_from_the_latest_period_not_after_now() {
    let mut c = company(&[
        ("e1", 1, "Jan", "Berg", None),
        ("e2", 2, "Piet", "Smit", None),
    ]);
    c.departments = vec![
        de(json!({"employeeId": "e1", "departments": [
            {"code": 1, "description": "Old", "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2025, "period": 1}},
            {"code": 2, "description": "Sales", "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2026, "period": 12}},
            {"code": 3, "description": "Sales (typo fixed)", "createdAt": "2020-02-01T00:00:00Z", "period": {"year": 2026, "period": 12}},
            {"code": 4, "description": "Future", "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2027, "period": 2}}]})),
        // Only future entries (a new hire): the earliest one.
        de(json!({"employeeId": "e2", "departments": [
            {"code": 5, "description": "Later", "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2027, "period": 5}},
            {"code": 6, "description": "First", "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2027, "period": 1}}]})),
    ];
    let n = normalize(&[c], &[]);
    let dept = |i: usize| n.persons[i].contracts[0].department.clone().unwrap();
    assert_eq!(dept(0), "Sales (typo fixed)");
    assert_eq!(
        n.persons[0].contracts[0].department_code.as_deref(),
        Some("3")
    );
    assert_eq!(dept(1), "First");
}

#[test]
fn out_of_service_ends_an_open_contract_and_employments_stand_in_for_contracts() {
    let mut c = company(&[
        ("e1", 1, "Jan", "Berg", None),
        ("e2", 2, "Piet", "Smit", None),
    ]);
    c.contracts.truncate(1);
    c.employments = vec![
        de(
            json!({"employeeId": "e1", "employments": [{"employmentId": "m1", "startDate": "2024-01-01T00:00:00", "endDate": "2026-12-31T00:00:00"}]}),
        ),
        de(
            json!({"employeeId": "e2", "employments": [{"employmentId": "m2", "startDate": "2025-05-01T00:00:00", "endDate": null}]}),
        ),
    ];
    let n = normalize(&[c], &[]);
    assert_eq!(
        n.persons[0].contracts[0].end.unwrap().to_string(),
        "2026-12-31"
    );
    assert_eq!(n.persons[1].contracts[0].id, "m2");
    assert_eq!(
        n.persons[1].contracts[0].start.unwrap().to_string(),
        "2025-05-01"
    );
}

#[test]
fn bad_records_are_skipped_with_their_id_and_duplicates_in_both_places() {
    let mut c = company(&[
        ("e1", 1, "Jan", "Berg", None),
        ("e2", 2, "Piet", "", None),
        ("e3", 3, "Kees", "Dam", None),
        ("e3", 4, "Kees", "Dam", None),
        ("e4", 5, "Anna", "Vos", None),
    ]);
    c.contracts[4] = de(
        json!({"employeeId": "e4", "contracts": [{"contractId": "x", "startDate": "2024-13-01", "createdAt": "2024-01-01T00:00:00Z"}]}),
    );
    let n = normalize(&[c], &[]);
    let ids: Vec<&str> = n.persons.iter().map(|p| p.id.as_ref()).collect();
    assert_eq!(ids, ["e1"]);
    let skipped = n.skipped_ids();
    for id in ["e2", "e3", "e4"] {
        assert!(skipped.contains(id), "{id}");
    }
    let text: Vec<String> = n.problems.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|t| t.contains("e4")
            && t.contains("contracts[0].startDate")
            && t.contains("2024-13-01")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("e3") && t.contains("more than once")),
        "{text:?}"
    );
}

fn with_manager(
    c: &mut CompanyData,
    employee: &str,
    manager_id: &str,
    first: &str,
    last: &str,
    email: Option<&str>,
) {
    c.managers
        .push(de(json!({"employeeId": employee, "managers": [{
        "managerId": manager_id, "firstName": first, "lastName": last, "email": email,
        "createdAt": "2020-01-01T00:00:00Z", "period": {"year": 2024, "period": 1}}]})));
}

#[test]
fn managers_link_by_email_then_number_then_name_and_never_guess() {
    let mut c = company(&[
        ("boss", 10, "Eva", "Groot", Some("Eva.Groot@acme.nl")),
        ("numbered", 11, "Bram", "Klein", None),
        ("named", 12, "Sara", "Jong", None),
        ("twin1", 13, "Jan", "Jansen", None),
        ("twin2", 14, "Jan", "Jansen", None),
        ("a", 20, "A", "A", None),
        ("b", 21, "B", "B", None),
        ("c", 22, "C", "C", None),
        ("d", 23, "D", "D", None),
        ("e", 24, "E", "E", None),
    ]);
    with_manager(
        &mut c,
        "a",
        "m-boss",
        "Eva",
        "Groot",
        Some("eva.groot@ACME.nl"),
    );
    with_manager(&mut c, "b", "m-num", "B.", "Klein-Old", None);
    with_manager(&mut c, "c", "m-name", "Sara", "Jong", None);
    with_manager(&mut c, "d", "m-twin", "Jan", "Jansen", None);
    with_manager(
        &mut c,
        "e",
        "m-none",
        "Nobody",
        "Here",
        Some("nobody@acme.nl"),
    );
    let debtor_managers: Vec<wire::DebtorManager> =
        vec![de(json!({"managerId": "m-num", "number": 11}))];
    let n = normalize(&[c], &debtor_managers);
    let manager = |id: &str| {
        n.persons
            .iter()
            .find(|p| p.id.as_ref() == id)
            .unwrap()
            .manager_id
            .clone()
    };
    assert_eq!(manager("a").as_deref(), Some("boss"));
    assert_eq!(manager("b").as_deref(), Some("numbered"));
    assert_eq!(manager("c").as_deref(), Some("named"));
    assert_eq!(manager("d"), None);
    assert_eq!(manager("e"), None);
    let warnings: Vec<String> = n
        .problems
        .iter()
        .filter(|p| p.severity == ProblemLevel::Warning)
        .map(ToString::to_string)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("m-twin") && w.contains("matches 2 employees by name")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("m-none") && w.contains("matches no employee")),
        "{warnings:?}"
    );
}

#[test]
fn people_in_two_companies_stay_two_persons() {
    let a = company(&[("e1", 1, "Jan", "Berg", None)]);
    let mut b = company(&[("e9", 1, "Jan", "Berg", None)]);
    b.company_id = "c2".into();
    b.company_name = "Acme Services BV".into();
    let n = normalize(&[a, b], &[]);
    assert_eq!(n.persons.len(), 2);
    assert_ne!(n.persons[0].company, n.persons[1].company);
}

#[test]
fn mutations_name_joiners_movers_and_leavers() {
    let base = normalize(
        &[company(&[
            ("e1", 1, "Jan", "Berg", None),
            ("e2", 2, "Piet", "Smit", None),
            ("e3", 3, "Kees", "Dam", None),
        ])],
        &[],
    )
    .persons;
    let mut now = base.clone();
    now.retain(|p| p.id.as_ref() != "e3");
    now[0].contracts[0].end = chrono::NaiveDate::from_ymd_opt(2026, 12, 31);
    now[1].first_name = Some("Pieter".into());
    now[1].compute_names();
    now.extend(normalize(&[company(&[("e4", 4, "Nina", "Bos", None)])], &[]).persons);
    let m = diff(&base, &now);
    let kinds: Vec<(MutationKind, &str)> = m.iter().map(|m| (m.kind, m.person.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (MutationKind::Leaver, "e1"),
            (MutationKind::Leaver, "e3"),
            (MutationKind::Joiner, "e4"),
            (MutationKind::Mover, "e2"),
        ]
    );
    assert_eq!(m[0].reason.as_deref(), Some("ends 2026-12-31"));
    assert_eq!(m[3].changes[0].field, "first_name");
    assert_eq!(m[3].changes[0].old, json!("Piet"));
    assert_eq!(m[3].changes[0].new, json!("Pieter"));
    assert!(diff(&base, &base).is_empty());
}

#[test]
fn the_snapshot_store_keeps_each_version_once_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let persons = normalize(
        &[company(&[
            ("e1", 1, "Jan", "Berg", None),
            ("e2", 2, "Piet", "Smit", None),
        ])],
        &[],
    )
    .persons;
    let mut store = Store::open(&path).unwrap();
    let Saved::New(first) = store.save(&records_of(&persons), 0, false).unwrap() else {
        panic!()
    };
    assert!(
        matches!(store.save(&records_of(&persons), 0, false).unwrap(), Saved::Unchanged(i) if i.id == first.id)
    );
    let mut changed = persons.clone();
    changed[1].business_email = Some("piet@acme.nl".into());
    let Saved::New(second) = store.save(&records_of(&changed), 0, false).unwrap() else {
        panic!()
    };
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.persons(first.id).unwrap(), persons);
    assert_eq!(store.persons(second.id).unwrap(), changed);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let records: i64 = conn
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 3, "e1 stored once, e2 twice");
    assert_eq!(store.prune(1).unwrap(), 1);
    let records: i64 = conn
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 2);
    let some = store.persons_by_id(second.id, &["e2", "nobody"]).unwrap();
    assert_eq!(some, changed[1..]);
    let err = store.persons(first.id).unwrap_err().to_string();
    assert!(err.contains("no snapshot 1"), "{err}");
}

#[test]
fn configuration_layers_file_then_environment_and_keeps_secrets_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stroom.toml");
    std::fs::write(&file, "[nmbrs]\nclient_id = \"from-file\"\nsubscription_key_file = \"key.txt\"\ncompanies = [\"c1\"]\n[store]\ndatabase = \"db/s.db\"\n").unwrap();
    std::fs::write(dir.path().join("key.txt"), "  the-key\n").unwrap();
    let env = |k: &str| match k {
        "STROOM_NMBRS_CLIENT_ID" => Some("from-env".to_string()),
        "STROOM_NMBRS_CLIENT_SECRET" => Some("s3cret".to_string()),
        _ => None,
    };
    let c = stroom::config::Config::load_with_env(Some(&file), &env).unwrap();
    assert_eq!(c.nmbrs.client_id, "from-env");
    assert_eq!(c.store.database, dir.path().join("db/s.db"));
    assert_eq!(c.selection().companies, ["c1"]);
    let settings = c.client_settings_with_env(&env).unwrap();
    assert_eq!(settings.subscription_key.expose(), "the-key");
    let oauth = c.oauth_with_env(&env).unwrap();
    assert!(!format!("{oauth:?}{settings:?}").contains("s3cret"));
    assert!(!format!("{settings:?}").contains("the-key"));
    let none = |_: &str| None;
    let err = c.oauth_with_env(&none).unwrap_err().to_string();
    assert!(err.contains("STROOM_NMBRS_CLIENT_SECRET"), "{err}");
    std::fs::write(&file, "[nmbrs]\nclient_idd = \"x\"\n").unwrap();
    let err = stroom::config::Config::load_with_env(Some(&file), &none)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("client_idd") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn dutch_names_follow_the_ascription() {
    let mut c = company(&[
        ("e1", 1, "Jan", "Berg", None),
        ("e2", 2, "Els", "Heuvel", None),
    ]);
    c.personal_info = vec![
        de(json!({"employeeId": "e1", "info": [{
            "basicInfo": {"employeeNumber": 1, "firstName": "Jan", "prefix": "van der", "lastName": "Berg"},
            "partnerInfo": {"partnerPrefix": "de", "partnerName": "Vries", "ascription": {"code": 3, "ascription": "BP"}},
            "period": {"year": 2020, "period": 1}, "createdAt": "2020-01-01T00:00:00Z"}]})),
        de(json!({"employeeId": "e2", "info": [{
            "basicInfo": {"employeeNumber": 2, "firstName": "Els", "prefix": "van den", "lastName": "Heuvel"},
            "partnerInfo": {"partnerPrefix": "'t", "partnerName": "Hart", "ascription": {"code": 2, "ascription": "PB"}},
            "period": {"year": 2020, "period": 1}, "createdAt": "2020-01-01T00:00:00Z"}]})),
    ];
    let n = normalize(&[c], &[]);
    assert_eq!(n.persons[0].display_name, "Jan van der Berg-de Vries");
    assert_eq!(n.persons[0].name_last_first, "Van der Berg-de Vries, Jan");
    assert_eq!(n.persons[1].display_name, "Els 't Hart-van den Heuvel");
    assert_eq!(n.persons[1].name_last_first, "'t Hart-van den Heuvel, Els");
}

#[test]
fn control_and_bidi_characters_from_nmbrs_skip_the_employee() {
    let c = company(&[
        ("e1", 1, "Jan", "Berg", None),
        ("e2", 2, "Piet", "Dam\u{0}", None),
        ("e3", 3, "Kees\u{202e}", "Vos", None),
        ("e4", 4, "Anna", "Vos", Some("anna\u{1b}@acme.nl")),
    ]);
    let n = normalize(&[c], &[]);
    let ids: Vec<&str> = n.persons.iter().map(|p| p.id.as_ref()).collect();
    assert_eq!(ids, ["e1"]);
    let text: Vec<String> = n.problems.iter().map(ToString::to_string).collect();
    for (id, field, ch) in [
        ("e2", "last_name", "U+0000"),
        ("e3", "first_name", "U+202E"),
        ("e4", "business_email", "U+001B"),
    ] {
        assert!(
            text.iter().any(|t| t.starts_with("skipped")
                && t.contains(id)
                && t.contains(field)
                && t.contains(ch)),
            "{id}: {text:#?}"
        );
    }
}
