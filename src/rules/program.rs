//! The checked, compiled form of a rule set: names resolved, `let`s inlined, types
//! known, conditions indexed. Only the checker builds a [`Program`]; evaluation and
//! planning read it.

use super::functions::Func;
use super::span::{SourceMap, Span};
use crate::model::person::{ContractField, PersonField};
use crate::model::Value;
use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// Index of a target in [`Program::targets`].
pub type TargetId = u16;
/// Index of a statement in [`Program::origins`]: what plans cite in `because`.
pub type OriginId = u32;

/// What kind of system a target is: what it takes (accounts, which entitlement kinds,
/// write-backs) and which kind's account it works on. The one place the core knows
/// target kinds; connectors (`stroom::targets`) add how each kind is configured and
/// built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// Active Directory (`ad`).
    ActiveDirectory,
    /// Entra ID (`entra`).
    Entra,
    /// Exchange Online (`exchange`).
    Exchange,
    /// A declared generic (SCIM) target.
    Scim,
    /// Write-back to Nmbrs (`nmbrs`).
    Nmbrs,
}

impl TargetKind {
    /// Every kind.
    pub const ALL: [TargetKind; 5] = [
        TargetKind::ActiveDirectory,
        TargetKind::Entra,
        TargetKind::Exchange,
        TargetKind::Scim,
        TargetKind::Nmbrs,
    ];

