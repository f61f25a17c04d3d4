//! Evaluation: a [`Program`] applied to persons on a date gives, per person, the wanted
//! entitlements, accounts and write-backs, each with the statements that caused it.
//! Evaluation never fails and never panics on data: missing values are `null`, and
//! comparisons with `null` are false (except `== null` and `is empty`).

use super::functions::Func;
use super::program::*;
use crate::model::person::{ContractField, PersonField};
use crate::model::{Contract, Person, Value};
use chrono::{Days, NaiveDate};
use rayon::prelude::*;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

/// The persons of one evaluation, with a lookup by id (for managers).
pub struct Population<'p> {
    /// All persons.
    pub persons: &'p [Person],
    by_id: HashMap<&'p str, usize>,
}

impl<'p> Population<'p> {
    /// Indexes the persons by id.
    pub fn new(persons: &'p [Person]) -> Self {
        let by_id = persons
            .iter()
            .enumerate()
            .map(|(i, p)| (&*p.id, i))
            .collect();
        Population { persons, by_id }
    }

    /// The person with this id.
    pub fn get(&self, id: &str) -> Option<&'p Person> {
        self.by_id.get(id).map(|&i| &self.persons[i])
    }
}

/// Everything one expression can read.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The person.
    pub person: &'a Person,
    /// The bound contract (per-contract statements).
    pub contract: Option<&'a Contract>,
    /// The person's primary contract.
    pub primary: Option<&'a Contract>,
    /// The manager's record.
    pub manager: Option<&'a Person>,
    /// The manager's primary contract.
    pub manager_primary: Option<&'a Contract>,
    /// The evaluation date.
    pub today: NaiveDate,
}

