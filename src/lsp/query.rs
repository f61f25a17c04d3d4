//! What the editor asks about a checked rule set: hovers, completions, definitions,
//! references, the outline and quick fixes. Answers are computed from the syntax trees
//! and the checker's findings; nothing here parses or checks on its own.

use super::syntax::{names, Name};
use super::workspace::Analysis;
use crate::model::group::fits_pattern;
use crate::model::person::{ContractField, PersonField, CONTRACT_FIELDS, PERSON_FIELDS};
use crate::model::{Kind, Ty};
use crate::rules::ast::{self, Ident, StmtKind};
use crate::rules::functions::{Func, FUNCTIONS};
use crate::rules::program::{OpKind, TargetDecl, TargetKind};
use crate::rules::span::Span;

/// A place in the rule set, or in the stroom.toml beside it.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// A span in a rule file.
    Rules(Span),
    /// A 0-based line of the configuration file.
    Config(usize),
}

/// The name under the cursor: the one with the smallest span that holds `offset` (the
/// end counts, so a name just typed is found).
pub fn name_at(analysis: &Analysis, file: u32, offset: u32) -> Option<Name<'_>> {
    let tree = analysis.files.get(file as usize)?;
    let mut best: Option<Name<'_>> = None;
    names(tree, &mut |n| {
        let s = n.span();
        if s.start <= offset && offset <= s.end && best.is_none_or(|b| b.span().len() > s.len()) {
            best = Some(n);
        }
    });
    best
}

/// The markdown shown when hovering at `offset`, and the span it is about.
pub fn hover(analysis: &Analysis, file: u32, offset: u32) -> Option<(Span, String)> {
    let name = name_at(analysis, file, offset)?;
    let text = match name {
        Name::Path(segs) => match let_named(analysis, segs) {
            Some(l) => let_hover(analysis, l),
            None => field(segs).map(|f| f.markdown())?,
        },
        Name::LetDefinition(i) => let_hover(analysis, &i.name),
        Name::Function(i) => {
            let f = Func::by_name(&i.name)?;
            format!("```stroom\n{}\n```\n{}", f.signature, f.about)
        }
        Name::Target(i) | Name::TargetDefinition(i) => target_hover(analysis, &i.name)?,
        Name::Kind(i) => kind_hover(analysis, Kind::parse(&i.name)?),
        Name::Entitlement(e, value) => entitlement_hover(analysis, e, value),
        Name::GroupPattern(g) => {
            let covered = grants(analysis)
                .filter(|(k, n, t, _)| makes(g, k.as_str(), n, Some(t)))
                .count();
            format!(
                "Groups matching `{}` in `{}` are made by Stroom when a grant first needs them, and never deleted.\n\n{covered} grant(s) in this rule set name such a group.",
                g.pattern.value, g.target.name
            )
        }
        Name::Attribute { target, attribute } => {
            let kind = decl(analysis, &target.name).map(|d| d.kind)?;
            let known = kind
                .known_attributes()
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&attribute.name));
            format!(
                "`{}`: an attribute of the account in `{}` ({}){}",
                attribute.name,
                target.name,
                kind_name(kind),
                if known {
                    ""
                } else {
                    "; not one Stroom knows for this kind (a schema extension is fine)"
                }
            )
        }
        Name::RuleDefinition(s) => {
            let n = rule_spans(analysis, &s.value).len();
            format!(
                "rule \"{}\": plans cite it in `because`{}",
                s.value,
                if n > 1 {
                    format!("; {n} rules have this name")
                } else {
                    String::new()
                }
            )
        }
    };
    Some((name.span(), text))
}

