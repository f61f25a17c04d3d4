//! `[notify]`: the mail server, the webhooks and the templates, made into the
//! [`Notifier`] the apply engine hands messages to.

use super::{secrets, Config, ConfigError};
use crate::notify::mail::{MailSettings, Mailer};
use crate::notify::webhook::Webhook;
use crate::notify::{Notifier, Templates};
use std::collections::BTreeMap;
use std::time::Duration;

fn problem(message: String, help: &str) -> ConfigError {
    ConfigError {
        file: "stroom.toml".into(),
        message,
        help: help.into(),
    }
}

/// The variable that holds a webhook's URL: `STROOM_WEBHOOK_` and its name in capitals.
pub fn webhook_variable(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("STROOM_WEBHOOK_{name}")
}

impl Config {
    /// The channels `[notify]` configures, with secrets from the environment;
    /// `None` without a `[notify]` section.
    pub fn notifier(&self) -> Result<Option<Notifier>, ConfigError> {
        self.notifier_with_env(&|k| std::env::var(k).ok())
    }

    /// [`Config::notifier`] with the environment given (tests).
    pub fn notifier_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Notifier>, ConfigError> {
        let Some(n) = &self.notify else {
            return Ok(None);
        };
        let templates = Templates::with(&n.templates).map_err(|(event, placeholder)| {
            if placeholder.is_empty() {
                problem(
                    format!("[notify.templates.{event}]: no such event"),
                    "the events are create, enable, disable and blocked",
                )
            } else {
                problem(
                    format!("[notify.templates.{event}] uses {{{placeholder}}}, which a {event} message does not have"),
                    &format!(
                        "a {event} message may use {}",
                        crate::notify::template::placeholders(
                            crate::model::notice::NoticeEvent::parse(&event)
                                .unwrap_or(crate::model::notice::NoticeEvent::Blocked)
                        )
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                    ),
                )
            }
        })?;
        let timeout = Duration::from_secs(n.timeout_seconds.max(1));
        let mail = match (&n.smtp, &n.from) {
            (Some(host), Some(from)) => {
                let password = match &n.username {
                    Some(_) => Some(secrets::secret(
                        "STROOM_SMTP_PASSWORD",
                        &n.password_file,
                        "password",
                        env,
                    )?),
                    None => None,
                };
                let settings = MailSettings {
                    host: host.clone(),
                    port: n.port,
                    from: from.clone(),
                    username: n.username.clone(),
                    password,
                    ca_file: n.ca_file.clone(),
                    accept_invalid_certificates: n.accept_invalid_certificates,
                    timeout,
                };
                Some(Mailer::new(&settings).map_err(|m| {
                    problem(
                        m,
                        "fix [notify] in stroom.toml (see the book, chapter Targets and apply)",
                    )
                })?)
            }
            (None, None) => None,
            _ => {
                return Err(problem(
                    "[notify] needs both smtp and from to send mail".into(),
                    "set smtp = \"mail.example.nl\" and from = \"Stroom <iam@example.nl>\"",
                ))
            }
        };
        if mail.is_none() && !n.blocked_to.is_empty() {
            return Err(problem(
                "[notify] blocked_to needs a mail server".into(),
                "set smtp and from, or leave blocked_to out",
            ));
        }
        let mut webhooks = BTreeMap::new();
        for (name, w) in &n.webhooks {
            let variable = webhook_variable(name);
            let url = secrets::secret(&variable, &w.url_file, "url", env)?;
            let hook = Webhook::new(name, url, timeout).map_err(|m| {
                problem(
                    m,
                    &format!("set {variable}, or name a file holding the URL with url_file"),
                )
            })?;
            webhooks.insert(name.clone(), hook);
        }
        Ok(Some(Notifier {
            mail,
            webhooks,
            templates,
            blocked_to: n.blocked_to.clone(),
        }))
    }
}