/// Whether two values are equal (numbers across integer and decimal).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Dec(y)) | (Value::Dec(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Dec(y)) => (*x as f64).partial_cmp(y),
        (Value::Dec(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Dec(x), Value::Dec(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::Days(x), Value::Days(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn is_null_literal(e: &CExpr) -> bool {
    matches!(e.kind, CKind::Const(Value::Null))
}

/// Evaluates a condition: the same result as `eval(e, ctx).is_true()`, without
/// building a value for every `and`, `or`, `not` and comparison on the way.
pub fn holds<'a>(e: &'a CExpr, ctx: &Ctx<'a>) -> bool {
    match &e.kind {
        CKind::And(parts) => parts.iter().all(|p| holds(p, ctx)),
        CKind::Or(parts) => parts.iter().any(|p| holds(p, ctx)),
        CKind::Not(x) => !holds(x, ctx),
        CKind::Cmp(op, a, b) => match (&b.kind, field_text(a, ctx)) {
            // A text field against a text constant: compared in place, no value built.
            (CKind::Const(Value::Str(vb)), Some(Some(text))) => match op {
                CmpOp::Eq => text == vb.as_ref(),
                CmpOp::Ne => text != vb.as_ref(),
                CmpOp::Lt => text < vb.as_ref(),
                CmpOp::Le => text <= vb.as_ref(),
                CmpOp::Gt => text > vb.as_ref(),
                CmpOp::Ge => text >= vb.as_ref(),
            },
            (CKind::Const(Value::Str(_)), Some(None)) => false,
            (CKind::Const(vb @ (Value::Int(_) | Value::Dec(_) | Value::Date(_))), None) => {
                match (field_scalar(a, ctx), Scalar::of(vb)) {
                    (Some(Some(va)), Some(vb)) => va.compare(*op, vb),
                    (Some(None), _) => false,
                    _ => compare(*op, &eval(a, ctx), vb, is_null_literal(a)),
                }
            }
            (CKind::TodayPlus(n), None) => match (field_scalar(a, ctx), shift(ctx.today, *n)) {
                (Some(Some(va)), Some(day)) => va.compare(*op, Scalar::Date(day)),
                (Some(None), _) | (_, None) => false,
                (None, Some(day)) => {
                    compare(*op, &eval(a, ctx), &Value::Date(day), is_null_literal(a))
                }
            },
            _ => compare(
                *op,
                &eval(a, ctx),
                &eval(b, ctx),
                is_null_literal(a) || is_null_literal(b),
            ),
        },
        CKind::InSet(x, set, negated) => match field_text(x, ctx) {
            Some(Some(text)) => set.strings.contains(text) != *negated,
            Some(None) => false,
            None => match eval(x, ctx) {
                Value::Null => false,
                Value::Str(s) => set.strings.contains(s.as_ref()) != *negated,
                other => set.others.iter().any(|o| values_equal(o, &other)) != *negated,
            },
        },
        CKind::TextTest(f, x, needle) => match field_text(x, ctx) {
            Some(Some(text)) => text_test(*f, text, needle),
            Some(None) => false,
            None => eval(e, ctx).is_true(),
        },
        CKind::IsEmpty(x, negated) => eval(x, ctx).is_empty() != *negated,
        CKind::Contract(ContractField::Active) => {
            ctx.contract.is_some_and(|c| c.is_active_on(ctx.today))
        }
        _ => eval(e, ctx).is_true(),
    }
}

/// The text of a field read directly: `Some(Some(text))`, `Some(None)` for a missing
/// value, or `None` when `e` is not a text field (then it must be evaluated).
#[inline]
fn field_text<'a>(e: &'a CExpr, ctx: &Ctx<'a>) -> Option<Option<&'a str>> {
    match e.kind {
        CKind::Person(f) => f.text(ctx.person),
        CKind::Contract(f) => match ctx.contract {
            Some(c) => f.text(c),
            None => Some(None),
        },
        CKind::Primary(f) => match ctx.primary {
            Some(c) => f.text(c),
            None => Some(None),
        },
        _ => None,
    }
}

/// `starts_with`, `ends_with` or `contains` of a text and a constant.
fn text_test(f: Func, text: &str, needle: &str) -> bool {
    match f {
        Func::StartsWith => text.starts_with(needle),
        Func::EndsWith => text.ends_with(needle),
        _ => text.contains(needle),
    }
}

/// A number or a date, copied out of a field or a constant: compared without building
/// (and dropping) a value.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    Int(i64),
    Dec(f64),
    Date(NaiveDate),
}

impl Scalar {
    fn of(v: &Value) -> Option<Scalar> {
        match v {
            Value::Int(i) => Some(Scalar::Int(*i)),
            Value::Dec(d) => Some(Scalar::Dec(*d)),
            Value::Date(d) => Some(Scalar::Date(*d)),
            _ => None,
        }
    }

    /// Like [`compare`] for two non-null values.
    fn compare(self, op: CmpOp, other: Scalar) -> bool {
        let ord = match (self, other) {
            (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(&b)),
            (Scalar::Int(a), Scalar::Dec(b)) => (a as f64).partial_cmp(&b),
            (Scalar::Dec(a), Scalar::Int(b)) => a.partial_cmp(&(b as f64)),
            (Scalar::Dec(a), Scalar::Dec(b)) => a.partial_cmp(&b),
            (Scalar::Date(a), Scalar::Date(b)) => Some(a.cmp(&b)),
            _ => None,
        };
        match (op, ord) {
            (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
            (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
            (CmpOp::Ne, None) => true,
            (CmpOp::Lt, Some(o)) => o == Ordering::Less,
            (CmpOp::Le, Some(o)) => o != Ordering::Greater,
            (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
            (CmpOp::Ge, Some(o)) => o != Ordering::Less,
            _ => false,
        }
    }
}

/// A number or date field read directly: `Some(None)` for a missing value, `None` if
/// `e` is not such a field.
#[inline]
fn field_scalar(e: &CExpr, ctx: &Ctx) -> Option<Option<Scalar>> {
    let contract = |c: Option<&Contract>, f: ContractField| match f {
        ContractField::Start => Some(c.and_then(|c| c.start).map(Scalar::Date)),
        ContractField::End => Some(c.and_then(|c| c.end).map(Scalar::Date)),
        ContractField::HoursPerWeek => Some(c.and_then(|c| c.hours_per_week).map(Scalar::Dec)),
        _ => None,
    };
    match e.kind {
        CKind::Contract(f) => contract(ctx.contract, f),
        CKind::Primary(f) => contract(ctx.primary, f),
        CKind::Person(PersonField::EmployeeNumber) => {
            Some(ctx.person.employee_number.map(Scalar::Int))
        }
        CKind::Person(PersonField::BirthDate) => Some(ctx.person.birth_date.map(Scalar::Date)),
        CKind::Today => Some(Some(Scalar::Date(ctx.today))),
        CKind::TodayPlus(n) => Some(shift(ctx.today, n).map(Scalar::Date)),
        _ => None,
    }
}

/// Evaluates an expression.
pub fn eval<'a>(e: &'a CExpr, ctx: &Ctx<'a>) -> Value<'a> {
    match &e.kind {
        CKind::Const(v) => borrow(v),
        CKind::Today => Value::Date(ctx.today),
        CKind::TodayPlus(n) => shift(ctx.today, *n).map_or(Value::Null, Value::Date),
        CKind::Person(f) => f.get(ctx.person),
        CKind::Extra(k) => extra(ctx.person, k),
        CKind::Contract(f) => contract_field(ctx.contract, *f, ctx.today),
        CKind::Primary(f) => contract_field(ctx.primary, *f, ctx.today),
        CKind::ManagerPerson(f) => ctx.manager.map_or(Value::Null, |m| f.get(m)),
        CKind::ManagerContract(f) => contract_field(ctx.manager_primary, *f, ctx.today),
        CKind::ManagerExtra(k) => ctx.manager.map_or(Value::Null, |m| extra(m, k)),
        CKind::Not(_) | CKind::And(_) | CKind::Or(_) => Value::Bool(holds(e, ctx)),
        CKind::Cmp(..) | CKind::InSet(..) => Value::Bool(holds(e, ctx)),
        CKind::In(x, list, negated) => {
            let v = eval(x, ctx);
            match (v, eval(list, ctx)) {
                (Value::Null, _) => Value::Bool(false),
                (v, Value::List(items)) => {
                    Value::Bool(items.iter().any(|i| values_equal(i, &v)) != *negated)
                }
                _ => Value::Bool(false),
            }
        }
        CKind::Add(a, b) => add(eval(a, ctx), eval(b, ctx)),
        CKind::Sub(a, b) => sub(eval(a, ctx), eval(b, ctx)),
        CKind::List(items) => Value::List(items.iter().map(|i| eval(i, ctx)).collect()),
        CKind::Call(f, args) => f.apply(args.iter().map(|a| eval(a, ctx)).collect()),
        CKind::TextTest(f, x, needle) => match eval(x, ctx) {
            Value::Str(s) => Value::Bool(text_test(*f, &s, needle)),
            _ => Value::Null,
        },
        CKind::Matches(x, re) => match eval(x, ctx) {
            Value::Str(s) => Value::Bool(re.is_match(&s)),
            _ => Value::Null,
        },
        CKind::IsEmpty(x, negated) => Value::Bool(eval(x, ctx).is_empty() != *negated),
    }
}

/// Compares two values. With `null` on either side only `==`/`!=` against the literal
/// `null` can be true.
pub fn compare(op: CmpOp, a: &Value, b: &Value, against_null_literal: bool) -> bool {
    if a.is_null() || b.is_null() {
        if !against_null_literal {
            return false;
        }
        let both = a.is_null() && b.is_null();
        return match op {
            CmpOp::Eq => both,
            CmpOp::Ne => !both,
            _ => false,
        };
    }
    match op {
        CmpOp::Eq => values_equal(a, b),
        CmpOp::Ne => !values_equal(a, b),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn borrow<'a>(v: &'a Value<'static>) -> Value<'a> {
    match v {
        Value::Str(s) => Value::Str(Cow::Borrowed(s.as_ref())),
        Value::List(items) => Value::List(items.iter().map(borrow).collect()),
        other => other.clone(),
    }
}

fn extra<'a>(p: &'a Person, key: &str) -> Value<'a> {
    p.extra
        .get(key)
        .map_or(Value::Null, |v| Value::Str(Cow::Borrowed(v.as_str())))
}

fn contract_field(c: Option<&Contract>, f: ContractField, today: NaiveDate) -> Value<'_> {
    c.map_or(Value::Null, |c| f.get(c, today))
}

fn shift(d: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days >= 0 {
        d.checked_add_days(Days::new(days as u64))
    } else {
        d.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

fn add<'a>(a: Value<'a>, b: Value<'a>) -> Value<'a> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Str(x), Value::Str(y)) => Value::Str(Cow::Owned(format!("{x}{y}"))),
        (Value::Str(x), y @ (Value::Int(_) | Value::Dec(_))) => {
            Value::Str(Cow::Owned(format!("{x}{y}")))
        }
        (x @ (Value::Int(_) | Value::Dec(_)), Value::Str(y)) => {
            Value::Str(Cow::Owned(format!("{x}{y}")))
        }
        (Value::Int(x), Value::Int(y)) => x.checked_add(y).map_or(Value::Null, Value::Int),
        (Value::Int(x), Value::Dec(y)) | (Value::Dec(y), Value::Int(x)) => Value::Dec(x as f64 + y),
        (Value::Dec(x), Value::Dec(y)) => Value::Dec(x + y),
        (Value::Date(d), Value::Days(n)) | (Value::Days(n), Value::Date(d)) => {
            shift(d, n).map_or(Value::Null, Value::Date)
        }
        (Value::Days(x), Value::Days(y)) => x.checked_add(y).map_or(Value::Null, Value::Days),
        _ => Value::Null,
    }
}

fn sub<'a>(a: Value<'a>, b: Value<'a>) -> Value<'a> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Int(x), Value::Int(y)) => x.checked_sub(y).map_or(Value::Null, Value::Int),
        (Value::Int(x), Value::Dec(y)) => Value::Dec(x as f64 - y),
        (Value::Dec(x), Value::Int(y)) => Value::Dec(x - y as f64),
        (Value::Dec(x), Value::Dec(y)) => Value::Dec(x - y),
        (Value::Date(d), Value::Days(n)) => n
            .checked_neg()
            .and_then(|n| shift(d, n))
            .map_or(Value::Null, Value::Date),
        (Value::Date(x), Value::Date(y)) => Value::Days((x - y).num_days()),
        (Value::Days(x), Value::Days(y)) => x.checked_sub(y).map_or(Value::Null, Value::Days),
        _ => Value::Null,
    }
}

