//! E-mail over SMTP, always with STARTTLS (RFC 3207): a server that does not offer it
//! gets nothing, so a credential never crosses the network in clear text.

use super::{DeliveryError, Message};
use crate::secret::Secret;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the mail server (`[notify]` in stroom.toml).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Host name; the server's certificate must be for this name.
    pub host: String,
    /// Port (587, the submission port, by default).
    pub port: u16,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// For SMTP AUTH, with `password`.
    pub username: Option<String>,
    /// For SMTP AUTH.
    pub password: Option<Secret>,
    /// A PEM file with the CA that signed the server's certificate (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (test servers only).
    pub accept_invalid_certificates: bool,
    /// Per connection and command.
    pub timeout: Duration,
}

/// A connection to the mail server, made once.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer")
    }
}

impl Mailer {
    /// Checks the settings (sender address, CA file) and prepares the transport; no
    /// connection is made until the first message.
    pub fn new(s: &MailSettings) -> Result<Self, String> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| format!("notify.from is not an e-mail address: {e}"))?;
        let mut tls = TlsParameters::builder(s.host.clone());
        if let Some(path) = &s.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read notify.ca_file {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "notify.ca_file {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            tls = tls.add_root_certificate(cert);
        }
        if s.accept_invalid_certificates {
            tls = tls.dangerous_accept_invalid_certs(true);
        }
        let tls = tls
            .build()
            .map_err(|e| format!("notify: cannot set up TLS for {}: {e}", s.host))?;
        let mut builder = SmtpTransport::builder_dangerous(&s.host)
            .port(s.port)
            .tls(Tls::Required(tls))
            .timeout(Some(s.timeout));
        if let (Some(user), Some(password)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one message.
    pub fn send(&self, m: &Message) -> Result<(), DeliveryError> {
        let to: Mailbox = m.to.parse().map_err(|_| {
            DeliveryError::permanent(format!(
                "{:?} is not an e-mail address\n  help: fix the recipient in the HR data or \
                 the `to` line of the handover",
                m.to
            ))
        })?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.expose().to_string())
            .map_err(|e| DeliveryError::permanent(format!("the message cannot be made: {e}")))?;
        self.transport.send(&email).map(|_| ()).map_err(|e| {
            // lettre's errors name the server's answer, never the message's text.
            let permanent = e.is_permanent();
            let what = if e.is_tls() {
                format!(
                    "SMTP: the TLS handshake failed ({e})\n  help: check notify.ca_file, or \
                     that the server offers STARTTLS"
                )
            } else {
                format!("SMTP: {e}")
            };
            if permanent {
                DeliveryError::permanent(what)
            } else {
                DeliveryError::transient(what)
            }
        })
    }
}
