//! How every SQLite file of Stroom is opened (snapshots, the apply journal, the state
//! store): write-ahead logging, so a reader never blocks the writer, and a wait of five
//! seconds for a busy file instead of an immediate error.

use rusqlite::Connection;
use std::path::Path;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is on disk before it returns (snapshots, the state).
    Full,
    /// The last commits may be lost in a power cut, the file is never corrupted (the
    /// apply journal, written once per step).
    Normal,
}

/// Opens (or creates) the database at `path` and runs `schema` (its `CREATE TABLE IF
/// NOT EXISTS` statements).
pub fn open(path: &Path, durability: Durability, schema: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    ))?;
    conn.execute_batch(schema)?;
    Ok(conn)
}
