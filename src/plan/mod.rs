//! Plans: the ordered list of actions that brings the targets from the current state to
//! what the rules want (see `schemas/plan.schema.json`).

mod build;
pub mod compare;
mod html;
pub mod read;
mod state_after;
mod table;
mod unique;
mod valid;
mod write;

pub use build::{build_plan, limits_passed, plan_for_person, plan_outline, PlanInput, PlanOutline};
pub use html::render_html;
pub use state_after::{state_after, Outcome, StateEditor};
pub use table::render_table;
pub use write::write_plan_json;

pub use crate::rules::eval::Reasons;
use crate::rules::program::{Kind, OpKind, Origin};
use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
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

/// One step of a plan. Shared text (person ids, target and entitlement names) is
/// reference-counted and what few actions have sits behind [`Action::detail`], so a
/// plan of millions of actions stays small.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// 1-based position in the plan.
    pub seq: u32,
    /// What to do.
    pub op: OpKind,
    /// Entitlement kind (grant, revoke).
    pub kind: Option<Kind>,
    /// The person's id.
    pub person: Arc<str>,
    /// The target's name.
    pub target: Arc<str>,
    /// Entitlement name (grant, revoke).
    pub name: Option<Arc<str>>,
    /// The statements that caused it: indexes into [`Plan::origins`].
    pub because: Reasons,
    /// Why, in words, where no rule says it (revokes, lifecycle steps).
    pub reason: Option<Cow<'static, str>>,
    /// Permission object, account attributes and changes, write-back field and value.
    pub detail: Option<Box<Detail>>,
}

/// The parts of an action that only some operations have.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    /// Object of a permission (grant, revoke).
    pub on: Option<Arc<str>>,
    /// All attributes of a new account, in rule order (create_account).
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Attribute → [old, new] (update_account).
    pub changes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Nmbrs field (writeback).
    pub field: Option<Arc<str>>,
    /// New value (writeback).
    pub value: Option<Arc<str>>,
    /// The account acted on, where the plan knows it rather than finding it by the
    /// person id: what adoption links (link_account), or an account no person owns.
    pub account: Option<crate::model::live::AccountRecord>,
    /// How a managed group is made (create_group).
    pub group: Option<crate::model::group::GroupSettings>,
    /// What a message says and to whom (notify).
    pub notice: Option<crate::model::notice::Notice>,
}

impl Action {
    /// The object of a permission.
    pub fn on(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.on.as_deref())
    }

    /// The attributes of a new account.
    pub fn attributes(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.detail.as_ref().and_then(|d| d.attributes.as_ref())
    }

    /// The attribute changes of an update.
    pub fn changes(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.detail.as_ref().and_then(|d| d.changes.as_ref())
    }

    /// The Nmbrs field of a write-back.
    pub fn field(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.field.as_deref())
    }

    /// The value of a write-back.
    pub fn value(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.value.as_deref())
    }

    /// The account the action is on, when the plan names it.
    pub fn account(&self) -> Option<&crate::model::live::AccountRecord> {
        self.detail.as_ref().and_then(|d| d.account.as_ref())
    }

    /// How the group is made (create_group).
    pub fn group(&self) -> Option<&crate::model::group::GroupSettings> {
        self.detail.as_ref().and_then(|d| d.group.as_ref())
    }

    /// What a message says and to whom (notify).
    pub fn notice(&self) -> Option<&crate::model::notice::Notice> {
        self.detail.as_ref().and_then(|d| d.notice.as_ref())
    }

    /// The detail, created on first use.
    pub fn detail_mut(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Default::default)
    }
}

/// The statements an action's reasons point to, as JSON: the statements themselves, or
/// their text made once (the plan writer, laid out where reasons stand in the document:
/// every action cites a few of a few thousand statements).
#[derive(Clone, Copy)]
enum OriginsJson<'a> {
    Statements(&'a [Because]),
    Text(&'a [Box<serde_json::value::RawValue>]),
}

/// An action's reasons as JSON, looked up without collecting them first.
struct BecauseJson<'a>(&'a Reasons, OriginsJson<'a>);

impl Serialize for BecauseJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            OriginsJson::Statements(all) => {
                s.collect_seq(self.0.iter().filter_map(|o| all.get(*o as usize)))
            }
            OriginsJson::Text(all) => {
                s.collect_seq(self.0.iter().filter_map(|o| all.get(*o as usize)))
            }
        }
    }
}

