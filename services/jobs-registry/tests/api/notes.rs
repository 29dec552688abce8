//! Who is emailed when a job ends (kept with the job), and notes added to the log of a
//! job in any status.

use bgjobs_domain::JobId;
use bgjobs_proto::v1::{self, AddJobNoteRequest, EventKind, JobStatus};
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
