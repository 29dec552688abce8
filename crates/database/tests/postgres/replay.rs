use bgjobs_database::Error;
use bgjobs_database::jobs::NotReplayable;
use bgjobs_domain::{EventKind, JobId, JobStatus};

use crate::support::{account, event, fresh_store, new_job};

#[tokio::test]
async fn replaying_an_errored_job_requeues_it_on_the_next_attempt_as_the_operator()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, job.job_id, (1, 1, 1), EventKind::Failed)).await?;

    let replayed = store
        .jobs()
        .replay_dead_letter(&acme, job.job_id, "oscar", "S3 bucket policy fixed")
        .await?
        .expect("the job exists");

    assert_eq!((replayed.status, replayed.attempt), (JobStatus::New, 2));
    assert_eq!(replayed.updated_by, "oscar");
    let expected = "oscar replayed the job from the dead-letter queue: S3 bucket policy fixed; \
                    queued as attempt 2";
    assert_eq!(replayed.message, expected);
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let line = log.last().expect("the replay is logged");
    assert_eq!(
        (line.kind, line.actor.as_str(), line.message.as_str()),
        (EventKind::Log, "oscar", expected)
    );
    assert_eq!((line.status_before, line.status_after), (JobStatus::Error, JobStatus::New));
    Ok(())
}

#[tokio::test]
async fn replaying_a_job_still_new_only_logs_the_action() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;

    let replayed = store
        .jobs()
        .replay_dead_letter(&acme, job.job_id, "oscar", "consumer fixed")
        .await?
        .expect("the job exists");

    assert_eq!(replayed, job, "status, attempt and Updated By are unchanged");
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(job.clone()));
    let log = store.jobs().job_events(&acme, job.job_id).await?.expect("the job exists");
    let line = log.last().expect("the replay is logged");
    assert_eq!(line.message, "oscar replayed the job from the dead-letter queue: consumer fixed");
    assert_eq!((line.status_before, line.status_after), (JobStatus::New, JobStatus::New));
    assert_eq!((line.actor.as_str(), line.position.attempt), ("oscar", 1));
    Ok(())
}

#[tokio::test]
async fn running_finished_unknown_and_foreign_jobs_are_not_replayed() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (running, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, running.job_id, (1, 1, 1), EventKind::Started)).await?;
    let (done, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;
    store.jobs().record_event(event(&acme, done.job_id, (1, 1, 1), EventKind::Started)).await?;
    store.jobs().record_event(event(&acme, done.job_id, (1, 1, 2), EventKind::Completed)).await?;

    let refused = store.jobs().replay_dead_letter(&acme, running.job_id, "oscar", "why").await;
    assert!(
        matches!(refused, Err(Error::NotReplayable(NotReplayable::InProgress { attempt: 1, .. }))),
        "{refused:?}"
    );
    let refused = store.jobs().replay_dead_letter(&acme, done.job_id, "oscar", "why").await;
    assert!(matches!(refused, Err(Error::NotReplayable(NotReplayable::Completed { .. }))));
    assert_eq!(
        store.jobs().replay_dead_letter(&account("globex"), done.job_id, "o", "why").await?,
        None
    );
    assert_eq!(store.jobs().replay_dead_letter(&acme, JobId::new(), "o", "why").await?, None);

    let log = store.jobs().job_events(&acme, running.job_id).await?.expect("the job exists");
    assert_eq!(log.len(), 1, "a refused replay writes nothing: {log:?}");
    Ok(())
}
