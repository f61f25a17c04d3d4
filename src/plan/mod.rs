//! Plans: the ordered list of actions that brings the targets from the current state to
//! what the rules want (see `schemas/plan.schema.json`).

mod build;
mod state_after;
mod table;
mod unique;

pub use build::{build_plan, plan_from_evals, PlanInput};
pub use state_after::state_after;
pub use table::render_table;

use crate::rules::program::{Kind, OpKind, Origin};
use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// One reason for an action: the statement that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Because {
    /// Rule name (or `file:line`).
    pub rule: Arc<str>,
    /// File.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
}

impl From<&Origin> for Because {
    fn from(o: &Origin) -> Self {
        Because {
            rule: o.rule.clone(),
            file: o.file.clone(),
            line: o.line,
        }
    }
}

fn op_name<S: Serializer>(op: &OpKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(op.as_str())
}

fn kind_name<S: Serializer>(k: &Option<Kind>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.as_str()),
        None => s.serialize_none(),
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// 1-based position in the plan.
    pub seq: usize,
    /// What to do.
    #[serde(serialize_with = "op_name")]
    pub op: OpKind,
    /// The person's id.
    pub person: Arc<str>,
    /// The target's name.
    pub target: Arc<str>,
    /// Entitlement kind (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "kind_name")]
    pub kind: Option<Kind>,
    /// Entitlement name (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Object of a permission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// All attributes of a new account, in rule order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Attribute → [old, new] (update_account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Nmbrs field (writeback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// New value (writeback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The statements that caused it.
    pub because: Vec<Because>,
    /// Why, in words, where no rule says it (revokes, lifecycle steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a plan may not be carried out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocked {
    /// More actions of one operation than a threshold allows.
    Threshold {
        /// The operation.
        #[serde(serialize_with = "op_name")]
        op: OpKind,
        /// How many the plan holds.
        count: u64,
        /// The limit that was passed, as written (`25` or `5%`).
        limit: String,
        /// The threshold's place.
        rule: Because,
        /// In words.
        message: String,
    },
    /// A person would get both sides of a `forbid`.
    Forbid {
        /// The person.
        person: Arc<str>,
        /// The forbid's place.
        rule: Because,
        /// In words.
        message: String,
    },
}

impl Blocked {
    /// The explanation in words.
    pub fn message(&self) -> &str {
        match self {
            Blocked::Threshold { message, .. } | Blocked::Forbid { message, .. } => message,
        }
    }
}

/// The plan document.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The evaluation date.
    pub today: NaiveDate,
    /// Actions in order.
    pub actions: Vec<Action>,
    /// The first reason the plan may not be carried out, if any.
    pub blocked: Option<Blocked>,
    /// Every reason it may not be carried out (the first is `blocked`).
    pub all_blocks: Vec<Blocked>,
    /// Notes worth a look (persons left alone, empty names ...).
    pub notes: Vec<String>,
}

impl Plan {
    /// Number of actions per operation, in plan-operation order, zero counts left out.
    pub fn summary(&self) -> Vec<(OpKind, usize)> {
        OpKind::ALL
            .iter()
            .map(|op| (*op, self.actions.iter().filter(|a| a.op == *op).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Summary<'a>(&'a Plan);
        impl Serialize for Summary<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let sum = self.0.summary();
                let mut m = s.serialize_map(Some(sum.len()))?;
                for (op, n) in sum {
                    m.serialize_entry(op.as_str(), &n)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("today", &self.today.format("%Y-%m-%d").to_string())?;
        m.serialize_entry("summary", &Summary(self))?;
        m.serialize_entry("blocked", &self.blocked)?;
        if self.all_blocks.len() > 1 {
            m.serialize_entry("all_blocks", &self.all_blocks)?;
        }
        m.serialize_entry("actions", &self.actions)?;
        m.serialize_entry("notes", &self.notes)?;
        m.end()
    }
}
