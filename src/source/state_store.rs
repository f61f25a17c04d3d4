//! The state in a SQLite file: a row per account and per grant, so that a run reads the
//! state without parsing one large document and writes only the rows that changed. The
//! JSON state file stays the exchange format (`stroom state import` / `export`); a state
//! path ending in `.db`, `.sqlite` or `.sqlite3` is a store.
//!
//! What an action does to the state is decided in one place
//! ([`crate::plan::StateEditor`]); the store only writes the difference between the
//! state before and after, person by person.

use crate::model::{AccountState, GrantState, Kind, State};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::Path;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StateStoreError {
    /// SQLite refused.
    #[error("state store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A row does not read back (the file was edited by hand, or is not a state store).
    #[error("state store {path}: {what}; export what reads with `stroom state export`, or import the last good state file")]
    Corrupt {
        /// Database file.
        path: String,
        /// The row and the fault.
        what: String,
    },
    /// Another run holds the store, or its lock cannot be made.
    #[error(transparent)]
    Lock(#[from] crate::files::LockError),
    /// The store file cannot be created.
    #[error("state store {path}: {source}")]
    Io {
        /// Database file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// True if `path` names a state store rather than a JSON state file.
pub fn is_state_store(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "db" | "sqlite" | "sqlite3"))
}

/// What a write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Accounts written (new or changed).
    pub accounts_written: usize,
    /// Accounts removed.
    pub accounts_removed: usize,
    /// Grants added.
    pub grants_added: usize,
    /// Grants removed.
    pub grants_removed: usize,
}

/// An open state store, held exclusively.
pub struct StateStore {
    conn: Connection,
    path: String,
    _lock: crate::files::StoreLock,
}

impl StateStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StateStoreError> {
        let name = path.display().to_string();
        let lock = crate::files::StoreLock::acquire(path)?;
        crate::files::prepare_private_file(path).map_err(|source| StateStoreError::Io {
            path: name.clone(),
            source,
        })?;
        let fail = |source| StateStoreError::Sqlite {
            path: name.clone(),
            source,
        };
        let conn = crate::sqlite::open(
            path,
            crate::sqlite::Durability::Full,
            "CREATE TABLE IF NOT EXISTS accounts (
                 person TEXT NOT NULL,
                 target TEXT NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (person, target)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS grants (
                 person TEXT NOT NULL,
                 target TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 name TEXT NOT NULL,
                 object TEXT NOT NULL,
                 PRIMARY KEY (person, target, kind, name, object)
             ) WITHOUT ROWID;",
        )
        .map_err(fail)?;
        Ok(StateStore {
            conn,
            path: name,
            _lock: lock,
        })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StateStoreError + '_ {
        |source| StateStoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The whole state, person by person.
    pub fn load(&self) -> Result<State, StateStoreError> {
        let fail = self.sqlite();
        let corrupt = |what: String| StateStoreError::Corrupt {
            path: self.path.clone(),
            what,
        };
        let mut state = State::default();
        let mut rows = self
            .conn
            .prepare("SELECT person, target, record FROM accounts ORDER BY person, target")
            .map_err(&fail)?;
        let mut rows = rows.query([]).map_err(&fail)?;
        while let Some(row) = rows.next().map_err(&fail)? {
            let (person, target): (String, String) =
                (row.get(0).map_err(&fail)?, row.get(1).map_err(&fail)?);
            let record: String = row.get(2).map_err(&fail)?;
            let account: AccountState = serde_json::from_str(&record).map_err(|e| {
                corrupt(format!(
                    "the account of {person} in {target} does not read: {e}"
                ))
            })?;
            if account.person != person || account.target != target {
                return Err(corrupt(format!(
                    "the account row of {person} in {target} holds another account"
                )));
            }
            state.accounts.push(account);
        }
        let mut rows = self
            .conn
            .prepare("SELECT person, target, kind, name, object FROM grants ORDER BY person, target, kind, name, object")
            .map_err(&fail)?;
        let mut rows = rows.query([]).map_err(&fail)?;
        while let Some(row) = rows.next().map_err(&fail)? {
            let person: String = row.get(0).map_err(&fail)?;
            let kind: String = row.get(2).map_err(&fail)?;
            let object: String = row.get(4).map_err(&fail)?;
            let Some(kind) = Kind::parse(&kind) else {
                return Err(corrupt(format!("a grant of {person} has kind {kind:?}")));
            };
            state.grants.push(GrantState {
                person,
                target: row.get(1).map_err(&fail)?,
                kind,
                name: row.get(3).map_err(&fail)?,
                on: (!object.is_empty()).then_some(object),
            });
        }
        Ok(state)
    }