/// True if the contract is in scope on `today` under the program's scope window.
pub fn in_scope(program: &Program, c: &Contract, today: NaiveDate) -> bool {
    let Some(start) = c.start else { return false };
    let from = shift(start, -program.scope_before_days).unwrap_or(start);
    let until = c
        .end
        .map(|e| shift(e, program.scope_after_days).unwrap_or(e));
    from <= today && until.is_none_or(|u| today <= u)
}

/// The primary contract: chosen among in-scope contracts (or all, if none is in scope)
/// by the program's sort keys, then by start (earliest) and id.
pub fn primary_contract<'p>(
    program: &Program,
    p: &'p Person,
    today: NaiveDate,
) -> Option<&'p Contract> {
    let scoped: Vec<&Contract> = p
        .contracts
        .iter()
        .filter(|c| in_scope(program, c, today))
        .collect();
    let pool: Vec<&Contract> = if scoped.is_empty() {
        p.contracts.iter().collect()
    } else {
        scoped
    };
    let default_keys = [
        (ContractField::HoursPerWeek, true),
        (ContractField::Start, false),
        (ContractField::Id, false),
    ];
    let keys: &[(ContractField, bool)] = if program.primary_by.is_empty() {
        &default_keys
    } else {
        &program.primary_by
    };
    pool.into_iter().min_by(|a, b| {
        for (f, desc) in keys
            .iter()
            .chain(&[(ContractField::Start, false), (ContractField::Id, false)])
        {
            let (va, vb) = (f.get(a, today), f.get(b, today));
            // Missing values sort last whatever the direction.
            let o = match (va.is_null(), vb.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => {
                    let o = order(&va, &vb).unwrap_or(Ordering::Equal);
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    })
}

/// An entitlement a person should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted<'a> {
    /// Target.
    pub target: TargetId,
    /// Kind.
    pub kind: Kind,
    /// Name (borrowed from the rules when it is a constant, so that threads share no
    /// reference count).
    pub name: Cow<'a, str>,
    /// The name's rank among the rule set's constant names (`u32::MAX` for a computed
    /// name): a shortcut for sorting, consistent with the text order.
    pub rank: u32,
    /// For permissions: the object.
    pub on: Option<Cow<'a, str>>,
    /// The statements that grant it, in program order.
    pub because: Reasons,
}

/// The statements behind a result: almost always one or two, kept inline.
pub type Reasons = smallvec::SmallVec<[OriginId; 2]>;

/// A value to write back to Nmbrs.
#[derive(Debug, Clone, PartialEq)]
pub struct WritebackWanted<'a> {
    /// The Nmbrs person field.
    pub field: &'a str,
    /// Where the value comes from.
    pub value: WritebackOf<'a>,
    /// The statement.
    pub because: OriginId,
}

