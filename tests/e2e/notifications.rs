//! Email on completion, through the whole system and a real SMTP server: uploads with
//! a recipient, the notifier in-process, and what the server received.

use std::time::Duration;

use bgjobs_database::notifications::{Key, Outcome, State};
use bgjobs_domain::JobId;
use bgjobs_e2e::TestSystem;
use bgjobs_e2e::notifications::{PrivateSmtp, RunningNotifier};
use bgjobs_e2e::process::product_file;
use bgjobs_messaging::events::EventPublisher;
use bgjobs_proto::v1::{self, JobEvent};
use bgjobs_test_support::mail::{self, Received};
use bgjobs_test_support::{unique_suffix, wait};

const JOB_DEADLINE: Duration = Duration::from_secs(60);
const MAIL_DEADLINE: Duration = Duration::from_secs(60);
/// The local stack's SMTP server.
const STACK_SMTP: &str = "smtp://127.0.0.1:2525";

fn recipient(name: &str) -> String {
    format!("{name}-{}@example.com", unique_suffix())
}

/// Every message `to` received in `maildir`, decoded.
fn received(maildir: &std::path::Path, to: &str) -> anyhow::Result<Vec<Received>> {
    mail::received_in(maildir, to)?.iter().map(|raw| mail::parse(raw)).collect()
}

