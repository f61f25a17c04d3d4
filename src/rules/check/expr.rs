//! Expressions: names, paths, operators and function calls, typed and compiled,
//! within the depth limits.

use super::*;

impl<'a> Checker<'a> {
    /// Compiles an expression and infers its type. On error it reports and returns
    /// `Ty::Any`, so one mistake gives one diagnostic.
    pub(super) fn expr(&mut self, e: &ast::Expr) -> (CExpr, Ty) {
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

    pub(super) fn expr_inner(&mut self, e: &ast::Expr) -> (CExpr, Ty) {
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

    pub(super) fn want_bool(&mut self, t: &Ty, span: Span, what: &str) {
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

    pub(super) fn binary(
        &mut self,
        op: BinOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
    ) -> (CExpr, Ty) {
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

    pub(super) fn mismatch(
        &mut self,
        lt: &Ty,
        rt: &Ty,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        op: BinOp,
    ) {
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

    pub(super) fn unknown_field(
        &mut self,
        name: &str,
        span: Span,
        candidates: Vec<String>,
    ) -> (CExpr, Ty) {
        let hint = did_you_mean(name, candidates.iter().map(String::as_str));
        let help = match hint {
            Some(s) => format!("did you mean `{s}`?"),
            None => "see the field list in the book (Language reference → Fields); free fields are `extra.NAME`".into(),
        };
        self.error(
            Problem::UnknownField { name: name.into() },
            span,
            "no such field",
            help,
        )
        .replacement = hint.map(String::from);
        (
            CExpr {
                kind: CKind::Const(Value::Null),
                span,
            },
            Ty::Any,
        )
    }

    pub(super) fn path(&mut self, segs: &[ast::Ident], span: Span) -> (CExpr, Ty) {
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

    pub(super) fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> (CExpr, Ty) {
        let compiled: Vec<(CExpr, Ty)> = args.iter().map(|a| self.expr(a)).collect();
        let any = (
            CExpr {
                kind: CKind::Const(Value::Null),
                span,
            },
            Ty::Any,
        );
        let Some(info) = Func::by_name(&name.name) else {
            let hint = did_you_mean(&name.name, FUNCTIONS.iter().map(|f| f.name));
            let help = match hint {
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
            )
            .replacement = hint.map(String::from);
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
}