/// The value of a write-back, as far as evaluation can know it.
#[derive(Debug, Clone, PartialEq)]
pub enum WritebackOf<'a> {
    /// A computed value.
    Value(Cow<'a, str>),
    /// An account attribute, known once the plan has the account.
    Account {
        /// Target.
        target: TargetId,
        /// Attribute.
        attribute: &'a str,
    },
}

/// What the account lifecycle wants for a person in one target today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountWant {
    /// A contract is active (or ended within the disable delay): enabled.
    Enabled,
    /// Within `create N days before start`: exists, disabled.
    PreStart,
    /// Every relevant contract ended more than the delay ago: disabled since this day.
    Ended(NaiveDate),
    /// No relevant contract (condition false or no contracts): no account wanted.
    None,
}

/// A unique attribute's candidates for one person.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueCandidates {
    /// Candidate values in order (nulls and empties dropped), cut to `max`.
    pub candidates: Vec<String>,
    /// Longest value without the ending.
    pub max: Option<usize>,
    /// The ending.
    pub ending: String,
}

/// An account attribute value as the rules compute it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrWanted {
    /// A plain value.
    Value(serde_json::Value),
    /// A value to choose uniquely.
    Unique(UniqueCandidates),
}

/// The account a person should have in one target.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountWanted {
    /// Target.
    pub target: TargetId,
    /// Lifecycle state wanted today.
    pub want: AccountWant,
    /// Attributes in the order written.
    pub attributes: Vec<(String, AttrWanted)>,
    /// The account block.
    pub because: OriginId,
    /// Who gets the first credential (`handover`), when the rules hand it over and
    /// the address is not empty.
    pub handover_to: Option<String>,
    /// The first day of the account's next contract, when it has not begun.
    pub first_day: Option<NaiveDate>,
}

