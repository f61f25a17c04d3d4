//! The snapshot store: every successful import as one all-or-nothing snapshot in a
//! local SQLite file.
//!
//! Person records are stored once per distinct content (`records`, keyed by a 128-bit
//! hash of the record's JSON) and a snapshot is the list of (person, record) pairs in
//! `members`. An import whose content equals the latest snapshot stores nothing new: it
//! only marks the latest one as confirmed, so a sync every 15 minutes does not grow
//! the file.

use super::persons::{parse_persons, person_to_json};
use crate::model::Person;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("snapshot store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A stored record no longer reads as a person (the file was edited by hand?).
    #[error("snapshot store {path}: snapshot {snapshot} holds a record that is not a valid person: {message}")]
    Corrupt {
        /// Database file.
        path: String,
        /// Snapshot id.
        snapshot: i64,
        /// The reader's message.
        message: String,
    },
    /// Another run holds the store, or its lock or file cannot be made.
    #[error(transparent)]
    Lock(#[from] crate::files::LockError),
    /// The store file cannot be created.
    #[error("snapshot store {path}: {source}")]
    Io {
        /// Database file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A read-only command found no store: nothing was imported yet.
    #[error("there is no snapshot store at {path} yet: nothing has been imported")]
    NotYet {
        /// Database file.
        path: String,
    },
    /// No such snapshot.
    #[error(
        "snapshot store {path}: there is no snapshot {snapshot}; `stroom snapshots` lists them"
    )]
    NoSuchSnapshot {
        /// Database file.
        path: String,
        /// The id asked for.
        snapshot: i64,
    },
}

/// One stored snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    /// Id, increasing.
    pub id: i64,
    /// When the import finished (UTC, RFC 3339).
    pub taken_at: String,
    /// When an import last found exactly this content.
    pub confirmed_at: String,
    /// Persons in it.
    pub persons: i64,
    /// Persons whose new data was bad, kept with their previous record.
    pub carried: i64,
    /// True when it was stored past a blocked threshold with `--approve`.
    pub approved: bool,
}

/// The SQLite snapshot store.
pub struct Store {
    conn: Connection,
    path: String,
    /// Held by a writer (`open`); readers share the file (SQLite's WAL lets them).
    _lock: Option<crate::files::StoreLock>,
}

/// What [`Store::save`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// A new snapshot.
    New(SnapshotInfo),
    /// Same content as the latest snapshot: it was confirmed, nothing stored.
    Unchanged(SnapshotInfo),
}

/// Wraps SQLite errors with the file they concern.
fn sqlite_error(path: &str) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_string(),
        source,
    }
}

/// A person as stored: the record's JSON and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Person id.
    pub id: String,
    /// Content hash of `json`.
    pub hash: String,
    /// The persons-file record (one line, no newline).
    pub json: String,
}

/// The records of persons, in the order given (computed in parallel).
pub fn records_of(persons: &[Person]) -> Vec<Record> {
    use rayon::prelude::*;
    persons
        .par_iter()
        .map(|p| {
            let json = person_to_json(p).to_string();
            Record {
                id: p.id.to_string(),
                hash: crate::files::content_hash(json.as_bytes()),
                json,
            }
        })
        .collect()
}

impl Store {
    /// Opens (or creates) the store to write to it; one writer at a time (two imports
    /// at once would each store a snapshot from a different moment).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = crate::files::StoreLock::acquire(path)?;
        crate::files::prepare_private_file(path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::open_with(path, Some(lock))
    }

