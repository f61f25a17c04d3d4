//! The formatter: one canonical layout for rule files, comments kept. Its output is
//! parsed again and must mean the same as the input (same syntax tree), or nothing is
//! written.

use super::ast::*;
use super::diagnostic::Diagnostic;
use super::parse::parse_file;
use std::fmt::Write;

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FormatError {
    /// The file has syntax errors; fix them first.
    Syntax(Vec<Diagnostic>),
    /// The formatted text would not mean the same (a bug in Stroom, never your rules).
    Changed,
}

/// Formats rule text.
pub fn format_source(text: &str) -> Result<String, FormatError> {
    let (file, diags) = parse_file(0, text);
    if !diags.is_empty() {
        return Err(FormatError::Syntax(diags));
    }
    let out = format_file(&file, text);
    let (again, diags) = parse_file(0, &out);
    if !diags.is_empty() || again != file {
        return Err(FormatError::Changed);
    }
    Ok(out)
}

/// Prints a parsed file. `text` is its source (for blank-line and comment placement).
pub fn format_file(file: &File, text: &str) -> String {
    let mut p = Printer {
        out: String::new(),
        comments: &file.comments,
        next: 0,
        text,
    };
    p.stmts(&file.stmts, 0);
    p.comments_before(u32::MAX, 0, false);
    let trimmed = p.out.trim_end().to_string();
    if trimmed.is_empty() {
        trimmed
    } else {
        trimmed + "\n"
    }
}

struct Printer<'a> {
    out: String,
    comments: &'a [Comment],
    next: usize,
    text: &'a str,
}