/// Asserts that `notifier`'s `/metrics` counts exactly one email, settled as
/// `outcome`, and no try put off.
async fn assert_one_email_counted(
    system: &TestSystem,
    notifier: &RunningNotifier,
    outcome: &str,
) -> anyhow::Result<()> {
    let url = format!("http://{}/metrics", notifier.ops_addr);
    let text = system.http.get(url).send().await?.text().await?;
    let emails: Vec<&str> =
        text.lines().filter(|line| line.starts_with("bgjobs_notifier_emails_total")).collect();
    let expected = format!("bgjobs_notifier_emails_total{{outcome=\"{outcome}\"}} 1");
    assert_eq!(emails, [expected.as_str()], "{text}");
    assert!(text.lines().any(|line| line == "bgjobs_notifier_email_retries_total 0"), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_finished_upload_emails_its_user_once_with_counts_rejected_rows_and_a_link()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let to = recipient("vera");
    let token = system.user_token(Some(&to));
    let query = "&notify_time_zone=Europe/Paris";
    let job_id = system.submit_products_as(&token, product_file(40, &[3, 17]), query).await?;
    let job = system.finished_job(&job_id, JOB_DEADLINE).await?;
    assert_eq!(job.status(), v1::JobStatus::Completed, "{}", job.message);

    let raw = mail::wait_for_mail(&to, MAIL_DEADLINE).await?;
    let email = mail::parse(&raw[0])?;
    assert_eq!(email.to, std::slice::from_ref(&to));
    assert_eq!(email.content_type, "multipart/alternative");
    assert_eq!(email.subject, format!("Product Upload completed: {}", job.message));
    assert_eq!(email.message_id, format!("{job_id}.1.completed@localhost"));
    let link = format!("http://127.0.0.1:8080/?job={job_id}");
    for expected in [
        "Your Product Upload of products.csv completed.",
        "Client: acme",
        "Rows: 40 in the file, 38 imported, 2 rejected",
        "Rejected rows:",
        "  Row 3 (BAD 3): sku: 'BAD 3' contains a space",
        "  Row 17 (BAD 17): ",
        link.as_str(),
    ] {
        assert!(email.text.contains(expected), "{expected:?} in:\n{}", email.text);
    }
    // The time in the user's zone: CET or CEST, whatever the date.
    assert!(email.text.contains("(Europe/Paris)"), "{}", email.text);
    assert!(email.html.contains(&format!("<a href=\"{link}\">")), "{}", email.html);
    assert!(email.html.contains(">BAD 3</td>"), "{}", email.html);
    assert!(
        email.html.contains("sku: &#39;BAD 3&#39; contains a space"),
        "escaped: {}",
        email.html
    );

    let note = system.notifier_note(&job_id, MAIL_DEADLINE).await?;
    assert_eq!(note.message, format!("email sent to v***@{}", "example.com"));
    assert_eq!(system.job(&job_id).await?.status(), v1::JobStatus::Completed);

    // The same terminal event again under a new event id, as a worker that reported
    // twice (or a redelivery past JetStream's de-duplication window) sends it: still
    // one email.
    let completed = system
        .log(&job_id)
        .await?
        .into_iter()
        .find(|entry| entry.kind() == v1::EventKind::Completed)
        .expect("the log has the Completed event");
    let nats = bgjobs_messaging::events::connect(&system.env_value("BGJOBS_NATS_URL")).await?;
    let publisher = EventPublisher::new(nats, system.names().clone());
    let again = JobEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        job_id: job_id.clone(),
        account_id: system.account.to_string(),
        attempt: 1,
        sequence: completed.sequence,
        delivery: completed.delivery,
        kind: v1::EventKind::Completed as i32,
        message: job.message.clone(),
        counters: completed.counters,
        ..JobEvent::default()
    };
    publisher.publish(&again, None).await?;
    system.notifier_consumer_settled("notifier", MAIL_DEADLINE).await?;
    assert_eq!(mail::received_by(&to)?.len(), 1, "one email per job outcome");
    let notes = system.log(&job_id).await?.into_iter().filter(|entry| entry.actor == "notifier");
    assert_eq!(notes.count(), 1);
    assert_one_email_counted(&system, &notifier, "sent").await?;

    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn a_refused_mailbox_is_noted_on_the_job_and_not_retried() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let to = format!("nobody-{}@undeliverable.test", unique_suffix());
    let job_id =
        system.submit_products_as(&system.user_token(Some(&to)), product_file(5, &[]), "").await?;
    system.finished_job(&job_id, JOB_DEADLINE).await?;

    let note = system.notifier_note(&job_id, MAIL_DEADLINE).await?;
    assert_eq!(
        note.message,
        "email to n***@undeliverable.test could not be delivered: 550 mailbox unavailable"
    );
    let key = Key { job_id: job_id.parse::<JobId>()?, attempt: 1, outcome: Outcome::Completed };
    let recorded = system.store.notifications().get(key).await?.expect("recorded");
    assert_eq!((recorded.state, recorded.tries), (State::Failed, 1), "a 550 is not retried");
    assert!(mail::received_by(&to)?.is_empty());
    assert_one_email_counted(&system, &notifier, "failed").await?;
    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn an_upload_that_opted_out_sends_no_email() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let to = recipient("quiet");
    let job_id = system
        .submit_products_as(&system.user_token(Some(&to)), product_file(5, &[]), "&notify=false")
        .await?;
    system.finished_job(&job_id, JOB_DEADLINE).await?;
    assert_eq!(system.job(&job_id).await?.notify, None);

    let note = system.notifier_note(&job_id, MAIL_DEADLINE).await?;
    assert_eq!(note.message, "no email sent: nobody is to be emailed about this job");
    assert!(mail::received_by(&to)?.is_empty());

    for (path, expected) in [("healthz", "ok"), ("readyz", "ready")] {
        let url = format!("http://{}/{path}", notifier.ops_addr);
        let response = system.http.get(url).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await?, expected);
    }
    assert_one_email_counted(&system, &notifier, "skipped").await?;
    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn a_failed_job_and_a_client_deletion_each_email_their_outcome() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let to = recipient("ops");
    let header_only = "name,price\nWidget,1.00\n";
    let failed = system.submit_products_as(&system.user_token(Some(&to)), header_only, "").await?;
    let failed_job = system.finished_job(&failed, JOB_DEADLINE).await?;
    assert_eq!(failed_job.status(), v1::JobStatus::Error);
    let deletion = system
        .request_delete_client_as(&system.user_token(Some(&to)), &system.client_id, "&dry_run=true")
        .await?;
    anyhow::ensure!(deletion.status() == 202, "{}", deletion.text().await?);
    let expected_subjects = [
        format!("Product Upload failed: {}", failed_job.message),
        "Delete Client completed: ".to_owned(),
    ];

    let emails = wait::until("both emails", MAIL_DEADLINE, || async {
        let emails = received(&mail::maildir(), &to)?;
        Ok((emails.len() >= 2).then_some(emails))
    })
    .await?;
    assert_eq!(emails.len(), 2, "{emails:?}");
    for expected in &expected_subjects {
        assert!(
            emails.iter().any(|email| email.subject.starts_with(expected.as_str())),
            "{expected:?} among {:?}",
            emails.iter().map(|email| &email.subject).collect::<Vec<_>>()
        );
    }
    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn an_smtp_server_down_for_30_seconds_still_gets_the_email_once() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let smtp = PrivateSmtp::start().await?;
    let notifier = system.start_notifier(&smtp.url(), &[]).await?;
    smtp.stop()?;
    let down_since = std::time::Instant::now();
    let to = recipient("patient");
    let job_id =
        system.submit_products_as(&system.user_token(Some(&to)), product_file(5, &[]), "").await?;
    system.finished_job(&job_id, JOB_DEADLINE).await?;

    // The notifier tries, fails (connection refused) and keeps the email pending.
    let key = Key { job_id: job_id.parse::<JobId>()?, attempt: 1, outcome: Outcome::Completed };
    let notifications = system.store.notifications();
    wait::until("two failed tries", MAIL_DEADLINE, || async {
        let row = notifications.get(key).await?;
        Ok(row.filter(|row| row.tries >= 2 && row.state == State::Pending).map(|_| ()))
    })
    .await?;
    // The outage lasts 30 s in all, then the server comes back.
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_since.elapsed())).await;
    smtp.start_again().await?;

    let raw = mail::wait_for_mail_in(smtp.maildir(), &to, MAIL_DEADLINE).await?;
    assert_eq!(raw.len(), 1);
    let note = system.notifier_note(&job_id, MAIL_DEADLINE).await?;
    assert_eq!(note.message, "email sent to p***@example.com");
    let sent = notifications.get(key).await?.expect("recorded");
    assert_eq!(sent.state, State::Sent);
    assert!(sent.tries >= 3, "tried during the outage, then once more: {}", sent.tries);
    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn two_notifier_replicas_share_the_work_and_send_each_email_once() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let replicas = [
        system.start_notifier(STACK_SMTP, &[]).await?,
        system.start_notifier(STACK_SMTP, &[]).await?,
    ];
    let mut uploads = Vec::new();
    for n in 0..6 {
        let to = recipient(&format!("team{n}"));
        let token = system.user_token(Some(&to));
        uploads.push((system.submit_products_as(&token, product_file(5, &[]), "").await?, to));
    }
    for (job_id, to) in &uploads {
        system.finished_job(job_id, JOB_DEADLINE).await?;
        mail::wait_for_mail(to, MAIL_DEADLINE).await?;
        system.notifier_note(job_id, MAIL_DEADLINE).await?;
    }
    system.notifier_consumer_settled("notifier", MAIL_DEADLINE).await?;
    for (job_id, to) in &uploads {
        assert_eq!(mail::received_by(to)?.len(), 1, "one email for job {job_id}");
        let notes = system.log(job_id).await?.into_iter().filter(|entry| entry.actor == "notifier");
        assert_eq!(notes.count(), 1, "one note on job {job_id}");
    }
    for replica in replicas {
        replica.stop().await?;
    }
    system.stop().await
}

