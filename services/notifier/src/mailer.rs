//! One email over SMTP: a text and an HTML body, a Message-ID chosen by the caller,
//! and a failure that says whether trying again can help.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::Mail;

/// How long one SMTP conversation may take before it counts as a temporary failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body: the same content for clients that show HTML.
    pub html: String,
    /// The Message-ID, without angle brackets; the same outcome always gets the same
    /// one, so a copy sent twice is recognisable as one message.
    pub message_id: String,
}

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server could not be reached or answered 4xx: trying later may work.
    #[error("{0}")]
    Temporary(String),
    /// The server refused the message for good (5xx), or it cannot be built (a
    /// recipient that is no address): trying again cannot help.
    #[error("{0}")]
    Permanent(String),
}

/// Sends emails through the configured SMTP server, reusing connections.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer on `settings`. No connection is made until the first email.
    pub fn new(settings: &Mail) -> Result<Self, bgjobs_config::Error> {
        let from =
            settings.from.parse::<Mailbox>().map_err(|error| bgjobs_config::Error::Rule {
                variable: "BGJOBS_MAIL_FROM",
                problem: format!("'{}' is not an email address: {error}", settings.from),
            })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose())
            .map_err(|error| bgjobs_config::Error::Rule {
                variable: "BGJOBS_SMTP_URL",
                problem: format!("'{}' cannot be used: {error}", settings.smtp_url),
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }

    /// Sends `email`; the error says whether to try again.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let to = email.to.parse::<Mailbox>().map_err(|error| {
            SendError::Permanent(format!("'{}' is not an email address: {error}", email.to))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .message_id(Some(format!("<{}>", email.message_id)))
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|error| SendError::Permanent(format!("the email cannot be built: {error}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Temporary(error.to_string())),
        }
    }
}
