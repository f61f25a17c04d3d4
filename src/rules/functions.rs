//! The built-in functions: their signatures (for the checker) and their behaviour.
//! Every function of `null` gives `null`, except `coalesce`.

use crate::model::{Ty, Value};
use std::borrow::Cow;

/// Function arguments: kept inline, as calls take one to three.
pub type Args<'a> = smallvec::SmallVec<[Value<'a>; 3]>;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `trim(s)`
    Trim,
    /// `ascii(s)`
    Ascii,
    /// `left(s, n)`
    Left,
    /// `right(s, n)`
    Right,
    /// `substring(s, start[, length])`
    Substring,
    /// `replace(s, from, to)`
    Replace,
    /// `starts_with(s, prefix)`
    StartsWith,
    /// `ends_with(s, suffix)`
    EndsWith,
    /// `contains(s_or_list, x)`
    Contains,
    /// `matches(s, "regex")`
    Matches,
    /// `coalesce(a, b, ...)`
    Coalesce,
    /// `length(s_or_list)`
    Length,
    /// `year(date)`
    Year,
    /// `days(duration)`
    Days,
}

/// A built-in function as the checker and the book describe it.
#[derive(Debug, Clone, Copy)]
pub struct FunctionInfo {
    /// The name in rules.
    pub name: &'static str,
    /// The function.
    pub func: Func,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments.
    pub max: usize,
    /// How a call is written, e.g. `left(text, n)`.
    pub signature: &'static str,
    /// What it gives, in one line.
    pub about: &'static str,
}

const fn f(
    name: &'static str,
    func: Func,
    min: usize,
    max: usize,
    signature: &'static str,
    about: &'static str,
) -> FunctionInfo {
    FunctionInfo {
        name,
        func,
        min,
        max,
        signature,
        about,
    }
}

/// Every built-in function.
pub const FUNCTIONS: &[FunctionInfo] = &[
    f("lower", Func::Lower, 1, 1, "lower(text)", "lower case"),
    f("upper", Func::Upper, 1, 1, "upper(text)", "upper case"),
    f(
        "trim",
        Func::Trim,
        1,
        1,
        "trim(text)",
        "strip white space at both ends and collapse inner runs",
    ),
    f(
        "ascii",
        Func::Ascii,
        1,
        1,
        "ascii(text)",
        "transliterate to ASCII letters (é→e, ß→ss, Ĳ→IJ), drop the rest",
    ),
    f(
        "left",
        Func::Left,
        2,
        2,
        "left(text, n)",
        "the first n characters",
    ),
    f(
        "right",
        Func::Right,
        2,
        2,
        "right(text, n)",
        "the last n characters",
    ),
    f(
        "substring",
        Func::Substring,
        2,
        3,
        "substring(text, start, length?)",
        "characters from start (0-based), optionally only length of them",
    ),
    f(
        "replace",
        Func::Replace,
        3,
        3,
        "replace(text, from, to)",
        "every occurrence of from replaced by to",
    ),
    f(
        "starts_with",
        Func::StartsWith,
        2,
        2,
        "starts_with(text, prefix)",
        "true if s begins with prefix",
    ),
    f(
        "ends_with",
        Func::EndsWith,
        2,
        2,
        "ends_with(text, suffix)",
        "true if s ends with suffix",
    ),
    f(
        "contains",
        Func::Contains,
        2,
        2,
        "contains(text_or_list, x)",
        "true if the string has the substring, or the list the element",
    ),
    f(
        "matches",
        Func::Matches,
        2,
        2,
        "matches(text, \"regex\")",
        "true if the regular expression (a string literal) matches",
    ),
    f(
        "coalesce",
        Func::Coalesce,
        1,
        usize::MAX,
        "coalesce(a, b, ...)",
        "the first argument that is not null or blank",
    ),
    f(
        "length",
        Func::Length,
        1,
        1,
        "length(text_or_list)",
        "number of characters, or of list elements",
    ),
    f("year", Func::Year, 1, 1, "year(date)", "the year of a date"),
    f(
        "days",
        Func::Days,
        1,
        1,
        "days(duration)",
        "a duration as a number of days",
    ),
];