    /// The kind's name, as `kind = "..."` in stroom.toml writes it. The built-in
    /// targets carry these names too (`in ad`), except the generic one.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::ActiveDirectory => "ad",
            TargetKind::Entra => "entra",
            TargetKind::Exchange => "exchange",
            TargetKind::Scim => "scim",
            TargetKind::Nmbrs => "nmbrs",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<TargetKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The entitlement kinds a target of this kind grants.
    pub fn grants(self) -> &'static [Kind] {
        match self {
            TargetKind::ActiveDirectory | TargetKind::Scim => &[Kind::Group],
            TargetKind::Entra => &[Kind::Group, Kind::License],
            TargetKind::Exchange => &[Kind::Group, Kind::Mailbox, Kind::Permission],
            TargetKind::Nmbrs => &[],
        }
    }

    /// True when the rules may create accounts in it (`account in ...`): everywhere but
    /// the HR source, which takes write-backs only.
    pub fn has_accounts(self) -> bool {
        self != TargetKind::Nmbrs
    }

    /// Account attributes a target of this kind is known to have: a `correlate` key
    /// outside this list gets a warning with a suggestion (a directory may have schema
    /// extensions, so it is not an error).
    pub fn known_attributes(self) -> &'static [&'static str] {
        match self {
            TargetKind::ActiveDirectory => &[
                "cn",
                "ou",
                "sAMAccountName",
                "userPrincipalName",
                "displayName",
                "givenName",
                "sn",
                "initials",
                "mail",
                "mailNickname",
                "proxyAddresses",
                "department",
                "departmentNumber",
                "title",
                "company",
                "division",
                "description",
                "office",
                "physicalDeliveryOfficeName",
                "telephoneNumber",
                "mobile",
                "employeeID",
                "employeeNumber",
                "employeeType",
                "manager",
                "extensionAttribute1",
                "extensionAttribute2",
                "extensionAttribute3",
                "extensionAttribute4",
                "extensionAttribute5",
            ],
            TargetKind::Entra | TargetKind::Exchange => &[
                "userPrincipalName",
                "displayName",
                "givenName",
                "surname",
                "mail",
                "mailNickname",
                "otherMails",
                "department",
                "jobTitle",
                "companyName",
                "officeLocation",
                "employeeId",
                "employeeType",
                "usageLocation",
                "mobilePhone",
                "businessPhones",
                "manager",
                "city",
                "country",
                "onPremisesSamAccountName",
                "onPremisesImmutableId",
            ],
            // Exactly what the SCIM target maps (`targets::scim::attribute_path`);
            // `externalId` is always the person id.
            TargetKind::Scim => &[
                "userName",
                "displayName",
                "nickName",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "givenName",
                "familyName",
                "email",
                "employeeNumber",
                "department",
                "organization",
                "division",
                "costCenter",
                "manager",
            ],
            TargetKind::Nmbrs => &[],
        }
    }

    /// True when a target of this kind sends only its
    /// [`known_attributes`](TargetKind::known_attributes) and drops any other: a `set`
    /// line outside them gets a warning. Directories take schema extensions, so theirs are open.
    pub fn sends_known_attributes_only(self) -> bool {
        self == TargetKind::Scim
    }

    /// True when a target of this kind can say what its accounts take
    /// (`Target::schema`, a SCIM application's `/Schemas`): `stroom check --online`
    /// asks it.
    pub fn announces_schema(self) -> bool {
        self == TargetKind::Scim
    }

    /// Account attributes that hold a reference to another account (the manager):
    /// the rules give a person id, the target holds the account's id, and
    /// reconciliation reads it back as the person id.
    pub fn reference_attributes(self) -> &'static [&'static str] {
        match self {
            TargetKind::ActiveDirectory | TargetKind::Entra | TargetKind::Scim => &["manager"],
            _ => &[],
        }
    }

    /// The kind of target whose account a target of this kind works on: an Exchange
    /// mailbox or permission belongs to an Entra ID user.
    pub fn account_host(self) -> Option<TargetKind> {
        match self {
            TargetKind::Exchange => Some(TargetKind::Entra),
            _ => None,
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target the rules may name: its name (`in ad_emea`) and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDecl {
    /// Its name in rules and plans.
    pub name: Arc<str>,
    /// Its kind.
    pub kind: TargetKind,
    /// For a kind with an account host (Exchange): the target whose accounts it works
    /// on, when the configuration names one; else the first of the host kind whose
    /// accounts the rules manage.
    pub host: Option<Arc<str>>,
    /// What the target's own system says its accounts take, when it was asked
    /// (`stroom check --online`); `None`: what its kind takes.
    pub schema: Option<Arc<TargetSchema>>,
}

/// The account attributes a target's system offers, as it announced them (a SCIM
/// application's `/ResourceTypes` and `/Schemas`), in the rules' attribute names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSchema {
    /// Where it was read, for help texts: `https://app.example/scim/v2/Schemas`.
    pub source: String,
    /// The attributes the rules may `set` there.
    pub attributes: Vec<Arc<str>>,
}

impl TargetDecl {
    /// A target of this kind with this name.
    pub fn new(name: &str, kind: TargetKind) -> Self {
        Self {
            name: Arc::from(name),
            kind,
            host: None,
            schema: None,
        }
    }

    /// The targets every rule set knows without configuration: `ad`, `entra`,
    /// `exchange` and `nmbrs`, each of its own kind.
    pub fn builtin() -> Vec<TargetDecl> {
        [
            TargetKind::ActiveDirectory,
            TargetKind::Entra,
            TargetKind::Exchange,
            TargetKind::Nmbrs,
        ]
        .into_iter()
        .map(|k| TargetDecl::new(k.as_str(), k))
        .collect()
    }
}

pub use crate::model::Kind;

/// Where a planned action comes from: a statement in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The rule's name (`rule "name"`), or `file:line` for an unnamed statement.
    pub rule: Arc<str>,
    /// The file.
    pub file: Arc<str>,
    /// 1-based line of the statement.
    pub line: usize,
    /// The statement.
    pub span: Span,
}

pub use super::ast::CmpOp;

/// A compiled expression with its source place (for `explain`).
#[derive(Debug, Clone)]
pub struct CExpr {
    /// What it computes.
    pub kind: CKind,
    /// Where it was written.
    pub span: Span,
}