/// Where the name at `offset` is defined.
pub fn definition(analysis: &Analysis, file: u32, offset: u32) -> Vec<Place> {
    let Some(name) = name_at(analysis, file, offset) else {
        return Vec::new();
    };
    match name {
        Name::Path(segs) => let_named(analysis, segs)
            .and_then(|l| let_definition(analysis, l))
            .map(|i| vec![Place::Rules(i.span)])
            .unwrap_or_default(),
        Name::LetDefinition(i) => vec![Place::Rules(i.span)],
        Name::RuleDefinition(s) => rule_spans(analysis, &s.value)
            .into_iter()
            .map(Place::Rules)
            .collect(),
        Name::Target(i) | Name::TargetDefinition(i) => target_definition(analysis, &i.name),
        Name::Entitlement(e, value) => {
            let target = target_of(e, default_target(analysis));
            managed_groups(analysis)
                .filter(|g| makes(g, &e.kind.name, value, target))
                .map(|g| Place::Rules(g.pattern.span))
                .collect()
        }
        Name::GroupPattern(g) => vec![Place::Rules(g.pattern.span)],
        Name::Function(_) | Name::Kind(_) | Name::Attribute { .. } => Vec::new(),
    }
}

/// Every place that names the same thing as the name at `offset`: a `let`, a rule, a
/// target, an entitlement (same kind, name and target), an account attribute.
pub fn references(
    analysis: &Analysis,
    file: u32,
    offset: u32,
    include_declaration: bool,
) -> Vec<Span> {
    let Some(name) = name_at(analysis, file, offset) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match name {
        Name::Path(segs) if let_named(analysis, segs).is_none() => return out,
        Name::Path(segs) => lets_named(analysis, &segs[0].name, include_declaration, &mut out),
        Name::LetDefinition(i) => lets_named(analysis, &i.name, include_declaration, &mut out),
        Name::RuleDefinition(s) => out = rule_spans(analysis, &s.value),
        Name::Target(i) | Name::TargetDefinition(i) => each_name(analysis, |n| match n {
            Name::Target(t) if t.name == i.name => out.push(t.span),
            Name::TargetDefinition(t) if t.name == i.name && include_declaration => {
                out.push(t.span)
            }
            _ => {}
        }),
        Name::Entitlement(e, value) => {
            let default = default_target(analysis);
            let target = target_of(e, default);
            each_name(analysis, |n| {
                if let Name::Entitlement(other, v) = n {
                    if other.kind.name == e.kind.name
                        && v.eq_ignore_ascii_case(value)
                        && target_of(other, default) == target
                    {
                        out.push(other.name.span);
                    }
                }
            });
        }
        Name::GroupPattern(g) => each_name(analysis, |n| match n {
            Name::Entitlement(e, v)
                if makes(g, &e.kind.name, v, target_of(e, default_target(analysis))) =>
            {
                out.push(e.name.span)
            }
            Name::GroupPattern(p) if p.pattern.span == g.pattern.span && include_declaration => {
                out.push(p.pattern.span)
            }
            _ => {}
        }),
        Name::Attribute { target, attribute } => each_name(analysis, |n| {
            if let Name::Attribute {
                target: t,
                attribute: a,
            } = n
            {
                if t.name == target.name && a.name.eq_ignore_ascii_case(&attribute.name) {
                    out.push(a.span);
                }
            }
        }),
        Name::Function(f) => each_name(analysis, |n| match n {
            Name::Function(g) if g.name == f.name => out.push(g.span),
            _ => {}
        }),
        Name::Kind(_) => {}
    }
    // Spans compare equal by design (they are positions only): sort and dedup by place.
    out.sort_by_key(|s| (s.file, s.start));
    out.dedup_by_key(|s| (s.file, s.start));
    out
}

/// One entry of a file's outline.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// What it is called.
    pub name: String,
    /// What it is.
    pub kind: SymbolKind,
    /// The whole statement.
    pub span: Span,
    /// The name's place.
    pub selection: Span,
    /// Entries inside it (a rule's accounts and statements).
    pub children: Vec<Symbol>,
}