impl Func {
    /// Looks a function up by name.
    pub fn by_name(name: &str) -> Option<&'static FunctionInfo> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The expected argument types (`Any` where several fit) and the result type, or a
    /// description of the mismatch.
    pub fn check(self, args: &[Ty]) -> Result<Ty, String> {
        let want = |i: usize, t: &Ty, what: &str| -> Result<(), String> {
            match args.get(i) {
                Some(a) if a == t || *a == Ty::Null || *a == Ty::Any => Ok(()),
                Some(a) if t.is_number() && a.is_number() => Ok(()),
                Some(a) => Err(format!("argument {} must be {what}, found {a}", i + 1)),
                None => Ok(()),
            }
        };
        let s = "a string";
        match self {
            Func::Lower | Func::Upper | Func::Trim | Func::Ascii => {
                want(0, &Ty::Str, s)?;
                Ok(Ty::Str)
            }
            Func::Left | Func::Right => {
                want(0, &Ty::Str, s)?;
                want(1, &Ty::Int, "an integer")?;
                Ok(Ty::Str)
            }
            Func::Substring => {
                want(0, &Ty::Str, s)?;
                want(1, &Ty::Int, "an integer")?;
                want(2, &Ty::Int, "an integer")?;
                Ok(Ty::Str)
            }
            Func::Replace => {
                for i in 0..3 {
                    want(i, &Ty::Str, s)?;
                }
                Ok(Ty::Str)
            }
            Func::StartsWith | Func::EndsWith | Func::Matches => {
                want(0, &Ty::Str, s)?;
                want(1, &Ty::Str, s)?;
                Ok(Ty::Bool)
            }
            Func::Contains => match &args[0] {
                Ty::List(elem) => {
                    if elem.comparable_with(&args[1]) {
                        Ok(Ty::Bool)
                    } else {
                        Err(format!(
                            "a {} cannot be an element of a list of {elem}",
                            args[1]
                        ))
                    }
                }
                _ => {
                    want(0, &Ty::Str, "a string or a list")?;
                    want(1, &Ty::Str, s)?;
                    Ok(Ty::Bool)
                }
            },
            Func::Coalesce => {
                let known: Vec<&Ty> = args
                    .iter()
                    .filter(|t| !matches!(t, Ty::Null | Ty::Any))
                    .collect();
                match known.first() {
                    None => Ok(Ty::Any),
                    Some(first) => {
                        if let Some(other) = known.iter().find(|t| !t.comparable_with(first)) {
                            Err(format!(
                                "all arguments must have one type: {first} and {other}"
                            ))
                        } else {
                            Ok((*first).clone())
                        }
                    }
                }
            }
            Func::Length => match &args[0] {
                Ty::List(_) | Ty::Str | Ty::Null | Ty::Any => Ok(Ty::Int),
                other => Err(format!(
                    "argument 1 must be a string or a list, found {other}"
                )),
            },
            Func::Year => {
                want(0, &Ty::Date, "a date")?;
                Ok(Ty::Int)
            }
            Func::Days => {
                want(0, &Ty::Duration, "a duration")?;
                Ok(Ty::Int)
            }
        }
    }

