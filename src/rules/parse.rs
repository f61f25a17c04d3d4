//! Rule text → AST. The grammar is `grammar/stroom.pest`; operator precedence is applied
//! here with pest's Pratt parser. A file is cut into top-level statements first, so that
//! one syntax error does not hide the others.

use super::ast::*;
use super::diagnostic::{Diagnostic, Problem};
use super::span::Span;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/stroom.pest"]
struct Grammar;

/// Words that can only begin a top-level statement; a line starting with one at brace
/// depth 0 starts a new chunk for error recovery.
const STATEMENT_STARTS: &[&str] = &[
    "let",
    "when",
    "rule",
    "account",
    "default",
    "target",
    "scope",
    "primary",
    "include",
    "forbid",
    "threshold",
    "handover",
];
/// Of those, the ones that can never stand inside a `{ ... }` block: seeing one resets
/// the brace depth, so a missing `}` costs one statement, not the rest of the file.
/// (`scope` is also a setting of a `group` block.)
const TOP_LEVEL_ONLY: &[&str] = &[
    "let",
    "rule",
    "default",
    "primary",
    "include",
    "forbid",
    "threshold",
    "handover",
];

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::or, Assoc::Left))
            .op(Op::infix(Rule::and, Assoc::Left))
            .op(Op::prefix(Rule::not))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::ne, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left)
                | Op::infix(Rule::in_op, Assoc::Left)
                | Op::infix(Rule::not_in, Assoc::Left))
            .op(Op::postfix(Rule::is_empty) | Op::postfix(Rule::is_not_empty))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
    })
}

/// Parses one file. Returns the statements that parsed and a diagnostic for every
/// statement that did not.
pub fn parse_file(file: u32, text: &str) -> (File, Vec<Diagnostic>) {
    let mut out = File {
        stmts: Vec::new(),
        comments: scan_comments(file, text),
    };
    // Statements parse independently, so the chunks are parsed on all cores and put
    // back in order.
    use rayon::prelude::*;
    let parsed: Vec<(Vec<Stmt>, Vec<Diagnostic>)> = chunks(text)
        .into_par_iter()
        .with_min_len(64)
        .map(|(start, end)| parse_chunk(file, text, start, end))
        .collect();
    let mut diags = Vec::new();
    for (stmts, d) in parsed {
        out.stmts.extend(stmts);
        diags.extend(d);
    }
    (out, diags)
}

/// How deep brackets (`(`, `[`) may nest in one statement. The parser recurses per
/// level, so the limit keeps it (and every pass after it) far from the end of the stack.
pub const MAX_NESTING: usize = 32;

/// How many `not` may stand in a row (`not not x`): each is a level of recursion too.
pub const MAX_NOT_RUN: usize = 8;

/// How deep one expression may be: a chain of `and` with N terms is N levels deep, as
/// are N nested parentheses. Every recursive pass after the parser (checker, evaluator,
/// formatter, explain) is bounded by this.
pub const MAX_EXPR_DEPTH: u32 = 128;

/// Finds the first place in a statement where brackets nest deeper than
/// [`MAX_NESTING`] or `not` repeats more than [`MAX_NOT_RUN`] times, before the
/// recursive parser sees it. Strings and comments are skipped. Linear in the text.
fn nesting_problem(file: u32, base: usize, chunk: &str) -> Option<Diagnostic> {
    let bytes = chunk.as_bytes();
    let mut depth = 0usize;
    let mut nots = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                nots = 0;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Diagnostic::new(
                        Problem::TooDeep {
                            what: "brackets nest",
                            limit: MAX_NESTING,
                        },
                        Span::new(file, base + i, base + i + 1),
                        format!("level {depth} starts here"),
                        "take the inner part out into a `let` condition or value and use its name here",
                    ));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map_or(bytes.len(), |n| i + n);
                if &chunk[i..end] == "not" {
                    nots += 1;
                    if nots > MAX_NOT_RUN {
                        return Some(Diagnostic::new(
                            Problem::TooDeep {
                                what: "`not` repeats",
                                limit: MAX_NOT_RUN,
                            },
                            Span::new(file, base + i, base + end),
                            format!("`not` number {nots} in a row"),
                            "two `not`s cancel out: remove them in pairs",
                        ));
                    }
                } else {
                    nots = 0;
                }
                i = end;
                continue;
            }
            b if b.is_ascii_whitespace() => {}
            _ => nots = 0,
        }
        i += 1;
    }
    None
}