#[tokio::test]
async fn a_job_the_registry_fails_for_a_dead_letter_emails_its_user() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let to = recipient("dlq");
    // Registered but never published, so no consumer runs it: only the dead letter
    // (as ingest reports it) ends it.
    let job_id = JobId::new().to_string();
    let create = v1::CreateJobRequest {
        job_id: job_id.clone(),
        account_id: system.account.to_string(),
        job_type: v1::JobType::WarehouseUpload as i32,
        input_object_key: format!("uploads/{}/{job_id}/input.csv", system.account),
        original_file_name: "locations.csv".into(),
        parameters_json: "{}".into(),
        created_by: "tester".into(),
        notify: Some(v1::Recipient { email: to.clone(), time_zone: String::new() }),
        ..v1::CreateJobRequest::default()
    };
    system.registry.clone().create_job(create).await?;
    let cause = "dead-lettered after 6 deliveries: the delivery limit was reached";
    let fail = v1::FailDeadLetteredRequest {
        account_id: system.account.to_string(),
        job_id: job_id.clone(),
        attempt: 1,
        cause: cause.into(),
    };
    assert!(system.registry.clone().fail_dead_lettered(fail).await?.into_inner().changed);

    let raw = mail::wait_for_mail(&to, MAIL_DEADLINE).await?;
    let email = mail::parse(&raw[0])?;
    assert_eq!(email.subject, format!("Warehouse Upload failed: {cause}"));
    assert_eq!(email.message_id, format!("{job_id}.1.failed@localhost"));
    assert!(
        email.text.contains("Your Warehouse Upload of locations.csv failed."),
        "{}",
        email.text
    );
    let note = system.notifier_note(&job_id, MAIL_DEADLINE).await?;
    assert_eq!(note.message, "email sent to d***@example.com");
    notifier.stop().await?;
    system.stop().await
}

#[tokio::test]
async fn a_mailbox_that_says_try_later_does_not_hold_up_other_emails() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let smtp = PrivateSmtp::start().await?;
    let notifier = system.start_notifier(&smtp.url(), &[]).await?;
    let busy = format!("busy-{}@busy.test", unique_suffix());
    let fine = recipient("fine");
    let busy_job = system
        .submit_products_as(&system.user_token(Some(&busy)), product_file(5, &[]), "")
        .await?;
    system.finished_job(&busy_job, JOB_DEADLINE).await?;
    let key = Key { job_id: busy_job.parse::<JobId>()?, attempt: 1, outcome: Outcome::Completed };
    let notifications = system.store.notifications();
    wait::until("the busy mailbox's first 451", MAIL_DEADLINE, || async {
        Ok(notifications.get(key).await?.filter(|row| row.tries >= 1 && row.last_error.is_some()))
    })
    .await?;

    let fine_job = system
        .submit_products_as(&system.user_token(Some(&fine)), product_file(5, &[]), "")
        .await?;
    system.finished_job(&fine_job, JOB_DEADLINE).await?;
    mail::wait_for_mail_in(smtp.maildir(), &fine, MAIL_DEADLINE).await?;

    let waiting = wait::until("a retry of the busy mailbox", MAIL_DEADLINE, || async {
        Ok(notifications.get(key).await?.filter(|row| row.tries >= 2))
    })
    .await?;
    assert_eq!(waiting.state, State::Pending, "a 4xx is retried, not given up");
    let error = waiting.last_error.unwrap_or_default();
    assert!(error.starts_with("451 mailbox busy"), "{error}");
    assert!(mail::received_in(smtp.maildir(), &busy)?.is_empty());
    assert!(
        system.log(&busy_job).await?.iter().all(|entry| entry.actor != "notifier"),
        "nothing is noted while the email is still being tried"
    );
    notifier.stop().await?;
    system.stop().await
}
