//! The per-client lock across job types: uploads for a client, and a second deletion
//! of it, are refused while a deletion of that client is unfinished; a dry run is
//! never refused by it. Uploads of one client are registered side by side; only a
//! deletion's registration waits for them, and they for it.

use std::time::Duration;

use bgjobs_database::jobs::{NewJob, UNFINISHED};
use bgjobs_database::{Error, Store};
use bgjobs_domain::{AccountId, EventKind, JobId, JobStatus, JobType};
use bgjobs_test_support::wait;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::support::{account, event, fresh_store, new_job};

/// A Delete Client job of `client-1` (the client of [`new_job`]'s uploads).
fn new_deletion(account: &AccountId) -> NewJob {
    NewJob {
        job_type: JobType::DeleteClient,
        original_file_name: None,
        parameters: serde_json::json!({ "client_id": "client-1", "dry_run": false }),
        ..new_job(account, "alice")
    }
}

/// Moves `job` of `account` through `kinds`, one event each.
async fn run_through(
    store: &Store,
    account: &AccountId,
    job: JobId,
    kinds: &[EventKind],
) -> anyhow::Result<()> {
    for (sequence, kind) in (1..).zip(kinds) {
        store.jobs().record_event(event(account, job, (1, 1, sequence), *kind)).await?;
    }
    Ok(())
}

async fn assert_upload_refused(
    store: &Store,
    account: &AccountId,
    deletion: JobId,
) -> anyhow::Result<()> {
    let result = store.jobs().create_job(new_job(account, "bob")).await;
    let Err(Error::ClientLocked { client_id, delete_job }) = result else {
        panic!("expected the upload to be refused, got {result:?}");
    };
    assert_eq!((client_id.as_str(), delete_job), ("client-1", deletion));
    let refused = Error::ClientLocked { client_id, delete_job };
    assert_eq!(
        refused.to_string(),
        format!(
            "client 'client-1' is being deleted by job {deletion}; uploads for this client are \
             refused until it finishes"
        )
    );
    Ok(())
}

#[tokio::test]
async fn an_upload_is_refused_while_a_deletion_of_its_client_is_queued_or_running()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (deletion, _) = store.jobs().create_job(new_deletion(&acme)).await?;

    assert_upload_refused(&store, &acme, deletion.job_id).await?;
    run_through(&store, &acme, deletion.job_id, &[EventKind::Started]).await?;
    assert_upload_refused(&store, &acme, deletion.job_id).await?;

    let jobs = store.jobs();
    let uploads =
        jobs.active_jobs_for_client(&acme, "client-1", &[JobType::ProductUpload], &JobStatus::ALL);
    assert_eq!(uploads.await?, Vec::<JobId>::new(), "nothing was registered");
    Ok(())
}

#[tokio::test]
async fn a_dry_run_of_a_deletion_refuses_no_upload() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let dry_run = NewJob {
        parameters: serde_json::json!({ "client_id": "client-1", "dry_run": true }),
        ..new_deletion(&acme)
    };
    let (dry_run, _) = store.jobs().create_job(dry_run).await?;
    run_through(&store, &acme, dry_run.job_id, &[EventKind::Started]).await?;

    let (_, created) = store.jobs().create_job(new_job(&acme, "bob")).await?;
    assert!(created, "an upload beside a dry run that is in progress");
    Ok(())
}

#[tokio::test]
async fn uploads_are_accepted_again_once_the_deletion_completed_or_failed() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (completed, _) = store.jobs().create_job(new_deletion(&acme)).await?;
    run_through(&store, &acme, completed.job_id, &[EventKind::Started, EventKind::Completed])
        .await?;
    let (_, created) = store.jobs().create_job(new_job(&acme, "bob")).await?;
    assert!(created);

    let (failed, _) = store.jobs().create_job(new_deletion(&acme)).await?;
    run_through(&store, &acme, failed.job_id, &[EventKind::Started, EventKind::Failed]).await?;
    let (_, created) = store.jobs().create_job(new_job(&acme, "bob")).await?;
    assert!(created);
    Ok(())
}

#[tokio::test]
async fn the_lock_holds_only_for_the_deleted_client_of_its_account() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    store.jobs().create_job(new_deletion(&acme)).await?;

    let mut other_client = new_job(&acme, "bob");
    other_client.reference_ids.client_id = Some("client-2".to_owned());
    assert!(store.jobs().create_job(other_client).await?.1);
    assert!(store.jobs().create_job(new_job(&account("globex"), "carol")).await?.1);
    Ok(())
}