/// The result of evaluating one person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonEval<'a> {
    /// The person.
    pub person: &'a Person,
    /// True if at least one contract is in scope.
    pub in_scope: bool,
    /// Entitlements, sorted by target, kind, name, on.
    pub grants: Vec<Granted<'a>>,
    /// Accounts, one per account block.
    pub accounts: Vec<AccountWanted>,
    /// Write-backs, sorted by field.
    pub writebacks: Vec<WritebackWanted<'a>>,
    /// Things worth telling (e.g. a grant whose name came out empty).
    pub notes: Vec<String>,
}

/// Evaluates every person, on all cores. The result is in person order.
pub fn evaluate_all<'a>(
    program: &'a Program,
    population: &'a Population<'a>,
    today: NaiveDate,
) -> Vec<PersonEval<'a>> {
    population
        .persons
        .par_iter()
        .with_min_len(256)
        .map(|p| evaluate_person(program, population, p, today))
        .collect()
}

/// Persons per unit of parallel work in [`evaluate_chunks`].
pub const CHUNK: usize = 256;

/// Evaluates every person on all cores, a chunk of [`CHUNK`] persons at a time, and
/// hands each chunk's results (in person order) to `per_chunk`; its answers come back in
/// person order. Only the chunks in work are held, so memory follows the answer the
/// caller keeps, not the number of grants.
pub fn evaluate_chunks<'a, R, F>(
    program: &'a Program,
    population: &'a Population<'a>,
    today: NaiveDate,
    per_chunk: F,
) -> Vec<R>
where
    R: Send,
    F: Fn(&[PersonEval<'a>]) -> R + Sync,
{
    population
        .persons
        .par_chunks(CHUNK)
        .map(|chunk| {
            let evals: Vec<PersonEval> = chunk
                .iter()
                .map(|p| evaluate_person(program, population, p, today))
                .collect();
            per_chunk(&evals)
        })
        .collect()
}

/// What a program reads beyond the person and the bound contract, worked out once so
/// that evaluation skips what no rule needs (choosing the primary contract, finding
/// the manager).
pub fn reads_of(program: &Program) -> Reads {
    let mut reads = Reads::default();
    let mut look = |e: &CExpr| {
        e.visit(&mut |n| match n.kind {
            CKind::ManagerPerson(_) | CKind::ManagerContract(_) | CKind::ManagerExtra(_) => {
                reads.manager = true;
                reads.primary = true;
            }
            CKind::Primary(_) => reads.primary = true,
            _ => {}
        })
    };
    for s in &program.statements {
        if let Some(c) = &s.cond {
            look(c);
        }
        for a in &s.actions {
            match a {
                CEffect::Grant { name, on, .. } => {
                    look(name);
                    if let Some(on) = on {
                        look(on);
                    }
                }
                CEffect::Writeback {
                    source: WritebackValue::Expr(e),
                    ..
                } => look(e),
                CEffect::Writeback { .. } => {}
            }
        }
    }
    for a in &program.accounts {
        if let Some(c) = &a.cond {
            look(c);
        }
        for (_, rule) in &a.attributes {
            match rule {
                AttrRule::Expr(e) => look(e),
                AttrRule::Unique {
                    candidates, ending, ..
                } => {
                    candidates.iter().for_each(&mut look);
                    if let Some(e) = ending {
                        look(e);
                    }
                }
            }
        }
    }
    for h in &program.handovers {
        look(&h.to);
    }
    let index = &program.index;
    if index
        .person_keyed
        .iter()
        .chain(&index.contract_keyed)
        .any(|b| matches!(b.field, IndexField::Primary(_)))
    {
        reads.primary = true;
    }
    reads
}

/// The base context of a person: primary contract and manager.
pub fn person_ctx<'a>(
    program: &Program,
    population: &Population<'a>,
    person: &'a Person,
    today: NaiveDate,
    reads: Reads,
) -> Ctx<'a> {
    let primary = if reads.primary {
        primary_contract(program, person, today)
    } else {
        None
    };
    let manager = if reads.manager {
        primary
            .and_then(|c| c.manager_id.as_deref())
            .or(person.manager_id.as_deref())
            .filter(|id| *id != &*person.id)
            .and_then(|id| population.get(id))
    } else {
        None
    };
    Ctx {
        person,
        contract: None,
        primary,
        manager,
        manager_primary: manager.and_then(|m| primary_contract(program, m, today)),
        today,
    }
}

