//! Diagnostics: every problem Stroom finds in a rule set has a stable code, a span, a
//! label and a help text. They render with miette (human) or as JSON.

use super::span::{SourceFile, SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
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
    /// A grant from a condition that does not require the `when` under which the
    /// account it needs exists.
    #[error("this grant in {target} can fire for persons without an account in {host}")]
    GrantWithoutAccount {
        /// The grant's target.
        target: String,
        /// The target whose account it needs.
        host: String,
    },
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
    /// An entitlement kind granted in a target whose kind does not take it.
    #[error("a {kind} cannot be granted in {target}")]
    WrongTarget {
        /// The entitlement kind.
        kind: &'static str,
        /// The target as written.
        target: String,
    },
    /// A permission without the object it is on.
    #[error("a permission needs the object it is on")]
    PermissionWithoutObject,
    /// `on OBJECT` on an entitlement that is not a permission.
    #[error("a {kind} is not granted on an object")]
    ObjectWithoutPermission {
        /// The entitlement kind.
        kind: &'static str,
    },
    /// A `forbid` whose entitlement names are computed.
    #[error("a `forbid` names its entitlements literally")]
    ForbidNotLiteral,
    /// An account block for a target that takes no accounts (the HR source).
    #[error("Stroom does not create accounts in {target}")]
    AccountInSource {
        /// The target as written.
        target: String,
    },
    /// A `unique` without candidates or without room for a value.
    #[error("invalid `unique`: {detail}")]
    BadUnique {
        /// What is wrong.
        detail: &'static str,
    },
    /// A `matches` pattern that is not a string literal.
    #[error("the pattern of `matches` must be a string literal")]
    PatternNotLiteral,
    /// A write-back from an account attribute in a target whose account no block makes.
    #[error("no `account in {target}` block gives `{attribute}`")]
    WritebackWithoutAccount {
        /// The target.
        target: String,
        /// The attribute as written.
        attribute: String,
    },
    /// A write-back from an attribute the account block does not set.
    #[error("the account in {target} has no attribute `{attribute}`")]
    UnknownAccountAttribute {
        /// The target.
        target: String,
        /// The attribute as written.
        attribute: String,
    },
    /// A `correlate` key the target kind is not known to have.
    #[error("`{attribute}` is not a known attribute of an account in {target}")]
    UnknownCorrelationAttribute {
        /// The target.
        target: String,
        /// The attribute as written.
        attribute: String,
    },
    /// A `set` attribute the target would not send: outside what its kind maps, or
    /// absent from the schema its system announced.
    #[error("{target} does not take the attribute `{attribute}`")]
    AttributeNotTaken {
        /// The target.
        target: String,
        /// The attribute as written.
        attribute: String,
    },
    /// Brackets, `not`s or an expression nested past a documented limit.
    #[error("{what} more than {limit} levels deep")]
    TooDeep {
        /// What nests, in words ("brackets nest").
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A rule set whose compiled form would pass a documented size limit.
    #[error("{what} pass the limit of {limit} {unit}")]
    TooLarge {
        /// What grows, in words.
        what: &'static str,
        /// The limit.
        limit: u64,
        /// What the limit counts ("nodes", "bytes").
        unit: &'static str,
    },
    /// A `group` declaration Stroom cannot carry out (its target, pattern or a setting).
    #[error("invalid group declaration: {detail}")]
    BadGroup {
        /// What is wrong.
        detail: String,
    },
    /// A `handover` declaration Stroom cannot carry out.
    #[error("invalid handover: {detail}")]
    BadHandover {
        /// What is wrong.
        detail: String,
    },
    /// A `primary contract by` key that is not a contract field.
    #[error("cannot sort contracts by `{name}`")]
    BadSortKey {
        /// The field as written.
        name: String,
    },
}

/// Declares [`Code`] from one list: its variants, [`Code::ALL`], names and severities.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident;)*) => {
        /// Every diagnostic code. This list is the one place a code exists: the
        /// checker raises [`Problem`]s, each maps to its code, and the book test
        /// walks [`Code::ALL`] to see every code documented with an example.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable name, e.g. `stroom::unknown_field`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The severity of its diagnostics.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                }
            }
        }
    };
}