/// What an outline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// `rule "NAME"`
    Rule,
    /// `let NAME`
    Let,
    /// `account in TARGET`
    Account,
    /// `group "PATTERN" in TARGET`
    Group,
    /// `handover in TARGET`
    Handover,
    /// `target NAME`
    Target,
    /// `when ...` and bare effects
    Statement,
}

/// The outline of one file: rules (with what they hold), lets, account blocks, group
/// declarations, hand-overs and declared targets.
pub fn symbols(analysis: &Analysis, file: u32) -> Vec<Symbol> {
    let Some(tree) = analysis.files.get(file as usize) else {
        return Vec::new();
    };
    tree.stmts.iter().filter_map(|s| symbol(s, false)).collect()
}

fn symbol(stmt: &ast::Stmt, in_rule: bool) -> Option<Symbol> {
    let sym = |name: String, kind, selection: Span| Symbol {
        name,
        kind,
        span: stmt.span,
        selection,
        children: Vec::new(),
    };
    Some(match &stmt.kind {
        StmtKind::Rule { name, body } => Symbol {
            children: body.iter().filter_map(|s| symbol(s, true)).collect(),
            ..sym(
                format!("rule \"{}\"", name.value),
                SymbolKind::Rule,
                name.span,
            )
        },
        StmtKind::Let { name, .. } => sym(format!("let {}", name.name), SymbolKind::Let, name.span),
        StmtKind::Account(a) => sym(
            format!("account in {}", a.target.name),
            SymbolKind::Account,
            a.target.span,
        ),
        StmtKind::Group(g) => sym(
            format!("group \"{}\" in {}", g.pattern.value, g.target.name),
            SymbolKind::Group,
            g.pattern.span,
        ),
        StmtKind::Handover(h) => sym(
            format!("handover in {}", h.target.name),
            SymbolKind::Handover,
            h.target.span,
        ),
        StmtKind::Target(t) => sym(format!("target {}", t.name), SymbolKind::Target, t.span),
        // Inside a rule its conditions are what the rule is; at the top level a matrix
        // of thousands of `when`s would drown the outline.
        StmtKind::When { cond, .. } if in_rule => {
            let mut text = format!("when {}", crate::rules::fmt::expr(cond, 0));
            if text.chars().count() > 60 {
                text = text.chars().take(59).collect::<String>() + "…";
            }
            sym(text, SymbolKind::Statement, cond.span)
        }
        _ => return None,
    })
}

/// A quick fix: replace a span with a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// What the editor's menu says.
    pub title: String,
    /// What is replaced.
    pub span: Span,
    /// By what.
    pub text: String,
    /// The diagnostic's code it fixes.
    pub code: &'static str,
}

/// The quick fixes for diagnostics in `file` that touch the byte range `start..=end`:
/// every did-you-mean, and deleting a `let` nothing uses.
pub fn fixes(analysis: &Analysis, file: u32, start: u32, end: u32) -> Vec<Fix> {
    let mut out = Vec::new();
    for d in &analysis.diagnostics {
        if d.span.file != file || d.span.end < start || d.span.start > end {
            continue;
        }
        if let Some(text) = &d.replacement {
            out.push(Fix {
                title: format!("Replace with `{text}`"),
                span: d.span,
                text: text.clone(),
                code: d.code(),
            });
        } else if let crate::rules::diagnostic::Problem::UnusedLet { name } = &d.problem {
            if let Some(span) = whole_lines_of_let(analysis, file, name) {
                out.push(Fix {
                    title: format!("Delete the unused `let {name}`"),
                    span,
                    text: String::new(),
                    code: d.code(),
                });
            }
        }
    }
    out
}

/// The lines a top-level `let NAME` takes, newline included.
fn whole_lines_of_let(analysis: &Analysis, file: u32, name: &str) -> Option<Span> {
    let tree = analysis.files.get(file as usize)?;
    let source = analysis.sources.get(file)?;
    let stmt = tree
        .stmts
        .iter()
        .find(|s| matches!(&s.kind, StmtKind::Let { name: n, .. } if n.name == name))?;
    let first = source.line_of(stmt.span.start) - 1;
    let last = source.line_of(stmt.span.end.saturating_sub(1).max(stmt.span.start)) - 1;
    Some(Span::new(
        file,
        source.line_start(first),
        source.line_end(last),
    ))
}

