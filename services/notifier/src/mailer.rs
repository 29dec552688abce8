//! One email over SMTP: a text and an HTML body, a Message-ID chosen by the caller,
//! and a failure that says whether trying again can help.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::Mail;

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

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
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
            .timeout(Some(settings.timeout.get()))
            .build();
        Ok(Self { transport, from })
    }

    /// The sender address's domain, which ends the Message-IDs of its emails.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
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
            Err(error) if error.is_permanent() => Err(SendError::Permanent(describe(&error))),
            Err(error) => Err(SendError::Temporary(describe(&error))),
        }
    }
}

/// The server's reply as it gave it (`550 mailbox unavailable`), or what went wrong
/// before there was one.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    match (error.status(), std::error::Error::source(error)) {
        (Some(code), Some(reply)) => format!("{code} {reply}"),
        _ => error.to_string(),
    }
}
