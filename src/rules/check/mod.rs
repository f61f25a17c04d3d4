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

mod accounts;
mod declarations;
mod expr;
mod groups;
mod handover;
mod lets;
mod statements;

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
    /// The type of every `let` that compiled, by name (for editors' hovers).
    pub let_types: HashMap<String, Ty>,
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
    // The passes, each in its own file: declarations.rs, lets.rs, statements.rs
    // (with expr.rs and accounts.rs for what statements contain), then the lints.
    c.declarations();
    c.compile_lets();
    c.statements();
    c.unused_lets();
    let program = c.finish();
    let Checker {
        mut diags, lets, ..
    } = c;
    let let_types = lets
        .into_iter()
        .filter_map(|(name, slot)| match slot.state {
            LetState::Done(_, ty, _) => Some((name, ty)),
            _ => None,
        })
        .collect();
    let had_errors = diags.iter().any(Diagnostic::is_error);
    if let Some(p) = &program {
        diags.extend(lint::lint(p, &sources));
    }
    diags.sort_by_key(|d| (d.severity, d.span.file, d.span.start));
    Checked {
        program: if had_errors { None } else { program },
        diagnostics: diags,
        sources,
        let_types,
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
    groups: Vec<ManagedGroup>,
    handovers: Vec<Handover>,
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
        // A given target of a built-in name (with its configured host) takes its place.
        for t in &mut targets {
            if let Some(g) = given.iter().find(|g| g.name == t.name && g.kind == t.kind) {
                *t = g.clone();
            }
        }
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
            groups: Vec::new(),
            handovers: Vec::new(),
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
    ) -> &mut Diagnostic {
        self.diags.push(Diagnostic::new(problem, span, label, help));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// A declaration (or a line of one) made twice: where again, where first.
    fn declared_twice(
        &mut self,
        what: String,
        again: (Span, &str),
        first: (Span, &str),
        help: &str,
    ) {
        self.diags.push(
            Diagnostic::new(
                Problem::DuplicateDeclaration { what },
                again.0,
                again.1,
                help,
            )
            .with_related(first.0, first.1),
        );
    }

    fn all_stmts(&self) -> impl Iterator<Item = &'a ast::Stmt> {
        let files: &'a [ast::File] = self.files;
        files.iter().flat_map(|f| f.stmts.iter())
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
        // A hand-over needs the account it hands over.
        for h in &self.handovers {
            if !self.accounts.iter().any(|a| a.target == h.target) {
                let tname = &self.targets[h.target as usize].name;
                problems.push(Diagnostic::new(
                    Problem::BadHandover {
                        detail: format!("no `account in {tname}` block makes the accounts to hand over"),
                    },
                    self.origins[h.origin as usize].span,
                    "nothing to hand over",
                    format!("add `account in {tname} {{ ... }}`, or hand over in the target whose accounts the rules make"),
                ));
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
            groups: std::mem::take(&mut self.groups),
            handovers: std::mem::take(&mut self.handovers),
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
