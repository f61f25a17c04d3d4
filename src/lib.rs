//! Stroom: HR-driven identity provisioning from Visma Nmbrs.
//!
//! The modules follow the pipeline: [`source`] reads person records and state,
//! [`model`] holds them, [`rules`] parses, checks and evaluates rule files, and
//! [`plan`] turns the result into an ordered list of actions. Nothing here prints; the
//! `stroom` command line is a thin layer over these calls.
//!
//! Without default features this crate is that core alone (no network, database or
//! terminal crates). The `connectors` feature adds the Nmbrs source and snapshots
//! (`source::nmbrs`, `source::snapshots`), the targets and the apply engine
//! (`targets`, `apply`), `stroom.toml` with the target registry (`config`) and one
//! sync run as calls (`sync`); `simulate` adds the simulators and the test-data
//! generator.
//!
//! # Example
//!
//! Parse → check → evaluate → plan, from Rust:
//!
//! ```
//! use stroom::model::State;
//! use stroom::plan::{build_plan, PlanInput};
//!
//! let checked = stroom::check_sources(&[(
//!     "sales.stroom",
//!     r#"
//!     default target ad
//!     rule "crm" {
//!       when contract.start <= today and department == "Sales"
//!         grant group "CRM-Users"
//!     }
//!     "#,
//! )]);
//! assert!(!checked.has_errors());
//! let program = checked.program.expect("checked without errors");
//!
//! let persons = stroom::source::persons::parse_persons(
//!     "persons.json",
//!     r#"[{"id": "p1", "last_name": "Berg", "contracts": [
//!          {"id": "c1", "start": "2026-01-01", "department": "Sales"}]}]"#,
//! )
//! .expect("valid persons");
//!
//! let plan = build_plan(&PlanInput {
//!     program: &program,
//!     persons: &persons,
//!     state: &State::default(),
//!     today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
//! });
//! assert_eq!(plan.actions.len(), 1);
//! assert_eq!(plan.actions[0].name.as_deref(), Some("CRM-Users"));
//! let reason = plan.because(&plan.actions[0]).next().expect("a reason");
//! assert_eq!(&*reason.rule, "crm");
//! ```
//!
//! Errors come back as [`rules::diagnostic::Diagnostic`]s with a code, span, label
//! and help; [`rules::diagnostic::render_human`] renders them like rustc does:
//!
//! ```
//! let checked = stroom::check_sources(&[("a.stroom", "when departmnet == \"Sales\" grant group \"X\" in ad")]);
//! assert_eq!(checked.diagnostics[0].code(), "stroom::unknown_field");
//! assert_eq!(checked.diagnostics[0].help, "did you mean `department`?");
//! let text = stroom::rules::diagnostic::render_human(&checked.diagnostics, &checked.sources, false);
//! assert!(text.contains("a.stroom:1:6"));
//! ```

// Input must never crash Stroom: no unwrap, expect or panic outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

// The core: rules language, model, planner and the file readers. No network, no database.
pub mod files;
pub mod html;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod rules;
pub mod ruletest;
pub mod secret;
pub mod source;
pub mod suggest;

// Connectors: what talks to Nmbrs, the targets and the stores.
#[cfg(feature = "connectors")]
pub mod apply;
#[cfg(feature = "connectors")]
pub mod config;
#[cfg(feature = "connectors")]
pub mod http;
#[cfg(feature = "lsp")]
pub mod lsp;
#[cfg(feature = "connectors")]
pub mod notify;
#[cfg(feature = "connectors")]
pub mod random;
#[cfg(feature = "connectors")]
pub mod sqlite;
#[cfg(feature = "connectors")]
pub mod sync;
#[cfg(feature = "connectors")]
pub mod targets;

// For tests, benchmarks and stroom-sim only.
#[cfg(feature = "simulate")]
pub mod generate;
#[cfg(feature = "simulate")]
pub mod simulate;

use rules::check::Checked;
use rules::load::{LoadError, Parsed};
use std::path::Path;

/// Parses and checks rule files given as (name, text).
pub fn check_sources(sources: &[(&str, &str)]) -> Checked {
    rules::check::check(rules::load::parse_sources(sources))
}

/// Reads, parses and checks rule files and directories.
pub fn check_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Checked, LoadError> {
    let parsed: Parsed = rules::load::load_paths(paths)?;
    Ok(rules::check::check(parsed))
}
