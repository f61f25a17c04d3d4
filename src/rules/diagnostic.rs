//! Diagnostics: every problem Stroom finds in a rule set has a stable code, a span, a
//! label and a help text. They render with miette (human) or as JSON.

use super::span::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops the rule set from being used.
    Error,
    /// Worth a look; `--deny-warnings` makes it an error.
    Warning,
}

/// What is wrong. The `Display` text is the headline; [`Problem::code`] is stable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The text does not follow the grammar.
    #[error("syntax error: {found}, expected {expected}")]
    Syntax {
        /// What the parser wanted, in words.
        expected: String,
        /// What stood there.
        found: String,
    },
    /// A malformed literal (escape, date, number).
    #[error("invalid {what}: {detail}")]
    BadLiteral {
        /// Which kind of literal.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A field path that the person schema does not have.
    #[error("unknown field `{name}`")]
    UnknownField {
        /// The path as written.
        name: String,
    },
    /// A function that does not exist.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        /// The name as written.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("`{name}` takes {expected} argument(s), {found} given")]
    WrongArity {
        /// Function name.
        name: String,
        /// Accepted counts, in words.
        expected: String,
        /// Given count.
        found: usize,
    },
    /// Operand types that do not fit the operator or function.
    #[error("type mismatch: {detail}")]
    TypeMismatch {
        /// What did not fit.
        detail: String,
    },
    /// A target that is neither built in nor declared.
    #[error("unknown target `{name}`")]
    UnknownTarget {
        /// The name as written.
        name: String,
    },
    /// An entitlement kind that does not exist.
    #[error("unknown entitlement kind `{name}`")]
    UnknownKind {
        /// The name as written.
        name: String,
    },
    /// A grant without `in TARGET` in a rule set with no `default target`.
    #[error("no target for this grant")]
    NoTarget,
    /// Two rules with one name.
    #[error("duplicate rule name \"{name}\"")]
    DuplicateRule {
        /// The name.
        name: String,
    },
    /// Two `let`s with one name.
    #[error("duplicate `let {name}`")]
    DuplicateLet {
        /// The name.
        name: String,
    },
    /// A declaration that may appear only once.
    #[error("`{what}` is declared twice")]
    DuplicateDeclaration {
        /// Which declaration.
        what: String,
    },
    /// `let`s that refer to each other in a circle.
    #[error("`let {name}` refers to itself")]
    LetCycle {
        /// The name.
        name: String,
    },
    /// A `let` that nothing uses.
    #[error("`let {name}` is never used")]
    UnusedLet {
        /// The name.
        name: String,
    },
    /// A `forbid` pair that some rules can grant to one person.
    #[error("the rules can grant both sides of this `forbid`")]
    ForbidReachable,
    /// A condition that is false for every person.
    #[error("this condition can never be true")]
    NeverFires,
    /// A threshold on an operation that does not exist, or a bad limit.
    #[error("invalid threshold: {detail}")]
    BadThreshold {
        /// What is wrong.
        detail: String,
    },
    /// An included file that cannot be read, or an include cycle.
    #[error("cannot include \"{path}\": {detail}")]
    Include {
        /// The path as written.
        path: String,
        /// Why.
        detail: String,
    },
    /// A write-back to a person field Nmbrs does not take.
    #[error("cannot write back `{name}`")]
    UnknownWritebackField {
        /// The field as written.
        name: String,
    },
    /// A construct used where it does not belong.
    #[error("{detail}")]
    Misplaced {
        /// What and where.
        detail: String,
    },
    /// A `primary contract by` key that is not a contract field.
    #[error("cannot sort contracts by `{name}`")]
    BadSortKey {
        /// The field as written.
        name: String,
    },
}