codes! {
    /// The text does not follow the grammar.
    Syntax = "stroom::syntax", Error;
    /// A malformed literal.
    BadLiteral = "stroom::bad_literal", Error;
    /// A field the person schema does not have.
    UnknownField = "stroom::unknown_field", Error;
    /// A function that does not exist.
    UnknownFunction = "stroom::unknown_function", Error;
    /// The wrong number of arguments.
    WrongArity = "stroom::wrong_arity", Error;
    /// Types that do not fit.
    TypeMismatch = "stroom::type_mismatch", Error;
    /// A target nobody configured or declared.
    UnknownTarget = "stroom::unknown_target", Error;
    /// An entitlement kind that does not exist.
    UnknownKind = "stroom::unknown_kind", Error;
    /// A grant without a target.
    NoTarget = "stroom::no_target", Error;
    /// Two rules with one name.
    DuplicateRule = "stroom::duplicate_rule", Error;
    /// Two lets with one name.
    DuplicateLet = "stroom::duplicate_let", Error;
    /// A declaration made twice.
    DuplicateDeclaration = "stroom::duplicate_declaration", Error;
    /// Lets in a circle.
    LetCycle = "stroom::let_cycle", Error;
    /// A bad threshold.
    BadThreshold = "stroom::bad_threshold", Error;
    /// An include that fails.
    Include = "stroom::include", Error;
    /// A write-back Nmbrs does not take.
    UnknownWritebackField = "stroom::unknown_writeback_field", Error;
    /// An entitlement kind in a target that does not take it.
    WrongTarget = "stroom::wrong_target", Error;
    /// A permission without `on`.
    PermissionWithoutObject = "stroom::permission_without_object", Error;
    /// `on` on what is not a permission.
    ObjectWithoutPermission = "stroom::object_without_permission", Error;
    /// A forbid with computed names.
    ForbidNotLiteral = "stroom::forbid_not_literal", Error;
    /// An account in the HR source.
    AccountInSource = "stroom::account_in_source", Error;
    /// A `unique` that cannot give a value.
    BadUnique = "stroom::bad_unique", Error;
    /// A `matches` pattern that is not a literal.
    PatternNotLiteral = "stroom::pattern_not_literal", Error;
    /// A write-back from an account no block makes.
    WritebackWithoutAccount = "stroom::writeback_without_account", Error;
    /// A write-back from an attribute the account does not set.
    UnknownAccountAttribute = "stroom::unknown_account_attribute", Error;
    /// A `group` declaration that cannot be carried out.
    BadGroup = "stroom::bad_group", Error;
    /// A `handover` declaration that cannot be carried out.
    BadHandover = "stroom::bad_handover", Error;
    /// A bad `primary contract by` key.
    BadSortKey = "stroom::bad_sort_key", Error;
    /// Nesting past a limit.
    TooDeep = "stroom::too_deep", Error;
    /// A compiled rule set past a size limit.
    TooLarge = "stroom::too_large", Error;
    /// A let nothing uses.
    UnusedLet = "stroom::unused_let", Warning;
    /// A condition that is never true.
    NeverFires = "stroom::never_fires", Warning;
    /// Both sides of a forbid can be granted.
    ForbidReachable = "stroom::forbid_reachable", Warning;
    /// A grant that can fire without its account.
    GrantWithoutAccount = "stroom::grant_without_account", Warning;
    /// A `correlate` key the target kind is not known to have.
    UnknownCorrelationAttribute = "stroom::unknown_correlation_attribute", Warning;
    /// A `set` attribute the target does not take.
    AttributeNotTaken = "stroom::attribute_not_taken", Warning;
}