/// Parses the statements of one chunk of a file.
fn parse_chunk(file: u32, text: &str, start: usize, end: usize) -> (Vec<Stmt>, Vec<Diagnostic>) {
    let chunk = &text[start..end];
    let mut stmts = Vec::new();
    let mut diags = Vec::new();
    if let Some(d) = nesting_problem(file, start, chunk) {
        diags.push(d);
        return (stmts, diags);
    }
    let mut builder = Builder {
        file,
        base: start,
        diags: &mut diags,
        too_deep_reported: false,
    };
    match Grammar::parse(Rule::file, chunk) {
        Ok(mut pairs) => {
            if let Some(file_pair) = pairs.next() {
                for pair in file_pair.into_inner() {
                    if pair.as_rule() != Rule::EOI {
                        // A statement cut short at the depth limit is left out: what is
                        // left of it would only give follow-up errors.
                        if let Some(stmt) = builder.stmt(pair) {
                            if !builder.too_deep_reported {
                                stmts.push(stmt);
                            }
                        }
                    }
                }
            }
        }
        Err(err) => diags.push(syntax_error(file, start, chunk, &err)),
    }
    (stmts, diags)
}

/// Parses `KIND NAME [on X] [in TARGET]` as written in rule tests.
pub fn parse_entitlement(file: u32, text: &str) -> Result<Entitlement, Box<Diagnostic>> {
    let mut parsed = Grammar::parse(Rule::entitlement, text)
        .map_err(|e| Box::new(syntax_error(file, 0, text, &e)))?;
    let consumed = parsed.as_str().len();
    if !text[consumed..].trim().is_empty() {
        return Err(Box::new(Diagnostic::new(
            Problem::Syntax {
                expected: "end of the entitlement".into(),
                found: describe_found(&text[consumed..]),
            },
            Span::new(file, consumed, text.len()),
            "unexpected text",
            "write it as in a grant: group \"Name\" in ad",
        )));
    }
    let mut diags = Vec::new();
    let mut builder = Builder {
        file,
        base: 0,
        diags: &mut diags,
        too_deep_reported: false,
    };
    let ent = parsed
        .next()
        .map(|p| builder.entitlement(p))
        .ok_or_else(|| Box::new(unexpected_end(file, text.len())))?;
    match diags.into_iter().next() {
        Some(d) => Err(Box::new(d)),
        None => Ok(ent),
    }
}

fn unexpected_end(file: u32, at: usize) -> Diagnostic {
    Diagnostic::new(
        Problem::Syntax {
            expected: "more text".into(),
            found: "end of input".into(),
        },
        Span::new(file, at, at),
        "ends here",
        "",
    )
}

/// Cuts a file into top-level statement chunks (byte ranges) by scanning for statement
/// keywords at the start of a line outside braces, strings and comments.
fn chunks(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut starts = vec![0usize];
    let mut depth: i32 = 0;
    let mut i = 0;
    let mut line_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        if line_start && !b.is_ascii_whitespace() {
            line_start = false;
            let word_end = bytes[i..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .map_or(bytes.len(), |n| i + n);
            let word = &text[i..word_end];
            if TOP_LEVEL_ONLY.contains(&word) {
                depth = 0;
            }
            if depth == 0 && STATEMENT_STARTS.contains(&word) && i > 0 {
                starts.push(i);
            }
        }
        match b {
            b'\n' => line_start = true,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' => depth = (depth - 1).max(0),
            _ => {}
        }
        i += 1;
    }
    starts.dedup();
    let mut out = Vec::with_capacity(starts.len());
    for (n, s) in starts.iter().enumerate() {
        let e = starts.get(n + 1).copied().unwrap_or(text.len());
        out.push((*s, e));
    }
    out
}