impl Problem {
    /// The stable code, e.g. `stroom::unknown_field`.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Syntax { .. } => "stroom::syntax",
            Problem::BadLiteral { .. } => "stroom::bad_literal",
            Problem::UnknownField { .. } => "stroom::unknown_field",
            Problem::UnknownFunction { .. } => "stroom::unknown_function",
            Problem::WrongArity { .. } => "stroom::wrong_arity",
            Problem::TypeMismatch { .. } => "stroom::type_mismatch",
            Problem::UnknownTarget { .. } => "stroom::unknown_target",
            Problem::UnknownKind { .. } => "stroom::unknown_kind",
            Problem::NoTarget => "stroom::no_target",
            Problem::DuplicateRule { .. } => "stroom::duplicate_rule",
            Problem::DuplicateLet { .. } => "stroom::duplicate_let",
            Problem::DuplicateDeclaration { .. } => "stroom::duplicate_declaration",
            Problem::LetCycle { .. } => "stroom::let_cycle",
            Problem::UnusedLet { .. } => "stroom::unused_let",
            Problem::ForbidReachable => "stroom::forbid_reachable",
            Problem::NeverFires => "stroom::never_fires",
            Problem::BadThreshold { .. } => "stroom::bad_threshold",
            Problem::Include { .. } => "stroom::include",
            Problem::UnknownWritebackField { .. } => "stroom::unknown_writeback_field",
            Problem::Misplaced { .. } => "stroom::misplaced",
            Problem::BadSortKey { .. } => "stroom::bad_sort_key",
        }
    }

    /// The default severity of this problem.
    pub fn severity(&self) -> Severity {
        match self {
            Problem::UnusedLet { .. } | Problem::ForbidReachable | Problem::NeverFires => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }
}

/// One finding: a problem at a place, with a label and a help text.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// What is wrong.
    pub problem: Problem,
    /// Error or warning.
    pub severity: Severity,
    /// The main place.
    pub span: Span,
    /// The text under the main place.
    pub label: String,
    /// How to fix it.
    pub help: String,
    /// Further places worth showing (e.g. the first definition of a duplicate).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic with the problem's default severity.
    pub fn new(
        problem: Problem,
        span: Span,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: problem.severity(),
            problem,
            span,
            label: label.into(),
            help: help.into(),
            related: Vec::new(),
        }
    }

    /// Adds a related place.
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A diagnostic bound to its source text, for miette.
struct Bound<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diag.fmt(f)
    }
}

impl fmt::Display for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diag.problem.fmt(f)
    }
}

impl std::error::Error for Bound<'_> {}

impl miette::Diagnostic for Bound<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.diag.help.is_empty() {
            None
        } else {
            Some(Box::new(&self.diag.help))
        }
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let main = LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()),
            (self.diag.span.start as usize, self.diag.span.len()),
        );
        // miette can show one source per report; related places in other files are
        // named in the help text by the checker instead.
        let related = self
            .diag
            .related
            .iter()
            .filter(|(s, _)| s.file == self.diag.span.file)
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), (s.start as usize, s.len())));
        Some(Box::new(std::iter::once(main).chain(related)))
    }
}

/// Renders diagnostics for people: source excerpt, label, code and help.
pub fn render_human(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diag in diags {
        let (name, text) = match sources.get(diag.span.file) {
            Some(f) => (f.name.clone(), f.text.to_string()),
            None => (String::from("<unknown>"), String::new()),
        };
        let bound = Bound {
            diag,
            source: NamedSource::new(name, text),
        };
        if handler.render_report(&mut out, &bound).is_err() {
            out.push_str(&format!("{}: {}\n", diag.code(), diag.problem));
        }
    }
    out
}

/// A diagnostic as JSON: code, severity, message, file, line/column range, label, help.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// Stable code.
    pub code: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The headline.
    pub message: String,
    /// The file.
    pub file: String,
    /// 1-based line of the start.
    pub line: usize,
    /// 1-based column of the start.
    pub column: usize,
    /// 1-based line of the end.
    pub end_line: usize,
    /// 1-based column of the end.
    pub end_column: usize,
    /// The label.
    pub label: String,
    /// The help text.
    pub help: String,
}

/// Converts diagnostics to their JSON form.
pub fn to_json(diags: &[Diagnostic], sources: &SourceMap) -> Vec<JsonDiagnostic> {
    diags
        .iter()
        .map(|d| {
            let (file, (line, column), (end_line, end_column)) = match sources.get(d.span.file) {
                Some(f) => (
                    f.name.clone(),
                    f.line_col(d.span.start),
                    f.line_col(d.span.end),
                ),
                None => (String::new(), (0, 0), (0, 0)),
            };
            JsonDiagnostic {
                code: d.code(),
                severity: d.severity,
                message: d.problem.to_string(),
                file,
                line,
                column,
                end_line,
                end_column,
                label: d.label.clone(),
                help: d.help.clone(),
            }
        })
        .collect()
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a
/// likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["department", "function", "cost_center"];
        assert_eq!(did_you_mean("departmnet", names), Some("department"));
        assert_eq!(did_you_mean("fucntion", names), Some("function"));
        assert_eq!(did_you_mean("salary", names), None);
    }
}
