//! Where person records and the current state come from. Today: JSON files (the Nmbrs
//! connector writes the same format). Every problem names the file, record and field.

#[cfg(feature = "connectors")]
pub mod intake;
pub mod mutations;
#[cfg(feature = "connectors")]
pub mod nmbrs;
pub mod persons;
#[cfg(feature = "connectors")]
pub mod snapshots;
pub mod state;
#[cfg(feature = "connectors")]
pub mod state_store;

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
