//! The checker: resolves names, infers types, compiles a parsed rule set into a
//! [`Program`] and reports every problem it finds (errors and lint warnings) at once.

use super::ast::{self, AccountItem, AttrValue, BinOp, Effect, ExprKind, Literal, StmtKind};
use super::diagnostic::{Diagnostic, Problem, Severity};
use super::functions::{Func, FUNCTIONS};
use super::lint;
use super::load::Parsed;
use super::program::*;
use super::span::{SourceMap, Span};
use crate::model::person::{ContractField, PersonField, CONTRACT_FIELDS, PERSON_FIELDS};
use crate::model::{Ty, Value};
use crate::suggest::did_you_mean;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The result of checking: a program when there were no errors, and all diagnostics
/// (errors first, then warnings, each in source order).
#[derive(Debug)]
pub struct Checked {
    /// The compiled rule set, if error-free.
    pub program: Option<Program>,
    /// Everything found, syntax problems included.
    pub diagnostics: Vec<Diagnostic>,
    /// The sources, for rendering diagnostics.
    pub sources: SourceMap,
}

impl Checked {
    /// True if any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Person fields Nmbrs accepts a write-back for.
pub const WRITEBACK_FIELDS: &[&str] = &[
    "business_email",
    "business_phone",
    "business_mobile",
    "private_email",
];

/// Checks and compiles a parsed rule set against the built-in targets
/// ([`TargetDecl::builtin`]).
pub fn check(parsed: Parsed) -> Checked {
    check_for(parsed, &TargetDecl::builtin())
}

/// Checks and compiles a parsed rule set whose rules may name `targets` (say the
/// instances `stroom.toml` configures: two AD domains), besides the generic ones the
/// rules declare. The built-in names keep their meaning when `targets` leaves them out.
pub fn check_for(parsed: Parsed, targets: &[TargetDecl]) -> Checked {
    let Parsed {
        sources,
        files,
        diagnostics,
    } = parsed;
    let mut c = Checker::new(&sources, &files, targets);
    c.diags = diagnostics;
    c.declarations();
    c.compile_lets();
    c.statements();
    c.unused_lets();
    let program = c.finish();
    let Checker { mut diags, .. } = c;
    let had_errors = diags.iter().any(Diagnostic::is_error);
    if let Some(p) = &program {
        diags.extend(lint::lint(p, &sources));
    }
    diags.sort_by_key(|d| (d.severity, d.span.file, d.span.start));
    Checked {
        program: if had_errors { None } else { program },
        diagnostics: diags,
        sources,
    }
}

enum LetState<'a> {
    Pending(&'a ast::Expr),
    Visiting,
    /// Compiled, with the depth and node count of the compiled tree.
    Done(CExpr, Ty, Shape),
    Failed,
}

/// How deep a compiled tree is and how many nodes it has.
#[derive(Debug, Clone, Copy)]
struct Shape {
    depth: u32,
    nodes: u64,
}

/// How deep a compiled expression may be, `let`s inlined: bounds the recursion of the
/// checker (through chains of lets) and of the evaluator.
pub const MAX_COMPILED_DEPTH: u32 = 256;

/// How many lets may be compiled inside each other (a let that uses a let written after
/// it compiles that one first): each costs several levels of the checker's recursion.
pub const MAX_LET_NESTING: u32 = 32;

/// How many nodes the inlined copies of `let`s may add up to in one rule set: a `let`
/// used twice in the next `let`, forty times over, would otherwise double forty times.
pub const MAX_INLINED_NODES: u64 = 1_000_000;

/// The shape of a compiled tree, found without recursion.
fn shape_of(c: &CExpr) -> Shape {
    let mut shape = Shape { depth: 0, nodes: 0 };
    let mut stack = vec![(c, 1u32)];
    while let Some((e, d)) = stack.pop() {
        shape.nodes += 1;
        shape.depth = shape.depth.max(d);
        match &e.kind {
            CKind::Not(x)
            | CKind::IsEmpty(x, _)
            | CKind::Matches(x, _)
            | CKind::InSet(x, _, _)
            | CKind::TextTest(_, x, _) => stack.push((x, d + 1)),
            CKind::And(v) | CKind::Or(v) | CKind::List(v) | CKind::Call(_, v) => {
                stack.extend(v.iter().map(|x| (x, d + 1)))
            }
            CKind::Cmp(_, a, b) | CKind::In(a, b, _) | CKind::Add(a, b) | CKind::Sub(a, b) => {
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
            _ => {}
        }
    }
    shape
}

struct LetSlot<'a> {
    span: Span,
    state: LetState<'a>,
    used: bool,
}

/// Where an expression stands, which changes what `contract.X` means.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// A condition or grant: contract fields bind per contract.
    Rule,
    /// An account attribute: contract fields mean the primary contract.
    Attribute,
}

struct Checker<'a> {
    sources: &'a SourceMap,
    files: &'a [ast::File],
    diags: Vec<Diagnostic>,
    targets: Vec<TargetDecl>,
    default_target: Option<TargetId>,
    scope: (i64, i64),
    primary_by: Vec<(ContractField, bool)>,
    lets: HashMap<String, LetSlot<'a>>,
    origins: Vec<Origin>,
    statements: Vec<Statement>,
    accounts: Vec<AccountSpec>,
    forbids: Vec<Forbid>,
    thresholds: Vec<Threshold>,
    place: Place,
    file_names: HashMap<u32, Arc<str>>,
    rule_names: HashMap<String, Arc<str>>,
    /// How deep `expr` recurses right now (lets compiled on first use count too).
    depth: u32,
    /// How many lets are being compiled inside each other right now.
    let_nesting: u32,
    /// Nodes added by inlined lets so far, against [`MAX_INLINED_NODES`].
    inlined: u64,
    /// The size limit is reported once per rule set.
    inlined_reported: bool,
}

impl<'a> Checker<'a> {
    fn new(sources: &'a SourceMap, files: &'a [ast::File], given: &[TargetDecl]) -> Self {
        // The built-in names first, then the other given targets by name; declared
        // generic targets and `nmbrs` follow in `declarations`. Plans order by this.
        let mut targets: Vec<TargetDecl> = TargetDecl::builtin();
        let mut extra: Vec<&TargetDecl> = given
            .iter()
            .filter(|g| !targets.iter().any(|t| t.name == g.name))
            .collect();
        extra.sort_by(|a, b| a.name.cmp(&b.name));
        targets.extend(extra.into_iter().cloned());
        // `nmbrs` comes last, after the targets the rules declare.
        targets.retain(|t| t.kind != TargetKind::Nmbrs);
        Checker {
            sources,
            files,
            diags: Vec::new(),
            targets,
            default_target: None,
            scope: (0, 0),
            primary_by: Vec::new(),
            lets: HashMap::new(),
            origins: Vec::new(),
            statements: Vec::new(),
            accounts: Vec::new(),
            forbids: Vec::new(),
            thresholds: Vec::new(),
            place: Place::Rule,
            file_names: HashMap::new(),
            rule_names: HashMap::new(),
            depth: 0,
            let_nesting: 0,
            inlined: 0,
            inlined_reported: false,
        }
    }

