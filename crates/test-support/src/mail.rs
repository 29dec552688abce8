//! The messages the local stack's SMTP server received (`deploy/stack.sh up` keeps
//! each in the Maildir `/tmp/bgjobs-mail`, one file per message under `new/`).

use std::path::PathBuf;
use std::time::Duration;

/// Where the local stack's SMTP server keeps received messages.
pub fn maildir() -> PathBuf {
    PathBuf::from("/tmp/bgjobs-mail")
}

/// Every received message addressed to `recipient` (the server records it in an
/// `X-RcptTo` header), as raw RFC 5322 text.
pub fn received_by(recipient: &str) -> anyhow::Result<Vec<String>> {
    let header = format!("X-RcptTo: {recipient}");
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(maildir().join("new"))? {
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
    crate::wait::until(&format!("mail to {recipient}"), deadline, || async {
        let messages = received_by(recipient)?;
        Ok((!messages.is_empty()).then_some(messages))
    })
    .await
}
