//! The messages the local stack's SMTP server received (`deploy/stack.sh up` keeps
//! each in the Maildir `/tmp/bgjobs-mail`, one file per message under `new/`).

use std::path::{Path, PathBuf};

use mail_parser::MimeHeaders;
use std::time::Duration;

/// Where the local stack's SMTP server keeps received messages.
pub fn maildir() -> PathBuf {
    PathBuf::from("/tmp/bgjobs-mail")
}

/// Every message the local stack's server received for `recipient`, as raw RFC 5322
/// text.
pub fn received_by(recipient: &str) -> anyhow::Result<Vec<String>> {
    received_in(&maildir(), recipient)
}

/// Every message in the Maildir `maildir` addressed to `recipient` (the server records
/// it in an `X-RcptTo` header), as raw RFC 5322 text.
pub fn received_in(maildir: &Path, recipient: &str) -> anyhow::Result<Vec<String>> {
    let header = format!("X-RcptTo: {recipient}");
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(maildir.join("new"))? {
        let text = std::fs::read_to_string(entry?.path())?;
        if text.lines().any(|line| line.trim_end() == header) {
            messages.push(text);
        }
    }
    Ok(messages)
}

/// Waits until `recipient` has received at least one message, then answers all of
/// them.
pub async fn wait_for_mail(recipient: &str, deadline: Duration) -> anyhow::Result<Vec<String>> {
    wait_for_mail_in(&maildir(), recipient, deadline).await
}

/// Like [`wait_for_mail`], in the Maildir `maildir`.
pub async fn wait_for_mail_in(
    maildir: &Path,
    recipient: &str,
    deadline: Duration,
) -> anyhow::Result<Vec<String>> {
    crate::wait::until(&format!("mail to {recipient}"), deadline, || async {
        let messages = received_in(maildir, recipient)?;
        Ok((!messages.is_empty()).then_some(messages))
    })
    .await
}

/// A received message, decoded: what a mail client would show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The To header's addresses.
    pub to: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// The first text/plain part, decoded.
    pub text: String,
    /// The first text/html part, decoded.
    pub html: String,
    /// The top-level Content-Type, e.g. `multipart/alternative`.
    pub content_type: String,
}

/// Decodes the raw message `raw` (as [`received_in`] answers it).
pub fn parse(raw: &str) -> anyhow::Result<Received> {
    let message = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("not an RFC 5322 message: {raw}"))?;
    let to = message
        .to()
        .map(|to| to.iter().filter_map(|address| address.address().map(str::to_owned)).collect())
        .unwrap_or_default();
    let content_type = message
        .content_type()
        .map(|kind| format!("{}/{}", kind.ctype(), kind.subtype().unwrap_or_default()))
        .unwrap_or_default();
    Ok(Received {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        text: message.body_text(0).map(|text| text.into_owned()).unwrap_or_default(),
        html: message.body_html(0).map(|html| html.into_owned()).unwrap_or_default(),
        content_type,
    })
}
