//! The syntax tree of a rule file, as written. Names are not resolved here; the checker
//! does that. Every node has a [`Span`] (ignored by equality).

use super::span::Span;

/// A name as written, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// A string literal (escapes already resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// The value.
    pub value: String,
    /// Where it stands, quotes included.
    pub span: Span,
}

/// Units of a duration literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    /// `day` / `days`
    Days,
    /// `week` / `weeks`
    Weeks,
}

/// A duration literal such as `14 days`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationLit {
    /// The number as written.
    pub amount: i64,
    /// The unit as written.
    pub unit: DurationUnit,
    /// Where it stands.
    pub span: Span,
}

impl DurationLit {
    /// The length in days.
    pub fn days(&self) -> i64 {
        match self.unit {
            DurationUnit::Days => self.amount,
            DurationUnit::Weeks => self.amount.saturating_mul(7),
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `"text"`
    Str(String),
    /// `42`
    Int(i64),
    /// `16.5`, kept as written so formatting is exact.
    Dec(String),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// `2026-01-01`
    Date(chrono::NaiveDate),
    /// `14 days`
    Duration(i64, DurationUnit),
    /// `today`
    Today,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// Binary operators, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`
    Cmp(CmpOp),
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `+`
    Add,
    /// `-`
    Sub,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Cmp(c) => c.symbol(),
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
        }
    }

    /// Binding strength: higher binds tighter. `not` sits at 3.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Cmp(_) | BinOp::In | BinOp::NotIn => 4,
            BinOp::Add | BinOp::Sub => 6,
        }
    }

    /// True for the comparison operators.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 4
    }
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// `department`, `contract.start`, `manager.email`: segments as written.
    Path(Vec<Ident>),
    /// `lower(x)`
    Call {
        /// Function name.
        name: Ident,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `[a, b]`
    List(Vec<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// `a OP b`
    Binary {
        /// Operator.
        op: BinOp,
        /// Left side.
        lhs: Box<Expr>,
        /// Right side.
        rhs: Box<Expr>,
    },
    /// `x is empty` / `x is not empty`
    IsEmpty {
        /// The tested value.
        expr: Box<Expr>,
        /// True for `is not empty`.
        negated: bool,
    },
}

/// An expression with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it stands.
    pub span: Span,
}

/// `KIND NAME [on RESOURCE] [in TARGET]`, as in grants and forbids.
#[derive(Debug, Clone, PartialEq)]
pub struct Entitlement {
    /// `group`, `license`, `mailbox`, `permission`.
    pub kind: Ident,
    /// The entitlement's name.
    pub name: Expr,
    /// For permissions: the object the permission is on.
    pub on: Option<Expr>,
    /// The target, or the rule set's default.
    pub target: Option<Ident>,
    /// The whole entitlement.
    pub span: Span,
}

/// Where a write-back value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum WritebackSource {
    /// `from entra.mail`: an attribute of the person's account in a target.
    Account {
        /// The target.
        target: Ident,
        /// The account attribute.
        attribute: Ident,
    },
    /// `= EXPR`
    Expr(Expr),
}

/// What a rule does under `when` (or standing alone): a grant or a write-back. Plans
/// call their steps actions; the rules call what causes them effects.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// `grant KIND NAME ...`
    Grant(Box<Entitlement>),
    /// `writeback FIELD from TARGET.ATTR` or `writeback FIELD = EXPR`
    Writeback {
        /// The Nmbrs person field to write.
        field: Ident,
        /// The value.
        source: WritebackSource,
        /// The whole action.
        span: Span,
    },
}

impl Effect {
    /// Where the action stands.
    pub fn span(&self) -> Span {
        match self {
            Effect::Grant(e) => e.span,
            Effect::Writeback { span, .. } => *span,
        }
    }
}

/// The value of an account attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A plain expression.
    Expr(Expr),
    /// `unique [candidates] [max N] [ending EXPR]`
    Unique {
        /// Candidates, tried in order.
        candidates: Vec<Expr>,
        /// Longest value allowed (without the ending).
        max: Option<(u32, Span)>,
        /// Appended after the candidate and any number (e.g. `"@" + domain`).
        ending: Option<Expr>,
        /// The whole `unique ...`.
        span: Span,
    },
}

/// One line of an `account in TARGET { ... }` block.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountItem {
    /// `when COND`: which persons get an account.
    When(Expr),
    /// `create N days before start`
    Create(DurationLit),
    /// `disable N days after end`
    Disable(DurationLit),
    /// `delete N days after disable`
    Delete(DurationLit),
    /// `correlate KEY, KEY ...`: one way to find an existing account, tried after the
    /// person id and after the lines above it.
    Correlate {
        /// The attributes that must all hold the person's values.
        keys: Vec<CorrelateKey>,
        /// The whole line.
        span: Span,
    },
    /// `set ATTR = VALUE`
    Set {
        /// Attribute name in the target.
        attribute: Ident,
        /// Its value.
        value: AttrValue,
        /// The whole line.
        span: Span,
    },
}