/// Evaluates one person.
pub fn evaluate_person<'a>(
    program: &'a Program,
    population: &Population<'a>,
    person: &'a Person,
    today: NaiveDate,
) -> PersonEval<'a> {
    let ctx = person_ctx(program, population, person, today, program.reads);
    let scoped: Vec<&Contract> = person
        .contracts
        .iter()
        .filter(|c| in_scope(program, c, today))
        .collect();
    let mut out = PersonEval {
        person,
        in_scope: !scoped.is_empty(),
        grants: Vec::new(),
        accounts: Vec::new(),
        writebacks: Vec::new(),
        notes: Vec::new(),
    };
    if out.in_scope {
        let index = &program.index;
        let mut hits = Vec::new();
        keyed_hits(&index.person_keyed, &ctx, &mut hits);
        // Room for every statement that may fire, so the list grows once at most.
        out.grants.reserve(index.person_always.len() + hits.len());
        for &i in &index.person_always {
            run_indexed(program, i, false, &ctx, &mut out);
        }
        for &i in &hits {
            run_indexed(program, i, true, &ctx, &mut out);
        }
        for c in &scoped {
            let cctx = Ctx {
                contract: Some(c),
                ..ctx
            };
            keyed_hits(&index.contract_keyed, &cctx, &mut hits);
            out.grants.reserve(index.contract_always.len() + hits.len());
            for &i in &index.contract_always {
                run_indexed(program, i, false, &cctx, &mut out);
            }
            for &i in &hits {
                run_indexed(program, i, true, &cctx, &mut out);
            }
        }
        merge_grants(&mut out.grants);
        out.writebacks
            .sort_by(|a, b| a.field.cmp(b.field).then(a.because.cmp(&b.because)));
        out.writebacks
            .dedup_by(|b, a| a.field == b.field && a.value == b.value);
    }
    for spec in &program.accounts {
        out.accounts
            .push(account(spec, program.handover(spec.target), &ctx, person));
    }
    out
}

/// The indexed statements whose key the person (and contract) has, in program order,
/// each once. `out` is cleared first (it is reused between contracts).
fn keyed_hits(keyed: &[IndexBucket], ctx: &Ctx, out: &mut Vec<u32>) {
    out.clear();
    let mut lists = 0;
    for bucket in keyed {
        let v = match bucket.field {
            IndexField::Person(f) => f.get(ctx.person),
            IndexField::Contract(f) => contract_field(ctx.contract, f, ctx.today),
            IndexField::Primary(f) => contract_field(ctx.primary, f, ctx.today),
        };
        if let Value::Str(s) = v {
            let list = if bucket.folded {
                bucket.statements.get(s.to_lowercase().as_str())
            } else {
                bucket.statements.get(s.as_ref())
            };
            if let Some(list) = list {
                out.extend_from_slice(list);
                lists += 1;
            }
        }
    }
    // In program order, each statement once (an `or` may file one under two keys).
    if lists > 1 {
        out.sort_unstable();
        out.dedup();
    }
}

/// Runs statement `i`; `by_key` when the index found it by its key, so that only the
/// rest of its condition needs testing. A constant grant is made from the statement's
/// facts alone.
#[inline]
fn run_indexed<'a>(
    program: &'a Program,
    i: u32,
    by_key: bool,
    ctx: &Ctx<'a>,
    out: &mut PersonEval<'a>,
) {
    let st = || &program.statements[i as usize];
    let Some(facts) = program.index.facts.get(i as usize) else {
        return run_statement(program, st(), st().cond.as_ref(), ctx, out);
    };
    let cond = match (&facts.remainder, by_key) {
        (Remainder::Nothing, true) => None,
        (Remainder::Part(rest), true) => Some(rest),
        _ => st().cond.as_ref(),
    };
    match &facts.const_grant {
        Some(g) => {
            if cond.is_none_or(|c| holds(c, ctx)) {
                out.grants.push(Granted {
                    target: g.target,
                    kind: g.kind,
                    name: Cow::Borrowed(&*g.name),
                    rank: g.rank,
                    on: None,
                    because: smallvec::smallvec![g.origin],
                });
            }
        }
        None => run_statement(program, st(), cond, ctx, out),
    }
}

