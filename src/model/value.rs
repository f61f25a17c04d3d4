//! Values and types of the rules language.

use chrono::NaiveDate;
use std::borrow::Cow;
use std::fmt;

/// A runtime value. Strings borrow from the person record or the compiled rules where
/// they can, so evaluation allocates only for computed text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Missing data.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Whole number.
    Int(i64),
    /// Decimal number.
    Dec(f64),
    /// Text.
    Str(Cow<'a, str>),
    /// Calendar date.
    Date(NaiveDate),
    /// Duration in days.
    Days(i64),
    /// List of values.
    List(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True only for `Bool(true)`: null and everything else count as false.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The text, for strings.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `null`, `""` and `[]` are empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.trim().is_empty(),
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Dec(d) => Value::Dec(d),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Date(d) => Value::Date(d),
            Value::Days(d) => Value::Days(d),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
        }
    }

    /// The value as JSON (dates as `YYYY-MM-DD`, durations as a number of days).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Dec(d) => serde_json::Number::from_f64(*d)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Date(d) => serde_json::Value::String(d.format("%Y-%m-%d").to_string()),
            Value::Days(d) => (*d).into(),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// The value as a rule would write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Dec(d) => write!(f, "{d}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Days(d) if d.abs() == 1 => write!(f, "{d} day"),
            Value::Days(d) => write!(f, "{d} days"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The static type of an expression, as the checker infers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// Text.
    Str,
    /// Whole number.
    Int,
    /// Decimal number.
    Dec,
    /// Condition.
    Bool,
    /// Calendar date.
    Date,
    /// Duration.
    Duration,
    /// A list with elements of this type.
    List(Box<Ty>),
    /// The `null` literal.
    Null,
    /// Unknown (after an error, or a list of mixed types): fits anything.
    Any,
}

impl Ty {
    /// True for `Int` and `Dec`.
    pub fn is_number(&self) -> bool {
        matches!(self, Ty::Int | Ty::Dec)
    }

    /// Whether values of the two types can be compared with `==`.
    pub fn comparable_with(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Any, _) | (_, Ty::Any) | (Ty::Null, _) | (_, Ty::Null) => true,
            (a, b) if a.is_number() && b.is_number() => true,
            (Ty::List(a), Ty::List(b)) => a.comparable_with(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Str => f.write_str("string"),
            Ty::Int => f.write_str("integer"),
            Ty::Dec => f.write_str("decimal"),
            Ty::Bool => f.write_str("condition"),
            Ty::Date => f.write_str("date"),
            Ty::Duration => f.write_str("duration"),
            Ty::List(t) => write!(f, "list of {t}"),
            Ty::Null => f.write_str("null"),
            Ty::Any => f.write_str("any value"),
        }
    }
}
