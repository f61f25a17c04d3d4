//! Stroom: HR-driven identity provisioning from Visma Nmbrs.

pub mod rules;