/// Compiled expression nodes.
#[derive(Debug, Clone)]
pub enum CKind {
    /// A constant.
    Const(Value<'static>),
    /// The evaluation date.
    Today,
    /// `today + N days` (N may be negative).
    TodayPlus(i64),
    /// A person field.
    Person(PersonField),
    /// `extra.KEY` of the person.
    Extra(Arc<str>),
    /// A field of the bound contract.
    Contract(ContractField),
    /// A field of the primary contract.
    Primary(ContractField),
    /// A field of the manager's person record.
    ManagerPerson(PersonField),
    /// A field of the manager's primary contract.
    ManagerContract(ContractField),
    /// `manager.extra.KEY`
    ManagerExtra(Arc<str>),
    /// `not x`
    Not(Box<CExpr>),
    /// `a and b and ...`
    And(Vec<CExpr>),
    /// `a or b or ...`
    Or(Vec<CExpr>),
    /// `a OP b`
    Cmp(CmpOp, Box<CExpr>, Box<CExpr>),
    /// `x in [constants]`, precompiled to a set (negated for `not in`).
    InSet(Box<CExpr>, Arc<ConstSet>, bool),
    /// `x in list` with a computed list (negated for `not in`).
    In(Box<CExpr>, Box<CExpr>, bool),
    /// `a + b`
    Add(Box<CExpr>, Box<CExpr>),
    /// `a - b`
    Sub(Box<CExpr>, Box<CExpr>),
    /// `[a, b]`
    List(Vec<CExpr>),
    /// `f(args)`
    Call(Func, Vec<CExpr>),
    /// `matches(s, "regex")`
    Matches(Box<CExpr>, Arc<Regex>),
    /// `starts_with`, `ends_with` or `contains` of a text and a constant: the common
    /// case, compiled without an argument list.
    TextTest(Func, Box<CExpr>, Arc<str>),
    /// `x is empty` (negated for `is not empty`)
    IsEmpty(Box<CExpr>, bool),
}

/// The constant elements of an `in [...]` list, for fast membership tests.
#[derive(Debug, Clone, Default)]
pub struct ConstSet {
    /// String elements.
    pub strings: FxHashSet<Arc<str>>,
    /// Other elements (numbers, dates), compared one by one.
    pub others: Vec<Value<'static>>,
}

impl CExpr {
    /// The constant beginning of a computed text (`"DEP-" + lower(department)` →
    /// `DEP-`), or the whole text of a constant.
    pub fn constant_prefix(&self) -> Option<String> {
        match &self.kind {
            CKind::Const(Value::Str(s)) => Some(s.to_string()),
            CKind::Add(a, _) => a.constant_prefix(),
            _ => None,
        }
    }

    /// True if this expression reads a field of the bound contract.
    pub fn mentions_contract(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e.kind, CKind::Contract(_)));
        found
    }

    /// Calls `f` on this node and every node below it.
    pub fn visit(&self, f: &mut dyn FnMut(&CExpr)) {
        f(self);
        match &self.kind {
            CKind::Not(e)
            | CKind::IsEmpty(e, _)
            | CKind::Matches(e, _)
            | CKind::InSet(e, _, _)
            | CKind::TextTest(_, e, _) => e.visit(f),
            CKind::And(v) | CKind::Or(v) | CKind::List(v) | CKind::Call(_, v) => {
                v.iter().for_each(|e| e.visit(f))
            }
            CKind::Cmp(_, a, b) | CKind::In(a, b, _) | CKind::Add(a, b) | CKind::Sub(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            _ => {}
        }
    }
}

