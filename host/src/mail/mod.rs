//! Outgoing mail over SMTP (lettre): implicit TLS, STARTTLS or plain, by config.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail is not configured (mail.host is empty)")]
    NotConfigured,
    #[error("bad address {0:?}: {1}")]
    Address(String, String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("smtp: {0}")]
    Smtp(String),
}

/// Sends mail with the configured server and template.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
    subject: String,
    template: String,
}

/// What a recovery mail says.
pub struct Recovery<'a> {
    pub mail: &'a str,
    pub token: &'a str,
    pub link: &'a str,
    pub minutes: u64,
}

impl Mailer {
    /// Builds the transport; `template` is the body text (from `mail.template` or its file).
    pub fn new(config: &MailConfig, template: String) -> Result<Self, MailError> {
        let from = if config.from.is_empty() { config.user.clone() } else { config.from.clone() };
        let transport = if config.host.is_empty() {
            None
        } else {
            let smtp = |e: lettre::transport::smtp::Error| MailError::Smtp(e.to_string());
            let builder = match config.tls.as_str() {
                "implicit" => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(smtp)?,
                "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(smtp)?,
                _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            };
            let mut builder = builder.port(config.port).timeout(Some(Duration::from_secs(config.timeout_s.max(1))));
            if !config.user.is_empty() {
                builder = builder.credentials(Credentials::new(config.user.clone(), config.password.clone()));
            }
            Some(builder.build())
        };
        Ok(Mailer { transport, from, subject: config.subject.clone(), template })
    }

    /// Whether a server is configured.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// The body of a recovery mail.
    pub fn render(&self, r: &Recovery<'_>) -> String {
        self.template
            .replace("{mail}", r.mail)
            .replace("{token}", r.token)
            .replace("{link}", r.link)
            .replace("{minutes}", &r.minutes.to_string())
    }

    /// Sends the recovery mail to `r.mail`.
    pub async fn send_recovery(&self, r: &Recovery<'_>) -> Result<(), MailError> {
        let transport = self.transport.as_ref().ok_or(MailError::NotConfigured)?;
        let addr =
            |a: &str| a.parse().map_err(|e: lettre::address::AddressError| MailError::Address(a.into(), e.to_string()));
        let message = Message::builder()
            .from(addr(&self.from)?)
            .to(addr(r.mail)?)
            .subject(self.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(self.render(r))
            .map_err(|e| MailError::Build(e.to_string()))?;
        transport.send(message).await.map_err(|e| MailError::Smtp(e.to_string()))?;
        Ok(())
    }
}
