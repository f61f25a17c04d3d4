//! `let`s: compiled in written order (a forward reference compiles its target first,
//! within [`MAX_LET_NESTING`]), inlined where used within [`MAX_INLINED_NODES`], and
//! reported when unused.

use super::*;

impl<'a> Checker<'a> {
    /// Compiles every `let` in the order written, so that a chain of lets (each using
    /// the one before) is compiled one link at a time instead of by recursion from its
    /// last link.
    pub(super) fn compile_lets(&mut self) {
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

    pub(super) fn let_value(&mut self, name: &str, span: Span) -> (CExpr, Ty) {
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
    pub(super) fn may_inline(&mut self, name: &str, shape: Shape, span: Span) -> bool {
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

    pub(super) fn unused_lets(&mut self) {
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
}
