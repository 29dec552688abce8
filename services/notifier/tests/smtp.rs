//! The mailer against the local stack's real SMTP server (aiosmtpd), reading what the
//! server stored.

use std::time::Duration;

use bgjobs_config::{Environment, Load};
use bgjobs_test_support::{mail, unique_suffix};
use notifier::{Email, Mail, Mailer, SendError};

fn mailer(variables: &[(&'static str, &'static str)]) -> anyhow::Result<Mailer> {
    let settings = Mail::load(&Environment::from_pairs(variables.iter().copied()))?;
    Ok(Mailer::new(&settings)?)
}

fn email(to: &str) -> Email {
    let id = unique_suffix();
    Email {
        to: to.to_owned(),
        subject: "Product Upload completed: 998 of 1,000 rows imported, 2 rejected".to_owned(),
        text: "Your upload products.csv is complete.".to_owned(),
        html: "<p>Your upload <b>products.csv</b> is complete.</p>".to_owned(),
        message_id: format!("{id}.1.completed@bgjobs"),
    }
}

#[tokio::test]
async fn an_email_arrives_with_both_bodies_and_the_chosen_message_id() -> anyhow::Result<()> {
    let to = format!("user-{}@example.com", unique_suffix());
    let sent = email(&to);
    mailer(&[])?.send(&sent).await?;

    let received = mail::wait_for_mail(&to, Duration::from_secs(10)).await?;
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    for expected in [
        format!("To: {to}"),
        format!("Subject: {}", sent.subject),
        format!("Message-ID: <{}>", sent.message_id),
        "From: \"Background Jobs\" <bgjobs@localhost>".to_owned(),
        "Content-Type: multipart/alternative".to_owned(),
        "Content-Type: text/plain; charset=utf-8".to_owned(),
        "Content-Type: text/html; charset=utf-8".to_owned(),
        sent.text.clone(),
        sent.html.clone(),
    ] {
        assert!(message.contains(&expected), "no {expected:?} in\n{message}");
    }
    Ok(())
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_a_temporary_failure() -> anyhow::Result<()> {
    // Port 9 (discard) is closed here: the connection is refused at once.
    let refused = mailer(&[("BGJOBS_SMTP_URL", "smtp://127.0.0.1:9")])?
        .send(&email("someone@example.com"))
        .await;
    assert!(matches!(refused, Err(SendError::Temporary(_))), "{refused:?}");
    Ok(())
}

#[tokio::test]
async fn a_recipient_that_is_no_address_is_a_permanent_failure() -> anyhow::Result<()> {
    let refused = mailer(&[])?.send(&email("not an address")).await;
    assert!(matches!(refused, Err(SendError::Permanent(_))), "{refused:?}");
    Ok(())
}

#[test]
fn a_sender_that_is_no_address_stops_start_up_naming_the_variable() -> anyhow::Result<()> {
    let error = mailer(&[("BGJOBS_MAIL_FROM", "bgjobs at example")]).expect_err("refused");
    assert!(error.to_string().starts_with("BGJOBS_MAIL_FROM: 'bgjobs at example'"), "{error}");
    Ok(())
}