/// A completion offered at the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text inserted.
    pub label: String,
    /// What it is.
    pub kind: CompletionKind,
    /// One line: a type or a signature.
    pub detail: String,
    /// More, in markdown.
    pub documentation: String,
}

/// What a completion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    /// A person or contract field.
    Field,
    /// A built-in function.
    Function,
    /// A `let`.
    Let,
    /// A target.
    Target,
    /// A keyword, entitlement kind or operation.
    Keyword,
    /// An account attribute.
    Attribute,
    /// An entitlement's name used elsewhere in the rule set.
    Value,
}

/// Completions at `offset` of `text` (the document as it is now, perhaps not parsing),
/// from what comes before the cursor on its line and what the last check found.
pub fn completions(analysis: &Analysis, text: &str, offset: usize) -> Vec<Completion> {
    let offset = floor_char_boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let word_start = before
        .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
        .len();
    let head = &before[..word_start];
    let words: Vec<&str> = head.split_whitespace().collect();
    let last = words.last().copied().unwrap_or("");
    let first = words.first().copied().unwrap_or("");
    let mut out = Vec::new();
    if head.matches('"').count() % 2 == 1 {
        // Inside a string: the names this kind of entitlement has elsewhere.
        let quote = head.rfind('"').unwrap_or(0);
        let kind = head[..quote]
            .split_whitespace()
            .last()
            .and_then(Kind::parse);
        if let Some(kind) = kind {
            let mut seen = std::collections::BTreeSet::new();
            for (k, name, _, _) in grants(analysis) {
                if k == kind {
                    seen.insert(name.to_string());
                }
            }
            out.extend(seen.into_iter().map(|n| Completion {
                label: n,
                kind: CompletionKind::Value,
                detail: format!("{} granted elsewhere in these rules", kind.as_str()),
                documentation: String::new(),
            }));
        }
        return out;
    }
    if let Some(scope) = head.strip_suffix('.') {
        let scope = scope
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        match scope {
            "person" => out.extend(person_fields(scope)),
            "contract" | "primary" => out.extend(contract_fields(scope)),
            "manager" => {
                out.extend(person_fields(scope));
                out.extend(contract_fields(scope));
            }
            "extra" => {}
            target => out.extend(attributes(analysis, target)),
        }
        return out;
    }
    let grant_line = words
        .iter()
        .any(|w| matches!(*w, "grant" | "forbid" | "with"));
    match last {
        "grant" | "forbid" | "with" => out.extend(
            Kind::ALL
                .iter()
                .map(|k| keyword(k.as_str(), "entitlement kind")),
        ),
        "in" if grant_line || matches!(first, "account" | "group" | "handover") => {
            out.extend(targets(analysis))
        }
        "target" if first == "default" => out.extend(targets(analysis)),
        "from" if words.contains(&"writeback") => out.extend(targets(analysis)),
        "set" | "correlate" => {
            if let Some(t) = enclosing_account(text, offset) {
                out.extend(attributes(analysis, &t));
            }
        }
        "threshold" => out.extend(
            OpKind::ALL
                .iter()
                .map(|o| keyword(o.as_str().trim_end_matches("_account"), "plan operation")),
        ),
        "on" if first == "on" => out.extend(["create", "start"].map(|w| keyword(w, "moment"))),
        "via" => out.extend(["mail", "webhook"].map(|w| keyword(w, "channel"))),
        _ if words.is_empty() => {
            out.extend(STATEMENT_WORDS.iter().map(|w| keyword(w, "statement")));
            out.extend(expression_items(analysis));
        }
        _ => out.extend(expression_items(analysis)),
    }
    out
}