impl Printer<'_> {
    fn indent(&mut self, depth: usize) {
        self.out.push_str(&"  ".repeat(depth));
    }

    /// Emits the comments that start before `pos`, each on its own line.
    fn comments_before(&mut self, pos: u32, depth: usize, blank_after_gap: bool) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            if blank_after_gap
                && self.blank_line_before(c.span.start)
                && !self.out.is_empty()
                && !self.out.ends_with("{\n")
            {
                self.ensure_blank();
            }
            self.indent(depth);
            let _ = writeln!(self.out, "#{}", c.text);
            self.next += 1;
        }
    }

    /// A comment on the same line as the end of a statement stays behind it.
    fn trailing_comment(&mut self, end: u32) {
        if let Some(c) = self.comments.get(self.next) {
            let between = self
                .text
                .get(end as usize..c.span.start as usize)
                .unwrap_or("\n");
            if !between.contains('\n') {
                if self.out.ends_with('\n') {
                    self.out.pop();
                }
                let _ = writeln!(self.out, "  #{}", c.text);
                self.next += 1;
            }
        }
    }

    fn blank_line_before(&self, pos: u32) -> bool {
        let before = &self.text[..(pos as usize).min(self.text.len())];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let Some(rest) = trimmed.strip_suffix('\n') else {
            return false;
        };
        rest.trim_end_matches([' ', '\t', '\r']).ends_with('\n')
    }

    fn ensure_blank(&mut self) {
        if !self.out.ends_with("\n\n") && !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn stmts(&mut self, stmts: &[Stmt], depth: usize) {
        for (i, s) in stmts.iter().enumerate() {
            if i > 0
                && (self.blank_line_before(self.first_pos(s))
                    || matches!(
                        s.kind,
                        StmtKind::Rule { .. }
                            | StmtKind::Account(_)
                            | StmtKind::Group(_)
                            | StmtKind::Handover(_)
                    ))
            {
                self.ensure_blank();
            }
            let emitted = self.next;
            self.comments_before(s.span.start, depth, true);
            if self.next > emitted && self.blank_line_before(s.span.start) {
                self.ensure_blank();
            }
            self.stmt(s, depth);
            self.trailing_comment(s.span.end);
            if matches!(
                s.kind,
                StmtKind::Rule { .. } | StmtKind::Account(_) | StmtKind::Group(_)
            ) && i + 1 < stmts.len()
            {
                self.ensure_blank();
            }
        }
    }

    /// Where a statement's leading comments begin (for blank-line detection).
    fn first_pos(&self, s: &Stmt) -> u32 {
        match self.comments.get(self.next) {
            Some(c) if c.span.start < s.span.start => c.span.start,
            _ => s.span.start,
        }
    }

    fn stmt(&mut self, s: &Stmt, depth: usize) {
        self.indent(depth);
        match &s.kind {
            StmtKind::Let { name, value } => {
                let _ = writeln!(self.out, "let {} = {}", name.name, expr(value, 0));
            }
            StmtKind::DefaultTarget(t) => {
                let _ = writeln!(self.out, "default target {}", t.name);
            }
            StmtKind::Target(t) => {
                let _ = writeln!(self.out, "target {}", t.name);
            }
            StmtKind::Include(p) => {
                let _ = writeln!(self.out, "include {}", string(&p.value));
            }
            StmtKind::Scope { before, after } => {
                self.out.push_str("scope");
                if let Some(b) = before {
                    let _ = write!(
                        self.out,
                        " from {} before start",
                        duration(b.amount, b.unit)
                    );
                }
                if let Some(a) = after {
                    let _ = write!(self.out, " until {} after end", duration(a.amount, a.unit));
                }
                self.out.push('\n');
            }
            StmtKind::Primary(keys) => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{} {}",
                            k.field.name,
                            if k.descending { "desc" } else { "asc" }
                        )
                    })
                    .collect();
                let _ = writeln!(self.out, "primary contract by {}", keys.join(", "));
            }
            StmtKind::Forbid(a, b) => {
                let _ = writeln!(
                    self.out,
                    "forbid {} with {}",
                    entitlement(a),
                    entitlement(b)
                );
            }
            StmtKind::Threshold { op, limits, above } => {
                let limits: Vec<String> = limits
                    .iter()
                    .map(|l| format!("{}{}", l.value, if l.percent { "%" } else { "" }))
                    .collect();
                let above = above
                    .map(|(n, _)| format!(" above {n}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    self.out,
                    "threshold {} max {}{above}",
                    op.name,
                    limits.join(" or ")
                );
            }
            StmtKind::Rule { name, body } => {
                let _ = writeln!(self.out, "rule {} {{", string(&name.value));
                self.stmts(body, depth + 1);
                self.comments_before(s.span.end, depth + 1, true);
                self.indent(depth);
                self.out.push_str("}\n");
            }
            StmtKind::When { cond, actions } => {
                let _ = writeln!(self.out, "when {}", expr(cond, 0));
                for a in actions {
                    self.comments_before(a.span().start, depth + 1, false);
                    self.indent(depth + 1);
                    let _ = writeln!(self.out, "{}", action(a));
                }
            }
            StmtKind::Effect(a) => {
                let _ = writeln!(self.out, "{}", action(a));
            }
            StmtKind::Account(block) => {
                let _ = writeln!(self.out, "account in {} {{", block.target.name);
                for item in &block.items {
                    let start = match item {
                        AccountItem::When(e) => e.span.start,
                        AccountItem::Create(d)
                        | AccountItem::Disable(d)
                        | AccountItem::Delete(d) => d.span.start,
                        AccountItem::Set { span, .. } | AccountItem::Correlate { span, .. } => {
                            span.start
                        }
                    };
                    self.comments_before(start, depth + 1, true);
                    self.indent(depth + 1);
                    match item {
                        AccountItem::When(e) => {
                            let _ = writeln!(self.out, "when {}", expr(e, 0));
                        }
                        AccountItem::Create(d) => {
                            let _ = writeln!(
                                self.out,
                                "create {} before start",
                                duration(d.amount, d.unit)
                            );
                        }
                        AccountItem::Disable(d) => {
                            let _ = writeln!(
                                self.out,
                                "disable {} after end",
                                duration(d.amount, d.unit)
                            );
                        }
                        AccountItem::Delete(d) => {
                            let _ = writeln!(
                                self.out,
                                "delete {} after disable",
                                duration(d.amount, d.unit)
                            );
                        }
                        AccountItem::Correlate { keys, .. } => {
                            let keys: Vec<String> = keys
                                .iter()
                                .map(|k| match &k.value {
                                    Some(e) => format!("{} = {}", k.attribute.name, expr(e, 0)),
                                    None => k.attribute.name.clone(),
                                })
                                .collect();
                            let _ = writeln!(self.out, "correlate {}", keys.join(", "));
                        }
                        AccountItem::Set {
                            attribute,
                            value,
                            span,
                        } => {
                            let v = match value {
                                AttrValue::Expr(e) => expr(e, 0),
                                AttrValue::Unique {
                                    candidates,
                                    max,
                                    ending,
                                    ..
                                } => {
                                    let mut s = format!(
                                        "unique [{}]",
                                        candidates
                                            .iter()
                                            .map(|c| expr(c, 0))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    );
                                    if let Some((m, _)) = max {
                                        let _ = write!(s, " max {m}");
                                    }
                                    if let Some(e) = ending {
                                        let _ = write!(s, " ending {}", expr(e, NAME_PREC));
                                    }
                                    s
                                }
                            };
                            let _ = writeln!(self.out, "set {} = {v}", attribute.name);
                            self.trailing_comment(span.end);
                        }
                    }
                }
                self.comments_before(s.span.end, depth + 1, true);
                self.indent(depth);
                self.out.push_str("}\n");
            }
            StmtKind::Handover(block) => {
                let _ = writeln!(self.out, "handover in {} {{", block.target.name);
                for item in &block.items {
                    self.comments_before(item.start(), depth + 1, true);
                    self.indent(depth + 1);
                    let line = match item {
                        HandoverItem::On(w) => format!("on {}", w.name),
                        HandoverItem::To(e) => format!("to {}", expr(e, 0)),
                        HandoverItem::Via { channel, name } => match name {
                            Some(n) => format!("via {} {}", channel.name, string(&n.value)),
                            None => format!("via {}", channel.name),
                        },
                        HandoverItem::Valid(d) => format!("valid {}", duration(d.amount, d.unit)),
                        HandoverItem::Notify(w) => format!("notify {}", w.name),
                    };
                    let _ = writeln!(self.out, "{line}");
                }
                self.comments_before(s.span.end, depth + 1, true);
                self.indent(depth);
                self.out.push_str("}\n");
            }
            StmtKind::Group(block) => {
                let _ = write!(
                    self.out,
                    "group {} in {}",
                    string(&block.pattern.value),
                    block.target.name
                );
                if block.settings.is_empty() {
                    self.out.push('\n');
                    return;
                }
                self.out.push_str(" {\n");
                for setting in &block.settings {
                    self.comments_before(setting.name.span.start, depth + 1, true);
                    self.indent(depth + 1);
                    let value = match &setting.value {
                        SettingValue::Text(t) => string(&t.value),
                        SettingValue::Word(w) => w.name.clone(),
                    };
                    let _ = writeln!(self.out, "{} {value}", setting.name.name);
                }
                self.comments_before(s.span.end, depth + 1, true);
                self.indent(depth);
                self.out.push_str("}\n");
            }
        }
    }
}