    /// Makes the store hold `after`, given that it holds `before` (what [`load`] gave):
    /// only the accounts and grants that differ are written, in one transaction.
    ///
    /// [`load`]: StateStore::load
    pub fn save_changes(
        &mut self,
        before: &State,
        after: &State,
    ) -> Result<StateChanges, StateStoreError> {
        let path = self.path.clone();
        let fail = |source| StateStoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut changes = StateChanges::default();
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let old: std::collections::HashMap<(&str, &str), &AccountState> = before
                .accounts
                .iter()
                .map(|a| ((a.person.as_str(), a.target.as_str()), a))
                .collect();
            let new: HashSet<(&str, &str)> = after
                .accounts
                .iter()
                .map(|a| (a.person.as_str(), a.target.as_str()))
                .collect();
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO accounts (person, target, record) VALUES (?1, ?2, ?3)",
                )
                .map_err(fail)?;
            for a in &after.accounts {
                if old.get(&(a.person.as_str(), a.target.as_str())) != Some(&a) {
                    let record =
                        serde_json::to_string(a).map_err(|e| StateStoreError::Corrupt {
                            path: path.clone(),
                            what: format!("the account of {} cannot be written: {e}", a.person),
                        })?;
                    put.execute(params![a.person, a.target, record])
                        .map_err(fail)?;
                    changes.accounts_written += 1;
                }
            }
            let mut remove = tx
                .prepare("DELETE FROM accounts WHERE person = ?1 AND target = ?2")
                .map_err(fail)?;
            for key in old.keys().filter(|k| !new.contains(*k)) {
                remove.execute(params![key.0, key.1]).map_err(fail)?;
                changes.accounts_removed += 1;
            }
        }
        {
            let old: HashSet<&GrantState> = before.grants.iter().collect();
            let new: HashSet<&GrantState> = after.grants.iter().collect();
            let mut add = tx
                .prepare("INSERT OR IGNORE INTO grants (person, target, kind, name, object) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(fail)?;
            for g in after.grants.iter().filter(|g| !old.contains(g)) {
                let object = g.on.as_deref().unwrap_or("");
                add.execute(params![g.person, g.target, g.kind.as_str(), g.name, object])
                    .map_err(fail)?;
                changes.grants_added += 1;
            }
            let mut remove = tx
                .prepare("DELETE FROM grants WHERE person = ?1 AND target = ?2 AND kind = ?3 AND name = ?4 AND object = ?5")
                .map_err(fail)?;
            for g in before.grants.iter().filter(|g| !new.contains(g)) {
                let object = g.on.as_deref().unwrap_or("");
                remove
                    .execute(params![g.person, g.target, g.kind.as_str(), g.name, object])
                    .map_err(fail)?;
                changes.grants_removed += 1;
            }
        }
        tx.commit().map_err(fail)?;
        Ok(changes)
    }

    /// Makes the store hold exactly `state` (an import), writing only what differs.
    pub fn replace(&mut self, state: &State) -> Result<StateChanges, StateStoreError> {
        let before = self.load()?;
        self.save_changes(&before, state)
    }
}