/// Words that begin a statement or a line of a block.
const STATEMENT_WORDS: &[&str] = &[
    "rule",
    "when",
    "grant",
    "writeback",
    "let",
    "account",
    "group",
    "handover",
    "include",
    "default",
    "target",
    "scope",
    "primary",
    "threshold",
    "forbid",
    "set",
    "correlate",
    "create",
    "disable",
    "delete",
    "to",
    "via",
    "valid",
    "notify",
    "ou",
    "type",
    "description",
];

fn expression_items(analysis: &Analysis) -> Vec<Completion> {
    let mut out = Vec::new();
    let mut lets: Vec<(&String, &Ty)> = analysis.let_types.iter().collect();
    lets.sort_by(|a, b| a.0.cmp(b.0));
    out.extend(lets.into_iter().map(|(name, ty)| {
        Completion {
            label: name.clone(),
            kind: CompletionKind::Let,
            detail: format!("let: {ty}"),
            documentation: let_definition(analysis, name)
                .map(|i| format!("defined at {}", place_name(analysis, i.span)))
                .unwrap_or_default(),
        }
    }));
    out.extend(contract_fields(""));
    out.extend(person_fields("").filter(|c| CONTRACT_FIELDS.iter().all(|(n, ..)| *n != c.label)));
    out.extend(
        ["person", "contract", "primary", "manager", "extra"]
            .map(|w| keyword(w, "field scope: type a dot for its fields")),
    );
    out.extend(FUNCTIONS.iter().map(|f| Completion {
        label: f.name.to_string(),
        kind: CompletionKind::Function,
        detail: f.signature.to_string(),
        documentation: f.about.to_string(),
    }));
    out.extend(
        [
            "today", "true", "false", "null", "and", "or", "not", "in", "is", "empty", "days",
        ]
        .map(|w| keyword(w, "keyword")),
    );
    out
}

fn keyword(word: &str, detail: &str) -> Completion {
    Completion {
        label: word.to_string(),
        kind: CompletionKind::Keyword,
        detail: detail.to_string(),
        documentation: String::new(),
    }
}

fn person_fields(scope: &str) -> impl Iterator<Item = Completion> + '_ {
    fields_in(scope, PERSON_FIELDS.iter().map(|(name, ..)| *name))
}

fn contract_fields(scope: &str) -> impl Iterator<Item = Completion> + '_ {
    fields_in(scope, CONTRACT_FIELDS.iter().map(|(name, ..)| *name))
}

/// Completions for `names` as read after `scope.` (or bare, for an empty scope).
fn fields_in<'a>(
    scope: &'a str,
    names: impl Iterator<Item = &'static str> + 'a,
) -> impl Iterator<Item = Completion> + 'a {
    names.map(move |name| {
        let segs = if scope.is_empty() {
            vec![name]
        } else {
            vec![scope, name]
        };
        field_completion(name, &segs)
    })
}

fn field_completion(label: &str, segs: &[&str]) -> Completion {
    let info = field_of(segs);
    Completion {
        label: label.to_string(),
        kind: CompletionKind::Field,
        detail: info.as_ref().map_or(String::new(), |f| f.ty.to_string()),
        documentation: info.map_or(String::new(), |f| f.markdown()),
    }
}

fn targets(analysis: &Analysis) -> Vec<Completion> {
    let mut names: Vec<(String, String)> = analysis
        .targets
        .iter()
        .map(|t| (t.name.to_string(), kind_name(t.kind).to_string()))
        .collect();
    for tree in &analysis.files {
        for s in &tree.stmts {
            if let StmtKind::Target(t) = &s.kind {
                names.push((t.name.clone(), "a generic (SCIM) target".into()));
            }
        }
    }
    names.dedup_by(|a, b| a.0 == b.0);
    names
        .into_iter()
        .map(|(n, d)| Completion {
            label: n,
            kind: CompletionKind::Target,
            detail: d,
            documentation: String::new(),
        })
        .collect()
}

