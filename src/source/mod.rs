//! Where person records and the current state come from. Today: JSON files (the Nmbrs
//! connector writes the same format). Every problem names the file, record and field.

pub mod intake;
pub mod mutations;
pub mod nmbrs;
pub mod persons;
pub mod snapshots;
pub mod state;

use std::fmt;

/// A problem in an input file, precise enough to find and fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file as named by the user.
    pub file: String,
    /// 1-based record number (array element or line), when the problem is in a record.
    pub record: Option<usize>,
    /// The record's id, when it has one.
    pub id: Option<String>,
    /// The field path within the record, e.g. `contracts[0].start`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(r) = self.record {
            write!(f, ", record {r}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " (id {id:?})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DataError {}

/// All problems found in one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataErrors(pub Vec<DataError>);

impl fmt::Display for DataErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for e in self.0.iter().take(SHOWN) {
            writeln!(f, "{e}")?;
        }
        if self.0.len() > SHOWN {
            writeln!(f, "... and {} more problems", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for DataErrors {}

/// Writes a file atomically: a temporary file beside it, fsync, rename over the target,
/// fsync of the folder. Readers see the old content or the new, never a mix. With
/// `private`, the file is readable by its owner only (mode 0600) from the first byte.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stroom".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // Makes the rename itself durable; not every platform can sync a folder.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