    /// Applies the function. `matches` is compiled separately (its pattern is checked
    /// once) and never reaches here.
    pub fn apply<'a>(self, mut args: Args<'a>) -> Value<'a> {
        if self == Func::Coalesce {
            return args
                .into_iter()
                .find(|v| !v.is_empty() || matches!(v, Value::List(_)))
                .unwrap_or(Value::Null);
        }
        if args.iter().any(Value::is_null) {
            return Value::Null;
        }
        let int = |v: &Value| match v {
            Value::Int(i) => *i,
            Value::Dec(d) => *d as i64,
            _ => 0,
        };
        let args = &mut args;
        let take_str = |args: &mut Args<'a>, i: usize| match args
            .get_mut(i)
            .map(|v| std::mem::replace(v, Value::Null))
        {
            Some(Value::Str(s)) => s,
            _ => Cow::Borrowed(""),
        };
        match self {
            Func::Lower => Value::Str(Cow::Owned(take_str(args, 0).to_lowercase())),
            Func::Upper => Value::Str(Cow::Owned(take_str(args, 0).to_uppercase())),
            Func::Trim => {
                let s = take_str(args, 0);
                Value::Str(Cow::Owned(
                    s.split_whitespace().collect::<Vec<_>>().join(" "),
                ))
            }
            Func::Ascii => Value::Str(Cow::Owned(crate::model::text::ascii(&take_str(args, 0)))),
            Func::Left | Func::Right => {
                let n = int(&args[1]).max(0) as usize;
                let s = take_str(args, 0);
                let count = s.chars().count();
                let out: String = if self == Func::Left {
                    s.chars().take(n).collect()
                } else {
                    s.chars().skip(count.saturating_sub(n)).collect()
                };
                Value::Str(Cow::Owned(out))
            }
            Func::Substring => {
                let start = int(&args[1]).max(0) as usize;
                let len = args.get(2).map_or(usize::MAX, |v| int(v).max(0) as usize);
                let s = take_str(args, 0);
                Value::Str(Cow::Owned(s.chars().skip(start).take(len).collect()))
            }
            Func::Replace => {
                let to = take_str(args, 2);
                let from = take_str(args, 1);
                let s = take_str(args, 0);
                if from.is_empty() {
                    Value::Str(s)
                } else {
                    Value::Str(Cow::Owned(s.replace(from.as_ref(), &to)))
                }
            }
            Func::StartsWith => {
                let p = take_str(args, 1);
                Value::Bool(take_str(args, 0).starts_with(p.as_ref()))
            }
            Func::EndsWith => {
                let p = take_str(args, 1);
                Value::Bool(take_str(args, 0).ends_with(p.as_ref()))
            }
            Func::Contains => match &args[0] {
                Value::List(items) => {
                    Value::Bool(items.iter().any(|i| super::eval::values_equal(i, &args[1])))
                }
                _ => {
                    let p = take_str(args, 1);
                    Value::Bool(take_str(args, 0).contains(p.as_ref()))
                }
            },
            Func::Length => match &args[0] {
                Value::List(items) => Value::Int(items.len() as i64),
                Value::Str(s) => Value::Int(s.chars().count() as i64),
                _ => Value::Null,
            },
            Func::Year => match &args[0] {
                Value::Date(d) => Value::Int(chrono::Datelike::year(d) as i64),
                _ => Value::Null,
            },
            Func::Days => match &args[0] {
                Value::Days(d) => Value::Int(*d),
                _ => Value::Null,
            },
            Func::Matches | Func::Coalesce => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text::ascii;

    #[test]
    fn ascii_transliterates_as_the_contract_says() {
        assert_eq!(ascii("é ü ß æ ø ł Ĳ"), "e u ss ae o l IJ");
        assert_eq!(ascii("Ĳsselmeer"), "IJsselmeer");
        assert_eq!(ascii("Zoë Dijkstra-Özdemir"), "Zoe Dijkstra-Ozdemir");
        assert_eq!(ascii("Łukasz Wałęsa"), "Lukasz Walesa");
        assert_eq!(ascii("名前 Chloë"), " Chloe");
        assert_eq!(ascii("d\u{2019}Hondt"), "d'Hondt");
    }

    fn s(v: &str) -> Value<'static> {
        Value::Str(Cow::Owned(v.to_string()))
    }

    #[test]
    fn functions_of_null_are_null() {
        for info in FUNCTIONS {
            if info.func == Func::Coalesce || info.func == Func::Matches {
                continue;
            }
            let args = vec![Value::Null; info.min];
            assert_eq!(info.func.apply(args.into()), Value::Null, "{}", info.name);
        }
    }

    #[test]
    fn string_functions_count_characters_not_bytes() {
        assert_eq!(
            Func::Left.apply(vec![s("Ömer"), Value::Int(2)].into()),
            s("Öm")
        );
        assert_eq!(
            Func::Right.apply(vec![s("Ömer"), Value::Int(9)].into()),
            s("Ömer")
        );
        assert_eq!(
            Func::Substring.apply(vec![s("Ömer"), Value::Int(1), Value::Int(2)].into()),
            s("me")
        );
        assert_eq!(Func::Length.apply(vec![s("Ĳs")].into()), Value::Int(2));
        assert_eq!(Func::Trim.apply(vec![s("  a   b ")].into()), s("a b"));
        assert_eq!(
            Func::Coalesce.apply(vec![Value::Null, s(" "), s("x")].into()),
            s("x")
        );
    }
}