fn attributes(analysis: &Analysis, target: &str) -> Vec<Completion> {
    let Some(kind) = decl(analysis, target).map(|d| d.kind) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    // The block's own attributes first (a `from entra.` names what the block sets).
    each_name(analysis, |n| {
        if let Name::Attribute {
            target: t,
            attribute,
        } = n
        {
            if t.name == target && !out.contains(&attribute.name) {
                out.push(attribute.name.clone());
            }
        }
    });
    for k in kind.known_attributes() {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push((*k).to_string());
        }
    }
    out.into_iter()
        .map(|a| Completion {
            label: a,
            kind: CompletionKind::Attribute,
            detail: format!("attribute of an account in {target}"),
            documentation: String::new(),
        })
        .collect()
}

/// The target of the `account in NAME {` block the cursor is in, read from the text (the
/// block may not parse while it is being written).
fn enclosing_account(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset];
    let at = before.rfind("account in ")?;
    if before[at..].contains('}') {
        return None;
    }
    let rest = &before[at + "account in ".len()..];
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A field the rules can read, for hovers and completions.
struct FieldInfo {
    path: String,
    ty: Ty,
    about: &'static str,
    origin: &'static str,
    reading: &'static str,
}

impl FieldInfo {
    fn markdown(&self) -> String {
        format!(
            "```stroom\n{}: {}\n```\n{}\n\n{}\n\nFrom Nmbrs: {}",
            self.path, self.ty, self.about, self.reading, self.origin
        )
    }
}

fn field(segs: &[Ident]) -> Option<FieldInfo> {
    let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
    field_of(&names)
}

fn field_of(names: &[&str]) -> Option<FieldInfo> {
    let person = |name: &str, reading| {
        PERSON_FIELDS.iter().find(|(n, ..)| *n == name).map(
            |(_, f, ty, about): &(&str, PersonField, Ty, &str)| FieldInfo {
                path: names.join("."),
                ty: ty.clone(),
                about,
                origin: f.nmbrs_origin(),
                reading,
            },
        )
    };
    let contract = |name: &str, reading| {
        CONTRACT_FIELDS.iter().find(|(n, ..)| *n == name).map(
            |(_, f, ty, about): &(&str, ContractField, Ty, &str)| FieldInfo {
                path: names.join("."),
                ty: ty.clone(),
                about,
                origin: f.nmbrs_origin(),
                reading,
            },
        )
    };
    const ANY_CONTRACT: &str = "A contract field: in a condition it holds when some contract in scope fits; in an account attribute it is the primary contract's.";
    const EXTRA: &str = "A free field: text, or null when the person has none.";
    match names {
        [one] => contract(one, ANY_CONTRACT).or_else(|| person(one, "A person field.")),
        ["person", f] => person(f, "A person field."),
        ["contract", f] => contract(f, ANY_CONTRACT),
        ["primary", f] => contract(
            f,
            "The primary contract's field (see `primary contract by`).",
        ),
        ["manager", f] => person(
            f,
            "The manager's person field (null without a linked manager).",
        )
        .or_else(|| contract(f, "The manager's primary contract's field.")),
        ["extra", _] | ["person" | "manager", "extra", _] => Some(FieldInfo {
            path: names.join("."),
            ty: Ty::Str,
            about: "a free field of the person record",
            origin: "a free field in the persons file, or `extra.nmbrs_company_id` from the import",
            reading: EXTRA,
        }),
        _ => None,
    }
}

/// The `let` a path refers to, when it is one.
fn let_named<'a>(analysis: &Analysis, segs: &'a [Ident]) -> Option<&'a str> {
    match segs {
        [one] if let_definition(analysis, &one.name).is_some() => Some(one.name.as_str()),
        _ => None,
    }
}

/// `let NAME = VALUE`: the name as written and the value.
fn let_statement<'a>(analysis: &'a Analysis, name: &str) -> Option<(&'a Ident, &'a ast::Expr)> {
    analysis.files.iter().find_map(|f| {
        f.stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Let { name: n, value } if n.name == name => Some((n, value)),
            _ => None,
        })
    })
}

