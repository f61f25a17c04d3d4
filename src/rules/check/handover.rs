//! `handover in entra { on create  to manager.business_email  via mail  valid 2 days
//! notify disable }`: checked against what the target's kind can hand over.

use super::*;
use crate::model::notice::{Channel, NoticeEvent};
use ast::{HandoverBlock, HandoverItem};

/// The longest Temporary Access Pass Entra ID makes (its policy's upper bound).
const MAX_TAP_DAYS: i64 = 30;

impl<'a> Checker<'a> {
    fn bad_handover(
        &mut self,
        detail: String,
        span: Span,
        label: impl Into<String>,
        help: String,
    ) -> &mut Diagnostic {
        self.error(Problem::BadHandover { detail }, span, label, help)
    }

    /// A `handover` declaration.
    pub(super) fn handover(&mut self, block: &'a HandoverBlock, span: Span) {
        let Some(target) = self.target(&block.target) else {
            return;
        };
        let decl = &self.targets[target as usize];
        let (tname, kind) = (decl.name.to_string(), decl.kind);
        if !matches!(kind, TargetKind::ActiveDirectory | TargetKind::Entra) {
            self.bad_handover(
                format!("Stroom makes no first credential in {tname}"),
                block.target.span,
                format!("a target of kind {kind}"),
                "hand over in the ad or entra target where the person signs in".into(),
            );
            return;
        }
        if let Some(first) = self.handovers.iter().find(|h| h.target == target) {
            let first = self.origins[first.origin as usize].span;
            self.declared_twice(
                format!("handover in {tname}"),
                (block.target.span, "declared again here"),
                (first, "first declared here"),
                "one hand-over per target; keep one and delete the other",
            );
            return;
        }
        let mut on = NoticeEvent::Create;
        let mut to: Option<CExpr> = None;
        let mut via = Channel::Mail;
        let mut valid_days = None;
        let mut notify_disable = false;
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        let mut ok = true;
        for item in &block.items {
            let (line, at) = match item {
                HandoverItem::On(w) => ("on", w.span),
                HandoverItem::To(e) => ("to", e.span),
                HandoverItem::Via { channel, .. } => ("via", channel.span),
                HandoverItem::Valid(d) => ("valid", d.span),
                HandoverItem::Notify(w) => ("notify", w.span),
            };
            if let Some(first) = seen.insert(line, at) {
                self.declared_twice(
                    format!("handover line `{line}`"),
                    (at, "given again here"),
                    (first, "first given here"),
                    "each line once; keep one and delete the other",
                );
                ok = false;
                continue;
            }
            match item {
                HandoverItem::On(w) => match w.name.as_str() {
                    "create" => on = NoticeEvent::Create,
                    "start" => on = NoticeEvent::Enable,
                    other => {
                        let hint = did_you_mean(other, ["create", "start"]);
                        let help = match hint {
                            Some(s) => format!("did you mean `on {s}`?"),
                            None => "`on create` hands over when the account is made (disabled, \
                                     before the first day), `on start` on the first day"
                                .into(),
                        };
                        self.bad_handover(
                            format!("unknown moment `{other}`"),
                            w.span,
                            "unknown",
                            help,
                        )
                        .replacement = hint.map(String::from);
                        ok = false;
                    }
                },
                HandoverItem::To(e) => {
                    self.place = Place::Attribute;
                    to = self.string_expr(e, "the recipient");
                    self.place = Place::Rule;
                    ok &= to.is_some();
                }
                HandoverItem::Via { channel, name } => match (channel.name.as_str(), name) {
                    ("mail", None) => via = Channel::Mail,
                    ("webhook", Some(n)) if !n.value.trim().is_empty() => {
                        via = Channel::Webhook(n.value.clone())
                    }
                    ("webhook", _) => {
                        self.bad_handover(
                            "a webhook needs its name".into(),
                            channel.span,
                            "which webhook?",
                            "write `via webhook \"teams\"`, naming a [notify.webhooks.teams] in stroom.toml".into(),
                        );
                        ok = false;
                    }
                    ("mail", Some(n)) => {
                        self.bad_handover(
                            "`via mail` takes no name".into(),
                            n.span,
                            "not needed",
                            "the mail server is [notify] in stroom.toml; the address is the `to` line".into(),
                        );
                        ok = false;
                    }
                    (other, _) => {
                        let hint = did_you_mean(other, ["mail", "webhook"]);
                        let help = match hint {
                            Some(s) => format!("did you mean `via {s}`?"),
                            None => "the channels are `via mail` and `via webhook \"NAME\"`".into(),
                        };
                        self.bad_handover(
                            format!("unknown channel `{other}`"),
                            channel.span,
                            "unknown",
                            help,
                        )
                        .replacement = hint.map(String::from);
                        ok = false;
                    }
                },
                HandoverItem::Valid(d) => {
                    let days = d.days();
                    if kind != TargetKind::Entra {
                        self.bad_handover(
                            format!("an initial password in {tname} does not expire by itself"),
                            d.span,
                            "not for this target",
                            "leave `valid` out: the person chooses their own password at the first sign-in; `valid` sets an Entra ID Temporary Access Pass's lifetime".into(),
                        );
                        ok = false;
                    } else if !(1..=MAX_TAP_DAYS).contains(&days) {
                        self.bad_handover(
                            format!("a Temporary Access Pass lasts 1 to {MAX_TAP_DAYS} days, not {days}"),
                            d.span,
                            "out of range",
                            format!("write `valid {}`", if days < 1 { "1 day".to_string() } else { format!("{MAX_TAP_DAYS} days") }),
                        );
                        ok = false;
                    } else {
                        valid_days = Some(days as u32);
                    }
                }
                HandoverItem::Notify(w) => {
                    if w.name == "disable" {
                        notify_disable = true;
                    } else {
                        self.bad_handover(
                            format!("cannot notify `{}`", w.name),
                            w.span,
                            "unknown",
                            "`notify disable` tells the recipient when the account is disabled; a blocked plan goes to [notify] blocked_to in stroom.toml".into(),
                        );
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            return;
        }
        // The manager's business address unless the rules say otherwise.
        let to = to.unwrap_or(CExpr {
            kind: CKind::ManagerPerson(PersonField::BusinessEmail),
            span: block.target.span,
        });
        let origin = self.origin(Some(&format!("handover in {tname}")), span);
        self.handovers.push(Handover {
            target,
            origin,
            on,
            to,
            via,
            valid_days: valid_days.or((kind == TargetKind::Entra).then_some(1)),
            notify_disable,
        });
    }
}