/// Something a statement does for the persons it fires for.
#[derive(Debug, Clone)]
pub enum CEffect {
    /// Grant an entitlement.
    Grant {
        /// Target.
        target: TargetId,
        /// Kind.
        kind: Kind,
        /// Name (a constant in most rules).
        name: CExpr,
        /// The name, when it is a constant (shared by every grant, no copying), with
        /// its rank among all constant names (so sorting compares numbers, not text).
        fixed_name: Option<(Arc<str>, u32)>,
        /// For permissions: the object.
        on: Option<CExpr>,
    },
    /// Write a value back to an Nmbrs person field.
    Writeback {
        /// The person field.
        field: Arc<str>,
        /// Where the value comes from.
        source: WritebackValue,
    },
}

/// The value of a write-back.
#[derive(Debug, Clone)]
pub enum WritebackValue {
    /// An attribute of the person's account in a target.
    Account {
        /// Target.
        target: TargetId,
        /// Attribute.
        attribute: Arc<str>,
    },
    /// A computed value.
    Expr(CExpr),
}

/// A `when` statement (or a bare action) with its actions.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it comes from.
    pub origin: OriginId,
    /// The condition; `None` means always.
    pub cond: Option<CExpr>,
    /// True if the statement reads contract fields: it is evaluated per contract.
    pub per_contract: bool,
    /// What it does.
    pub actions: Vec<CEffect>,
}

/// How an account attribute gets its value.
#[derive(Debug, Clone)]
pub enum AttrRule {
    /// Computed each run; changes become `update_account`.
    Expr(CExpr),
    /// Chosen once from candidates, then kept.
    Unique {
        /// Candidates in order.
        candidates: Vec<CExpr>,
        /// Longest value without the ending.
        max: Option<usize>,
        /// Appended after candidate and number.
        ending: Option<CExpr>,
    },
}

/// An `account in TARGET { ... }` block.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// The target.
    pub target: TargetId,
    /// Where it comes from.
    pub origin: OriginId,
    /// Which contracts give an account; `None` = all.
    pub cond: Option<CExpr>,
    /// Create this many days before the first contract starts (disabled).
    pub create_before_days: i64,
    /// Disable this many days after the last contract ends.
    pub disable_after_days: i64,
    /// Delete this many days after disabling; `None` = never.
    pub delete_after_days: Option<i64>,
    /// Attributes in the order written.
    pub attributes: Vec<(Arc<str>, AttrRule)>,
    /// How an existing account without the person id is found (`correlate` lines), in
    /// the order tried; the person id attribute always comes first.
    pub correlation: Vec<Correlation>,
}

/// One `correlate` line: an account matches when each key's attribute holds the
/// person's value for it (compared without regard to case or surrounding spaces).
#[derive(Debug, Clone)]
pub struct Correlation {
    /// The line, as the report cites it.
    pub origin: OriginId,
    /// The keys; all must match.
    pub keys: Vec<CorrelationKey>,
}

/// One key of a [`Correlation`].
#[derive(Debug, Clone)]
pub struct CorrelationKey {
    /// The account attribute, as the target names it.
    pub attribute: Arc<str>,
    /// Where the person's value comes from.
    pub value: KeyValue,
}

/// The person's value for a correlation key.
#[derive(Debug, Clone)]
pub enum KeyValue {
    /// `attribute = EXPR`.
    Expr(CExpr),
    /// A bare `attribute`: what the block's `set` line (by index into
    /// [`AccountSpec::attributes`]) gives; for a `unique` value, any of its candidates.
    Set(usize),
}

/// A `group "PATTERN" in TARGET { ... }` declaration: the groups of these names are
/// Stroom's to create (never to delete) when a grant first needs one.
#[derive(Debug, Clone)]
pub struct ManagedGroup {
    /// Where they are made.
    pub target: TargetId,
    /// The names covered; `*` stands for any run of characters.
    pub pattern: Arc<str>,
    /// How they are made; `{name}` in the description stands for the group's name.
    pub settings: crate::model::group::GroupSettings,
    /// The declaration.
    pub origin: OriginId,
}