fn let_definition<'a>(analysis: &'a Analysis, name: &str) -> Option<&'a Ident> {
    let_statement(analysis, name).map(|(n, _)| n)
}

fn let_hover(analysis: &Analysis, name: &str) -> String {
    let value = let_statement(analysis, name).map(|(n, value)| (n.span, value));
    let ty = analysis
        .let_types
        .get(name)
        .map_or(String::new(), |t| format!(": {t}"));
    match value {
        Some((span, value)) => format!(
            "```stroom\nlet {name}{ty} = {}\n```\ndefined at {}",
            crate::rules::fmt::expr(value, 0),
            place_name(analysis, span)
        ),
        None => format!("let {name}"),
    }
}

fn lets_named(analysis: &Analysis, name: &str, include_declaration: bool, out: &mut Vec<Span>) {
    each_name(analysis, |n| match n {
        Name::Path([one]) if one.name == name => out.push(one.span),
        Name::LetDefinition(i) if i.name == name && include_declaration => out.push(i.span),
        _ => {}
    });
}

fn rule_spans(analysis: &Analysis, name: &str) -> Vec<Span> {
    let mut out = Vec::new();
    each_name(analysis, |n| {
        if let Name::RuleDefinition(s) = n {
            if s.value == name {
                out.push(s.span);
            }
        }
    });
    out
}

fn each_name<'a>(analysis: &'a Analysis, mut f: impl FnMut(Name<'a>)) {
    for tree in &analysis.files {
        names(tree, &mut f);
    }
}

fn decl(analysis: &Analysis, name: &str) -> Option<TargetDecl> {
    if let Some(d) = analysis.targets.iter().find(|t| &*t.name == name) {
        return Some(d.clone());
    }
    let declared = analysis.files.iter().any(|f| {
        f.stmts
            .iter()
            .any(|s| matches!(&s.kind, StmtKind::Target(t) if t.name == name))
    });
    declared.then(|| TargetDecl::new(name, TargetKind::Scim))
}

fn kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::ActiveDirectory => "Active Directory",
        TargetKind::Entra => "Microsoft Entra ID",
        TargetKind::Exchange => "Exchange Online",
        TargetKind::Scim => "a SCIM 2.0 application",
        TargetKind::Nmbrs => "write-back to Nmbrs",
    }
}

fn target_hover(analysis: &Analysis, name: &str) -> Option<String> {
    let d = decl(analysis, name)?;
    let grants: Vec<&str> = d.kind.grants().iter().map(|k| k.as_str()).collect();
    let configured = analysis
        .config
        .as_ref()
        .filter(|(_, text)| config_line(text, name).is_some())
        .map(|(path, _)| format!(", configured in {} as `[targets.{name}]`", path.display()));
    let origin = configured.unwrap_or_else(|| {
        if TargetDecl::builtin().iter().any(|b| &*b.name == name) {
            ", built in".to_string()
        } else {
            ", declared with `target`".to_string()
        }
    });
    Some(format!(
        "target `{name}`: {} (kind `{}`){origin}\n\nGrants: {}",
        kind_name(d.kind),
        d.kind,
        if grants.is_empty() {
            "none (write-backs only)".to_string()
        } else {
            grants.join(", ")
        }
    ))
}

fn target_definition(analysis: &Analysis, name: &str) -> Vec<Place> {
    let mut out = Vec::new();
    each_name(analysis, |n| {
        if let Name::TargetDefinition(t) = n {
            if t.name == name {
                out.push(Place::Rules(t.span));
            }
        }
    });
    if let Some(line) = analysis
        .config
        .as_ref()
        .and_then(|(_, text)| config_line(text, name))
    {
        out.push(Place::Config(line));
    }
    out
}

