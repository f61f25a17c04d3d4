//! Plan snapshots: the JSON document for a small joiner/mover/leaver scenario, and the
//! table of the shipped example.

use crate::common::*;
use serde_json::json;

const RULES: &str = r#"
default target ad
scope from 14 days before start until 30 days after end

account in ad {
  when person.employee_type == "payroll"
  create 14 days before start
  delete 60 days after disable
  set sAMAccountName = unique [lower(left(ascii(first_name), 1) + ascii(last_name))] max 20
  set department = department
}

account in entra {
  set mail = unique [lower(ascii(first_name) + "." + ascii(last_name))] ending "@acme.nl"
}

rule "departments" {
  when contract.active
    grant group "DEP-" + department
}

rule "crm" {
  when department in ["Sales", "Inside Sales"] and contract.start <= today
    grant group "CRM-Users"
}

rule "mail" {
  when contract.active
    grant license "SPE_E3" in entra
    grant mailbox "UserMailbox" in exchange
  writeback business_email from entra.mail
}
"#;

#[test]
fn joiner_mover_leaver_plan() {
    let program = program(RULES);
    let people = persons(json!([
        { "id": "p-joiner", "first_name": "Zoë", "last_name": "Öztürk", "employee_type": "payroll",
          "contracts": [{ "id": "c1", "start": "2026-12-07", "department": "Sales" }] },
        { "id": "p-mover", "first_name": "Jan", "prefix": "van der", "last_name": "Berg", "employee_type": "payroll",
          "business_email": "jan.berg@acme.nl",
          "contracts": [{ "id": "c1", "start": "2024-01-01", "department": "IT" }] },
        { "id": "p-leaver", "first_name": "Eva", "last_name": "Hart", "employee_type": "payroll",
          "business_email": "eva.hart@acme.nl",
          "contracts": [{ "id": "c1", "start": "2020-01-01", "end": "2026-10-15", "department": "Sales" }] }
    ]));
    let state: stroom::model::State = serde_json::from_value(json!({
        "accounts": [
            { "person": "p-mover", "target": "ad", "id": "CN=Jan van der Berg,OU=Users,DC=acme,DC=nl", "enabled": true,
              "attributes": { "sAMAccountName": "jberg", "department": "Sales" } },
            { "person": "p-mover", "target": "entra", "enabled": true, "attributes": { "mail": "jan.berg@acme.nl" } },
            { "person": "p-leaver", "target": "ad", "enabled": true, "attributes": { "sAMAccountName": "ehart", "department": "Sales" } },
            { "person": "p-leaver", "target": "entra", "enabled": true, "attributes": { "mail": "eva.hart@acme.nl" } }
        ],
        "grants": [
            { "person": "p-mover", "target": "ad", "kind": "group", "name": "DEP-Sales" },
            { "person": "p-mover", "target": "ad", "kind": "group", "name": "CRM-Users" },
            { "person": "p-mover", "target": "entra", "kind": "license", "name": "SPE_E3" },
            { "person": "p-leaver", "target": "ad", "kind": "group", "name": "CRM-Users" },
            { "person": "p-leaver", "target": "exchange", "kind": "mailbox", "name": "UserMailbox" }
        ]
    }))
    .expect("state");
    let plan = plan(&program, &people, &state, "2026-12-01");
    insta::assert_json_snapshot!("joiner_mover_leaver", plan);
}