/// Runs a statement's actions if `cond` (its condition, or what is left of it after an
/// index hit) holds.
fn run_statement<'a>(
    program: &'a Program,
    st: &'a Statement,
    cond: Option<&'a CExpr>,
    ctx: &Ctx<'a>,
    out: &mut PersonEval<'a>,
) {
    if let Some(cond) = cond {
        if !holds(cond, ctx) {
            return;
        }
    }
    for action in &st.actions {
        match action {
            CEffect::Grant {
                target,
                kind,
                name,
                fixed_name,
                on,
            } => {
                let (name, rank) = match fixed_name {
                    Some((fixed, rank)) => (Cow::Borrowed(&**fixed), *rank),
                    None => match eval(name, ctx) {
                        Value::Str(s) if !s.trim().is_empty() => (s, u32::MAX),
                        _ => {
                            let o = &program.origins[st.origin as usize];
                            out.notes.push(format!(
                                "{}:{}: the {} name came out empty for this person; nothing granted",
                                o.file,
                                o.line,
                                kind.as_str()
                            ));
                            continue;
                        }
                    },
                };
                let on = match on.as_ref().map(|e| eval(e, ctx)) {
                    None => None,
                    Some(Value::Str(s)) if !s.trim().is_empty() => Some(s),
                    Some(_) => continue,
                };
                out.grants.push(Granted {
                    target: *target,
                    kind: *kind,
                    name,
                    rank,
                    on,
                    because: smallvec::smallvec![st.origin],
                });
            }
            CEffect::Writeback { field, source } => {
                let value = match source {
                    WritebackValue::Account { target, attribute } => WritebackOf::Account {
                        target: *target,
                        attribute,
                    },
                    WritebackValue::Expr(e) => match eval(e, ctx) {
                        Value::Str(s) => WritebackOf::Value(s),
                        _ => continue,
                    },
                };
                out.writebacks.push(WritebackWanted {
                    field,
                    value,
                    because: st.origin,
                });
            }
        }
    }
}

/// Sorts grants and merges duplicates, keeping every reason once.
fn merge_grants(grants: &mut Vec<Granted>) {
    // Constant names compare by rank (a number in text order); others by text.
    fn name_order(a: &Granted, b: &Granted) -> Ordering {
        if a.rank != u32::MAX && b.rank != u32::MAX {
            a.rank.cmp(&b.rank)
        } else {
            a.name.cmp(&b.name)
        }
    }
    // The common case, constant names without objects: one number per grant orders
    // them (target, kind, rank), and equal numbers are the same entitlement.
    if grants.iter().all(|g| g.rank != u32::MAX && g.on.is_none()) {
        let key =
            |g: &Granted| (u64::from(g.target) << 40) | ((g.kind as u64) << 32) | u64::from(g.rank);
        grants.sort_unstable_by_key(key);
        grants.dedup_by(|b, a| {
            let same = key(a) == key(b);
            if same {
                absorb_reasons(&mut a.because, &mut b.because);
            }
            same
        });
        return;
    }
    grants.sort_unstable_by(|a, b| {
        (a.target, a.kind)
            .cmp(&(b.target, b.kind))
            .then_with(|| name_order(a, b))
            .then_with(|| a.on.cmp(&b.on))
            .then_with(|| a.because.cmp(&b.because))
    });
    grants.dedup_by(|b, a| {
        let same = a.target == b.target
            && a.kind == b.kind
            && name_order(a, b) == Ordering::Equal
            && a.on == b.on;
        if same {
            absorb_reasons(&mut a.because, &mut b.because);
        }
        same
    });
}

/// Moves the reasons of a duplicate grant into the one kept: each once, in order.
fn absorb_reasons(kept: &mut Reasons, duplicate: &mut Reasons) {
    for o in duplicate.drain(..) {
        if !kept.contains(&o) {
            kept.push(o);
        }
    }
    kept.sort_unstable();
}