#[tokio::test]
async fn a_second_deletion_is_refused_while_the_first_is_unfinished_but_a_dry_run_is_not()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (first, _) = store.jobs().create_job(new_deletion(&acme)).await?;
    let first = first.job_id;

    for running in [false, true] {
        if running {
            run_through(&store, &acme, first, &[EventKind::Started]).await?;
        }
        let result = store.jobs().create_job(new_deletion(&acme)).await;
        let Err(refused @ Error::DeletionRunning { .. }) = result else {
            panic!("expected the second deletion to be refused, got {result:?}");
        };
        assert_eq!(
            refused.to_string(),
            format!(
                "client 'client-1' is already being deleted by job {first}; another deletion \
                 of it is refused until that one finishes (a dry run is accepted)"
            )
        );
        let dry_run = NewJob {
            parameters: serde_json::json!({ "client_id": "client-1", "dry_run": true }),
            ..new_deletion(&acme)
        };
        assert!(store.jobs().create_job(dry_run).await?.1, "a dry run beside the deletion");
    }
    let deletions = store
        .jobs()
        .active_jobs_for_client(&acme, "client-1", &[JobType::DeleteClient], &JobStatus::ALL)
        .await?;
    assert_eq!(deletions.len(), 3, "the deletion and two dry runs: {deletions:?}");

    store.jobs().record_event(event(&acme, first, (1, 1, 2), EventKind::Completed)).await?;
    assert!(store.jobs().create_job(new_deletion(&acme)).await?.1, "once the first completed");
    Ok(())
}

#[tokio::test]
async fn a_deletion_is_accepted_while_an_upload_of_its_client_runs() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let (upload, _) = store.jobs().create_job(new_job(&acme, "bob")).await?;
    run_through(&store, &acme, upload.job_id, &[EventKind::Started]).await?;

    let (deletion, created) = store.jobs().create_job(new_deletion(&acme)).await?;

    assert!(created);
    assert_eq!(deletion.status, JobStatus::New);
    let running = store
        .jobs()
        .active_jobs_for_client(&acme, "client-1", &[JobType::ProductUpload], &UNFINISHED)
        .await?;
    assert_eq!(running, vec![upload.job_id]);
    Ok(())
}

#[tokio::test]
async fn repeating_a_registered_upload_returns_it_even_while_its_client_is_deleted()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let upload = new_job(&acme, "bob");
    let (first, _) = store.jobs().create_job(upload.clone()).await?;
    store.jobs().create_job(new_deletion(&acme)).await?;

    let (again, created) = store.jobs().create_job(upload).await?;

    assert!(!created);
    assert_eq!(again, first);
    Ok(())
}

#[tokio::test]
async fn uploads_of_a_client_are_registered_side_by_side_and_a_deletion_waits_for_them()
-> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    // Another upload of the client being registered: its share of the lock taken,
    // not committed yet.
    let connection = store.connection();
    let backend = connection.get_database_backend();
    let registering = connection.begin().await?;
    let lock = "SELECT pg_advisory_xact_lock_shared(hashtextextended('acme/client-1', 0))";
    registering.execute(Statement::from_string(backend, lock)).await?;

    let beside = tokio::time::timeout(
        Duration::from_secs(10),
        store.jobs().create_job(new_job(&acme, "bob")),
    )
    .await
    .expect("an upload's registration waited for another upload's")?;
    assert!(beside.1);

    let deletion = tokio::spawn({
        let store = store.clone();
        let acme = acme.clone();
        async move { store.jobs().create_job(new_deletion(&acme)).await }
    });
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    wait::until("the deletion to wait for the upload's lock", Duration::from_secs(10), || async {
        let row = connection.query_one(Statement::from_string(backend, waiting)).await?;
        let count: i64 = row.map(|row| row.try_get_by_index(0)).transpose()?.unwrap_or(0);
        Ok((count == 1).then_some(()))
    })
    .await?;
    assert!(!deletion.is_finished(), "the deletion was registered while an upload was");
    registering.commit().await?;
    let (deletion, created) = deletion.await??;
    assert!(created);
    assert_eq!(deletion.job_type, JobType::DeleteClient);
    Ok(())
}