#[test]
fn example_plan_table() {
    let dir = format!("{}/rules-examples/vandijk", env!("CARGO_MANIFEST_DIR"));
    let program =
        stroom::rules::check::check(stroom::rules::load::load_paths(&[dir]).expect("rules"))
            .program
            .expect("checks");
    let text = std::fs::read_to_string(format!(
        "{}/rules-examples/vandijk-persons.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("persons");
    let people =
        stroom::source::persons::parse_persons("vandijk-persons.json", &text).expect("valid");
    let state: stroom::model::State = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/rules-examples/vandijk-state.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("state"),
    )
    .expect("state");
    assert!(people.len() >= 200);
    let plan = plan(&program, &people, &state, "2026-12-01");
    let table = stroom::plan::render_table(&plan, &people);
    // The summary line and the first person's actions.
    let head: Vec<&str> = table.lines().take(14).collect();
    let tail: Vec<&str> = table.lines().rev().take_while(|l| !l.is_empty()).collect();
    insta::assert_snapshot!("example_plan_head", head.join("\n"));
    insta::assert_snapshot!(
        "example_plan_summary",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// A plan written while it is made (`stroom plan --format json`) is byte for byte the
/// plan built whole and written by serde: with actions of every kind, notes, several
/// reasons to block, no action at all, and more chunks than one window holds.
#[test]
fn a_streamed_plan_is_the_plan_written_whole() {
    use stroom::plan::{build_plan, plan_outline, write_plan_json, PlanInput};
    let whole = |input: &PlanInput| {
        let mut text = serde_json::to_vec_pretty(&build_plan(input)).expect("serializes");
        text.push(b'\n');
        String::from_utf8(text).expect("utf-8")
    };
    let streamed = |input: &PlanInput| {
        let mut text = Vec::new();
        write_plan_json(&plan_outline(input), &mut text).expect("writes");
        String::from_utf8(text).expect("utf-8")
    };
    let (example, people, state) = example();
    let today = day("2026-12-01");
    let empty = stroom::model::State::default();
    // Blocked twice: two thresholds the example's plan passes.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules-examples/vandijk");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("example rules")
        .filter_map(|e| e.ok())
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("rule file");
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    files.push((
        "zz.stroom".into(),
        "threshold create_account max 1\nthreshold update max 1\n".into(),
    ));
    let sources: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let strict = stroom::check_sources(&sources)
        .program
        .expect("strict rules check");
    let matrix_people = {
        let mut json = Vec::new();
        stroom::generate::matrix::persons_json(6_000, 3, &mut json).expect("generates");
        stroom::source::persons::parse_persons("m.json", &String::from_utf8(json).expect("utf-8"))
            .expect("matrix persons")
    };
    let matrix = program(&stroom::generate::matrix::rules(60, 5));
    let cases: Vec<(&str, PlanInput)> = vec![
        (
            "example with state",
            PlanInput {
                program: &example,
                persons: &people,
                state: &state,
                today,
            },
        ),
        (
            "example, empty state",
            PlanInput {
                program: &example,
                persons: &people,
                state: &empty,
                today,
            },
        ),
        (
            "nothing to do",
            PlanInput {
                program: &example,
                persons: &[],
                state: &empty,
                today,
            },
        ),
        (
            "matrix, 24 chunks",
            PlanInput {
                program: &matrix,
                persons: &matrix_people,
                state: &empty,
                today,
            },
        ),
    ];
    for (name, input) in &cases {
        assert_eq!(streamed(input), whole(input), "{name}");
    }
    let blocked = PlanInput {
        program: &strict,
        persons: &people,
        state: &state,
        today,
    };
    assert!(build_plan(&blocked).all_blocks.len() > 1, "blocked twice");
    assert_eq!(streamed(&blocked), whole(&blocked), "blocked");
    // A writer that fails stops the walk with its error, and nothing hangs.
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = write_plan_json(&plan_outline(&cases[3].1), &mut Broken).expect_err("fails");
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
}

/// A value the target would refuse drops that person's actions in the target, never
/// those of the persons planned before them in the same chunk (it once did: the
/// reconcile test against Samba found a hand-added membership that was never revoked
/// because a later person's name held a `*`).
#[test]
fn a_refused_value_drops_only_its_own_persons_actions() {
    let program = program(
        r#"default target ad
account in ad { set sAMAccountName = lower(last_name) }
when department == "Sales" grant group "Sales""#,
    );
    let persons = persons(json!([
        {"id": "a", "last_name": "Berg", "contracts": [{"id": "c", "start": "2026-01-01", "department": "IT"}]},
        {"id": "b", "last_name": "Star*", "contracts": [{"id": "c", "start": "2026-01-01", "department": "Sales"}]}
    ]));
    let state: stroom::model::State = serde_json::from_value(json!({
        "accounts": [{"person": "a", "target": "ad", "enabled": true, "attributes": {"sAMAccountName": "berg"}}],
        "grants": [{"person": "a", "target": "ad", "kind": "group", "name": "Sales"}]
    }))
    .unwrap();
    let plan = plan(&program, &persons, &state, "2026-12-01");
    assert_eq!(
        lines(&plan),
        ["revoke a ad group Sales"],
        "{:?}",
        plan.notes
    );
    assert!(
        plan.notes.iter().any(|n| n.starts_with("person b: error")),
        "{:?}",
        plan.notes
    );
}

/// `create_group` is planned once per group a declaration covers that a grant needs
/// and nobody in the state holds: first in the plan, for the first person (by id) who
/// gets it. An undeclared group is not made; `plan --person` of a later member shows
/// the create as theirs; a threshold counts creates like any operation.
#[test]
fn managed_groups_are_planned_once_before_their_grants() {
    let rules = r#"
default target ad
group "DEP-*" in ad {
  ou "OU=Departments,OU=Groups,DC=acme,DC=nl"
  description "Everyone in {name}"
}
when contract.active
  grant group "DEP-" + lower(department)
  grant group "TEAM-" + lower(department)
"#;
    let program = program(rules);
    let people = persons(json!([
        { "id": "p-3", "first_name": "C", "last_name": "C", "contracts": [{ "id": "c", "start": "2026-01-01", "department": "Duurzaamheid" }] },
        { "id": "p-1", "first_name": "A", "last_name": "A", "contracts": [{ "id": "c", "start": "2026-01-01", "department": "Duurzaamheid" }] },
        { "id": "p-2", "first_name": "B", "last_name": "B", "contracts": [{ "id": "c", "start": "2026-01-01", "department": "Sales" }] },
        { "id": "p-4", "first_name": "D", "last_name": "D", "contracts": [{ "id": "c", "start": "2026-01-01", "department": "Sales" }] }
    ]));
    // Someone holds DEP-sales (in other letters): it exists.
    let state: stroom::model::State = serde_json::from_value(json!({
        "grants": [{ "person": "p-4", "target": "ad", "kind": "group", "name": "DEP-Sales" },
                   { "person": "p-4", "target": "ad", "kind": "group", "name": "TEAM-sales" }]
    }))
    .unwrap();
    let p = plan(&program, &people, &state, "2026-12-01");
    let creates: Vec<_> = p
        .actions
        .iter()
        .filter(|a| a.op == stroom::rules::program::OpKind::CreateGroup)
        .collect();
    assert_eq!(creates.len(), 1, "{:#?}", lines(&p));
    let c = creates[0];
    assert_eq!(
        (c.seq, &*c.person, c.name.as_deref()),
        (1, "p-1", Some("DEP-duurzaamheid"))
    );
    let g = c.group().unwrap();
    assert_eq!(
        g.ou.as_deref(),
        Some("OU=Departments,OU=Groups,DC=acme,DC=nl")
    );
    assert_eq!(
        g.description.as_deref(),
        Some("Everyone in DEP-duurzaamheid")
    );
    assert_eq!(g.scope, Some(stroom::model::group::GroupScope::Global));
    assert_eq!(
        p.because(c).next().unwrap().rule.as_ref(),
        "group \"DEP-*\" in ad"
    );
    // Every grant comes after it.
    assert!(p
        .actions
        .iter()
        .filter(|a| a.op == stroom::rules::program::OpKind::Grant)
        .all(|a| a.seq > 1));
    // The later member's own plan creates it too (and numbers it 1).
    let input = stroom::plan::PlanInput {
        program: &program,
        persons: &people,
        state: &state,
        today: day("2026-12-01"),
    };
    let theirs = stroom::plan::plan_for_person(p.clone(), &input, "p-3");
    assert_eq!(
        theirs.actions[0].op,
        stroom::rules::program::OpKind::CreateGroup
    );
    assert_eq!(&*theirs.actions[0].person, "p-3");
    assert_eq!(theirs.actions[0].seq, 1);
    let sales = stroom::plan::plan_for_person(p, &input, "p-2");
    assert!(sales
        .actions
        .iter()
        .all(|a| a.op != stroom::rules::program::OpKind::CreateGroup));
    // A threshold on the operation holds.
    let capped = crate::common::program(&format!("{rules}threshold create_group max 0\n"));
    let p = plan(&capped, &people, &state, "2026-12-01");
    assert!(
        matches!(
            p.blocked,
            Some(stroom::plan::Blocked::Threshold {
                op: stroom::rules::program::OpKind::CreateGroup,
                count: 1,
                ..
            })
        ),
        "{:?}",
        p.blocked
    );
}

/// `handover ... { on start }`: the first credential goes with the account's first
/// enable on the first day, not with its create; a person without a recipient gets a
/// note; `notify disable` tells the recipient of a leaver's disable, without a
/// credential.
#[test]
fn a_hand_over_on_start_comes_with_the_first_enable() {
    use stroom::model::notice::{HandoverState, NoticeEvent};
    use stroom::rules::program::OpKind;
    let rules = r#"
default target ad
account in ad {
  create 7 days before start
  set sAMAccountName = lower(first_name)
}
handover in ad {
  on start
  to "servicedesk@acme.nl"
  notify disable
}
"#;
    let program = program(rules);
    let people = persons(json!([
        { "id": "p-later", "first_name": "Later", "last_name": "L", "contracts": [{ "id": "c", "start": "2026-12-05" }] },
        { "id": "p-today", "first_name": "Today", "last_name": "T", "contracts": [{ "id": "c", "start": "2026-12-01" }] },
        { "id": "p-gone", "first_name": "Gone", "last_name": "G", "contracts": [{ "id": "c", "start": "2020-01-01", "end": "2026-11-30" }] }
    ]));
    let state: stroom::model::State = serde_json::from_value(json!({
        "accounts": [
            { "person": "p-today", "target": "ad", "enabled": false, "attributes": { "sAMAccountName": "today" } },
            { "person": "p-gone", "target": "ad", "enabled": true, "attributes": { "sAMAccountName": "gone" }, "handover": "done" }
        ]
    }))
    .unwrap();
    let p = plan(&program, &people, &state, "2026-12-01");
    let notices: Vec<(&str, NoticeEvent, bool)> = p
        .actions
        .iter()
        .filter_map(|a| a.notice().map(|n| (&*a.person, n.event, n.credential)))
        .collect();
    assert_eq!(
        notices,
        vec![
            ("p-gone", NoticeEvent::Disable, false),
            ("p-today", NoticeEvent::Enable, true),
        ],
        "{:#?}",
        lines(&p)
    );
    // The credential step after the enable; the disable notice after the disable.
    for (person, first) in [("p-today", OpKind::Enable), ("p-gone", OpKind::Disable)] {
        let ops: Vec<OpKind> = p
            .actions
            .iter()
            .filter(|a| &*a.person == person)
            .map(|a| a.op)
            .collect();
        let at = |op| ops.iter().position(|o| *o == op).unwrap();
        assert!(at(first) < at(OpKind::Notify), "{person}: {ops:?}");
    }
    // AD credentials have no lifetime; the later starter's create sends nothing.
    let today = p
        .actions
        .iter()
        .find(|a| a.notice().is_some_and(|n| n.credential))
        .unwrap();
    assert_eq!(today.notice().unwrap().valid_days, None);
    assert!(p
        .actions
        .iter()
        .any(|a| &*a.person == "p-later" && a.op == OpKind::Create));
    // Once handed over, a later enable (a rehire) sends none.
    let mut after = stroom::plan::state_after(&state, &p);
    let acc = after
        .accounts
        .iter_mut()
        .find(|a| a.person == "p-today")
        .unwrap();
    assert_eq!(acc.handover, Some(HandoverState::Done));
    acc.enabled = false;
    let again = plan(&program, &people, &after, "2026-12-01");
    assert!(
        again
            .actions
            .iter()
            .all(|a| !(a.op == OpKind::Notify && &*a.person == "p-today")),
        "{:#?}",
        lines(&again)
    );
}