/// Finds `# ...` comments outside strings.
fn scan_comments(file: u32, text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                out.push(Comment {
                    text: text[start + 1..i].trim_end().to_string(),
                    span: Span::new(file, start, i),
                });
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

const OPERATOR_WORDS: &[&str] = &[
    "`==`",
    "`!=`",
    "`<`",
    "`<=`",
    "`>`",
    "`>=`",
    "`in`",
    "`not in`",
    "`+`",
    "`-`",
    "`and`",
    "`or`",
    "`is empty`",
];

fn rule_words(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::ident => "a name",
        Rule::string | Rule::string_inner => "a string",
        Rule::expr | Rule::paren | Rule::call | Rule::list | Rule::path | Rule::not => {
            "an expression"
        }
        Rule::name_expr => "a name expression",
        Rule::date => "a date",
        Rule::duration => "a duration (e.g. `14 days`)",
        Rule::unit => "`days` or `weeks`",
        Rule::int | Rule::limit => "a number",
        Rule::decimal => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::null => "`null`",
        Rule::today => "`today`",
        Rule::or => "`or`",
        Rule::and => "`and`",
        Rule::eq => "`==`",
        Rule::ne => "`!=`",
        Rule::lt => "`<`",
        Rule::le => "`<=`",
        Rule::gt => "`>`",
        Rule::ge => "`>=`",
        Rule::in_op => "`in`",
        Rule::not_in => "`not in`",
        Rule::add => "`+`",
        Rule::sub => "`-`",
        Rule::is_empty | Rule::is_not_empty => "`is empty`",
        Rule::grant => "`grant`",
        Rule::writeback => "`writeback`",
        Rule::writeback_from => "`from TARGET.ATTRIBUTE`",
        Rule::writeback_expr => "`= EXPRESSION`",
        Rule::entitlement => "an entitlement (e.g. `group \"Name\"`)",
        Rule::let_decl
        | Rule::default_target
        | Rule::target_decl
        | Rule::scope_decl
        | Rule::primary_decl
        | Rule::include
        | Rule::forbid
        | Rule::threshold
        | Rule::rule_block
        | Rule::when_stmt
        | Rule::account_block
        | Rule::group_decl
        | Rule::handover_decl => "a statement (`when`, `rule`, `let`, `account`, ...)",
        Rule::handover_on
        | Rule::handover_to
        | Rule::handover_via
        | Rule::handover_valid
        | Rule::handover_notify => "a handover line (`on`, `to`, `via`, `valid`, `notify`)",
        Rule::group_setting => "a group setting (`ou`, `scope`, `type`, `description`)",
        Rule::scope_from => "`from N days before start`",
        Rule::scope_until => "`until N days after end`",
        Rule::sort_key => "a contract field",
        Rule::sort_dir => "`asc` or `desc`",
        Rule::percent => "`%`",
        Rule::account_when
        | Rule::account_create
        | Rule::account_disable
        | Rule::account_delete
        | Rule::account_set => "an account line (`when`, `create`, `disable`, `delete`, `set`)",
        Rule::unique => "`unique [...]`",
        _ => "more text",
    }
}

fn describe_found(rest: &str) -> String {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return "the statement ends".into();
    }
    let token: String = if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    } else if rest.starts_with('"') {
        // The string up to its closing quote, or its first 20 characters.
        let mut token = String::from("\"");
        for c in rest.chars().skip(1).take(20) {
            token.push(c);
            if c == '"' {
                break;
            }
        }
        token
    } else {
        rest.chars()
            .take_while(|c| !c.is_alphanumeric() && !c.is_whitespace() && *c != '"')
            .take(3)
            .collect()
    };
    format!("found `{token}`")
}