impl Problem {
    /// Its code.
    pub fn kind(&self) -> Code {
        match self {
            Problem::Syntax { .. } => Code::Syntax,
            Problem::BadLiteral { .. } => Code::BadLiteral,
            Problem::UnknownField { .. } => Code::UnknownField,
            Problem::UnknownFunction { .. } => Code::UnknownFunction,
            Problem::WrongArity { .. } => Code::WrongArity,
            Problem::TypeMismatch { .. } => Code::TypeMismatch,
            Problem::UnknownTarget { .. } => Code::UnknownTarget,
            Problem::UnknownKind { .. } => Code::UnknownKind,
            Problem::NoTarget => Code::NoTarget,
            Problem::DuplicateRule { .. } => Code::DuplicateRule,
            Problem::DuplicateLet { .. } => Code::DuplicateLet,
            Problem::DuplicateDeclaration { .. } => Code::DuplicateDeclaration,
            Problem::LetCycle { .. } => Code::LetCycle,
            Problem::UnusedLet { .. } => Code::UnusedLet,
            Problem::ForbidReachable => Code::ForbidReachable,
            Problem::NeverFires => Code::NeverFires,
            Problem::GrantWithoutAccount { .. } => Code::GrantWithoutAccount,
            Problem::BadThreshold { .. } => Code::BadThreshold,
            Problem::BadGroup { .. } => Code::BadGroup,
            Problem::BadHandover { .. } => Code::BadHandover,
            Problem::Include { .. } => Code::Include,
            Problem::UnknownWritebackField { .. } => Code::UnknownWritebackField,
            Problem::WrongTarget { .. } => Code::WrongTarget,
            Problem::PermissionWithoutObject => Code::PermissionWithoutObject,
            Problem::ObjectWithoutPermission { .. } => Code::ObjectWithoutPermission,
            Problem::ForbidNotLiteral => Code::ForbidNotLiteral,
            Problem::AccountInSource { .. } => Code::AccountInSource,
            Problem::BadUnique { .. } => Code::BadUnique,
            Problem::PatternNotLiteral => Code::PatternNotLiteral,
            Problem::WritebackWithoutAccount { .. } => Code::WritebackWithoutAccount,
            Problem::UnknownAccountAttribute { .. } => Code::UnknownAccountAttribute,
            Problem::UnknownCorrelationAttribute { .. } => Code::UnknownCorrelationAttribute,
            Problem::AttributeNotTaken { .. } => Code::AttributeNotTaken,
            Problem::BadSortKey { .. } => Code::BadSortKey,
            Problem::TooDeep { .. } => Code::TooDeep,
            Problem::TooLarge { .. } => Code::TooLarge,
        }
    }

    /// The stable code, e.g. `stroom::unknown_field`.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The default severity of this problem.
    pub fn severity(&self) -> Severity {
        self.kind().severity()
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
    /// The text that would fix it in place of `span` (a did-you-mean), for editors'
    /// quick fixes and `stroom check --format json`.
    pub replacement: Option<String>,
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
            replacement: None,
        }
    }

    /// Adds the text that fixes the problem in place of the main span.
    pub fn with_replacement(mut self, text: impl Into<String>) -> Self {
        self.replacement = Some(text.into());
        self
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

/// A diagnostic bound to its source file, for miette.
struct Bound<'a> {
    diag: &'a Diagnostic,
    source: Excerpts<'a>,
}

/// A source file as miette reads it: excerpts cut with the file's line index, so that
/// rendering a diagnostic costs the lines it shows, not the file before them (miette's
/// own `&str` source scans from the start: quadratic for thousands of diagnostics).
struct Excerpts<'a> {
    file: &'a SourceFile,
}

impl miette::SourceCode for Excerpts<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let text = self.file.text.as_bytes();
        let (start, end) = (span.offset(), span.offset() + span.len());
        if end > text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let first_line = self.file.line_of(start as u32) - 1;
        let last_line = self.file.line_of(end.saturating_sub(1).max(start) as u32) - 1;
        let lines = self.file.line_count();
        let (data_start, column, first) = if before == 0 && after == 0 {
            // The span itself: miette takes the header's line and column from it.
            let (_, col) = self.file.line_col(start as u32);
            (start, col - 1, first_line)
        } else {
            let first = first_line.saturating_sub(before);
            (self.file.line_start(first), 0, first)
        };
        let last = (last_line + after).min(lines.saturating_sub(1));
        let data_end = if before == 0 && after == 0 {
            end
        } else {
            self.file.line_end(last)
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.name.clone(),
            &text[data_start..data_end],
            (data_start, data_end - data_start).into(),
            first,
            column,
            last - first,
        )))
    }
}

/// At most this many diagnostics are rendered for people; the rest are counted (JSON
/// output has them all).
pub const RENDERED_DIAGNOSTICS: usize = 200;

/// Lines longer than this (in bytes) are not shown in an excerpt: the place is named by
/// line and column instead (terminals cannot show them, and miette cannot pad past
/// column 65,535).
pub const EXCERPT_LINE_LIMIT: usize = 1000;

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

