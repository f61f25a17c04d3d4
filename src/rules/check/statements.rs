//! Statements: conditions, grants and write-backs, each checked against its target's
//! kind, compiled into [`Statement`]s.

use super::*;

impl<'a> Checker<'a> {
    /// The third pass (after declarations and lets): every statement, including
    /// those inside rules, compiled into what plans are made from.
    pub(super) fn statements(&mut self) {
        let stmts: Vec<&'a ast::Stmt> = self.all_stmts().collect();
        for s in stmts {
            self.stmt(s, None);
        }
    }

    pub(super) fn stmt(&mut self, s: &'a ast::Stmt, rule: Option<&'a str>) {
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
            StmtKind::Group(block) => self.group(block, s.span),
            StmtKind::Handover(block) => self.handover(block, s.span),
            StmtKind::Forbid(a, b) => {
                let origin = self.origin(rule, s.span);
                if let (Some(a), Some(b)) =
                    (self.constant_entitlement(a), self.constant_entitlement(b))
                {
                    self.forbids.push(Forbid { a, b, origin });
                }
            }
            StmtKind::Threshold { op, limits, above } => {
                let origin = self.origin(rule, s.span);
                self.threshold(op, limits, *above, origin);
            }
            _ => {}
        }
    }

    pub(super) fn condition(&mut self, e: &ast::Expr) -> Option<CExpr> {
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
    pub(super) fn comparison_help(&self, span: Span, ty: &Ty) -> String {
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

    pub(super) fn statement<'b>(
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

    pub(super) fn entitlement_target(&mut self, e: &ast::Entitlement) -> Option<TargetId> {
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

    pub(super) fn kind(&mut self, ident: &ast::Ident) -> Option<Kind> {
        let k = Kind::parse(&ident.name);
        if k.is_none() {
            let kinds = ["group", "license", "mailbox", "permission"];
            let hint = match did_you_mean(&ident.name, kinds) {
                None if ident.name == "licence" => Some("license"),
                hint => hint,
            };
            let help = match hint {
                Some("license") if ident.name == "licence" => "Stroom spells it `license`".into(),
                Some(s) => format!("did you mean `{s}`?"),
                None => "the kinds are group, license, mailbox and permission".into(),
            };
            self.error(
                Problem::UnknownKind {
                    name: ident.name.clone(),
                },
                ident.span,
                "no such kind",
                help,
            )
            .replacement = hint.map(String::from);
        }
        k
    }

    /// Checks that a kind fits its target and that `on` is used exactly for permissions.
    pub(super) fn kind_fits(&mut self, e: &ast::Entitlement, kind: Kind, target: TargetId) -> bool {
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

    pub(super) fn string_expr(&mut self, e: &ast::Expr, what: &str) -> Option<CExpr> {
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

    pub(super) fn action(&mut self, a: &Effect) -> Option<CEffect> {
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
                    let hint = did_you_mean(&field.name, WRITEBACK_FIELDS.iter().copied());
                    let help = match hint {
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
                    )
                    .replacement = hint.map(String::from);
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

    pub(super) fn constant_entitlement(
        &mut self,
        e: &ast::Entitlement,
    ) -> Option<(TargetId, Kind, Arc<str>)> {
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
}