/// Turns a pest error into a diagnostic with expectations in words and help for the
/// slips people make most.
fn syntax_error(file: u32, base: usize, chunk: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&str> = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(|r| rule_words(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => vec!["valid syntax"],
    };
    let rest = &chunk[pos.min(chunk.len())..];
    let found_word = rest.trim_start().starts_with(|c: char| c.is_alphabetic());
    // Many operators at once read as noise: say "an operator" once.
    let operators = expected
        .iter()
        .filter(|e| OPERATOR_WORDS.contains(e))
        .count();
    if operators > 2 {
        expected.retain(|e| !OPERATOR_WORDS.contains(e));
        expected.push("an operator");
    }
    if !found_word {
        expected.retain(|e| *e != "`days` or `weeks`");
    }
    expected.sort_unstable();
    expected.dedup();
    let expected_text = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].to_string(),
        n => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    let trimmed = rest.trim_start();
    // At the end of a statement, point just behind its last word, not at the next line.
    let at = if trimmed.is_empty() {
        content_len(&chunk[..pos.min(chunk.len())])
    } else {
        pos + (rest.len() - trimmed.len())
    };
    let token_len = describe_found(trimmed)
        .trim_start_matches("found `")
        .trim_end_matches('`')
        .len()
        .max(1)
        .min(trimmed.len().max(1));
    let span_end = if trimmed.is_empty() {
        at
    } else {
        at + token_len
    };
    let wants_action = expected.contains(&"`grant`");
    let first_word: String = trimmed
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let (label, help) = if trimmed.starts_with("&&") {
        (
            "`&&` is not Stroom".to_string(),
            "write `and` to require both conditions".to_string(),
        )
    } else if trimmed.starts_with("||") {
        (
            "`||` is not Stroom".to_string(),
            "write `or` when either condition will do".to_string(),
        )
    } else if trimmed.starts_with('=') && !trimmed.starts_with("==") {
        let left = chunk[..at.min(chunk.len())].trim_end();
        // The name before `=`: from just after the last character that is not part of
        // one (which may be several bytes long).
        let left = &left[left
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8())..];
        let right = trimmed[1..].trim_start();
        let right = if let Some(inner) = right.strip_prefix('"') {
            inner.find('"').map_or(right, |end| &right[..end + 2])
        } else {
            &right[..right
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
                .unwrap_or(right.len())]
        };
        let example = if left.is_empty() || right.is_empty() {
            "`department == \"Sales\"`".to_string()
        } else {
            format!("`{left} == {right}`")
        };
        (
            "a single `=` assigns".to_string(),
            format!("to compare, write `==`: {example}; `=` only appears in `let`, `set` and `writeback`"),
        )
    } else if trimmed.starts_with('!') && !trimmed.starts_with("!=") {
        (
            "`!` is not Stroom".to_string(),
            "write `not` to negate a condition".to_string(),
        )
    } else if trimmed.starts_with('\'') {
        (
            "single quotes are not strings".to_string(),
            "write strings in double quotes: \"Sales\"".to_string(),
        )
    } else if trimmed.starts_with("=>") || trimmed.starts_with("=<") {
        (
            "operator written backwards".to_string(),
            "write `>=` or `<=`".to_string(),
        )
    } else if wants_action
        && (trimmed.is_empty()
            || STATEMENT_STARTS.contains(&first_word.as_str())
            || trimmed.starts_with('}'))
    {
        (
            "the condition ends here without an action".to_string(),
            "a `when` condition must be followed by `grant KIND \"NAME\"` or `writeback FIELD ...`"
                .to_string(),
        )
    } else if expected.contains(&"a name")
        && matches!(
            first_word.as_str(),
            "and"
                | "or"
                | "not"
                | "in"
                | "is"
                | "when"
                | "grant"
                | "rule"
                | "let"
                | "true"
                | "false"
                | "null"
                | "today"
                | "on"
                | "with"
        )
    {
        (
            format!("`{first_word}` is a reserved word"),
            "reserved words cannot be used as names; choose another name".to_string(),
        )
    } else if trimmed.is_empty() {
        (
            "the statement is cut off here".to_string(),
            format!("complete it with {expected_text}"),
        )
    } else {
        (format!("expected {expected_text}"), String::new())
    };
    Diagnostic::new(
        Problem::Syntax {
            expected: expected_text,
            found: describe_found(trimmed),
        },
        Span::new(file, base + at, base + span_end),
        label,
        help,
    )
}

/// Length of `text` without trailing white space and comments.
fn content_len(text: &str) -> usize {
    let mut end = text.len();
    loop {
        let trimmed = text[..end].trim_end();
        end = trimmed.len();
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&trimmed[line_start..]) {
            Some(c) => end = line_start + c,
            None => return end,
        }
    }
}

/// Where a `#` comment starts in one line, outside strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}

/// Turns pest pairs into AST nodes with absolute spans.
struct Builder<'d> {
    file: u32,
    base: usize,
    diags: &'d mut Vec<Diagnostic>,
    /// One too-deep diagnostic per statement is enough.
    too_deep_reported: bool,
}