    /// Opens an existing store to read it (`stroom diff`, `stroom snapshots`), beside a
    /// writer if there is one; creates nothing.
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotYet {
                path: path.display().to_string(),
            });
        }
        Self::open_with(path, None)
    }

    fn open_with(path: &Path, lock: Option<crate::files::StoreLock>) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let fail = sqlite_error(&name);
        let conn = crate::sqlite::open(
            path,
            crate::sqlite::Durability::Full,
            "PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS snapshots (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 taken_at TEXT NOT NULL,
                 confirmed_at TEXT NOT NULL,
                 persons INTEGER NOT NULL,
                 carried INTEGER NOT NULL,
                 approved INTEGER NOT NULL,
                 content TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS records (
                 hash TEXT PRIMARY KEY,
                 json TEXT NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS members (
                 snapshot INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                 person TEXT NOT NULL,
                 hash TEXT NOT NULL REFERENCES records(hash),
                 PRIMARY KEY (snapshot, person)
             ) WITHOUT ROWID;",
        )
        .map_err(fail)?;
        Ok(Self {
            conn,
            path: name,
            _lock: lock,
        })
    }

    fn fail(&self, source: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path)(source)
    }

    fn info(row: &rusqlite::Row) -> rusqlite::Result<SnapshotInfo> {
        Ok(SnapshotInfo {
            id: row.get(0)?,
            taken_at: row.get(1)?,
            confirmed_at: row.get(2)?,
            persons: row.get(3)?,
            carried: row.get(4)?,
            approved: row.get::<_, i64>(5)? != 0,
        })
    }

    const INFO: &'static str =
        "SELECT id, taken_at, confirmed_at, persons, carried, approved FROM snapshots";

    /// Reads stored records (JSON Lines) back into persons.
    fn parse(&self, snapshot: i64, text: &str) -> Result<Vec<Person>, StoreError> {
        parse_persons(&format!("snapshot {snapshot}"), text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            snapshot,
            message: e.to_string(),
        })
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Result<Option<SnapshotInfo>, StoreError> {
        self.conn
            .query_row(
                &format!("{} ORDER BY id DESC LIMIT 1", Self::INFO),
                [],
                Self::info,
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// All snapshots, oldest first.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{} ORDER BY id", Self::INFO))
            .map_err(|e| self.fail(e))?;
        let rows = stmt.query_map([], Self::info).map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }

    /// The persons of a snapshot, ordered by id.
    pub fn persons(&self, snapshot: i64) -> Result<Vec<Person>, StoreError> {
        let exists: Option<i64> = self
            .conn
            .query_row("SELECT id FROM snapshots WHERE id = ?1", [snapshot], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.fail(e))?;
        if exists.is_none() {
            return Err(StoreError::NoSuchSnapshot {
                path: self.path.clone(),
                snapshot,
            });
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.json FROM members m JOIN records r ON r.hash = m.hash
                 WHERE m.snapshot = ?1 ORDER BY m.person",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([snapshot], |r| r.get::<_, String>(0))
            .map_err(|e| self.fail(e))?;
        let mut text = String::new();
        for row in rows {
            text.push_str(&row.map_err(|e| self.fail(e))?);
            text.push('\n');
        }
        self.parse(snapshot, &text)
    }

    /// The record hash of every person of a snapshot.
    pub fn member_hashes(
        &self,
        snapshot: i64,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT person, hash FROM members WHERE snapshot = ?1")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([snapshot], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }

    /// Some persons of a snapshot (ids not in it are left out), ordered by id.
    pub fn persons_by_id(&self, snapshot: i64, ids: &[&str]) -> Result<Vec<Person>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.json FROM members m JOIN records r ON r.hash = m.hash
                 WHERE m.snapshot = ?1 AND m.person = ?2",
            )
            .map_err(|e| self.fail(e))?;
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        let mut text = String::new();
        for id in sorted {
            let json: Option<String> = stmt
                .query_row(params![snapshot, id], |r| r.get(0))
                .optional()
                .map_err(|e| self.fail(e))?;
            if let Some(json) = json {
                text.push_str(&json);
                text.push('\n');
            }
        }
        self.parse(snapshot, &text)
    }

    /// Stores records as one snapshot, in one transaction: it is there whole or not
    /// at all.
    pub fn save(
        &mut self,
        records: &[Record],
        carried: usize,
        approved: bool,
    ) -> Result<Saved, StoreError> {
        let mut rows: Vec<(&str, &str, &str)> = records
            .iter()
            .map(|r| (r.id.as_str(), r.hash.as_str(), r.json.as_str()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut all = Vec::with_capacity(rows.len() * 50);
        for (id, hash, _) in &rows {
            all.extend_from_slice(id.as_bytes());
            all.push(0);
            all.extend_from_slice(hash.as_bytes());
        }
        let content = crate::files::content_hash(&all);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let fail = sqlite_error(&self.path);
        let tx = self.conn.transaction().map_err(fail)?;
        let latest: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, content FROM snapshots ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(fail)?;
        if let Some((id, _)) = latest.filter(|(_, c)| *c == content && carried == 0) {
            tx.execute(
                "UPDATE snapshots SET confirmed_at = ?1 WHERE id = ?2",
                params![now, id],
            )
            .map_err(fail)?;
            let info = tx
                .query_row(&format!("{} WHERE id = ?1", Self::INFO), [id], Self::info)
                .map_err(fail)?;
            tx.commit().map_err(fail)?;
            return Ok(Saved::Unchanged(info));
        }
        tx.execute(
            "INSERT INTO snapshots (taken_at, confirmed_at, persons, carried, approved, content)
             VALUES (?1, ?1, ?2, ?3, ?4, ?5)",
            params![
                now,
                rows.len() as i64,
                carried as i64,
                approved as i64,
                content
            ],
        )
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        {
            let mut record = tx
                .prepare_cached("INSERT OR IGNORE INTO records (hash, json) VALUES (?1, ?2)")
                .map_err(fail)?;
            let mut member = tx
                .prepare_cached("INSERT INTO members (snapshot, person, hash) VALUES (?1, ?2, ?3)")
                .map_err(fail)?;
            for (person, hash, json) in &rows {
                record.execute(params![hash, json]).map_err(fail)?;
                member.execute(params![id, person, hash]).map_err(fail)?;
            }
        }
        let info = tx
            .query_row(&format!("{} WHERE id = ?1", Self::INFO), [id], Self::info)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(Saved::New(info))
    }

    /// Keeps the newest `keep` snapshots (at least one) and drops records no snapshot
    /// uses any more. Returns the number of snapshots removed.
    pub fn prune(&mut self, keep: usize) -> Result<usize, StoreError> {
        let keep = keep.max(1) as i64;
        let fail = sqlite_error(&self.path);
        let tx = self.conn.transaction().map_err(fail)?;
        let removed = tx
            .execute(
                "DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?1)",
                [keep],
            )
            .map_err(fail)?;
        tx.execute(
            "DELETE FROM records WHERE hash NOT IN (SELECT DISTINCT hash FROM members)",
            [],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(removed)
    }
}