    fn error(
        &mut self,
        problem: Problem,
        span: Span,
        label: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(Diagnostic::new(problem, span, label, help));
    }

    fn all_stmts(&self) -> impl Iterator<Item = &'a ast::Stmt> {
        let files: &'a [ast::File] = self.files;
        files.iter().flat_map(|f| f.stmts.iter())
    }

    /// First pass: targets, default target, scope, primary contract, lets, rule names.
    fn declarations(&mut self) {
        let mut seen_decl: HashMap<&'static str, Span> = HashMap::new();
        let mut once = |c: &mut Self, what: &'static str, span: Span| {
            if let Some(first) = seen_decl.get(what) {
                c.diags.push(
                    Diagnostic::new(
                        Problem::DuplicateDeclaration { what: what.into() },
                        span,
                        "declared again here",
                        "a rule set has one of these; keep one and delete the other",
                    )
                    .with_related(*first, "first declared here"),
                );
                false
            } else {
                seen_decl.insert(what, span);
                true
            }
        };
        let stmts: Vec<&ast::Stmt> = self.all_stmts().collect();
        let nmbrs = TargetDecl::new("nmbrs", TargetKind::Nmbrs);
        // Targets first: `default target` may name a declared one.
        for s in &stmts {
            if let StmtKind::Target(name) = &s.kind {
                if let Some(known) = self
                    .targets
                    .iter()
                    .find(|t| *t.name == name.name)
                    .or_else(|| (name.name == "nmbrs").then_some(&nmbrs))
                {
                    let help = format!(
                        "`{}` is already a target of kind {}; declare only other generic (SCIM) targets here",
                        known.name, known.kind
                    );
                    self.error(
                        Problem::DuplicateDeclaration {
                            what: format!("target {}", name.name),
                        },
                        name.span,
                        "already a target",
                        help,
                    );
                } else {
                    self.targets
                        .push(TargetDecl::new(&name.name, TargetKind::Scim));
                }
            }
        }
        self.targets.push(nmbrs);
        let mut rule_names: HashMap<&str, Span> = HashMap::new();
        for s in &stmts {
            match &s.kind {
                StmtKind::DefaultTarget(name) if once(self, "default target", s.span) => {
                    self.default_target = self.target(name);
                }
                StmtKind::Scope { before, after } if once(self, "scope", s.span) => {
                    self.scope = (
                        before.as_ref().map_or(0, |d| d.days()),
                        after.as_ref().map_or(0, |d| d.days()),
                    );
                }
                StmtKind::Primary(keys) if once(self, "primary contract", s.span) => {
                    self.primary_by = self.sort_keys(keys);
                }
                StmtKind::Let { name, value } => {
                    if let Some(first) = self.lets.get(&name.name) {
                        let first = first.span;
                        self.diags.push(
                            Diagnostic::new(
                                Problem::DuplicateLet {
                                    name: name.name.clone(),
                                },
                                name.span,
                                "defined again here",
                                "`let` names are shared by all files of a rule set; rename one",
                            )
                            .with_related(first, "first defined here"),
                        );
                    } else if PersonField::by_name(&name.name).is_some()
                        || ContractField::by_name(&name.name).is_some()
                        || matches!(
                            name.name.as_str(),
                            "person" | "contract" | "primary" | "manager" | "extra"
                        )
                    {
                        self.error(
                            Problem::DuplicateLet {
                                name: name.name.clone(),
                            },
                            name.span,
                            "this is a field name",
                            "a `let` may not hide a field; choose another name",
                        );
                    } else {
                        self.lets.insert(
                            name.name.clone(),
                            LetSlot {
                                span: name.span,
                                state: LetState::Pending(value),
                                used: false,
                            },
                        );
                    }
                }
                StmtKind::Rule { name, .. } => {
                    if let Some(first) = rule_names.get(name.value.as_str()) {
                        self.diags.push(
                            Diagnostic::new(
                                Problem::DuplicateRule {
                                    name: name.value.clone(),
                                },
                                name.span,
                                "used again here",
                                "rule names identify rules in plans and explanations; make them unique",
                            )
                            .with_related(*first, "first used here"),
                        );
                    } else {
                        rule_names.insert(&name.value, name.span);
                    }
                }
                _ => {}
            }
        }
    }

    fn sort_keys(&mut self, keys: &[ast::SortKey]) -> Vec<(ContractField, bool)> {
        let mut out = Vec::new();
        for k in keys {
            match ContractField::by_name(&k.field.name) {
                Some((f, ty)) if ty != Ty::Bool => out.push((f, k.descending)),
                _ => {
                    let names = CONTRACT_FIELDS.iter().map(|(n, ..)| *n);
                    let help = match did_you_mean(&k.field.name, names) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            "sort by a contract field such as hours_per_week, start or id".into()
                        }
                    };
                    self.error(
                        Problem::BadSortKey {
                            name: k.field.name.clone(),
                        },
                        k.field.span,
                        "not a contract field",
                        help,
                    );
                }
            }
        }
        out
    }

    fn target(&mut self, name: &ast::Ident) -> Option<TargetId> {
        if let Some(i) = self.targets.iter().position(|t| *t.name == name.name) {
            return Some(i as TargetId);
        }
        let names: Vec<&str> = self.targets.iter().map(|t| &*t.name).collect();
        let help = match did_you_mean(&name.name, names.iter().copied()) {
            Some(s) => format!(
                "did you mean `{s}`? Another target is configured in stroom.toml as \
                 [targets.{}] with its kind",
                name.name
            ),
            None => format!(
                "the targets are {}; configure another in stroom.toml as [targets.{}] \
                 with kind = \"ad\" (or entra, exchange), or declare a generic (SCIM) one \
                 with `target {}`",
                names.join(", "),
                name.name,
                name.name
            ),
        };
        self.error(
            Problem::UnknownTarget {
                name: name.name.clone(),
            },
            name.span,
            "no such target",
            help,
        );
        None
    }

    fn origin(&mut self, rule: Option<&str>, span: Span) -> OriginId {
        let line = self
            .sources
            .get(span.file)
            .map_or(0, |f| f.line_of(span.start));
        let file = match self.file_names.get(&span.file) {
            Some(f) => f.clone(),
            None => {
                let name: Arc<str> = Arc::from(
                    self.sources
                        .get(span.file)
                        .map_or("<unknown>", |f| f.name.as_str()),
                );
                self.file_names.insert(span.file, name.clone());
                name
            }
        };
        let rule: Arc<str> = match rule {
            Some(r) => match self.rule_names.get(r) {
                Some(a) => a.clone(),
                None => {
                    let a: Arc<str> = Arc::from(r);
                    self.rule_names.insert(r.to_string(), a.clone());
                    a
                }
            },
            None => Arc::from(format!(
                "{}:{line}",
                file.rsplit('/').next().unwrap_or(&file)
            )),
        };
        self.origins.push(Origin {
            rule,
            file,
            line,
            span,
        });
        (self.origins.len() - 1) as OriginId
    }

    /// Second pass: everything that produces plan content.
    /// Compiles every `let` in the order written, so that a chain of lets (each using
    /// the one before) is compiled one link at a time instead of by recursion from its
    /// last link.
    fn compile_lets(&mut self) {
        let mut pending: Vec<(Span, String)> = self
            .lets
            .iter()
            .filter(|(_, slot)| matches!(slot.state, LetState::Pending(_)))
            .map(|(name, slot)| (slot.span, name.clone()))
            .collect();
        pending.sort_by_key(|(span, _)| (span.file, span.start));
        for (span, name) in pending {
            let Some(slot) = self.lets.get(&name) else {
                continue;
            };
            // Compiled already as a dependency of an earlier let.
            if !matches!(slot.state, LetState::Pending(_)) {
                continue;
            }
            let used = slot.used;
            let _ = self.let_value(&name, span);
            if let Some(slot) = self.lets.get_mut(&name) {
                slot.used = used;
            }
        }
    }

    fn statements(&mut self) {
        let stmts: Vec<&'a ast::Stmt> = self.all_stmts().collect();
        for s in stmts {
            self.stmt(s, None);
        }
    }

    fn stmt(&mut self, s: &'a ast::Stmt, rule: Option<&'a str>) {
        match &s.kind {
            StmtKind::Rule { name, body } => {
                for inner in body {
                    self.stmt(inner, Some(&name.value));
                }
            }
            StmtKind::When { cond, actions } => {
                let origin = self.origin(rule, s.span);
                let cond = self.condition(cond);
                self.statement(origin, Some(cond), actions.iter());
            }
            StmtKind::Effect(action) => {
                let origin = self.origin(rule, s.span);
                self.statement(origin, None, std::iter::once(action));
            }
            StmtKind::Account(block) => self.account(block, rule, s.span),
            StmtKind::Forbid(a, b) => {
                let origin = self.origin(rule, s.span);
                if let (Some(a), Some(b)) =
                    (self.constant_entitlement(a), self.constant_entitlement(b))
                {
                    self.forbids.push(Forbid { a, b, origin });
                }
            }
            StmtKind::Threshold { op, limits } => {
                let origin = self.origin(rule, s.span);
                self.threshold(op, limits, origin);
            }
            _ => {}
        }
    }

    fn condition(&mut self, e: &ast::Expr) -> Option<CExpr> {
        let (c, ty) = self.expr(e);
        if !matches!(ty, Ty::Bool | Ty::Any) {
            self.error(
                Problem::TypeMismatch {
                    detail: format!("a condition must be true or false, this is a {ty}"),
                },
                e.span,
                format!("this is a {ty}"),
                self.comparison_help(e.span, &ty),
            );
            return None;
        }
        Some(c)
    }

    /// "compare it with something", with an example made of the user's own expression
    /// and a value of its type: `function == "..."`, `contract.hours_per_week >= 16`.
    fn comparison_help(&self, span: Span, ty: &Ty) -> String {
        let text = self.sources.snippet(span).trim();
        let text = if text.chars().count() > 40 || text.is_empty() {
            "it"
        } else {
            text
        };
        let example = match ty {
            Ty::Int | Ty::Dec => format!("`{text} >= 16`"),
            Ty::Date => format!("`{text} <= today`"),
            Ty::Duration => format!("`{text} >= 30 days`"),
            Ty::List(_) => format!("`\"Sales\" in {text}`"),
            _ => format!("`{text} == \"...\"`"),
        };
        format!("compare it with something, e.g. {example}, or test `{text} is not empty`")
    }

    fn statement<'b>(
        &mut self,
        origin: OriginId,
        cond: Option<Option<CExpr>>,
        actions: impl Iterator<Item = &'b Effect>,
    ) {
        let mut out = Vec::new();
        for a in actions {
            if let Some(a) = self.action(a) {
                out.push(a);
            }
        }
        let cond = match cond {
            Some(None) => return, // condition had an error, already reported
            Some(Some(c)) => Some(c),
            None => None,
        };
        let mut per_contract = cond.as_ref().is_some_and(CExpr::mentions_contract);
        for a in &out {
            per_contract |= match a {
                CEffect::Grant { name, on, .. } => {
                    name.mentions_contract() || on.as_ref().is_some_and(CExpr::mentions_contract)
                }
                CEffect::Writeback {
                    source: WritebackValue::Expr(e),
                    ..
                } => e.mentions_contract(),
                CEffect::Writeback { .. } => false,
            };
        }
        self.statements.push(Statement {
            origin,
            cond,
            per_contract,
            actions: out,
        });
    }

    fn entitlement_target(&mut self, e: &ast::Entitlement) -> Option<TargetId> {
        match &e.target {
            Some(t) => self.target(t),
            None => match self.default_target {
                Some(t) => Some(t),
                None => {
                    self.error(
                        Problem::NoTarget,
                        e.span,
                        "which target?",
                        "add `in ad` (or entra, exchange, ...) here, or declare `default target ad` once in the rule set",
                    );
                    None
                }
            },
        }
    }

    fn kind(&mut self, ident: &ast::Ident) -> Option<Kind> {
        let k = Kind::parse(&ident.name);
        if k.is_none() {
            let kinds = ["group", "license", "mailbox", "permission"];
            let help = match did_you_mean(&ident.name, kinds) {
                Some(s) => format!("did you mean `{s}`?"),
                None if ident.name == "licence" => "Stroom spells it `license`".into(),
                None => "the kinds are group, license, mailbox and permission".into(),
            };
            self.error(
                Problem::UnknownKind {
                    name: ident.name.clone(),
                },
                ident.span,
                "no such kind",
                help,
            );
        }
        k
    }

    /// Checks that a kind fits its target and that `on` is used exactly for permissions.
    fn kind_fits(&mut self, e: &ast::Entitlement, kind: Kind, target: TargetId) -> bool {
        let tk = self.targets[target as usize].kind;
        let name = self.targets[target as usize].name.clone();
        let problem = if tk.grants().contains(&kind) {
            None
        } else if !tk.has_accounts() {
            Some(format!(
                "{name} takes write-backs, not grants; use `writeback FIELD ...`"
            ))
        } else {
            // Where this kind can go instead: the targets here whose kind grants it.
            let fitting: Vec<&str> = self
                .targets
                .iter()
                .filter(|t| t.kind.grants().contains(&kind))
                .map(|t| &*t.name)
                .collect();
            Some(match fitting.first() {
                Some(first) => format!(
                    "a {kind} is granted in {}: write `in {first}`",
                    fitting.join(" or ")
                ),
                None => format!("no target here grants a {kind}"),
            })
        };
        if let Some(help) = problem {
            self.error(
                Problem::WrongTarget {
                    kind: kind.as_str(),
                    target: name.to_string(),
                },
                e.span,
                "wrong target for this kind",
                help,
            );
            return false;
        }
        match (kind, &e.on) {
            (Kind::Permission, None) => {
                self.error(
                    Problem::PermissionWithoutObject,
                    e.span,
                    "on what?",
                    "write `grant permission \"FullAccess\" on \"shared@acme.nl\" in exchange`",
                );
                false
            }
            (k, Some(on)) if k != Kind::Permission => {
                self.error(
                    Problem::ObjectWithoutPermission { kind: k.as_str() },
                    on.span,
                    "only permissions take `on`",
                    "remove `on ...`, or grant a `permission`",
                );
                false
            }
            _ => true,
        }
    }

    fn string_expr(&mut self, e: &ast::Expr, what: &str) -> Option<CExpr> {
        let (c, ty) = self.expr(e);
        if matches!(ty, Ty::Str | Ty::Any) {
            Some(c)
        } else {
            self.error(
                Problem::TypeMismatch {
                    detail: format!("{what} must be a string, this is a {ty}"),
                },
                e.span,
                format!("this is a {ty}"),
                format!("{what} is text, e.g. \"CRM-Users\" or \"DEP-\" + lower(department)"),
            );
            None
        }
    }

    fn action(&mut self, a: &Effect) -> Option<CEffect> {
        match a {
            Effect::Grant(e) => {
                let kind = self.kind(&e.kind);
                let target = self.entitlement_target(e);
                let name = self.string_expr(&e.name, "a grant's name");
                let on = match &e.on {
                    Some(on) => Some(self.string_expr(on, "the object of a permission")?),
                    None => None,
                };
                let (kind, target) = (kind?, target?);
                if !self.kind_fits(e, kind, target) {
                    return None;
                }
                let name = name?;
                let fixed_name = match &name.kind {
                    CKind::Const(Value::Str(s)) if !s.trim().is_empty() => {
                        Some((Arc::from(s.as_ref()), 0))
                    }
                    _ => None,
                };
                Some(CEffect::Grant {
                    target,
                    kind,
                    name,
                    fixed_name,
                    on,
                })
            }
            Effect::Writeback { field, source, .. } => {
                if !WRITEBACK_FIELDS.contains(&field.name.as_str()) {
                    let help = match did_you_mean(&field.name, WRITEBACK_FIELDS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            format!("Nmbrs takes write-backs of {}", WRITEBACK_FIELDS.join(", "))
                        }
                    };
                    self.error(
                        Problem::UnknownWritebackField {
                            name: field.name.clone(),
                        },
                        field.span,
                        "not a write-back field",
                        help,
                    );
                    return None;
                }
                let source = match source {
                    ast::WritebackSource::Account { target, attribute } => {
                        let t = self.target(target)?;
                        // Whether the attribute exists is checked once all account blocks
                        // are known (see `finish`).
                        WritebackValue::Account {
                            target: t,
                            attribute: Arc::from(attribute.name.as_str()),
                        }
                    }
                    ast::WritebackSource::Expr(e) => {
                        WritebackValue::Expr(self.string_expr(e, "a write-back value")?)
                    }
                };
                Some(CEffect::Writeback {
                    field: Arc::from(field.name.as_str()),
                    source,
                })
            }
        }
    }

    fn constant_entitlement(&mut self, e: &ast::Entitlement) -> Option<(TargetId, Kind, Arc<str>)> {
        let kind = self.kind(&e.kind);
        let target = self.entitlement_target(e);
        let name = match &e.name.kind {
            ExprKind::Literal(Literal::Str(s)) => Some(Arc::from(s.as_str())),
            _ => {
                self.error(
                    Problem::ForbidNotLiteral,
                    e.name.span,
                    "not a plain string",
                    "write the name as a string: forbid group \"Payroll-Admins\" with group \"Payroll-Approvers\"",
                );
                None
            }
        };
        Some((target?, kind?, name?))
    }

    fn threshold(&mut self, op: &ast::Ident, limits: &[ast::Limit], origin: OriginId) {
        let Some(kind) = OpKind::parse(&op.name) else {
            let names: Vec<&str> = OpKind::ALL.iter().map(|o| o.as_str()).collect();
            let short: Vec<&str> = names
                .iter()
                .map(|n| n.trim_end_matches("_account"))
                .collect();
            let help = match did_you_mean(&op.name, short.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("limit one of: {}", short.join(", ")),
            };
            self.error(
                Problem::BadThreshold {
                    detail: format!("`{}` is not a plan operation", op.name),
                },
                op.span,
                "unknown operation",
                help,
            );
            return;
        };
        let mut t = Threshold {
            op: kind,
            max_count: None,
            max_percent: None,
            origin,
        };
        for l in limits {
            let slot = if l.percent {
                &mut t.max_percent
            } else {
                &mut t.max_count
            };
            if slot.is_some() {
                self.error(
                    Problem::BadThreshold {
                        detail: "two limits of the same kind".into(),
                    },
                    l.span,
                    "second limit",
                    "give one count and/or one percentage: `threshold disable max 25 or 5%`",
                );
            } else if l.percent && l.value > 100 {
                self.error(
                    Problem::BadThreshold {
                        detail: format!("{}% is more than everything", l.value),
                    },
                    l.span,
                    "over 100%",
                    "a percentage limit lies between 0% and 100%",
                );
            } else {
                *slot = Some(l.value);
            }
        }
        self.thresholds.push(t);
    }

    fn account(&mut self, block: &'a ast::AccountBlock, rule: Option<&str>, span: Span) {
        let Some(target) = self.target(&block.target) else {
            return;
        };
        let tk = self.targets[target as usize].kind;
        if !tk.has_accounts() {
            self.error(
                Problem::AccountInSource {
                    target: block.target.name.clone(),
                },
                block.target.span,
                "nmbrs is the source",
                "Nmbrs takes write-backs: use `writeback business_email from entra.mail`",
            );
            return;
        }
        if let Some(prev) = self.accounts.iter().find(|a| a.target == target) {
            let prev_span = self.origins[prev.origin as usize].span;
            self.diags.push(
                Diagnostic::new(
                    Problem::DuplicateDeclaration {
                        what: format!("account in {}", block.target.name),
                    },
                    span,
                    "second account block",
                    "a target has one account block; merge them",
                )
                .with_related(prev_span, "first block"),
            );
            return;
        }
        let origin = self.origin(rule, span);
        let mut spec = AccountSpec {
            target,
            origin,
            cond: None,
            create_before_days: 0,
            disable_after_days: 0,
            delete_after_days: None,
            attributes: Vec::new(),
        };
        for item in &block.items {
            match item {
                AccountItem::When(e) => {
                    if spec.cond.is_some() {
                        self.error(
                            Problem::DuplicateDeclaration {
                                what: "account `when`".into(),
                            },
                            e.span,
                            "second condition",
                            "combine the conditions with `and` in one `when`",
                        );
                    }
                    spec.cond = self.condition(e);
                }
                AccountItem::Create(d) => spec.create_before_days = d.days(),
                AccountItem::Disable(d) => spec.disable_after_days = d.days(),
                AccountItem::Delete(d) => spec.delete_after_days = Some(d.days()),
                AccountItem::Set {
                    attribute, value, ..
                } => {
                    if spec
                        .attributes
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(&attribute.name))
                    {
                        self.error(
                            Problem::DuplicateDeclaration {
                                what: format!("set {}", attribute.name),
                            },
                            attribute.span,
                            "set twice",
                            "an attribute gets one value; delete one of the lines",
                        );
                        continue;
                    }
                    self.place = Place::Attribute;
                    let rule = self.attr_value(value);
                    self.place = Place::Rule;
                    if let Some(rule) = rule {
                        spec.attributes
                            .push((Arc::from(attribute.name.as_str()), rule));
                    }
                }
            }
        }
        self.accounts.push(spec);
    }

    fn attr_value(&mut self, v: &AttrValue) -> Option<AttrRule> {
        match v {
            AttrValue::Expr(e) => Some(AttrRule::Expr(self.expr(e).0)),
            AttrValue::Unique {
                candidates,
                max,
                ending,
                span,
            } => {
                if candidates.is_empty() {
                    self.error(
                        Problem::BadUnique {
                            detail: "it needs at least one candidate",
                        },
                        *span,
                        "empty list",
                        "list candidates in order of preference: unique [first, second] max 20",
                    );
                    return None;
                }
                let cands: Vec<CExpr> = candidates
                    .iter()
                    .filter_map(|c| self.string_expr(c, "a unique candidate"))
                    .collect();
                if let Some((0, s)) = max {
                    self.error(
                        Problem::BadUnique {
                            detail: "`max 0` leaves no room for a value",
                        },
                        *s,
                        "too small",
                        "give the longest length the target accepts, e.g. max 20 for sAMAccountName",
                    );
                }
                let ending = match ending {
                    Some(e) => Some(self.string_expr(e, "the ending")?),
                    None => None,
                };
                (cands.len() == candidates.len()).then_some(AttrRule::Unique {
                    candidates: cands,
                    max: max.map(|(n, _)| n as usize),
                    ending,
                })
            }
        }
    }

    /// Compiles an expression and infers its type. On error it reports and returns
    /// `Ty::Any`, so one mistake gives one diagnostic.
    fn expr(&mut self, e: &ast::Expr) -> (CExpr, Ty) {
        if self.depth >= MAX_COMPILED_DEPTH {
            self.diags.push(Diagnostic::new(
                Problem::TooDeep {
                    what: "lets and expressions nest",
                    limit: MAX_COMPILED_DEPTH as usize,
                },
                e.span,
                "reached through a chain of `let`s",
                "each `let` used inside another adds its depth: combine fewer lets in a chain, \
                 or write the condition out flatter",
            ));
            return (null_at(e.span), Ty::Any);
        }
        self.depth += 1;
        let out = self.expr_inner(e);
        self.depth -= 1;
        out
    }

    fn expr_inner(&mut self, e: &ast::Expr) -> (CExpr, Ty) {
        let span = e.span;
        let mk = |kind| CExpr { kind, span };
        match &e.kind {
            ExprKind::Literal(l) => {
                let (v, t) = match l {
                    Literal::Str(s) => (Value::Str(Cow::Owned(s.clone())), Ty::Str),
                    Literal::Int(i) => (Value::Int(*i), Ty::Int),
                    Literal::Dec(d) => (Value::Dec(d.parse().unwrap_or(0.0)), Ty::Dec),
                    Literal::Bool(b) => (Value::Bool(*b), Ty::Bool),
                    Literal::Null => (Value::Null, Ty::Null),
                    Literal::Date(d) => (Value::Date(*d), Ty::Date),
                    Literal::Duration(n, u) => (
                        Value::Days(
                            ast::DurationLit {
                                amount: *n,
                                unit: *u,
                                span,
                            }
                            .days(),
                        ),
                        Ty::Duration,
                    ),
                    Literal::Today => return (mk(CKind::Today), Ty::Date),
                };
                (mk(CKind::Const(v)), t)
            }
            ExprKind::Path(segments) => self.path(segments, span),
            ExprKind::Call { name, args } => self.call(name, args, span),
            ExprKind::List(items) => {
                let compiled: Vec<(CExpr, Ty)> = items.iter().map(|i| self.expr(i)).collect();
                let mut elem = Ty::Any;
                for (i, (_, t)) in compiled.iter().enumerate() {
                    if matches!(t, Ty::Null | Ty::Any) {
                        continue;
                    }
                    if elem == Ty::Any {
                        elem = t.clone();
                    } else if !elem.comparable_with(t) {
                        self.error(
                            Problem::TypeMismatch {
                                detail: format!("a list mixes {elem} and {t}"),
                            },
                            items[i].span,
                            format!("this is a {t}"),
                            format!("the list holds {elem}s; make every element one"),
                        );
                    }
                }
                let cs: Vec<CExpr> = compiled.into_iter().map(|(c, _)| c).collect();
                let all_const = cs.iter().all(|c| matches!(c.kind, CKind::Const(_)));
                let kind = if all_const {
                    CKind::Const(Value::List(
                        cs.into_iter()
                            .filter_map(|c| match c.kind {
                                CKind::Const(v) => Some(v),
                                _ => None,
                            })
                            .collect(),
                    ))
                } else {
                    CKind::List(cs)
                };
                (mk(kind), Ty::List(Box::new(elem)))
            }
            ExprKind::Not(inner) => {
                let (c, t) = self.expr(inner);
                self.want_bool(&t, inner.span, "`not`");
                (mk(CKind::Not(Box::new(c))), Ty::Bool)
            }
            ExprKind::IsEmpty { expr, negated } => {
                let (c, _) = self.expr(expr);
                (mk(CKind::IsEmpty(Box::new(c), *negated)), Ty::Bool)
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
        }
    }

    fn want_bool(&mut self, t: &Ty, span: Span, what: &str) {
        if !matches!(t, Ty::Bool | Ty::Any) {
            let help = self.comparison_help(span, t);
            self.error(
                Problem::TypeMismatch {
                    detail: format!("{what} needs a condition, this is a {t}"),
                },
                span,
                format!("this is a {t}"),
                help,
            );
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> (CExpr, Ty) {
        let (l, lt) = self.expr(lhs);
        let (r, rt) = self.expr(rhs);
        let mk = |kind| CExpr { kind, span };
        match op {
            BinOp::And | BinOp::Or => {
                self.want_bool(&lt, lhs.span, &format!("`{}`", op.symbol()));
                self.want_bool(&rt, rhs.span, &format!("`{}`", op.symbol()));
                let flatten = |c: CExpr, out: &mut Vec<CExpr>| match c.kind {
                    CKind::And(v) if op == BinOp::And => out.extend(v),
                    CKind::Or(v) if op == BinOp::Or => out.extend(v),
                    _ => out.push(c),
                };
                let mut parts = Vec::new();
                flatten(l, &mut parts);
                flatten(r, &mut parts);
                let kind = if op == BinOp::And {
                    CKind::And(parts)
                } else {
                    CKind::Or(parts)
                };
                (mk(kind), Ty::Bool)
            }
            BinOp::In | BinOp::NotIn => {
                let negated = op == BinOp::NotIn;
                match &rt {
                    Ty::List(elem) => {
                        if !elem.comparable_with(&lt) {
                            self.mismatch(&lt, &rt, lhs, rhs, op);
                        }
                    }
                    Ty::Any => {}
                    other => {
                        self.error(
                            Problem::TypeMismatch {
                                detail: format!("`{}` needs a list on its right, this is a {other}", op.symbol()),
                            },
                            rhs.span,
                            format!("this is a {other}"),
                            "write a list: department in [\"Sales\", \"Marketing\"]; to test text, use contains(x, \"...\")",
                        );
                    }
                }
                let kind = match r.kind {
                    CKind::Const(Value::List(items)) => {
                        let mut set = ConstSet::default();
                        for v in items {
                            match v {
                                Value::Str(s) => {
                                    set.strings.insert(Arc::from(s.as_ref()));
                                }
                                other => set.others.push(other),
                            }
                        }
                        CKind::InSet(Box::new(l), Arc::new(set), negated)
                    }
                    kind => CKind::In(Box::new(l), Box::new(CExpr { kind, span: r.span }), negated),
                };
                (mk(kind), Ty::Bool)
            }
            BinOp::Cmp(cmp) => {
                let ordered = !matches!(cmp, CmpOp::Eq | CmpOp::Ne);
                if !lt.comparable_with(&rt) {
                    self.mismatch(&lt, &rt, lhs, rhs, op);
                } else if ordered {
                    for (t, side) in [(&lt, lhs), (&rt, rhs)] {
                        if matches!(t, Ty::Bool | Ty::List(_)) {
                            self.error(
                                Problem::TypeMismatch {
                                    detail: format!("a {t} has no order"),
                                },
                                side.span,
                                format!("this is a {t}"),
                                "`<`, `<=`, `>` and `>=` compare numbers, dates, durations and strings",
                            );
                        }
                    }
                }
                (mk(CKind::Cmp(cmp, Box::new(l), Box::new(r))), Ty::Bool)
            }
            BinOp::Add | BinOp::Sub => {
                let add = op == BinOp::Add;
                let result = match (&lt, &rt) {
                    (Ty::Any, _) | (_, Ty::Any) => Some(Ty::Any),
                    (Ty::Null, t) | (t, Ty::Null) => Some(t.clone()),
                    (Ty::Str, Ty::Str) if add => Some(Ty::Str),
                    (Ty::Str, t) | (t, Ty::Str) if add && t.is_number() => Some(Ty::Str),
                    (Ty::Int, Ty::Int) => Some(Ty::Int),
                    (a, b) if a.is_number() && b.is_number() => Some(Ty::Dec),
                    (Ty::Date, Ty::Duration) => Some(Ty::Date),
                    (Ty::Duration, Ty::Date) if add => Some(Ty::Date),
                    (Ty::Date, Ty::Date) if !add => Some(Ty::Duration),
                    (Ty::Duration, Ty::Duration) => Some(Ty::Duration),
                    _ => None,
                };
                let ty = match result {
                    Some(t) => t,
                    None => {
                        self.mismatch(&lt, &rt, lhs, rhs, op);
                        Ty::Any
                    }
                };
                // `today ± N days` is one date per plan: compiled to a node that needs
                // no arithmetic on values.
                if let (CKind::Today, CKind::Const(Value::Days(n))) = (&l.kind, &r.kind) {
                    let days = if add { Some(*n) } else { n.checked_neg() };
                    if let Some(days) = days {
                        return (mk(CKind::TodayPlus(days)), ty);
                    }
                }
                let (l, r) = (Box::new(l), Box::new(r));
                (
                    mk(if add {
                        CKind::Add(l, r)
                    } else {
                        CKind::Sub(l, r)
                    }),
                    ty,
                )
            }
        }
    }

    fn mismatch(&mut self, lt: &Ty, rt: &Ty, lhs: &ast::Expr, rhs: &ast::Expr, op: BinOp) {
        let looks_like_date = |e: &ast::Expr| match &e.kind {
            ExprKind::Literal(Literal::Str(s)) => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }
            _ => false,
        };
        let is_number_literal =
            |e: &ast::Expr| matches!(e.kind, ExprKind::Literal(Literal::Int(_) | Literal::Dec(_)));
        let unquoted = |e: &ast::Expr| match &e.kind {
            ExprKind::Literal(Literal::Str(s)) => s.clone(),
            _ => self.sources.snippet(e.span).trim().to_string(),
        };
        let help = if (*lt == Ty::Date && looks_like_date(rhs))
            || (*rt == Ty::Date && looks_like_date(lhs))
        {
            format!(
                "write the date without quotes: `{} {} {}`",
                unquoted(lhs),
                op.symbol(),
                unquoted(rhs)
            )
        } else if (*lt == Ty::Duration && is_number_literal(rhs))
            || (*rt == Ty::Duration && is_number_literal(lhs))
        {
            "give the number its unit: 30 days, 2 weeks".to_string()
        } else if matches!((lt, rt), (Ty::Date, t) | (t, Ty::Date) if t.is_number()) {
            "add or subtract a duration with its unit: contract.start + 30 days".to_string()
        } else {
            format!("both sides of `{}` must be of one type", op.symbol())
        };
        let (l, r) = (lt.to_string(), rt.to_string());
        self.diags.push(
            Diagnostic::new(
                Problem::TypeMismatch {
                    detail: format!("cannot use `{}` on a {l} and a {r}", op.symbol()),
                },
                rhs.span,
                format!("this is a {r}"),
                help,
            )
            .with_related(lhs.span, format!("this is a {l}")),
        );
    }

    fn unknown_field(&mut self, name: &str, span: Span, candidates: Vec<String>) -> (CExpr, Ty) {
        let help = match did_you_mean(name, candidates.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "see the field list in the book (Language reference → Fields); free fields are `extra.NAME`".into(),
        };
        self.error(
            Problem::UnknownField { name: name.into() },
            span,
            "no such field",
            help,
        );
        (
            CExpr {
                kind: CKind::Const(Value::Null),
                span,
            },
            Ty::Any,
        )
    }

    fn path(&mut self, segs: &[ast::Ident], span: Span) -> (CExpr, Ty) {
        let mk = |kind| CExpr { kind, span };
        let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
        let full = names.join(".");
        let person_names = || PERSON_FIELDS.iter().map(|(n, ..)| n.to_string());
        let contract_names = || CONTRACT_FIELDS.iter().map(|(n, ..)| n.to_string());
        let contract = |c: &Self, f: ContractField| match c.place {
            Place::Rule => CKind::Contract(f),
            Place::Attribute => CKind::Primary(f),
        };
        match names.as_slice() {
            [one] => {
                if self.lets.contains_key(*one) {
                    return self.let_value(one, span);
                }
                if let Some((f, t)) = ContractField::by_name(one) {
                    return (mk(contract(self, f)), t);
                }
                if let Some((f, t)) = PersonField::by_name(one) {
                    return (mk(CKind::Person(f)), t);
                }
                let mut cands: Vec<String> = self.lets.keys().cloned().collect();
                cands.extend(contract_names());
                cands.extend(person_names());
                self.unknown_field(&full, span, cands)
            }
            ["person" | "manager", "extra", key] | ["extra", key] => {
                let key = Arc::from(*key);
                let kind = if names[0] == "manager" {
                    CKind::ManagerExtra(key)
                } else {
                    CKind::Extra(key)
                };
                (mk(kind), Ty::Str)
            }
            ["person", f] => match PersonField::by_name(f) {
                Some((f, t)) => (mk(CKind::Person(f)), t),
                None => self.unknown_field(
                    &full,
                    span,
                    person_names().map(|n| format!("person.{n}")).collect(),
                ),
            },
            [scope @ ("contract" | "primary"), f] => match ContractField::by_name(f) {
                Some((f, t)) if *scope == "contract" => (mk(contract(self, f)), t),
                Some((f, t)) => (mk(CKind::Primary(f)), t),
                None => self.unknown_field(
                    &full,
                    span,
                    contract_names().map(|n| format!("{scope}.{n}")).collect(),
                ),
            },
            ["manager", f] => {
                if let Some((f, t)) = PersonField::by_name(f) {
                    (mk(CKind::ManagerPerson(f)), t)
                } else if let Some((f, t)) = ContractField::by_name(f) {
                    (mk(CKind::ManagerContract(f)), t)
                } else {
                    let cands = person_names()
                        .chain(contract_names())
                        .map(|n| format!("manager.{n}"))
                        .collect();
                    self.unknown_field(&full, span, cands)
                }
            }
            _ => {
                let mut cands: Vec<String> = Vec::new();
                for p in ["person", "contract", "primary", "manager"] {
                    cands.extend(
                        person_names()
                            .chain(contract_names())
                            .map(|n| format!("{p}.{n}")),
                    );
                }
                self.unknown_field(&full, span, cands)
            }
        }
    }

    fn let_value(&mut self, name: &str, span: Span) -> (CExpr, Ty) {
        let Some(slot) = self.lets.get_mut(name) else {
            return (
                CExpr {
                    kind: CKind::Const(Value::Null),
                    span,
                },
                Ty::Any,
            );
        };
        slot.used = true;
        match std::mem::replace(&mut slot.state, LetState::Visiting) {
            LetState::Done(c, t, shape) => {
                slot.state = LetState::Done(c.clone(), t.clone(), shape);
                if !self.may_inline(name, shape, span) {
                    return (null_at(span), Ty::Any);
                }
                let c = if self.place == Place::Attribute {
                    to_primary(c)
                } else {
                    c
                };
                (c, t)
            }
            LetState::Pending(e) if self.let_nesting >= MAX_LET_NESTING => {
                slot.state = LetState::Failed;
                self.diags.push(Diagnostic::new(
                    Problem::TooDeep {
                        what: "lets that use lets written after them nest",
                        limit: MAX_LET_NESTING as usize,
                    },
                    e.span,
                    format!("`{name}` is reached through {MAX_LET_NESTING} lets"),
                    "define a let before the lets that use it: lets in that order are \
                     compiled one after another, without nesting",
                ));
                (null_at(span), Ty::Any)
            }
            LetState::Pending(e) => {
                // A let is compiled once, in rule context; where it is used in an account
                // attribute its contract fields are rebound to the primary contract.
                let saved = self.place;
                self.place = Place::Rule;
                self.let_nesting += 1;
                let (c, t) = self.expr(e);
                self.let_nesting -= 1;
                self.place = saved;
                let shape = shape_of(&c);
                if let Some(slot) = self.lets.get_mut(name) {
                    if matches!(slot.state, LetState::Visiting) {
                        slot.state = LetState::Done(c.clone(), t.clone(), shape);
                    }
                }
                let c = if saved == Place::Attribute {
                    to_primary(c)
                } else {
                    c
                };
                (c, t)
            }
            LetState::Visiting => {
                let decl = slot.span;
                slot.state = LetState::Failed;
                self.diags.push(
                    Diagnostic::new(
                        Problem::LetCycle { name: name.into() },
                        decl,
                        "defined in terms of itself",
                        "a `let` may use other lets, but not (through them) itself",
                    )
                    .with_related(span, "used here"),
                );
                (
                    CExpr {
                        kind: CKind::Const(Value::Null),
                        span,
                    },
                    Ty::Any,
                )
            }
            LetState::Failed => {
                slot.state = LetState::Failed;
                (
                    CExpr {
                        kind: CKind::Const(Value::Null),
                        span,
                    },
                    Ty::Any,
                )
            }
        }
    }

    /// Whether a compiled let of this shape may be copied in here: within the depth and
    /// size limits (reported when not).
    fn may_inline(&mut self, name: &str, shape: Shape, span: Span) -> bool {
        if self.depth + shape.depth > MAX_COMPILED_DEPTH {
            self.diags.push(Diagnostic::new(
                Problem::TooDeep {
                    what: "lets and expressions nest",
                    limit: MAX_COMPILED_DEPTH as usize,
                },
                span,
                format!(
                    "`{name}` is {} levels deep, used {} levels down",
                    shape.depth, self.depth
                ),
                "each `let` used inside another adds its depth: combine fewer lets in a chain, \
                 or write the condition out flatter",
            ));
            return false;
        }
        self.inlined += shape.nodes;
        if self.inlined > MAX_INLINED_NODES {
            if !self.inlined_reported {
                self.inlined_reported = true;
                self.diags.push(Diagnostic::new(
                    Problem::TooLarge {
                        what: "the lets, copied where they are used,",
                        limit: MAX_INLINED_NODES,
                        unit: "nodes",
                    },
                    span,
                    format!("`{name}` ({} nodes) is one copy too many", shape.nodes),
                    "a `let` used several times in the next `let` doubles its size each time: \
                     use each let directly in the rules instead of in ever larger lets",
                ));
            }
            return false;
        }
        true
    }

    fn call(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span) -> (CExpr, Ty) {
        let compiled: Vec<(CExpr, Ty)> = args.iter().map(|a| self.expr(a)).collect();
        let any = (
            CExpr {
                kind: CKind::Const(Value::Null),
                span,
            },
            Ty::Any,
        );
        let Some(info) = Func::by_name(&name.name) else {
            let help = match did_you_mean(&name.name, FUNCTIONS.iter().map(|f| f.name)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the functions are {}",
                    FUNCTIONS
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.error(
                Problem::UnknownFunction {
                    name: name.name.clone(),
                },
                name.span,
                "no such function",
                help,
            );
            return any;
        };
        let (func, min, max) = (info.func, info.min, info.max);
        let described = format!("`{}`: {}", info.signature, info.about);
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                min.to_string()
            } else if max == usize::MAX {
                format!("{min} or more")
            } else {
                format!("{min} to {max}")
            };
            self.error(
                Problem::WrongArity {
                    name: name.name.clone(),
                    expected,
                    found: args.len(),
                },
                span,
                format!("{} given", args.len()),
                format!("write {described}"),
            );
            return any;
        }
        let types: Vec<Ty> = compiled.iter().map(|(_, t)| t.clone()).collect();
        let ty = match func.check(&types) {
            Ok(t) => t,
            Err(detail) => {
                self.error(
                    Problem::TypeMismatch {
                        detail: format!("{}: {detail}", name.name),
                    },
                    span,
                    "wrong argument type",
                    described,
                );
                return any;
            }
        };
        let mut cs: Vec<CExpr> = compiled.into_iter().map(|(c, _)| c).collect();
        if func == Func::Matches {
            let pattern = match cs.get(1).map(|c| &c.kind) {
                Some(CKind::Const(Value::Str(p))) => p.to_string(),
                _ => {
                    self.error(
                        Problem::PatternNotLiteral,
                        args[1].span,
                        "not a literal",
                        "write the regular expression in quotes: matches(function, \"^Dev\")",
                    );
                    return any;
                }
            };
            return match regex::Regex::new(&pattern) {
                Ok(re) => {
                    let subject = cs.swap_remove(0);
                    (
                        CExpr {
                            kind: CKind::Matches(Box::new(subject), Arc::new(re)),
                            span,
                        },
                        Ty::Bool,
                    )
                }
                Err(e) => {
                    self.error(
                        Problem::BadLiteral { what: "regular expression", detail: e.to_string() },
                        args[1].span,
                        "does not compile",
                        "see the `regex` crate's syntax; escape a backslash as \\\\ inside the string",
                    );
                    any
                }
            };
        }
        if let (
            Func::StartsWith | Func::EndsWith | Func::Contains,
            [_, CExpr {
                kind: CKind::Const(Value::Str(needle)),
                ..
            }],
        ) = (func, cs.as_slice())
        {
            if types[0] == Ty::Str || types[0] == Ty::Null {
                let needle: Arc<str> = Arc::from(needle.as_ref());
                let subject = cs.swap_remove(0);
                return (
                    CExpr {
                        kind: CKind::TextTest(func, Box::new(subject), needle),
                        span,
                    },
                    ty,
                );
            }
        }
        (
            CExpr {
                kind: CKind::Call(func, cs),
                span,
            },
            ty,
        )
    }

    fn unused_lets(&mut self) {
        let mut unused: Vec<(String, Span)> = self
            .lets
            .iter()
            .filter(|(_, s)| !s.used)
            .map(|(n, s)| (n.clone(), s.span))
            .collect();
        unused.sort_by_key(|(_, s)| (s.file, s.start));
        for (name, span) in unused {
            // Still check its body, so errors in an unused let are not hidden.
            let _ = self.let_value(&name, span);
            self.error(
                Problem::UnusedLet { name: name.clone() },
                span,
                "never used",
                "remove it, or use it in a rule",
            );
        }
    }

    fn finish(&mut self) -> Option<Program> {
        // Write-backs from an account attribute need that account and attribute.
        let mut problems = Vec::new();
        for st in &self.statements {
            for a in &st.actions {
                if let CEffect::Writeback {
                    source: WritebackValue::Account { target, attribute },
                    ..
                } = a
                {
                    let span = self.origins[st.origin as usize].span;
                    let tname = &self.targets[*target as usize].name;
                    match self.accounts.iter().find(|s| s.target == *target) {
                        None => problems.push(Diagnostic::new(
                            Problem::WritebackWithoutAccount { target: tname.to_string(), attribute: attribute.to_string() },
                            span,
                            "nothing to write back",
                            format!("add `account in {tname} {{ set {attribute} = ... }}`, or write back a computed value with `= EXPR`"),
                        )),
                        Some(spec) if !spec.attributes.iter().any(|(n, _)| n == attribute) => {
                            let names: Vec<&str> = spec.attributes.iter().map(|(n, _)| &**n).collect();
                            let help = match did_you_mean(attribute, names.iter().copied()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("the account in {tname} sets {}", names.join(", ")),
                            };
                            problems.push(Diagnostic::new(
                                Problem::UnknownAccountAttribute { target: tname.to_string(), attribute: attribute.to_string() },
                                span,
                                "unknown attribute",
                                help,
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        self.diags.extend(problems);
        if self.diags.iter().any(|d| d.severity == Severity::Error) {
            return None;
        }
        let mut statements = std::mem::take(&mut self.statements);
        rank_fixed_names(&mut statements);
        let index = super::index::build(&statements);
        Some(Program {
            sources: self.sources.clone(),
            targets: self.targets.clone(),
            origins: std::mem::take(&mut self.origins),
            default_target: self.default_target,
            scope_before_days: self.scope.0,
            scope_after_days: self.scope.1,
            primary_by: std::mem::take(&mut self.primary_by),
            statements,
            accounts: std::mem::take(&mut self.accounts),
            forbids: std::mem::take(&mut self.forbids),
            thresholds: std::mem::take(&mut self.thresholds),
            removal_guard: RemovalGuard::default(),
            index,
            reads: Reads::default(),
        })
        .map(|mut p| {
            p.reads = super::eval::reads_of(&p);
            if !p.accounts.is_empty() {
                p.reads.primary = true;
            }
            p
        })
    }
}

/// Numbers the constant grant names in text order, so that evaluation can sort grants
/// by number (two constant names compare like their ranks).
fn rank_fixed_names(statements: &mut [Statement]) {
    let mut names: Vec<Arc<str>> = statements
        .iter()
        .flat_map(|s| &s.actions)
        .filter_map(|a| match a {
            CEffect::Grant {
                fixed_name: Some((n, _)),
                ..
            } => Some(n.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    for st in statements {
        for a in &mut st.actions {
            if let CEffect::Grant {
                fixed_name: Some((n, rank)),
                ..
            } = a
            {
                *rank = names.binary_search(n).map_or(u32::MAX, |i| i as u32);
                // One shared text per name, whichever statement grants it.
                if let Ok(i) = names.binary_search(n) {
                    *n = names[i].clone();
                }
            }
        }
    }
}

/// Rebinds contract fields to the primary contract (a `let` used in an attribute).
fn to_primary(mut c: CExpr) -> CExpr {
    fn walk(c: &mut CExpr) {
        match &mut c.kind {
            CKind::Contract(f) => c.kind = CKind::Primary(*f),
            CKind::Not(e)
            | CKind::IsEmpty(e, _)
            | CKind::Matches(e, _)
            | CKind::InSet(e, _, _)
            | CKind::TextTest(_, e, _) => walk(e),
            CKind::And(v) | CKind::Or(v) | CKind::List(v) | CKind::Call(_, v) => {
                v.iter_mut().for_each(walk)
            }
            CKind::Cmp(_, a, b) | CKind::In(a, b, _) | CKind::Add(a, b) | CKind::Sub(a, b) => {
                walk(a);
                walk(b);
            }
            _ => {}
        }
    }
    walk(&mut c);
    c
}

/// A null constant standing in for what could not be compiled (a diagnostic says why).
fn null_at(span: Span) -> CExpr {
    CExpr {
        kind: CKind::Const(Value::Null),
        span,
    }
}