impl ManagedGroup {
    /// The settings of the group `name`, its description filled in.
    pub fn settings_for(&self, name: &str) -> crate::model::group::GroupSettings {
        let mut s = self.settings.clone();
        if let Some(d) = &mut s.description {
            *d = d.replace("{name}", name);
        }
        s
    }
}

/// A `handover in TARGET { ... }` declaration: a new account's first credential goes
/// to the person responsible (the manager by default), on create or on the start date.
#[derive(Debug, Clone)]
pub struct Handover {
    /// The target whose accounts are handed over.
    pub target: TargetId,
    /// The declaration.
    pub origin: OriginId,
    /// When: [`NoticeEvent::Create`] or [`NoticeEvent::Enable`] (`on start`).
    ///
    /// [`NoticeEvent::Create`]: crate::model::notice::NoticeEvent::Create
    /// [`NoticeEvent::Enable`]: crate::model::notice::NoticeEvent::Enable
    pub on: crate::model::notice::NoticeEvent,
    /// The recipient's address; contract fields mean the primary contract's.
    pub to: CExpr,
    /// How.
    pub via: crate::model::notice::Channel,
    /// Entra ID: the Temporary Access Pass's lifetime in days.
    pub valid_days: Option<u32>,
    /// Also tell the recipient when the account is disabled.
    pub notify_disable: bool,
}

/// A segregation-of-duties constraint.
#[derive(Debug, Clone)]
pub struct Forbid {
    /// One side: target, kind, name.
    pub a: (TargetId, Kind, Arc<str>),
    /// The other side.
    pub b: (TargetId, Kind, Arc<str>),
    /// Where it comes from.
    pub origin: OriginId,
}

/// The operations of a plan: one vocabulary for the planner, the plan reader, the apply
/// engine, the targets and thresholds. The serde names are the plan document's and
/// equal [`OpKind::as_str`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum OpKind {
    /// `create_group`: a group a `group` declaration covers, made before its first
    /// grant (an existing group is left as it is).
    #[serde(rename = "create_group")]
    CreateGroup,
    /// `link_account`: adoption writes the person id into an account made before
    /// Stroom (found by a `correlate` line), so plans find it from then on.
    #[serde(rename = "link_account")]
    Link,
    /// `create_account`
    #[serde(rename = "create_account")]
    Create,
    /// `update_account`
    #[serde(rename = "update_account")]
    Update,
    /// `enable_account`
    #[serde(rename = "enable_account")]
    Enable,
    /// `disable_account`
    #[serde(rename = "disable_account")]
    Disable,
    /// `delete_account`
    #[serde(rename = "delete_account")]
    Delete,
    /// `grant`
    #[serde(rename = "grant")]
    Grant,
    /// `revoke`
    #[serde(rename = "revoke")]
    Revoke,
    /// `writeback`
    #[serde(rename = "writeback")]
    Writeback,
    /// `notify`: a message about the account to the person responsible; on create or
    /// on the start date it hands over the first credential (`handover` in the rules).
    #[serde(rename = "notify")]
    Notify,
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OpKind {
    /// All operations, in plan order.
    pub const ALL: [OpKind; 11] = [
        OpKind::CreateGroup,
        OpKind::Link,
        OpKind::Create,
        OpKind::Update,
        OpKind::Enable,
        OpKind::Grant,
        OpKind::Revoke,
        OpKind::Writeback,
        OpKind::Notify,
        OpKind::Disable,
        OpKind::Delete,
    ];

    /// The name in plans (`create_account`, `grant`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::CreateGroup => "create_group",
            OpKind::Link => "link_account",
            OpKind::Create => "create_account",
            OpKind::Update => "update_account",
            OpKind::Enable => "enable_account",
            OpKind::Disable => "disable_account",
            OpKind::Delete => "delete_account",
            OpKind::Grant => "grant",
            OpKind::Revoke => "revoke",
            OpKind::Writeback => "writeback",
            OpKind::Notify => "notify",
        }
    }

    /// Parses a threshold's operation: the plan name or its short form (`create`).
    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL
            .into_iter()
            .find(|op| op.as_str() == s || op.as_str().strip_suffix("_account") == Some(s))
    }
}