/// The lowest precedence printable without parentheses where a name is expected.
const NAME_PREC: u8 = 6;

fn entitlement(e: &Entitlement) -> String {
    let mut s = format!("{} {}", e.kind.name, expr(&e.name, NAME_PREC));
    if let Some(on) = &e.on {
        let _ = write!(s, " on {}", expr(on, NAME_PREC));
    }
    if let Some(t) = &e.target {
        let _ = write!(s, " in {}", t.name);
    }
    s
}

fn action(a: &Effect) -> String {
    match a {
        Effect::Grant(e) => format!("grant {}", entitlement(e)),
        Effect::Writeback { field, source, .. } => match source {
            WritebackSource::Account { target, attribute } => {
                format!(
                    "writeback {} from {}.{}",
                    field.name, target.name, attribute.name
                )
            }
            WritebackSource::Expr(e) => format!("writeback {} = {}", field.name, expr(e, 0)),
        },
    }
}

fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn duration(n: i64, unit: DurationUnit) -> String {
    let word = match (unit, n == 1) {
        (DurationUnit::Days, true) => "day",
        (DurationUnit::Days, false) => "days",
        (DurationUnit::Weeks, true) => "week",
        (DurationUnit::Weeks, false) => "weeks",
    };
    format!("{n} {word}")
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Not(_) => 3,
        ExprKind::IsEmpty { .. } => 5,
        _ => 7,
    }
}