/// An action as JSON, with its reasons spelled out.
struct ActionJson<'a>(&'a Action, OriginsJson<'a>);

impl Serialize for ActionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seq", &a.seq)?;
        m.serialize_entry("op", a.op.as_str())?;
        m.serialize_entry("person", &*a.person)?;
        m.serialize_entry("target", &*a.target)?;
        if let Some(k) = a.kind {
            m.serialize_entry("kind", k.as_str())?;
        }
        if let Some(n) = &a.name {
            m.serialize_entry("name", &**n)?;
        }
        if let Some(on) = a.on() {
            m.serialize_entry("on", on)?;
        }
        if let Some(attrs) = a.attributes() {
            m.serialize_entry("attributes", attrs)?;
        }
        if let Some(ch) = a.changes() {
            m.serialize_entry("changes", ch)?;
        }
        if let Some(f) = a.field() {
            m.serialize_entry("field", f)?;
        }
        if let Some(v) = a.value() {
            m.serialize_entry("value", v)?;
        }
        if let Some(acc) = a.account() {
            m.serialize_entry("account", acc)?;
        }
        if let Some(group) = a.group() {
            m.serialize_entry("group", group)?;
        }
        if let Some(notice) = a.notice() {
            m.serialize_entry("notice", notice)?;
        }
        m.serialize_entry("because", &BecauseJson(&a.because, self.1))?;
        if let Some(r) = &a.reason {
            m.serialize_entry("reason", r)?;
        }
        m.end()
    }
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
    /// The statements actions cite, by [`Action::because`] index.
    pub origins: Vec<Because>,
}

impl Plan {
    /// The statements behind an action.
    pub fn because<'a>(&'a self, action: &'a Action) -> impl Iterator<Item = &'a Because> + 'a {
        action
            .because
            .iter()
            .filter_map(|o| self.origins.get(*o as usize))
    }

    /// Number of actions per operation, in plan-operation order, zero counts left out.
    pub fn summary(&self) -> Vec<(OpKind, usize)> {
        OpKind::ALL
            .iter()
            .map(|op| (*op, self.actions.iter().filter(|a| a.op == *op).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The plan document's top level: the same for a plan held whole and one written as it
/// is made ([`write_plan_json`]).
struct Document<'a, A> {
    today: NaiveDate,
    summary: &'a [(OpKind, usize)],
    blocked: &'a Option<Blocked>,
    all_blocks: &'a [Blocked],
    actions: A,
    notes: &'a [String],
}

impl<A: Serialize> Serialize for Document<'_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Summary<'a>(&'a [(OpKind, usize)]);
        impl Serialize for Summary<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (op, n) in self.0 {
                    m.serialize_entry(op.as_str(), n)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("today", &self.today.format("%Y-%m-%d").to_string())?;
        m.serialize_entry("summary", &Summary(self.summary))?;
        m.serialize_entry("blocked", self.blocked)?;
        if self.all_blocks.len() > 1 {
            m.serialize_entry("all_blocks", self.all_blocks)?;
        }
        m.serialize_entry("actions", &self.actions)?;
        m.serialize_entry("notes", self.notes)?;
        m.end()
    }
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Actions<'a>(&'a Plan);
        impl Serialize for Actions<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(
                    self.0
                        .actions
                        .iter()
                        .map(|a| ActionJson(a, OriginsJson::Statements(&self.0.origins))),
                )
            }
        }
        Document {
            today: self.today,
            summary: &self.summary(),
            blocked: &self.blocked,
            all_blocks: &self.all_blocks,
            actions: Actions(self),
            notes: &self.notes,
        }
        .serialize(s)
    }
}
