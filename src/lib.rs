//! Stroom: HR-driven identity provisioning from Visma Nmbrs.
//!
//! The modules follow the pipeline: [`source`] reads person records and state,
//! [`model`] holds them, [`rules`] parses, checks and evaluates rule files, and
//! [`plan`] turns the result into an ordered list of actions.

pub mod generate;
pub mod model;
pub mod plan;
pub mod rules;
pub mod ruletest;
pub mod source;
