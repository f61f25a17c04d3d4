//! Writing to standard output (data) and standard error (reports) for the command-line
//! programs. A closed pipe (`stroom plan | head -1`) is not an error: output stops
//! quietly and the command finishes its work (files it writes are completed), as `ls`
//! does. Any other write failure (a full disk) is reported once and turns a successful
//! exit status into 2.
//!
//! Shared by `stroom`, `stroom-gen` and `stroom-sim` (each declares it as `crate::out`).

// Each program uses a part of it.
#![allow(unused_macros, dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// True once standard output is closed or failed: nothing more is written to it.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// True when a write to standard output failed for another reason than a closed pipe.
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

/// Records the outcome of a write to standard output; true when it went through.
pub fn note_stdout(result: std::io::Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::BrokenPipe && !stdout_closed() {
                STDOUT_FAILED.store(true, Ordering::Relaxed);
                write_stderr(format_args!(
                    "error: cannot write to standard output: {e}\n"
                ));
            }
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            false
        }
    }
}

/// Writes to standard output unless it is closed.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    note_stdout(out.write_fmt(args).and_then(|()| out.flush()));
}

/// Writes to standard error; a closed standard error is ignored.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stderr().lock().write_fmt(args).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// The exit status to return: `code`, or 2 when standard output failed (not closed)
/// and the command would otherwise report success.
pub fn exit_status(code: u8) -> u8 {
    if code == 0 && stdout_failed() {
        2
    } else {
        code
    }
}

/// `print!` that ends quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that ends quietly on a closed pipe.
macro_rules! outln {
    () => { $crate::out::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::out::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::out::write_stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::out::write_stderr(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::out::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