impl Builder<'_> {
    /// The pair's place, without the white space and comments pest may leave at its end.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let end = s.start() + content_len(pair.as_str());
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn string(&mut self, pair: Pair<Rule>) -> StrLit {
        let span = self.span(&pair);
        let raw = pair.into_inner().next().map_or("", |p| p.as_str());
        let mut value = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some('"') => value.push('"'),
                Some('\\') => value.push('\\'),
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                other => {
                    let shown = other.map(String::from).unwrap_or_default();
                    self.diags.push(Diagnostic::new(
                        Problem::BadLiteral {
                            what: "escape",
                            detail: format!("`\\{shown}` is not an escape"),
                        },
                        span,
                        "in this string",
                        "the escapes are \\\" \\\\ \\n and \\t; write \\\\ for a backslash",
                    ));
                }
            }
        }
        StrLit { value, span }
    }

    fn int(&mut self, pair: &Pair<Rule>) -> i64 {
        match pair.as_str().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                self.diags.push(Diagnostic::new(
                    Problem::BadLiteral {
                        what: "number",
                        detail: format!("{} is too large", pair.as_str()),
                    },
                    self.span(pair),
                    "too large",
                    "numbers must fit in 64 bits",
                ));
                0
            }
        }
    }

    fn duration(&mut self, pair: Pair<Rule>) -> DurationLit {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let amount = inner.next().map_or(0, |p| self.int(&p));
        let unit = match inner.next().map(|p| p.as_str()) {
            Some(u) if u.starts_with("week") => DurationUnit::Weeks,
            _ => DurationUnit::Days,
        };
        DurationLit { amount, unit, span }
    }

    fn stmt(&mut self, pair: Pair<Rule>) -> Option<Stmt> {
        self.too_deep_reported = false;
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let kind = match rule {
            Rule::let_decl => {
                let name = self.ident(inner.next()?);
                let value = self.expr(inner.next()?);
                StmtKind::Let { name, value }
            }
            Rule::default_target => StmtKind::DefaultTarget(self.ident(inner.next()?)),
            Rule::target_decl => StmtKind::Target(self.ident(inner.next()?)),
            Rule::include => StmtKind::Include(self.string(inner.next()?)),
            Rule::scope_decl => {
                let (mut before, mut after) = (None, None);
                for part in inner {
                    let is_from = part.as_rule() == Rule::scope_from;
                    let d = self.duration(part.into_inner().next()?);
                    if is_from {
                        before = Some(d);
                    } else {
                        after = Some(d);
                    }
                }
                StmtKind::Scope { before, after }
            }
            Rule::primary_decl => StmtKind::Primary(
                inner
                    .map(|key| {
                        let mut parts = key.into_inner();
                        let field = parts.next().map(|p| self.ident(p));
                        let descending = parts.next().is_some_and(|d| d.as_str() == "desc");
                        field.map(|field| SortKey { field, descending })
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            Rule::forbid => {
                let a = self.entitlement(inner.next()?);
                let b = self.entitlement(inner.next()?);
                StmtKind::Forbid(Box::new(a), Box::new(b))
            }
            Rule::threshold => {
                let op = self.ident(inner.next()?);
                let mut above = None;
                let limits = inner
                    .filter(|l| {
                        if l.as_rule() != Rule::threshold_above {
                            return true;
                        }
                        let n = l.clone().into_inner().next();
                        above = n.map(|n| (self.int(&n).max(0) as u64, self.span(l)));
                        false
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|l| {
                        let span = self.span(&l);
                        let mut parts = l.into_inner();
                        let value = parts.next().map_or(0, |p| self.int(&p)).max(0) as u64;
                        Limit {
                            value,
                            percent: parts.next().is_some(),
                            span,
                        }
                    })
                    .collect();
                StmtKind::Threshold { op, limits, above }
            }
            Rule::rule_block => {
                let name = self.string(inner.next()?);
                let body = inner.filter_map(|p| self.stmt(p)).collect();
                StmtKind::Rule { name, body }
            }
            Rule::when_stmt => {
                let cond = self.expr(inner.next()?);
                let actions = inner.filter_map(|p| self.action(p)).collect();
                StmtKind::When { cond, actions }
            }
            Rule::grant | Rule::writeback => StmtKind::Effect(self.action_from(rule, span, inner)?),
            Rule::account_block => {
                let target = self.ident(inner.next()?);
                let items = inner.filter_map(|p| self.account_item(p)).collect();
                StmtKind::Account(AccountBlock { target, items })
            }
            Rule::group_decl => {
                let pattern = self.string(inner.next()?);
                let target = self.ident(inner.next()?);
                let settings = inner
                    .filter_map(|p| {
                        let mut parts = p.into_inner();
                        let name = self.ident(parts.next()?);
                        let v = parts.next()?;
                        let value = if v.as_rule() == Rule::string {
                            SettingValue::Text(self.string(v))
                        } else {
                            SettingValue::Word(self.ident(v))
                        };
                        Some(GroupSetting { name, value })
                    })
                    .collect();
                StmtKind::Group(GroupBlock {
                    pattern,
                    target,
                    settings,
                })
            }
            Rule::handover_decl => {
                let target = self.ident(inner.next()?);
                let items = inner
                    .filter_map(|p| {
                        let rule = p.as_rule();
                        let mut parts = p.into_inner();
                        Some(match rule {
                            Rule::handover_on => HandoverItem::On(self.ident(parts.next()?)),
                            Rule::handover_to => HandoverItem::To(self.expr(parts.next()?)),
                            Rule::handover_via => HandoverItem::Via {
                                channel: self.ident(parts.next()?),
                                name: parts.next().map(|n| self.string(n)),
                            },
                            Rule::handover_valid => {
                                HandoverItem::Valid(self.duration(parts.next()?))
                            }
                            Rule::handover_notify => {
                                HandoverItem::Notify(self.ident(parts.next()?))
                            }
                            _ => return None,
                        })
                    })
                    .collect();
                StmtKind::Handover(HandoverBlock { target, items })
            }
            _ => return None,
        };
        Some(Stmt { kind, span })
    }

    fn action(&mut self, pair: Pair<Rule>) -> Option<Effect> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        self.action_from(rule, span, pair.into_inner())
    }

    fn action_from(&mut self, rule: Rule, span: Span, mut inner: Pairs<Rule>) -> Option<Effect> {
        match rule {
            Rule::grant => Some(Effect::Grant(Box::new(self.entitlement(inner.next()?)))),
            Rule::writeback => {
                let field = self.ident(inner.next()?);
                let src = inner.next()?;
                let source = if src.as_rule() == Rule::writeback_from {
                    let mut parts = src.into_inner();
                    WritebackSource::Account {
                        target: self.ident(parts.next()?),
                        attribute: self.ident(parts.next()?),
                    }
                } else {
                    WritebackSource::Expr(self.expr(src.into_inner().next()?))
                };
                Some(Effect::Writeback {
                    field,
                    source,
                    span,
                })
            }
            _ => None,
        }
    }

    fn entitlement(&mut self, pair: Pair<Rule>) -> Entitlement {
        let span = self.span(&pair);
        let mut kind = None;
        let mut name = None;
        let mut on = None;
        let mut target = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident if kind.is_none() => kind = Some(self.ident(part)),
                Rule::ident => target = Some(self.ident(part)),
                Rule::name_expr if name.is_none() => name = Some(self.expr(part)),
                Rule::name_expr => on = Some(self.expr(part)),
                _ => {}
            }
        }
        Entitlement {
            kind: kind.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            name: name.unwrap_or(Expr {
                kind: ExprKind::Literal(Literal::Null),
                span,
            }),
            on,
            target,
            span,
        }
    }

    fn account_item(&mut self, pair: Pair<Rule>) -> Option<AccountItem> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        Some(match rule {
            Rule::account_when => AccountItem::When(self.expr(inner.next()?)),
            Rule::account_create => AccountItem::Create(self.duration(inner.next()?)),
            Rule::account_disable => AccountItem::Disable(self.duration(inner.next()?)),
            Rule::account_delete => AccountItem::Delete(self.duration(inner.next()?)),
            Rule::account_correlate => AccountItem::Correlate {
                keys: inner
                    .filter_map(|key| {
                        let mut parts = key.into_inner();
                        let attribute = self.ident(parts.next()?);
                        let value = parts.next().map(|e| self.expr(e));
                        Some(CorrelateKey { attribute, value })
                    })
                    .collect(),
                span,
            },
            Rule::account_set => {
                let attribute = self.ident(inner.next()?);
                let v = inner.next()?;
                let value = if v.as_rule() == Rule::unique {
                    let uspan = self.span(&v);
                    let mut candidates = Vec::new();
                    let mut max = None;
                    let mut ending = None;
                    for part in v.into_inner() {
                        match part.as_rule() {
                            Rule::list => {
                                candidates = part.into_inner().map(|e| self.expr(e)).collect()
                            }
                            Rule::int => {
                                let n = self.int(&part).clamp(0, u32::MAX as i64) as u32;
                                max = Some((n, self.span(&part)));
                            }
                            _ => ending = Some(self.expr(part)),
                        }
                    }
                    AttrValue::Unique {
                        candidates,
                        max,
                        ending,
                        span: uspan,
                    }
                } else {
                    AttrValue::Expr(self.expr(v))
                };
                AccountItem::Set {
                    attribute,
                    value,
                    span,
                }
            }
            _ => return None,
        })
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        self.expr_depth(pair).0
    }

    /// An expression and its depth. A node that would make it deeper than
    /// [`MAX_EXPR_DEPTH`] is not built (its operand stands in for it) and the statement
    /// gets a diagnostic: no deep tree is ever made, so none has to be walked or dropped.
    fn expr_depth(&mut self, pair: Pair<Rule>) -> (Expr, u32) {
        match pair.as_rule() {
            Rule::expr | Rule::name_expr => self.pratt_expr(pair.into_inner()),
            _ => self.operand(pair),
        }
    }

    /// The depth of a new node over children of depth `below`, or `None` (reported)
    /// when it would pass the limit.
    fn deeper(&mut self, below: u32, span: Span) -> Option<u32> {
        if below < MAX_EXPR_DEPTH {
            return Some(below + 1);
        }
        if !self.too_deep_reported {
            self.too_deep_reported = true;
            self.diags.push(Diagnostic::new(
                Problem::TooDeep {
                    what: "an expression nests",
                    limit: MAX_EXPR_DEPTH as usize,
                },
                span,
                format!("more than {MAX_EXPR_DEPTH} levels deep from here"),
                "a chain of `and`/`or`/`+` counts one level per term: use `in [...]` for a list \
                 of values, or split the condition into `let` conditions and combine their names",
            ));
        }
        None
    }

    fn pratt_expr(&mut self, pairs: Pairs<Rule>) -> (Expr, u32) {
        // The Pratt parser's closures cannot borrow `self` mutably more than once, so
        // diagnostics found inside are collected through a RefCell.
        let cell = std::cell::RefCell::new(&mut *self);
        let expr = pratt()
            .map_primary(|p| cell.borrow_mut().operand(p))
            .map_prefix(|op, (rhs, d)| {
                let span = cell.borrow().span(&op).to(rhs.span);
                let Some(depth) = cell.borrow_mut().deeper(d, span) else {
                    return (rhs, d);
                };
                let e = Expr {
                    kind: ExprKind::Not(Box::new(rhs)),
                    span,
                };
                (e, depth)
            })
            .map_postfix(|(lhs, d), op| {
                let span = lhs.span.to(cell.borrow().span(&op));
                let Some(depth) = cell.borrow_mut().deeper(d, span) else {
                    return (lhs, d);
                };
                let e = Expr {
                    kind: ExprKind::IsEmpty {
                        expr: Box::new(lhs),
                        negated: op.as_rule() == Rule::is_not_empty,
                    },
                    span,
                };
                (e, depth)
            })
            .map_infix(|(lhs, ld), op, (rhs, rd)| {
                let op = match op.as_rule() {
                    Rule::or => BinOp::Or,
                    Rule::and => BinOp::And,
                    Rule::eq => BinOp::Cmp(CmpOp::Eq),
                    Rule::ne => BinOp::Cmp(CmpOp::Ne),
                    Rule::lt => BinOp::Cmp(CmpOp::Lt),
                    Rule::le => BinOp::Cmp(CmpOp::Le),
                    Rule::gt => BinOp::Cmp(CmpOp::Gt),
                    Rule::ge => BinOp::Cmp(CmpOp::Ge),
                    Rule::in_op => BinOp::In,
                    Rule::not_in => BinOp::NotIn,
                    Rule::add => BinOp::Add,
                    _ => BinOp::Sub,
                };
                let span = lhs.span.to(rhs.span);
                let Some(depth) = cell.borrow_mut().deeper(ld.max(rd), span) else {
                    return (lhs, ld);
                };
                let e = Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                };
                (e, depth)
            })
            .parse(pairs);
        expr
    }

    /// An operand and its depth (1 for a leaf).
    fn operand(&mut self, pair: Pair<Rule>) -> (Expr, u32) {
        let span = self.span(&pair);
        let (leaf, depth) = match pair.as_rule() {
            Rule::paren => match pair.into_inner().next() {
                Some(inner) => {
                    let (mut e, d) = self.expr_depth(inner);
                    e.span = span;
                    return (e, d);
                }
                None => return (self.leaf(span, Literal::Null), 1),
            },
            Rule::call | Rule::list => {
                let rule = pair.as_rule();
                let mut inner = pair.into_inner();
                let name = match rule {
                    Rule::call => Some(inner.next().map(|p| self.ident(p)).unwrap_or(Ident {
                        name: String::new(),
                        span,
                    })),
                    _ => None,
                };
                let mut depth = 0;
                let mut args = Vec::new();
                for a in inner {
                    let (e, d) = self.expr_depth(a);
                    depth = depth.max(d);
                    args.push(e);
                }
                let Some(depth) = self.deeper(depth, span) else {
                    return (self.leaf(span, Literal::Null), depth);
                };
                let kind = match name {
                    Some(name) => ExprKind::Call { name, args },
                    None => ExprKind::List(args),
                };
                return (Expr { kind, span }, depth);
            }
            Rule::expr | Rule::name_expr => return self.expr_depth(pair),
            _ => (pair, 1),
        };
        (self.leaf_operand(leaf, span), depth)
    }

    fn leaf(&self, span: Span, l: Literal) -> Expr {
        Expr {
            kind: ExprKind::Literal(l),
            span,
        }
    }

    /// Operands without sub-expressions: literals and paths.
    fn leaf_operand(&mut self, pair: Pair<Rule>, span: Span) -> Expr {
        let lit = |l| Expr {
            kind: ExprKind::Literal(l),
            span,
        };
        match pair.as_rule() {
            Rule::path => {
                let segments = pair.into_inner().map(|p| self.ident(p)).collect();
                Expr {
                    kind: ExprKind::Path(segments),
                    span,
                }
            }
            Rule::string => {
                let s = self.string(pair);
                lit(Literal::Str(s.value))
            }
            Rule::int => {
                let v = self.int(&pair);
                lit(Literal::Int(v))
            }
            Rule::decimal => lit(Literal::Dec(pair.as_str().to_string())),
            Rule::boolean => lit(Literal::Bool(pair.as_str() == "true")),
            Rule::null => lit(Literal::Null),
            Rule::today => lit(Literal::Today),
            Rule::date => match chrono::NaiveDate::parse_from_str(pair.as_str(), "%Y-%m-%d") {
                Ok(d) => lit(Literal::Date(d)),
                Err(_) => {
                    self.diags.push(Diagnostic::new(
                        Problem::BadLiteral {
                            what: "date",
                            detail: format!("{} is not a calendar date", pair.as_str()),
                        },
                        span,
                        "no such day",
                        "dates are YYYY-MM-DD with a real month and day, e.g. 2026-02-28",
                    ));
                    lit(Literal::Null)
                }
            },
            Rule::duration => {
                let d = self.duration(pair);
                lit(Literal::Duration(d.amount, d.unit))
            }
            Rule::expr | Rule::name_expr => self.expr(pair),
            _ => lit(Literal::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> File {
        let (file, diags) = parse_file(0, text);
        assert!(diags.is_empty(), "{diags:#?}");
        file
    }

    #[test]
    fn precedence_follows_the_contract() {
        let f = parse_ok("let x = a or b and not c == d + e");
        let StmtKind::Let { value, .. } = &f.stmts[0].kind else {
            panic!("not a let")
        };
        let ExprKind::Binary {
            op: BinOp::Or, rhs, ..
        } = &value.kind
        else {
            panic!("or is weakest: {value:?}")
        };
        let ExprKind::Binary {
            op: BinOp::And,
            rhs,
            ..
        } = &rhs.kind
        else {
            panic!("and next")
        };
        let ExprKind::Not(inner) = &rhs.kind else {
            panic!("not next")
        };
        let ExprKind::Binary {
            op: BinOp::Cmp(CmpOp::Eq),
            rhs,
            ..
        } = &inner.kind
        else {
            panic!("comparison inside not")
        };
        assert!(matches!(rhs.kind, ExprKind::Binary { op: BinOp::Add, .. }));
    }

    #[test]
    fn grant_name_stops_before_in_target() {
        let f = parse_ok("when contract.active grant group \"DEP-\" + lower(department) in ad");
        let StmtKind::When { actions, .. } = &f.stmts[0].kind else {
            panic!()
        };
        let Effect::Grant(e) = &actions[0] else {
            panic!()
        };
        assert_eq!(e.target.as_ref().map(|t| t.name.as_str()), Some("ad"));
        assert!(matches!(
            e.name.kind,
            ExprKind::Binary { op: BinOp::Add, .. }
        ));
    }

    #[test]
    fn several_errors_in_one_run() {
        let (file, diags) = parse_file(
            0,
            "when department = \"Sales\" grant group \"A\"\nlet ok = 1\nwhen a && b grant group \"B\"\n",
        );
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert_eq!(file.stmts.len(), 1);
        assert!(diags[0].help.contains("=="));
        assert!(diags[1].help.contains("and"));
    }

    #[test]
    fn missing_grant_gets_specific_help() {
        let (_, diags) = parse_file(
            0,
            "when department == \"Sales\"\nwhen x grant group \"B\"\n",
        );
        assert!(
            diags[0].help.contains("must be followed by `grant"),
            "{diags:#?}"
        );
    }

    #[test]
    fn not_in_and_is_not_empty() {
        let f = parse_ok("let x = department not in [\"A\"] and manager.id is not empty");
        let StmtKind::Let { value, .. } = &f.stmts[0].kind else {
            panic!()
        };
        let ExprKind::Binary { lhs, rhs, .. } = &value.kind else {
            panic!()
        };
        assert!(matches!(
            lhs.kind,
            ExprKind::Binary {
                op: BinOp::NotIn,
                ..
            }
        ));
        assert!(matches!(rhs.kind, ExprKind::IsEmpty { negated: true, .. }));
    }
}
