//! Account blocks: lifecycle timing and attribute rules, `unique` included.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn account(&mut self, block: &'a ast::AccountBlock, rule: Option<&str>, span: Span) {
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
            correlation: Vec::new(),
        };
        let mut correlate_lines = Vec::new();
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
                AccountItem::Correlate { keys, span } => correlate_lines.push((keys, *span)),
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
                    self.attribute_taken(target, attribute);
                    if let Some(rule) = rule {
                        spec.attributes
                            .push((Arc::from(attribute.name.as_str()), rule));
                    }
                }
            }
        }
        // After the `set` lines, wherever they stand: a bare key refers to one.
        for (keys, line_span) in correlate_lines {
            if let Some(c) = self.correlation(&spec, tk, rule, keys, line_span) {
                spec.correlation.push(c);
            }
        }
        self.accounts.push(spec);
    }

    /// A `set` attribute the target would not send gets a warning: one outside what
    /// its kind maps, or outside what its system announced (when it was asked).
    fn attribute_taken(&mut self, target: u16, attribute: &ast::Ident) {
        let decl = &self.targets[target as usize];
        let name = attribute.name.as_str();
        let known = decl.kind.known_attributes();
        let (taken, help): (Vec<&str>, String) =
            if decl.kind.sends_known_attributes_only() && !has(known.iter().copied(), name) {
                let help = format!("a {} target sends only the attributes it maps", decl.kind);
                (known.to_vec(), help)
            } else {
                match &decl.schema {
                    Some(schema) if !has(schema.attributes.iter().map(|a| &**a), name) => {
                        let help = format!(
                            "{} announces no `{name}` for its users, so the application would \
                             refuse or drop it",
                            schema.source
                        );
                        (schema.attributes.iter().map(|a| &**a).collect(), help)
                    }
                    _ => return,
                }
            };
        let hint = did_you_mean(name, taken.iter().copied());
        let help = match hint {
            Some(s) => format!("{help}: did you mean `{s}`?"),
            None if taken.is_empty() => help,
            None => format!("{help}; it takes {}", taken.join(", ")),
        };
        let problem = Problem::AttributeNotTaken {
            target: decl.name.to_string(),
            attribute: name.to_string(),
        };
        let mut d = Diagnostic::new(problem, attribute.span, "not sent", help);
        d.replacement = hint.map(String::from);
        self.diags.push(d);
    }

    /// A `correlate` key's own value: text, where contract fields mean the primary
    /// contract's (as in `set` lines).
    fn correlation_value(&mut self, e: &'a ast::Expr) -> Option<CExpr> {
        self.place = Place::Attribute;
        let c = self.string_expr(e, "a correlation value");
        self.place = Place::Rule;
        c
    }

    /// One `correlate` line: each key names an attribute (a known one, or a warning with
    /// a suggestion) and a text value, its own or its `set` line's.
    fn correlation(
        &mut self,
        spec: &AccountSpec,
        kind: TargetKind,
        rule: Option<&str>,
        keys: &'a [ast::CorrelateKey],
        line_span: Span,
    ) -> Option<Correlation> {
        let target = self.targets[spec.target as usize].name.clone();
        let mut out = Vec::with_capacity(keys.len());
        let mut ok = true;
        for key in keys {
            let name = &key.attribute.name;
            if out
                .iter()
                .any(|k: &CorrelationKey| k.attribute.eq_ignore_ascii_case(name))
            {
                self.error(
                    Problem::DuplicateDeclaration {
                        what: format!("correlate key {name}"),
                    },
                    key.attribute.span,
                    "named twice on this line",
                    "an attribute holds one value; name it once",
                );
                ok = false;
                continue;
            }
            let known = kind.known_attributes();
            if !known.is_empty() && !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                let hint = did_you_mean(name, known.iter().copied());
                let help = match hint {
                    Some(s) => format!("did you mean `{s}`? (a schema extension is fine: then ignore this)"),
                    None => format!(
                        "{kind} accounts are known to have {}; a schema extension is fine: then ignore this",
                        known.iter().take(8).copied().collect::<Vec<_>>().join(", ")
                    ),
                };
                let mut d = Diagnostic::new(
                    Problem::UnknownCorrelationAttribute {
                        target: target.to_string(),
                        attribute: name.clone(),
                    },
                    key.attribute.span,
                    "not a known attribute",
                    help,
                );
                d.replacement = hint.map(String::from);
                self.diags.push(d);
            }
            let value = match &key.value {
                Some(e) => match self.correlation_value(e) {
                    Some(c) => KeyValue::Expr(c),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                None => match spec
                    .attributes
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some(k) => KeyValue::Set(k),
                    None => {
                        self.error(
                            Problem::UnknownAccountAttribute {
                                target: target.to_string(),
                                attribute: name.clone(),
                            },
                            key.attribute.span,
                            "no `set` line gives it",
                            format!(
                                "give the person's value: `correlate {name} = ...`, or add `set {name} = ...` to this block"
                            ),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            out.push(CorrelationKey {
                attribute: Arc::from(name.as_str()),
                value,
            });
        }
        if !ok {
            return None;
        }
        let origin = self.origin(rule, line_span);
        Some(Correlation { origin, keys: out })
    }

    pub(super) fn attr_value(&mut self, v: &AttrValue) -> Option<AttrRule> {
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
}

/// True when `names` holds `name`, as attribute names compare: case-insensitively.
fn has<'n>(mut names: impl Iterator<Item = &'n str>, name: &str) -> bool {
    names.any(|n| n.eq_ignore_ascii_case(name))
}
