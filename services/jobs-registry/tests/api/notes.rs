//! Who is emailed when a job ends (kept with the job), and notes added to the log of a
//! job in any status.

use std::time::Duration;

use bgjobs_domain::JobId;
use bgjobs_proto::v1::{self, AddJobNoteRequest, EventKind, JobStatus};
use bgjobs_test_support::wait;
use tonic::Code;
use uuid::Uuid;

use crate::events::{event, log_of, wait_for_job};
use crate::helpers::{TestApp, create_request, spawn_app};

fn note(job: &v1::Job, note_id: Uuid, message: &str) -> AddJobNoteRequest {
    AddJobNoteRequest {
        account_id: job.account_id.clone(),
        job_id: job.job_id.clone(),
        note_id: note_id.to_string(),
        attempt: 1,
        actor: "notifier".into(),
        message: message.into(),
        only_while_new: false,
    }
}

async fn completed_job(app: &TestApp) -> anyhow::Result<v1::Job> {
    let job = app.create_job("acme").await?;
    for (sequence, kind) in [(1, EventKind::Started), (2, EventKind::Completed)] {
        app.publisher.publish(&event(&job, 1, sequence, kind, "Done"), None).await?;
    }
    wait_for_job(app, &job, "the job to complete", |job| job.status() == JobStatus::Completed).await
}

#[tokio::test]
async fn the_recipient_is_kept_with_the_job_and_checked() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut request = create_request("acme", JobId::new(), "vera");
    request.notify = Some(v1::Recipient {
        email: " vera@example.com ".into(),
        time_zone: "Europe/Paris".into(),
    });
    let created = app.client.clone().create_job(request).await?.into_inner().job.expect("a job");
    let read = app.get_job("acme", &created.job_id).await?;
    let expected =
        v1::Recipient { email: "vera@example.com".into(), time_zone: "Europe/Paris".into() };
    assert_eq!(read.notify, Some(expected));

    let mut nobody = create_request("acme", JobId::new(), "vera");
    nobody.notify = Some(v1::Recipient::default());
    let created = app.client.clone().create_job(nobody).await?.into_inner().job.expect("a job");
    assert_eq!(app.get_job("acme", &created.job_id).await?.notify, None, "an empty email");

    let mut bad = create_request("acme", JobId::new(), "vera");
    bad.notify = Some(v1::Recipient { email: "vera".into(), time_zone: String::new() });
    let refused = app.client.clone().create_job(bad).await.expect_err("no address");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "notify.email 'vera' is not an email address: expected name@example.com, at most 254 \
         characters"
    );
    app.stop().await
}

#[tokio::test]
async fn a_note_on_a_finished_job_is_logged_once_and_changes_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = completed_job(&app).await?;
    let note_id = Uuid::now_v7();

    let first = note(&job, note_id, "email sent to v***@example.com");
    assert!(app.client.clone().add_job_note(first.clone()).await?.into_inner().added);
    assert!(!app.client.clone().add_job_note(first).await?.into_inner().added, "a repeat");

    let after = app.get_job("acme", &job.job_id).await?;
    assert_eq!((after.status(), after.updated_at), (JobStatus::Completed, job.updated_at));
    let log = log_of(&app, &job).await?;
    let notes: Vec<_> = log.iter().filter(|entry| entry.actor == "notifier").collect();
    assert_eq!(notes.len(), 1, "{log:?}");
    assert_eq!(notes[0].message, "email sent to v***@example.com");
    assert_eq!(
        (notes[0].status_before(), notes[0].status_after()),
        (JobStatus::Completed, JobStatus::Completed)
    );
    assert!(!notes[0].ignored);
    app.stop().await
}

#[tokio::test]
async fn a_note_for_an_unknown_job_or_another_account_is_not_found() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let other_account = v1::Job { account_id: "globex".into(), ..job.clone() };
    let unknown = v1::Job { job_id: JobId::new().to_string(), ..job.clone() };
    for target in [other_account, unknown] {
        let refused = app
            .client
            .clone()
            .add_job_note(note(&target, Uuid::now_v7(), "email sent"))
            .await
            .expect_err("not this account's job");
        assert_eq!(refused.code(), Code::NotFound, "{}", refused.message());
    }
    let mut blank = note(&job, Uuid::now_v7(), " ");
    let refused = app.client.clone().add_job_note(blank.clone()).await.expect_err("blank");
    assert_eq!((refused.code(), refused.message()), (Code::InvalidArgument, "message is required"));
    blank.message = "fine".into();
    blank.note_id = "not-a-uuid".into();
    let refused = app.client.clone().add_job_note(blank).await.expect_err("bad id");
    assert_eq!(refused.message(), "note_id 'not-a-uuid' is not a UUID");
    assert!(log_of(&app, &job).await?.iter().all(|entry| entry.actor != "notifier"));
    app.stop().await
}

#[tokio::test]
async fn a_note_only_for_a_new_job_is_dropped_once_the_job_has_left_new() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let only_while_new = |job: &v1::Job, attempt: u32| AddJobNoteRequest {
        attempt,
        only_while_new: true,
        ..note(job, Uuid::now_v7(), "Queued again")
    };
    let job = app.create_job("acme").await?;
    let added = app.client.clone().add_job_note(only_while_new(&job, 1)).await?.into_inner();
    assert!(added.added, "the job is New in attempt 1");
    let added = app.client.clone().add_job_note(only_while_new(&job, 2)).await?.into_inner();
    assert!(!added.added, "the job has no attempt 2");

    let finished = completed_job(&app).await?;
    let added = app.client.clone().add_job_note(only_while_new(&finished, 1)).await?.into_inner();
    assert!(!added.added, "the job has completed");
    let log = log_of(&app, &finished).await?;
    assert!(log.iter().all(|entry| entry.actor != "notifier"), "{log:?}");
    app.stop().await
}

/// A worker's Started applied while the note is being written: the note waits for it
/// and sees the job no longer New, instead of writing a line that says New after it.
#[tokio::test]
async fn a_note_waits_for_a_change_of_the_job_in_progress() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    let app = spawn_app().await?;
    let job = app.create_job("acme").await?;
    let database = Database::connect(app.settings.database_url.expose()).await?;
    let change = database.begin().await?;
    change
        .execute_unprepared(&format!(
            "UPDATE jobs.jobs SET status = 'in_progress' WHERE job_id = '{}'",
            job.job_id
        ))
        .await?;

    let mut client = app.client.clone();
    let request = AddJobNoteRequest { only_while_new: true, ..note(&job, Uuid::now_v7(), "late") };
    let writing = tokio::spawn(async move { client.add_job_note(request).await });
    wait::until("the note to wait for the job's row", Duration::from_secs(10), || async {
        let waiting = database
            .query_one(sea_orm::Statement::from_string(
                database.get_database_backend(),
                "SELECT count(*) AS waiting FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "waiting"))
            .transpose()?
            .unwrap_or(0);
        Ok((waiting > 0).then_some(()))
    })
    .await?;
    change.commit().await?;

    let added = writing.await??.into_inner().added;
    assert!(!added, "the job was In Progress when the note was written");
    assert!(log_of(&app, &job).await?.iter().all(|entry| entry.actor != "notifier"));
    app.stop().await
}