/// Renders diagnostics for people: source excerpt, label, code and help. At most
/// [`RENDERED_DIAGNOSTICS`] are rendered, then a count of the rest; the time taken
/// follows the lines shown, not the size of the files.
pub fn render_human(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    use std::fmt::Write;
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diag in diags.iter().take(RENDERED_DIAGNOSTICS) {
        let Some(file) = sources.get(diag.span.file) else {
            let _ = writeln!(
                out,
                "{}: {}\n  help: {}",
                diag.code(),
                diag.problem,
                diag.help
            );
            continue;
        };
        let shown = std::iter::once(&diag.span).chain(
            diag.related
                .iter()
                .map(|(s, _)| s)
                .filter(|s| s.file == diag.span.file),
        );
        if shown.into_iter().any(|s| touches_long_line(file, *s)) {
            render_without_excerpt(&mut out, diag, file);
            continue;
        }
        let bound = Bound {
            diag,
            source: Excerpts { file },
        };
        if handler.render_report(&mut out, &bound).is_err() {
            render_without_excerpt(&mut out, diag, file);
        }
    }
    if diags.len() > RENDERED_DIAGNOSTICS {
        let rest = &diags[RENDERED_DIAGNOSTICS..];
        let errors = rest.iter().filter(|d| d.is_error()).count();
        let _ = writeln!(
            out,
            "... and {} more ({errors} error(s), {} warning(s)) not shown; `--format json` lists them all",
            rest.len(),
            rest.len() - errors
        );
    }
    out
}

fn touches_long_line(file: &SourceFile, span: Span) -> bool {
    let first = file.line_of(span.start) - 1;
    let last = file.line_of(span.end.max(span.start)) - 1;
    (first..=last).any(|l| file.line_end(l) - file.line_start(l) > EXCERPT_LINE_LIMIT)
}

/// The plain form: code, headline, place, label and help, without an excerpt.
fn render_without_excerpt(out: &mut String, diag: &Diagnostic, file: &SourceFile) {
    use std::fmt::Write;
    let (line, column) = file.line_col(diag.span.start);
    let _ = writeln!(
        out,
        "{}\n\n  × {}\n   ╭─[{}:{line}:{column}] (the line is too long to show)\n   ╰── {}",
        diag.code(),
        diag.problem,
        file.name,
        diag.label
    );
    if !diag.help.is_empty() {
        let _ = writeln!(out, "  help: {}", diag.help);
    }
    out.push('\n');
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
    /// The text that fixes it in place of the range, when there is one (a did-you-mean).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
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
                replacement: d.replacement.clone(),
            }
        })
        .collect()
}

pub use crate::suggest::did_you_mean;

#[cfg(test)]
mod render_tests {
    use super::*;
    use crate::rules::span::SourceFile;

    fn one_file(text: String) -> SourceMap {
        let mut map = SourceMap::new();
        map.add(SourceFile::new("a.stroom", text));
        map
    }

    fn diag_at(start: usize, len: usize) -> Diagnostic {
        Diagnostic::new(
            Problem::UnknownField { name: "x".into() },
            Span::new(0, start, start + len),
            "no such field",
            "did you mean `y`?",
        )
    }

    #[test]
    fn many_diagnostics_are_capped_with_a_count() {
        let line = "when x == 1 grant group \"g\" in ad\n";
        let map = one_file(line.repeat(10_000));
        let diags: Vec<_> = (0..10_000)
            .map(|i| diag_at(i * line.len() + 5, 1))
            .collect();
        let text = render_human(&diags, &map, false);
        assert_eq!(
            text.matches("stroom::unknown_field").count(),
            RENDERED_DIAGNOSTICS
        );
        assert!(text.contains("... and 9800 more (9800 error(s), 0 warning(s)) not shown"));
    }

    #[test]
    fn excerpts_read_only_the_lines_shown() {
        let line = "when x == 1 grant group \"g\" in ad\n";
        let map = one_file(line.repeat(100_000));
        let file = map.get(0).expect("file");
        let source = Excerpts { file };
        let at = 99_000 * line.len() + 5;
        let span = miette::SourceSpan::from((at, 1));
        let around = miette::SourceCode::read_span(&source, &span, 1, 1).expect("span");
        assert_eq!(around.data().len(), 3 * line.len());
        assert_eq!(around.line(), 98_999);
        let exact = miette::SourceCode::read_span(&source, &span, 0, 0).expect("span");
        assert_eq!(
            (exact.line(), exact.column(), exact.data()),
            (99_000, 5, &b"x"[..])
        );
    }

    #[test]
    fn a_diagnostic_far_right_on_a_long_line_names_its_place() {
        let text = format!(
            "when department == \"{}\" and x == 1 grant group \"g\" in ad\n",
            "a".repeat(70_000)
        );
        let at = text.find("x ==").expect("x");
        let map = one_file(text);
        let out = render_human(&[diag_at(at, 1)], &map, false);
        assert!(out.contains("a.stroom:1:70027"), "{out}");
        assert!(out.contains("did you mean `y`?"), "{out}");
    }
}
