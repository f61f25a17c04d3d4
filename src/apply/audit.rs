//! The audit log: one JSON line per target operation (time, plan, seq, person, target,
//! action, result, error), appended and flushed line by line.

use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry<'a> {
    /// UTC time.
    pub time: String,
    /// Plan id (hash of the plan document).
    pub plan: &'a str,
    /// Step.
    pub seq: u32,
    /// Person id.
    pub person: &'a str,
    /// Target.
    pub target: &'a str,
    /// Operation, with the entitlement for grants and revokes.
    pub action: String,
    /// `ok`, `failed`, `skipped` or `dry_run`.
    pub result: &'a str,
    /// The account id involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<&'a str>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// An append-only audit log (or none).
pub struct Audit {
    out: Option<Mutex<std::fs::File>>,
}

impl Audit {
    /// Appends to `path` (created with its folder when missing, readable by its owner
    /// only: the log names persons and accounts).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = crate::files::open_append_private(path)?;
        Ok(Self {
            out: Some(Mutex::new(file)),
        })
    }

    /// No audit log.
    pub fn none() -> Self {
        Self { out: None }
    }

    /// Writes one entry as one line (one write call, so lines never interleave).
    pub fn write(&self, entry: &AuditEntry) -> std::io::Result<()> {
        let Some(out) = &self.out else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut file = out.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
    }
}