/// Prints an expression, in parentheses if it binds weaker than `min`.
pub fn expr(e: &Expr, min: u8) -> String {
    let s = match &e.kind {
        ExprKind::Literal(l) => match l {
            Literal::Str(s) => string(s),
            Literal::Int(i) => i.to_string(),
            Literal::Dec(d) => d.clone(),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".into(),
            Literal::Date(d) => d.format("%Y-%m-%d").to_string(),
            Literal::Duration(n, u) => duration(*n, *u),
            Literal::Today => "today".into(),
        },
        ExprKind::Path(segs) => segs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Call { name, args } => {
            format!(
                "{}({})",
                name.name,
                args.iter()
                    .map(|a| expr(a, 0))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        ExprKind::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|a| expr(a, 0))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Not(x) => format!("not {}", expr(x, 3)),
        ExprKind::IsEmpty { expr: x, negated } => {
            format!(
                "{} is {}empty",
                expr(x, 5),
                if *negated { "not " } else { "" }
            )
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            format!("{} {} {}", expr(lhs, p), op.symbol(), expr(rhs, p + 1))
        }
    };
    if prec(e) < min {
        format!("({s})")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout_keeps_comments_and_meaning() {
        let src = "# header\nlet sales=[\"Sales\",\"Inside Sales\"]   # the sales teams\nwhen department in sales and (a==1 or b==2) grant group \"CRM\"\n\n\n\nrule \"x\" {\n# inside\nwhen not (x==1) grant group \"DEP-\"+lower(department) in ad\n}\n";
        let out = format_source(src).unwrap();
        assert_eq!(
            out,
            "# header\nlet sales = [\"Sales\", \"Inside Sales\"]  # the sales teams\nwhen department in sales and (a == 1 or b == 2)\n  grant group \"CRM\"\n\nrule \"x\" {\n  # inside\n  when not x == 1\n    grant group \"DEP-\" + lower(department) in ad\n}\n"
        );
        assert_eq!(format_source(&out).unwrap(), out);
    }

    #[test]
    fn group_declarations_keep_their_settings_and_comments() {
        let src = "group \"DEP-*\"   in ad {scope   universal\n# where\nou \"OU=Dep,DC=x\"   description \"Dept {name}\"}\ngroup \"T-*\" in entra\nwhen true grant group \"T-x\" in entra\n";
        let out = format_source(src).unwrap();
        assert_eq!(
            out,
            "group \"DEP-*\" in ad {\n  scope universal\n  # where\n  ou \"OU=Dep,DC=x\"\n  description \"Dept {name}\"\n}\n\ngroup \"T-*\" in entra\n\nwhen true\n  grant group \"T-x\" in entra\n"
        );
        assert_eq!(format_source(&out).unwrap(), out);
        let a = crate::rules::parse::parse_file(0, src).0;
        let b = crate::rules::parse::parse_file(0, &out).0;
        let kinds = |f: &crate::rules::ast::File| -> Vec<String> {
            f.stmts
                .iter()
                .map(|s| match &s.kind {
                    StmtKind::Group(g) => format!(
                        "{} {} {:?}",
                        g.pattern.value,
                        g.target.name,
                        g.settings
                            .iter()
                            .map(|x| x.name.name.clone())
                            .collect::<Vec<_>>()
                    ),
                    _ => "other".into(),
                })
                .collect()
        };
        assert_eq!(kinds(&a), kinds(&b));
    }

    #[test]
    fn refuses_files_with_syntax_errors() {
        assert!(matches!(
            format_source("when x = 1 grant group \"A\""),
            Err(FormatError::Syntax(_))
        ));
    }
}
