//! The apply journal: one row per plan step in SQLite, written before and after each
//! target operation, so that a run killed at any moment resumes where it stopped.
//!
//! WAL mode with `synchronous = NORMAL`: a committed step survives the process being
//! killed (the kill -9 case); only a power cut may lose the last steps, which the
//! idempotent target operations then simply repeat.

use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Sent to the target; the answer was not recorded (yet).
    Started,
    /// Carried out.
    Done,
    /// The target refused it.
    Failed,
    /// Not tried because an earlier step of the person failed.
    Skipped,
}

impl StepStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "started" => Self::Started,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }
}

/// A recorded step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// Status.
    pub status: StepStatus,
    /// The account id the target gave (creates) or used.
    pub account: Option<String>,
    /// The error, for failed steps.
    pub error: Option<String>,
}

/// The journal (shared by the engine's worker threads).
pub struct Journal {
    conn: Mutex<Connection>,
    path: String,
    _lock: crate::files::StoreLock,
}

/// Journal failures stop a run: without a journal, a resume could repeat or lose steps.
#[derive(Debug, thiserror::Error)]
#[error("apply journal {path}: {source}")]
pub struct JournalError {
    /// The database file.
    pub path: String,
    /// What failed.
    pub source: JournalFailure,
}

/// What failed in a [`JournalError`].
#[derive(Debug, thiserror::Error)]
pub enum JournalFailure {
    /// SQLite refused.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Another run holds the journal, or its lock or file cannot be made.
    #[error(transparent)]
    Lock(#[from] crate::files::LockError),
    /// The journal file cannot be created.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Journal {
    /// Opens (or creates) the journal.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let name = path.display().to_string();
        let fail = |source: JournalFailure| JournalError {
            path: name.clone(),
            source,
        };
        // One run at a time: two runs of one plan would each carry out every step.
        let lock = crate::files::StoreLock::acquire(path).map_err(|e| fail(e.into()))?;
        crate::files::prepare_private_file(path).map_err(|e| fail(e.into()))?;
        let fail = |e: rusqlite::Error| fail(e.into());
        let conn = crate::sqlite::open(
            path,
            crate::sqlite::Durability::Normal,
            "CREATE TABLE IF NOT EXISTS apply_runs (
                 plan TEXT PRIMARY KEY,
                 started_at TEXT NOT NULL,
                 finished_at TEXT
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS apply_steps (
                 plan TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 account TEXT,
                 error TEXT,
                 updated_at TEXT NOT NULL,
                 PRIMARY KEY (plan, seq)
             ) WITHOUT ROWID;",
        )
        .map_err(fail)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: name,
            _lock: lock,
        })
    }

    fn fail(&self, source: rusqlite::Error) -> JournalError {
        let source = source.into();
        JournalError {
            path: self.path.clone(),
            source,
        }
    }

    fn now() -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Registers a run of `plan` (again, when resuming).
    pub fn begin(&self, plan: &str) -> Result<(), JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "INSERT INTO apply_runs (plan, started_at) VALUES (?1, ?2)
             ON CONFLICT (plan) DO UPDATE SET finished_at = NULL",
            params![plan, Self::now()],
        )
        .map(|_| ())
        .map_err(|e| self.fail(e))
    }

    /// Marks the run finished.
    pub fn finish(&self, plan: &str) -> Result<(), JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "UPDATE apply_runs SET finished_at = ?2 WHERE plan = ?1",
            params![plan, Self::now()],
        )
        .map(|_| ())
        .map_err(|e| self.fail(e))
    }

    /// Every recorded step of a plan, by seq.
    pub fn steps(&self, plan: &str) -> Result<HashMap<u32, StepRecord>, JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn
            .prepare("SELECT seq, status, account, error FROM apply_steps WHERE plan = ?1")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([plan], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(|e| self.fail(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (seq, status, account, error) = row.map_err(|e| self.fail(e))?;
            if let Some(status) = StepStatus::parse(&status) {
                out.insert(
                    seq,
                    StepRecord {
                        status,
                        account,
                        error,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Records a step's status (committed before this returns).
    pub fn mark(
        &self,
        plan: &str,
        seq: u32,
        status: StepStatus,
        account: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.prepare_cached(
            "INSERT INTO apply_steps (plan, seq, status, account, error, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (plan, seq) DO UPDATE SET status = ?3,
                 account = COALESCE(?4, account), error = ?5, updated_at = ?6",
        )
        .and_then(|mut s| {
            s.execute(params![
                plan,
                seq,
                status.as_str(),
                account,
                error,
                Self::now()
            ])
        })
        .map(|_| ())
        .map_err(|e| self.fail(e))
    }
}