/// The 0-based line of `[targets.NAME]` in a stroom.toml.
pub fn config_line(text: &str, name: &str) -> Option<usize> {
    let want = format!("[targets.{name}]");
    text.lines().position(|l| l.trim() == want)
}

fn kind_hover(analysis: &Analysis, kind: Kind) -> String {
    let takes: Vec<String> = analysis
        .targets
        .iter()
        .filter(|t| t.kind.grants().contains(&kind))
        .map(|t| format!("`{}`", t.name))
        .collect();
    let about = match kind {
        Kind::Group => "a group membership",
        Kind::License => "a licence (an Entra SKU, by part number)",
        Kind::Mailbox => "a mailbox (Exchange Online)",
        Kind::Permission => "a permission on an object (`on \"...\"`), e.g. FullAccess or SendAs",
    };
    format!(
        "`{}`: {about}\n\nGranted in: {}",
        kind.as_str(),
        takes.join(", ")
    )
}

fn entitlement_hover(analysis: &Analysis, e: &ast::Entitlement, value: &str) -> String {
    let target = target_of(e, default_target(analysis));
    let count = grants(analysis)
        .filter(|(k, n, t, _)| {
            k.as_str() == e.kind.name && n.eq_ignore_ascii_case(value) && Some(*t) == target
        })
        .count();
    let managed = managed_groups(analysis).find(|g| makes(g, &e.kind.name, value, target));
    let mut text = format!(
        "{} \"{value}\" in `{}`: named {count} time(s) in this rule set",
        e.kind.name,
        target.unwrap_or("?")
    );
    if let Some(g) = managed {
        text.push_str(&format!(
            "\n\nMade by Stroom when missing: `group \"{}\" in {}` at {}",
            g.pattern.value,
            g.target.name,
            place_name(analysis, g.pattern.span)
        ));
    }
    text
}

/// The rule set's `default target`, if it declares one.
fn default_target(analysis: &Analysis) -> Option<&str> {
    analysis.files.iter().find_map(|f| {
        f.stmts.iter().find_map(|s| match &s.kind {
            StmtKind::DefaultTarget(t) => Some(t.name.as_str()),
            _ => None,
        })
    })
}

/// The target an entitlement is granted in: its own `in`, or the rule set's default.
fn target_of<'a>(e: &'a ast::Entitlement, default: Option<&'a str>) -> Option<&'a str> {
    e.target.as_ref().map(|t| t.name.as_str()).or(default)
}

/// True when the declaration `g` makes the entitlement `kind name` granted in `target`.
fn makes(g: &ast::GroupBlock, kind: &str, name: &str, target: Option<&str>) -> bool {
    kind == "group"
        && target == Some(g.target.name.as_str())
        && fits_pattern(&g.pattern.value, name)
}

/// Every literal entitlement: kind, name, target, span.
fn grants(analysis: &Analysis) -> impl Iterator<Item = (Kind, &str, &str, Span)> {
    let default = default_target(analysis);
    let mut out = Vec::new();
    each_name(analysis, |n| {
        if let Name::Entitlement(e, value) = n {
            if let Some(k) = Kind::parse(&e.kind.name) {
                out.push((k, value, target_of(e, default).unwrap_or(""), e.name.span));
            }
        }
    });
    out.into_iter()
}

fn managed_groups(analysis: &Analysis) -> impl Iterator<Item = &ast::GroupBlock> {
    analysis.files.iter().flat_map(|f| {
        f.stmts.iter().filter_map(|s| match &s.kind {
            StmtKind::Group(g) => Some(g),
            _ => None,
        })
    })
}

/// `file:line` of a span, for hovers.
fn place_name(analysis: &Analysis, span: Span) -> String {
    match analysis.sources.get(span.file) {
        Some(f) => {
            let name = std::path::Path::new(&f.name)
                .file_name()
                .map_or(f.name.clone(), |n| n.to_string_lossy().into_owned());
            format!("{name}:{}", f.line_of(span.start))
        }
        None => "?".into(),
    }
}