/// The person's values for one `correlate` line: per key, the values an account's
/// attribute may hold (a `unique` key: each candidate with its ending). `None` when a
/// key has no value for this person (an empty employee number): the line cannot find
/// this person's account, and must not find someone else's.
pub fn correlation_values(
    spec: &AccountSpec,
    line: &Correlation,
    ctx: &Ctx,
) -> Option<Vec<Vec<String>>> {
    let text = |v: Value| -> Option<String> {
        let s = match v {
            Value::Str(s) => s.into_owned(),
            Value::Null | Value::List(_) => return None,
            other => other.to_string(),
        };
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    line.keys
        .iter()
        .map(|key| {
            let values: Vec<String> = match &key.value {
                KeyValue::Expr(e) => text(eval(e, ctx)).into_iter().collect(),
                KeyValue::Set(k) => match &spec.attributes.get(*k)?.1 {
                    AttrRule::Expr(e) => text(eval(e, ctx)).into_iter().collect(),
                    AttrRule::Unique {
                        candidates,
                        max,
                        ending,
                    } => {
                        let ending = ending.as_ref().and_then(|e| text(eval(e, ctx)));
                        candidates
                            .iter()
                            .filter_map(|c| text(eval(c, ctx)))
                            .map(|c| {
                                let c: String = match max {
                                    Some(m) => c.chars().take(*m).collect(),
                                    None => c,
                                };
                                format!("{c}{}", ending.as_deref().unwrap_or(""))
                            })
                            .collect()
                    }
                },
            };
            (!values.is_empty()).then_some(values)
        })
        .collect()
}

/// The contracts an account block counts for a person: those with a start that meet
/// its `when`.
pub fn account_contracts<'p>(
    spec: &AccountSpec,
    ctx: &Ctx<'p>,
    person: &'p Person,
) -> Vec<&'p Contract> {
    person
        .contracts
        .iter()
        .filter(|c| c.start.is_some())
        .filter(|c| {
            spec.cond.as_ref().is_none_or(|cond| {
                holds(
                    cond,
                    &Ctx {
                        contract: Some(c),
                        ..*ctx
                    },
                )
            })
        })
        .collect()
}

fn account(
    spec: &AccountSpec,
    handover: Option<&Handover>,
    ctx: &Ctx,
    person: &Person,
) -> AccountWanted {
    let today = ctx.today;
    let relevant = account_contracts(spec, ctx, person);
    let active = relevant.iter().any(|c| c.is_active_on(today));
    let prestart = relevant.iter().any(|c| {
        c.start.is_some_and(|s| {
            today < s && shift(s, -spec.create_before_days).is_some_and(|from| from <= today)
        })
    });
    let started: Vec<&&Contract> = relevant
        .iter()
        .filter(|c| c.start.is_some_and(|s| s <= today))
        .collect();
    let last_end = if started.iter().any(|c| c.end.is_none()) {
        None
    } else {
        started.iter().filter_map(|c| c.end).max()
    };
    let want = if active {
        AccountWant::Enabled
    } else if prestart {
        AccountWant::PreStart
    } else if let Some(end) = last_end {
        let disable_on = shift(end, spec.disable_after_days + 1).unwrap_or(end);
        if today < disable_on {
            AccountWant::Enabled
        } else {
            AccountWant::Ended(disable_on)
        }
    } else {
        AccountWant::None
    };
    let mut attributes = Vec::with_capacity(spec.attributes.len());
    if want != AccountWant::None {
        for (name, rule) in &spec.attributes {
            let v = match rule {
                AttrRule::Expr(e) => AttrWanted::Value(eval(e, ctx).to_json()),
                AttrRule::Unique {
                    candidates,
                    max,
                    ending,
                } => {
                    let mut list: Vec<String> = Vec::new();
                    for c in candidates {
                        if let Value::Str(s) = eval(c, ctx) {
                            let s: String = match max {
                                Some(m) => s.chars().take(*m).collect(),
                                None => s.into_owned(),
                            };
                            if !s.trim().is_empty() && !list.contains(&s) {
                                list.push(s);
                            }
                        }
                    }
                    let ending = match ending.as_ref().map(|e| eval(e, ctx)) {
                        Some(Value::Str(s)) => s.into_owned(),
                        _ => String::new(),
                    };
                    AttrWanted::Unique(UniqueCandidates {
                        candidates: list,
                        max: *max,
                        ending,
                    })
                }
            };
            attributes.push((name.to_string(), v));
        }
    }
    let handover_to = match (handover, want) {
        (Some(h), AccountWant::Enabled | AccountWant::PreStart | AccountWant::Ended(_)) => {
            match eval(&h.to, ctx) {
                Value::Str(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                _ => None,
            }
        }
        _ => None,
    };
    let first_day = relevant
        .iter()
        .filter_map(|c| c.start)
        .filter(|s| *s > today)
        .min();
    AccountWanted {
        target: spec.target,
        want,
        attributes,
        because: spec.origin,
        handover_to,
        first_day,
    }
}
