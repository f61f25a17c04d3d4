//! The state store (SQLite): the same state as the JSON file, written by difference.

use crate::common::*;
use stroom::model::{GrantState, State};
use stroom::source::state_store::{is_state_store, StateChanges, StateStore};

fn sorted(mut s: State) -> State {
    s.accounts
        .sort_by(|a, b| (&a.person, &a.target).cmp(&(&b.person, &b.target)));
    s.grants.sort_by(|a, b| {
        (&a.person, &a.target, a.kind.as_str(), &a.name, &a.on).cmp(&(
            &b.person,
            &b.target,
            b.kind.as_str(),
            &b.name,
            &b.on,
        ))
    });
    s
}

#[test]
fn a_store_holds_the_state_and_writes_only_what_changed() {
    let (_, _, state) = example();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    assert!(is_state_store(&path) && !is_state_store(&dir.path().join("state.json")));
    let mut store = StateStore::open(&path).expect("opens");
    let first = store.replace(&state).expect("imports");
    assert_eq!(first.accounts_written, state.accounts.len());
    assert_eq!(first.grants_added, state.grants.len());
    assert_eq!(sorted(store.load().expect("loads")), sorted(state.clone()));
    // The same state again writes nothing.
    assert_eq!(
        store.replace(&state).expect("imports"),
        StateChanges::default()
    );
    // One account disabled, one grant gone, one new: three rows, nothing else.
    let mut next = state.clone();
    next.accounts[0].enabled = !next.accounts[0].enabled;
    let gone = next.grants.remove(0);
    next.grants.push(GrantState {
        name: "New-Group".into(),
        ..gone.clone()
    });
    let changes = store.save_changes(&state, &next).expect("writes");
    assert_eq!(
        changes,
        StateChanges {
            accounts_written: 1,
            accounts_removed: 0,
            grants_added: 1,
            grants_removed: 1
        }
    );
    drop(store);
    // Another process sees the change; a second opener waits for the lock, not corrupts.
    let store = StateStore::open(&path).expect("reopens");
    assert_eq!(sorted(store.load().expect("loads")), sorted(next));
    let held = StateStore::open(&path);
    assert!(held.is_err(), "the store is held by one run at a time");
}

#[test]
fn plan_reads_a_store_as_it_reads_the_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("state.db");
    let db_arg = db.to_string_lossy().into_owned();
    let out = stroom(&[
        "state",
        "import",
        "rules-examples/vandijk-state.json",
        "--into",
        &db_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("grant(s) added"), "{}", text(&out));
    let plan = |state: &str| {
        let out = stroom(&[
            "plan",
            "--rules",
            "rules-examples/vandijk",
            "--persons",
            "rules-examples/vandijk-persons.json",
            "--state",
            state,
            "--today",
            "2026-12-01",
            "--format",
            "json",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        out.stdout
    };
    assert!(
        plan(&db_arg) == plan("rules-examples/vandijk-state.json"),
        "the same plan from the store and from the file"
    );
    // Export gives the state back.
    let out = stroom(&["state", "export", &db_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let exported: State = serde_json::from_slice(&out.stdout).expect("a state file");
    let (_, _, state) = example();
    assert_eq!(sorted(exported), sorted(state));
    // A missing store and a bad name are clear errors, exit 2.
    let missing = dir.path().join("none.db").to_string_lossy().into_owned();
    let out = stroom(&["state", "export", &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("stroom state import"), "{}", text(&out));
    let out = stroom(&[
        "state",
        "import",
        "rules-examples/vandijk-state.json",
        "--into",
        "x.txt",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains(".db"), "{}", text(&out));
    // A file that is not a store is refused with the file named, not read as empty.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").expect("write");
    let out = stroom(&["state", "export", &junk.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("junk.db"), "{}", text(&out));
}