/// Actions a percentage threshold always lets through when `above` is not written.
pub const PERCENT_ABOVE: u64 = 1;

/// `threshold OP max N [or P%] [above M]`
#[derive(Debug, Clone)]
pub struct Threshold {
    /// The operation.
    pub op: OpKind,
    /// Largest count allowed.
    pub max_count: Option<u64>,
    /// Largest percentage allowed.
    pub max_percent: Option<u64>,
    /// The percentage counts only when the plan holds more than this many actions of
    /// the operation (`above N`; [`PERCENT_ABOVE`] when not written): one leaver in an
    /// organisation of eight is 12.5%, but never a mass event.
    pub percent_above: u64,
    /// Where it comes from.
    pub origin: OriginId,
}

/// The built-in guard against mass removal: a plan that revokes more than `max_percent`
/// of the state's grants, or disables or deletes that share of its accounts, is blocked,
/// unless the count is at most `always_allowed`. It does not depend on the rule files
/// being intact (an emptied rule file would otherwise revoke everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalGuard {
    /// The largest share removed without approval, in percent.
    pub max_percent: u64,
    /// Removals that always pass, however small the state.
    pub always_allowed: u64,
}

impl Default for RemovalGuard {
    fn default() -> Self {
        Self {
            max_percent: 10,
            always_allowed: 10,
        }
    }
}

/// A checked rule set, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Program {
    /// The rule files.
    pub sources: SourceMap,
    /// Targets: built-in ones first, then declared ones; plan order follows this.
    pub targets: Vec<TargetDecl>,
    /// The statements' origins.
    pub origins: Vec<Origin>,
    /// `default target NAME`, if declared.
    pub default_target: Option<TargetId>,
    /// Days before a contract's start from which it is in scope.
    pub scope_before_days: i64,
    /// Days after a contract's end until which it is in scope.
    pub scope_after_days: i64,
    /// Primary contract sort keys: field and descending.
    pub primary_by: Vec<(ContractField, bool)>,
    /// `when` statements and bare actions.
    pub statements: Vec<Statement>,
    /// Account blocks, one per target at most.
    pub accounts: Vec<AccountSpec>,
    /// Constraints.
    pub forbids: Vec<Forbid>,
    /// Thresholds.
    pub thresholds: Vec<Threshold>,
    /// Groups Stroom creates when needed, in declaration order.
    pub groups: Vec<ManagedGroup>,
    /// First-day hand-overs, one per target at most.
    pub handovers: Vec<Handover>,
    /// The guard against mass removal where the rules declare no threshold (stroom.toml
    /// `[plan]` may change it; the rules' thresholds replace it per operation).
    pub removal_guard: RemovalGuard,
    /// Statements indexed by the equality tests in their conditions.
    pub index: RuleIndex,
    /// What the rules read beyond person and contract.
    pub reads: Reads,
}

/// What a program's expressions read, so evaluation can skip the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    /// The primary contract (`primary.*`, account attributes, the manager).
    pub primary: bool,
    /// The manager's record (`manager.*`).
    pub manager: bool,
}

impl Program {
    /// The target with this name.
    pub fn target_id(&self, name: &str) -> Option<TargetId> {
        self.targets
            .iter()
            .position(|t| &*t.name == name)
            .map(|i| i as TargetId)
    }

    /// The declaration that covers group `name` in `target` (the first one that does).
    pub fn managed_group(&self, target: TargetId, name: &str) -> Option<&ManagedGroup> {
        self.groups
            .iter()
            .find(|g| g.target == target && crate::model::group::fits_pattern(&g.pattern, name))
    }

    /// The hand-over of a target's accounts, if declared.
    pub fn handover(&self, target: TargetId) -> Option<&Handover> {
        self.handovers.iter().find(|h| h.target == target)
    }

