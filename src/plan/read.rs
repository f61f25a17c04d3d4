//! Reading a plan document back (`stroom plan --format json` → `stroom apply`).

use crate::rules::program::{Kind, OpKind};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One action of a plan document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlannedAction {
    /// 1-based position.
    pub seq: u32,
    /// What to do.
    pub op: OpKind,
    /// Person id.
    pub person: String,
    /// Target name.
    pub target: String,
    /// Entitlement kind.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// Entitlement name.
    #[serde(default)]
    pub name: Option<String>,
    /// Permission object.
    #[serde(default)]
    pub on: Option<String>,
    /// New account attributes.
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
    /// Attribute → [old, new].
    #[serde(default)]
    pub changes: Option<Map<String, Value>>,
    /// Write-back field.
    #[serde(default)]
    pub field: Option<String>,
    /// Write-back value.
    #[serde(default)]
    pub value: Option<String>,
    /// The account acted on, when the plan names it (link_account, an account no
    /// person owns).
    #[serde(default)]
    pub account: Option<crate::model::live::AccountRecord>,
    /// How a managed group is made (create_group).
    #[serde(default)]
    pub group: Option<crate::model::group::GroupSettings>,
    /// What a message says and to whom (notify).
    #[serde(default)]
    pub notice: Option<crate::model::notice::Notice>,
}

/// A plan document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanDocument {
    /// The evaluation date.
    pub today: String,
    /// Why it may not be carried out; `null` when it may.
    #[serde(default)]
    pub blocked: Option<Value>,
    /// The actions in order.
    pub actions: Vec<PlannedAction>,
}

impl From<&super::Plan> for PlanDocument {
    /// The document of a plan made in this process (`stroom sync --apply`), without
    /// writing it out and reading it back: the same value [`parse_plan`] gives for the
    /// plan's JSON (tested).
    fn from(plan: &super::Plan) -> Self {
        let text = |s: Option<&str>| s.map(str::to_string);
        PlanDocument {
            today: plan.today.format("%Y-%m-%d").to_string(),
            blocked: plan
                .blocked
                .as_ref()
                .and_then(|b| serde_json::to_value(b).ok()),
            actions: plan
                .actions
                .iter()
                .map(|a| PlannedAction {
                    seq: a.seq,
                    op: a.op,
                    person: a.person.to_string(),
                    target: a.target.to_string(),
                    kind: a.kind,
                    name: text(a.name.as_deref()),
                    on: text(a.on()),
                    attributes: a.attributes().cloned(),
                    changes: a.changes().cloned(),
                    field: text(a.field()),
                    value: text(a.value()),
                    account: a.account().cloned(),
                    group: a.group().cloned(),
                    notice: a.notice().cloned(),
                })
                .collect(),
        }
    }
}

/// A plan document that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PlanReadError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// Parses and validates a plan document: known operations, ascending `seq`, the
/// fields each operation needs.
pub fn parse_plan(file: &str, text: &str) -> Result<PlanDocument, PlanReadError> {
    let text = crate::files::strip_bom(text);
    let fail = |message: String| PlanReadError {
        file: file.to_string(),
        message,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: PlanDocument = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        fail(format!(
            "not a plan document at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })?;
    let mut last = 0;
    for a in &doc.actions {
        let at = format!("action seq {}", a.seq);
        if a.seq <= last {
            return Err(fail(format!("{at}: seq must increase (after {last})")));
        }
        last = a.seq;
        let missing = match a.op {
            OpKind::Grant | OpKind::Revoke if a.kind.is_none() || a.name.is_none() => {
                Some("kind and name")
            }
            OpKind::Writeback if a.field.is_none() || a.value.is_none() => Some("field and value"),
            OpKind::Update if a.changes.is_none() => Some("changes"),
            OpKind::Link if a.account.is_none() => Some("account"),
            OpKind::CreateGroup
                if a.kind != Some(Kind::Group) || a.name.is_none() || a.group.is_none() =>
            {
                Some("kind group, name and group")
            }
            OpKind::Notify if a.notice.is_none() => Some("notice"),
            _ => None,
        };
        if let Some(m) = missing {
            return Err(fail(format!("{at} ({}): needs {m}", a.op.as_str())));
        }
    }
    Ok(doc)
}
