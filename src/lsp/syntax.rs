//! The names a rule file mentions, found in its syntax tree: what the editor can point
//! at (hover, go to definition, references) and what the outline shows.

use crate::rules::ast::*;
use crate::rules::span::Span;

/// One name in a rule file, with what it names.
#[derive(Debug, Clone, Copy)]
pub enum Name<'a> {
    /// A path in an expression: a field (`department`, `manager.email`) or a `let`.
    Path(&'a [Ident]),
    /// A function's name in a call.
    Function(&'a Ident),
    /// The name of `let NAME = ...`.
    LetDefinition(&'a Ident),
    /// The name of `rule "NAME" { ... }`.
    RuleDefinition(&'a StrLit),
    /// The name of `target NAME`.
    TargetDefinition(&'a Ident),
    /// A target named where it is used (`in ad`, `account in entra`, `from entra.mail`,
    /// `default target ad`).
    Target(&'a Ident),
    /// An entitlement kind (`group`, `license`, ...).
    Kind(&'a Ident),
    /// An entitlement whose name is a string literal (`grant group "GG-Sales"`), with
    /// that name.
    Entitlement(&'a Entitlement, &'a str),
    /// The pattern of a `group "PATTERN" in TARGET` declaration.
    GroupPattern(&'a GroupBlock),
    /// An account attribute: `set NAME = ...`, `correlate NAME`, `from T.NAME`.
    Attribute {
        /// The target whose account it is.
        target: &'a Ident,
        /// The attribute.
        attribute: &'a Ident,
    },
}

impl Name<'_> {
    /// Where the name stands.
    pub fn span(&self) -> Span {
        match self {
            Name::Path(segs) => match (segs.first(), segs.last()) {
                (Some(a), Some(b)) => a.span.to(b.span),
                _ => Span::default(),
            },
            Name::Function(i)
            | Name::LetDefinition(i)
            | Name::TargetDefinition(i)
            | Name::Target(i)
            | Name::Kind(i) => i.span,
            Name::RuleDefinition(s) => s.span,
            Name::Entitlement(e, _) => e.name.span,
            Name::GroupPattern(g) => g.pattern.span,
            Name::Attribute { attribute, .. } => attribute.span,
        }
    }
}

/// Calls `f` with every name in `file`, in source order within each statement.
pub fn names<'a>(file: &'a File, f: &mut dyn FnMut(Name<'a>)) {
    let mut stmts: Vec<&'a Stmt> = file.stmts.iter().rev().collect();
    while let Some(stmt) = stmts.pop() {
        match &stmt.kind {
            StmtKind::Let { name, value } => {
                f(Name::LetDefinition(name));
                expr(value, f);
            }
            StmtKind::DefaultTarget(t) => f(Name::Target(t)),
            StmtKind::Target(t) => f(Name::TargetDefinition(t)),
            StmtKind::Include(_)
            | StmtKind::Scope { .. }
            | StmtKind::Primary(_)
            | StmtKind::Threshold { .. } => {}
            StmtKind::Forbid(a, b) => {
                entitlement(a, f);
                entitlement(b, f);
            }
            StmtKind::Rule { name, body } => {
                f(Name::RuleDefinition(name));
                stmts.extend(body.iter().rev());
            }
            StmtKind::When { cond, actions } => {
                expr(cond, f);
                for a in actions {
                    effect(a, f);
                }
            }
            StmtKind::Effect(a) => effect(a, f),
            StmtKind::Account(block) => account(block, f),
            StmtKind::Group(g) => {
                f(Name::GroupPattern(g));
                f(Name::Target(&g.target));
            }
            StmtKind::Handover(h) => {
                f(Name::Target(&h.target));
                for item in &h.items {
                    if let HandoverItem::To(e) = item {
                        expr(e, f);
                    }
                }
            }
        }
    }
}

fn account<'a>(block: &'a AccountBlock, f: &mut dyn FnMut(Name<'a>)) {
    let target = &block.target;
    f(Name::Target(target));
    for item in &block.items {
        match item {
            AccountItem::When(e) => expr(e, f),
            AccountItem::Create(_) | AccountItem::Disable(_) | AccountItem::Delete(_) => {}
            AccountItem::Correlate { keys, .. } => {
                for k in keys {
                    f(Name::Attribute {
                        target,
                        attribute: &k.attribute,
                    });
                    if let Some(v) = &k.value {
                        expr(v, f);
                    }
                }
            }
            AccountItem::Set {
                attribute, value, ..
            } => {
                f(Name::Attribute { target, attribute });
                match value {
                    AttrValue::Expr(e) => expr(e, f),
                    AttrValue::Unique {
                        candidates, ending, ..
                    } => {
                        for c in candidates.iter().chain(ending) {
                            expr(c, f);
                        }
                    }
                }
            }
        }
    }
}

fn effect<'a>(e: &'a Effect, f: &mut dyn FnMut(Name<'a>)) {
    match e {
        Effect::Grant(ent) => entitlement(ent, f),
        Effect::Writeback { source, .. } => match source {
            WritebackSource::Account { target, attribute } => {
                f(Name::Target(target));
                f(Name::Attribute { target, attribute });
            }
            WritebackSource::Expr(e) => expr(e, f),
        },
    }
}

fn entitlement<'a>(e: &'a Entitlement, f: &mut dyn FnMut(Name<'a>)) {
    f(Name::Kind(&e.kind));
    match &e.name.kind {
        ExprKind::Literal(Literal::Str(name)) => f(Name::Entitlement(e, name)),
        _ => expr(&e.name, f),
    }
    if let Some(on) = &e.on {
        expr(on, f);
    }
    if let Some(t) = &e.target {
        f(Name::Target(t));
    }
}

/// The names in an expression, without recursion (expressions nest deeply).
fn expr<'a>(e: &'a Expr, f: &mut dyn FnMut(Name<'a>)) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Literal(_) => {}
            ExprKind::Path(segs) => f(Name::Path(segs)),
            ExprKind::Call { name, args } => {
                f(Name::Function(name));
                stack.extend(args.iter().rev());
            }
            ExprKind::List(items) => stack.extend(items.iter().rev()),
            ExprKind::Not(x) | ExprKind::IsEmpty { expr: x, .. } => stack.push(x),
            ExprKind::Binary { lhs, rhs, .. } => {
                stack.push(rhs);
                stack.push(lhs);
            }
        }
    }
}
