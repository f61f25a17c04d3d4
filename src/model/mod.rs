//! The normalized data Stroom works on: persons with contracts, the current state of the
//! targets, and the values rules compute with.

pub mod names;
pub mod person;
pub mod state;
pub mod value;

pub use person::{Contract, NameConvention, Person};
pub use state::{AccountState, GrantState, State};
pub use value::{Ty, Value};
