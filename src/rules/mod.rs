//! The rules language: parse, check, evaluate.
//!
//! `load` reads files, `parse` builds the syntax tree, `check` resolves and type-checks
//! it into a [`program::Program`] (with `index` and `lint`), `eval` runs it on persons.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod eval;
pub mod explain;
pub mod fmt;
pub mod functions;
pub mod index;
pub mod lint;
pub mod load;
pub mod parse;
pub mod program;
pub mod span;
