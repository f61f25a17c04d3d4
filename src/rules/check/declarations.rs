//! The first pass: declarations (targets, `default target`, `scope`, `primary contract
//! by`, thresholds, `forbid`), and the names everything else resolves against.

use super::*;

impl<'a> Checker<'a> {
    /// First pass: targets, default target, scope, primary contract, lets, rule names.
    pub(super) fn declarations(&mut self) {
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

    pub(super) fn sort_keys(&mut self, keys: &[ast::SortKey]) -> Vec<(ContractField, bool)> {
        let mut out = Vec::new();
        for k in keys {
            match ContractField::by_name(&k.field.name) {
                Some((f, ty)) if ty != Ty::Bool => out.push((f, k.descending)),
                _ => {
                    let names = CONTRACT_FIELDS.iter().map(|(n, ..)| *n);
                    let hint = did_you_mean(&k.field.name, names);
                    let help = match hint {
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
                    )
                    .replacement = hint.map(String::from);
                }
            }
        }
        out
    }

    pub(super) fn target(&mut self, name: &ast::Ident) -> Option<TargetId> {
        if let Some(i) = self.targets.iter().position(|t| *t.name == name.name) {
            return Some(i as TargetId);
        }
        let names: Vec<&str> = self.targets.iter().map(|t| &*t.name).collect();
        let hint = did_you_mean(&name.name, names.iter().copied()).map(String::from);
        let help = match &hint {
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
        )
        .replacement = hint;
        None
    }

    pub(super) fn origin(&mut self, rule: Option<&str>, span: Span) -> OriginId {
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

    pub(super) fn threshold(
        &mut self,
        op: &ast::Ident,
        limits: &[ast::Limit],
        above: Option<(u64, Span)>,
        origin: OriginId,
    ) {
        let Some(kind) = OpKind::parse(&op.name) else {
            let names: Vec<&str> = OpKind::ALL.iter().map(|o| o.as_str()).collect();
            let short: Vec<&str> = names
                .iter()
                .map(|n| n.trim_end_matches("_account"))
                .collect();
            let hint = did_you_mean(&op.name, short.iter().copied());
            let help = match hint {
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
            )
            .replacement = hint.map(String::from);
            return;
        };
        let mut t = Threshold {
            op: kind,
            max_count: None,
            max_percent: None,
            percent_above: above.map_or(PERCENT_ABOVE, |(n, _)| n),
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
        if let (Some((n, span)), None) = (above, t.max_percent) {
            self.error(
                Problem::BadThreshold {
                    detail: format!(
                        "`above {n}` belongs to a percentage, and this threshold has none"
                    ),
                },
                span,
                "no percentage to apply it to",
                format!(
                    "add one: `threshold {} max {} or 10% above {n}`, or leave `above` out",
                    op.name,
                    t.max_count.unwrap_or(25)
                ),
            );
        }
        self.thresholds.push(t);
    }
}