/// One key of a `correlate` line: an account attribute and the person's value for it.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelateKey {
    /// The attribute in the target.
    pub attribute: Ident,
    /// `= EXPR`; without it, the value the block's `set` line for this attribute gives.
    pub value: Option<Expr>,
}

/// `account in TARGET { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct AccountBlock {
    /// The target.
    pub target: Ident,
    /// Its lines.
    pub items: Vec<AccountItem>,
}

/// `group "PATTERN" in TARGET { SETTING VALUE ... }`: groups Stroom creates when a
/// grant first needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBlock {
    /// The names it covers (`*` for any run of characters).
    pub pattern: StrLit,
    /// Where the groups are made.
    pub target: Ident,
    /// Its settings in the order written.
    pub settings: Vec<GroupSetting>,
}

/// One line of a group declaration: `ou "OU=..."`, `scope global`, `type security`,
/// `description "..."`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSetting {
    /// The setting's name.
    pub name: Ident,
    /// Its value.
    pub value: SettingValue,
}

/// The value of a [`GroupSetting`]: a string or a word.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    /// `"text"`
    Text(StrLit),
    /// `word`
    Word(Ident),
}

/// `handover in TARGET { ... }`: who gets a new account's first credential, how and
/// when.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoverBlock {
    /// The target whose accounts are handed over.
    pub target: Ident,
    /// Its lines in the order written.
    pub items: Vec<HandoverItem>,
}

/// One line of a `handover` block.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoverItem {
    /// `on create` or `on start`.
    On(Ident),
    /// `to EXPR`: the recipient's e-mail address.
    To(Expr),
    /// `via mail` or `via webhook "NAME"`.
    Via {
        /// `mail` or `webhook`.
        channel: Ident,
        /// The webhook's name.
        name: Option<StrLit>,
    },
    /// `valid N days`: how long an Entra Temporary Access Pass works.
    Valid(DurationLit),
    /// `notify disable`: also tell the recipient when the account is disabled.
    Notify(Ident),
}

impl HandoverItem {
    /// Where the line begins.
    pub fn start(&self) -> u32 {
        match self {
            HandoverItem::On(i) | HandoverItem::Notify(i) => i.span.start,
            HandoverItem::To(e) => e.span.start,
            HandoverItem::Via { channel, .. } => channel.span.start,
            HandoverItem::Valid(d) => d.span.start,
        }
    }
}

/// One key of `primary contract by ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Contract field.
    pub field: Ident,
    /// True for `desc`.
    pub descending: bool,
}

/// One limit of a threshold: a count or a percentage.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// The number.
    pub value: u64,
    /// True when written with `%`.
    pub percent: bool,
    /// Where it stands.
    pub span: Span,
}

/// A statement node.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `let NAME = EXPR`
    Let {
        /// The name.
        name: Ident,
        /// The value or condition.
        value: Expr,
    },
    /// `default target NAME`
    DefaultTarget(Ident),
    /// `target NAME`: declares a generic (SCIM) target.
    Target(Ident),
    /// `include "file.stroom"`
    Include(StrLit),
    /// `scope from N days before start until M days after end`
    Scope {
        /// How long before a contract's start it is in scope.
        before: Option<DurationLit>,
        /// How long after its end it stays in scope.
        after: Option<DurationLit>,
    },
    /// `primary contract by key [asc|desc], ...`
    Primary(Vec<SortKey>),
    /// `forbid ENT with ENT`
    Forbid(Box<Entitlement>, Box<Entitlement>),
    /// `threshold OP max LIMIT [or LIMIT] [above N]`
    Threshold {
        /// The plan operation limited.
        op: Ident,
        /// One or two limits.
        limits: Vec<Limit>,
        /// `above N`: a percentage counts only when there are more than N actions.
        above: Option<(u64, Span)>,
    },
    /// `rule "name" { ... }`
    Rule {
        /// The name.
        name: StrLit,
        /// Its statements.
        body: Vec<Stmt>,
    },
    /// `when COND ACTION...`
    When {
        /// The condition.
        cond: Expr,
        /// What it grants or writes back.
        actions: Vec<Effect>,
    },
    /// An effect with no condition: applies to every person in scope.
    Effect(Effect),
    /// `account in TARGET { ... }`
    Account(AccountBlock),
    /// `group "PATTERN" in TARGET { ... }`
    Group(GroupBlock),
    /// `handover in TARGET { ... }`
    Handover(HandoverBlock),
}

/// A statement with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What it is.
    pub kind: StmtKind,
    /// Where it stands.
    pub span: Span,
}

/// A comment (`# ...`) with its place, kept for the formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text after `#`.
    pub text: String,
    /// Where it stands.
    pub span: Span,
}

/// One parsed rule file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// Comments in order (not compared by meaning).
    pub comments: Vec<Comment>,
}
