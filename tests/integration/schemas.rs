//! The published JSON Schemas agree with the readers and the planner: the shipped
//! examples and real plans validate, and what the readers refuse the schemas refuse too.

use crate::common;
use serde_json::{json, Value};

fn schema(name: &str) -> jsonschema::JSONSchema {
    let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("schema file");
    let v: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::JSONSchema::compile(&v).expect("schema compiles")
}

fn example(name: &str) -> Value {
    let path = format!("{}/rules-examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("JSON")
}

fn errors(s: &jsonschema::JSONSchema, v: &Value) -> Vec<String> {
    match s.validate(v) {
        Ok(()) => Vec::new(),
        Err(e) => e.map(|e| format!("{} at {}", e, e.instance_path)).collect(),
    }
}

#[test]
fn examples_validate() {
    assert_eq!(
        errors(&schema("persons"), &example("vandijk-persons.json")),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(&schema("state"), &example("vandijk-state.json")),
        Vec::<String>::new()
    );
}

#[test]
fn plans_validate() {
    let dir = format!("{}/rules-examples/vandijk", env!("CARGO_MANIFEST_DIR"));
    let parsed = stroom::rules::load::load_paths(&[dir]).expect("rules");
    let program = stroom::rules::check::check(parsed)
        .program
        .expect("example rules check");
    let people = common::persons(example("vandijk-persons.json"));
    let state: stroom::model::State =
        serde_json::from_value(example("vandijk-state.json")).expect("state");
    let plan = common::plan(&program, &people, &state, "2026-12-01");
    let v = serde_json::to_value(&plan).expect("plan JSON");
    assert_eq!(errors(&schema("plan"), &v), Vec::<String>::new());
    let ops: std::collections::BTreeSet<&str> = v["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["op"].as_str())
        .collect();
    assert!(ops.len() >= 6, "a varied plan: {ops:?}");

    // A blocked plan too.
    let small =
        common::program("account in ad { set cn = display_name }\nthreshold create max 1\n");
    let blocked = common::plan(
        &small,
        &people,
        &stroom::model::State::default(),
        "2026-12-01",
    );
    assert!(blocked.blocked.is_some());
    let v = serde_json::to_value(&blocked).expect("plan JSON");
    assert_eq!(errors(&schema("plan"), &v), Vec::<String>::new());
}

#[test]
fn what_the_reader_refuses_the_schema_refuses() {
    let s = schema("persons");
    let bad = [
        json!([{ "id": "a", "contracts": [] }]),
        json!([{ "id": "a", "last_name": "B" }]),
        json!([{ "id": "a", "last_name": "B", "contracts": [], "lastname": "B" }]),
        json!([{ "id": "a", "last_name": "B", "contracts": [{ "id": "1", "start": "1-1-2026" }] }]),
        json!([{ "id": "a", "last_name": "B", "employee_type": "boss", "contracts": [] }]),
        json!([{ "id": "a", "last_name": "B", "contracts": [{ "id": "1", "hours_per_week": 200 }] }]),
    ];
    for doc in bad {
        assert!(!errors(&s, &doc).is_empty(), "schema accepts {doc}");
        assert!(
            stroom::source::persons::parse_persons("p.json", &doc.to_string()).is_err(),
            "reader accepts {doc}"
        );
    }
}

/// The document made from a typed plan (`stroom sync --apply`) is the one the plan
/// reader makes of the plan's JSON (`stroom apply`).
#[test]
fn a_plans_document_equals_its_json_read_back() {
    let (program, persons, example_state) = common::example();
    for state in [stroom::model::State::default(), example_state] {
        let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
            program: &program,
            persons: &persons,
            state: &state,
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        });
        let read = stroom::plan::read::parse_plan("p.json", &serde_json::to_string(&plan).unwrap())
            .unwrap();
        assert_eq!(stroom::plan::read::PlanDocument::from(&plan), read);
    }
}

/// The schema's operations and entitlement kinds are the types' own: a new `OpKind` or
/// `Kind` cannot be added without the schema saying so.
#[test]
fn the_schema_names_exactly_the_typed_vocabulary() {
    use stroom::rules::program::{Kind, OpKind};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let mut ops: Vec<String> = OpKind::ALL.iter().map(|o| o.as_str().to_string()).collect();
    ops.sort();
    assert_eq!(names(&schema["definitions"]["op"]["enum"]), ops);
    let mut kinds: Vec<String> = Kind::ALL.iter().map(|k| k.as_str().to_string()).collect();
    kinds.sort();
    assert_eq!(
        names(&schema["definitions"]["action"]["properties"]["kind"]["enum"]),
        kinds
    );
    // The state document's grants take the same kinds (model::Kind is their type).
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/state.schema.json")).unwrap(),
    )
    .unwrap();
    let kind = state
        .pointer("/properties/grants/items/properties/kind/enum")
        .expect("the state schema lists the grant kinds");
    assert_eq!(names(kind), kinds);
    let bad = r#"{"grants": [{"person": "p", "target": "ad", "kind": "licence", "name": "E3"}]}"#;
    let e = stroom::source::state::parse_state("state.json", bad).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("grants[0].kind") && text.contains("licence"),
        "{text}"
    );
}

/// The inventory and the reconcile report have published schemas too: the shipped
/// inventory validates, and so does its report, with every person (one at a time)
/// and every kind of drift.
#[test]
fn inventories_and_reconcile_reports_validate() {
    let inventory = example("vandijk-inventory.json");
    assert_eq!(
        errors(&schema("inventory"), &inventory),
        Vec::<String>::new()
    );
    let out = common::stroom(&common::example_reconcile(&["--format", "json"]));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(errors(&schema("reconcile"), &report), Vec::<String>::new());
    let kinds: std::collections::BTreeSet<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["drift"].as_array().unwrap())
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 4, "{kinds:?}");
    // What the schema says is what the reader takes: an account without an id fails both.
    let bad = json!([{"target": "ad", "accounts": [{"name": "x"}]}]);
    assert!(!errors(&schema("inventory"), &bad).is_empty());
    assert!(stroom::reconcile::parse_inventories("i.json", &bad.to_string()).is_err());
}
