//! Files on disk, the same way for every input and output: text inputs may start with a
//! UTF-8 byte order mark, files Stroom writes hold personal data (mode 0600), and a store
//! that one run writes is locked against a second run.
//!
//! These helpers sit below every layer that reads or writes files (sources, rules, plans,
//! stores, the command line), so each kind of file behaves alike.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The UTF-8 byte order mark some Windows editors put at the start of a text file.
const BOM: &str = "\u{feff}";

/// `text` without a leading UTF-8 byte order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Reads a whole text file as UTF-8, without a leading byte order mark.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let mut text = std::fs::read_to_string(path)?;
    if text.starts_with(BOM) {
        text.drain(..BOM.len());
    }
    Ok(text)
}

/// Writes a file atomically: a temporary file beside it, fsync, rename over the target,
/// fsync of the folder. Readers see the old content or the new, never a mix. The file is
/// readable by its owner only (mode 0600) from the first byte: everything Stroom writes
/// (persons, state, plans, tokens) is personal data or a secret.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, None)
}

/// [`write_atomic`] for a file that is not Stroom's own (a rule file `stroom fmt`
/// rewrites): it keeps the mode the file had.
pub fn rewrite_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    write_atomic_with(path, bytes, mode)
}

fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    keep: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let dir = folder_of(path);
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stroom".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = private_options().write(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        if let Some(mode) = keep {
            f.set_permissions(mode)?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(&dir) {
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

/// Opens a file for appending (an audit log), created with mode 0600 when missing.
pub fn open_append_private(path: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(folder_of(path))?;
    private_options().append(true).open(path)
}

/// Makes sure a database file exists with mode 0600 before SQLite opens it (SQLite
/// creates new files, and their `-wal` and `-shm` companions, with the mode of the
/// database file, so the companions follow).
pub fn prepare_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder_of(path))?;
    private_options().append(true).open(path).map(drop)
}

/// A warning when others than the owner may read `path` (Unix mode bits), e.g. a token
/// store copied with `cp` under a loose umask. `None` when the file is private or absent.
pub fn readable_by_others(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} can be read by others (mode {mode:04o}); it holds secrets: run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An exclusive lock on a store (journal, snapshots, token store), held while the value
/// lives. The lock is an advisory file lock on `<store>.lock`, so it ends with the process
/// however it ends (a kill -9 leaves no stale lock); the file records who holds it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// Another run holds the lock of a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "another stroom run holds the lock on {store} ({holder}); wait for it to finish, or stop it"
)]
pub struct LockBusy {
    /// The store.
    pub store: String,
    /// Who holds it, as recorded in the lock file ("pid N, since T"), if readable.
    pub holder: String,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error(transparent)]
    Busy(#[from] LockBusy),
    /// The lock file cannot be made.
    #[error("cannot lock {store}: {source}")]
    Io {
        /// The store.
        store: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl StoreLock {
    /// Takes the lock on `store` without waiting.
    pub fn acquire(store: &Path) -> Result<StoreLock, LockError> {
        let name = store.display().to_string();
        let io = |source| LockError::Io {
            store: name.clone(),
            source,
        };
        let mut lock_path = store.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        std::fs::create_dir_all(folder_of(&lock_path)).map_err(io)?;
        let mut file = private_options()
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockBusy {
                    store: name,
                    holder: if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder.into()
                    },
                }
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let since = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {}, since {since}", std::process::id());
        let _ = file.flush();
        Ok(StoreLock { _file: file })
    }
}

/// The content hash of stored records and plan files (a plan's journal id): 128-bit
/// FNV-1a, stable across Rust versions and platforms (unlike `DefaultHasher`). It tells
/// contents apart; it is not a defence against someone forging a collision.
pub fn content_hash(bytes: &[u8]) -> String {
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_is_stripped_once() {
        assert_eq!(strip_bom("\u{feff}a"), "a");
        assert_eq!(strip_bom("\u{feff}\u{feff}a"), "\u{feff}a");
        assert_eq!(strip_bom("a\u{feff}"), "a\u{feff}");
    }

    #[test]
    fn second_lock_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("journal.db");
        let first = StoreLock::acquire(&store).expect("first lock");
        match StoreLock::acquire(&store) {
            Err(LockError::Busy(busy)) => {
                assert!(busy
                    .holder
                    .starts_with(&format!("pid {}", std::process::id())));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        drop(first);
        StoreLock::acquire(&store).expect("free again");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        write_atomic(&p, b"{}").expect("write");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(readable_by_others(&p).is_none());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(readable_by_others(&p)
            .expect("warning")
            .contains("chmod 600"));
    }
}

#[cfg(all(test, unix))]
mod rewrite_tests {
    use super::*;

    #[test]
    fn a_rewritten_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.stroom");
        std::fs::write(&p, "old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        rewrite_atomic(&p, b"new").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
