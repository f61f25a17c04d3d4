//! `stroom state import|export`: the state store (SQLite) and the JSON state file.

use super::{print_json, FAILED, OK, UNUSABLE};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use stroom::source::state_store::{is_state_store, StateStore};

#[derive(Subcommand)]
pub enum StateCommand {
    /// Make a state store hold what a JSON state file holds (only what differs is
    /// written).
    Import {
        /// The JSON state file.
        file: PathBuf,
        /// The store (`.db`, `.sqlite` or `.sqlite3`); created when missing.
        #[arg(long)]
        into: PathBuf,
    },
    /// Print what a state store holds as a JSON state file (to stdout).
    Export {
        /// The store.
        store: PathBuf,
    },
}

pub fn run(command: &StateCommand) -> u8 {
    match command {
        StateCommand::Import { file, into } => {
            if !is_state_store(into) {
                errln!(
                    "error: {} is not a state store name; end it in .db, .sqlite or .sqlite3",
                    into.display()
                );
                return UNUSABLE;
            }
            let state = match super::plan::load_state(Some(file)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let written = StateStore::open(into).and_then(|mut s| s.replace(&state));
            match written {
                Ok(c) => {
                    errln!(
                        "state store {}: {} account(s) written, {} removed; {} grant(s) added, {} removed",
                        into.display(),
                        c.accounts_written,
                        c.accounts_removed,
                        c.grants_added,
                        c.grants_removed
                    );
                    OK
                }
                Err(e) => {
                    errln!("error: {e}");
                    FAILED
                }
            }
        }
        StateCommand::Export { store } => match read_store(store) {
            Ok(state) => print_json(&state),
            Err(code) => code,
        },
    }
}

/// Reads a state store that must exist.
pub fn read_store(path: &Path) -> Result<stroom::model::State, u8> {
    if !path.exists() {
        errln!(
            "error: there is no state store at {}; `stroom state import` makes one",
            path.display()
        );
        return Err(UNUSABLE);
    }
    StateStore::open(path).and_then(|s| s.load()).map_err(|e| {
        errln!("error: {e}");
        FAILED
    })
}
