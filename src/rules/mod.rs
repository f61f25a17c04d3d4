//! The rules language: parse, check, evaluate.

pub mod ast;
pub mod diagnostic;
pub mod parse;
pub mod span;