    /// The account block of a target.
    pub fn account_spec(&self, target: TargetId) -> Option<&AccountSpec> {
        self.accounts.iter().find(|a| a.target == target)
    }

    /// The target whose account a grant in `target` needs: the target itself when the
    /// rules manage its accounts, else the target of its host kind whose accounts the
    /// rules manage (Exchange: Entra ID); `None` when the rules manage no such account.
    pub fn account_target(&self, target: TargetId) -> Option<TargetId> {
        if self.account_spec(target).is_some() {
            return Some(target);
        }
        let decl = self.targets.get(target as usize)?;
        let host = decl.kind.account_host()?;
        self.accounts.iter().map(|a| a.target).find(|t| {
            self.targets
                .get(*t as usize)
                .is_some_and(|x| x.kind == host && decl.host.as_ref().is_none_or(|h| *h == x.name))
        })
    }
}

/// A field a statement can be indexed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexField {
    /// A person field.
    Person(PersonField),
    /// A field of the bound contract.
    Contract(ContractField),
    /// A field of the primary contract.
    Primary(ContractField),
}

/// Statements filed under one field's values.
#[derive(Debug, Clone)]
pub struct IndexBucket {
    /// The field.
    pub field: IndexField,
    /// True if the values are lower-cased (from `lower(field) == "x"`).
    pub folded: bool,
    /// Value → statements (in program order).
    pub statements: FxHashMap<Arc<str>, Vec<u32>>,
}

/// Statements grouped for fast evaluation: a statement whose condition requires
/// `field == "value"` (or `field in [...]`) is looked up by the person's value of that
/// field instead of being evaluated for everyone.
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    /// Person-level statements that must always be evaluated.
    pub person_always: Vec<u32>,
    /// Person-level statements by field and value.
    pub person_keyed: Vec<IndexBucket>,
    /// Per-contract statements that must always be evaluated.
    pub contract_always: Vec<u32>,
    /// Per-contract statements by field and value.
    pub contract_keyed: Vec<IndexBucket>,
    /// Per statement: what evaluation reads of it on every hit, kept small and together.
    pub facts: Vec<StatementFacts>,
}

/// What evaluation reads of a statement on every hit: kept apart from the statement so
/// that a hit reads one small record instead of the statement and its actions.
#[derive(Debug, Clone, Default)]
pub struct StatementFacts {
    /// What is left to test once the index found the statement by its key.
    pub remainder: Remainder,
    /// Set when the statement does one thing, grant a constant entitlement.
    pub const_grant: Option<ConstGrant>,
}

/// A grant of an entitlement with a constant name and no object.
#[derive(Debug, Clone)]
pub struct ConstGrant {
    /// Target.
    pub target: TargetId,
    /// Kind.
    pub kind: Kind,
    /// The name's rank among the constant names.
    pub rank: u32,
    /// The statement's origin.
    pub origin: OriginId,
    /// The name.
    pub name: Arc<str>,
}

/// What is left of a statement's condition once the index found the statement under
/// the person's value of its key (which proves the keyed part true).
#[derive(Debug, Clone, Default)]
pub enum Remainder {
    /// The whole condition (the key does not prove any part of it on its own).
    #[default]
    Whole,
    /// Nothing: the key is the condition.
    Nothing,
    /// The other parts of an `and`.
    Part(CExpr),
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    /// The serde names and `as_str` are one vocabulary.
    #[test]
    fn names_agree() {
        for op in OpKind::ALL {
            let json = serde_json::to_value(op).expect("op");
            assert_eq!(json, op.as_str());
            assert_eq!(serde_json::from_value::<OpKind>(json).expect("back"), op);
        }
        for kind in Kind::ALL {
            let json = serde_json::to_value(kind).expect("kind");
            assert_eq!(json, kind.as_str());
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}
