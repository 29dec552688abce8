use bgjobs_database::Error;
use bgjobs_domain::{JobStatus, JobType};

use crate::support::{account, fresh_store, new_job};

#[tokio::test]
async fn a_new_job_is_queued_on_attempt_one() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let request = new_job(&acme, "alice@acme.test");

    let (job, created) = store.jobs().create_job(request.clone()).await?;

    assert!(created);
    assert_eq!(job.job_id, request.job_id);
    assert_eq!(job.account_id, acme);
    assert_eq!(job.job_type, JobType::ProductUpload);
    assert_eq!(job.status, JobStatus::New);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.message, "Queued");
    assert_eq!(job.created_by, "alice@acme.test");
    assert_eq!(job.updated_by, "alice@acme.test");
    assert_eq!(job.parameters, request.parameters);
    assert_eq!(job.reference_ids, request.reference_ids);
    assert_eq!(job.original_file_name.as_deref(), Some("products.csv"));
    assert_eq!(job.last_applied, None);
    assert_eq!(job.created_at, job.updated_at);
    assert_eq!(store.jobs().get_job(&acme, job.job_id).await?, Some(job));
    Ok(())
}

#[tokio::test]
async fn creating_the_same_job_again_returns_the_existing_one() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let request = new_job(&acme, "alice");

    let (first, first_created) = store.jobs().create_job(request.clone()).await?;
    let (again, again_created) = store.jobs().create_job(request).await?;

    assert!(first_created);
    assert!(!again_created);
    assert_eq!(again, first);
    Ok(())
}

#[tokio::test]
async fn a_job_id_taken_by_another_account_is_a_conflict() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let original = new_job(&acme, "alice");
    store.jobs().create_job(original.clone()).await?;

    let mut intruder = new_job(&globex, "mallory");
    intruder.job_id = original.job_id;
    let result = store.jobs().create_job(intruder).await;

    let Err(Error::Conflict(message)) = result else {
        panic!("expected a conflict, got {result:?}");
    };
    assert!(!message.contains("acme") && !message.contains("alice"), "{message}");
    assert_eq!(
        store.jobs().get_job(&acme, original.job_id).await?.map(|job| job.created_by),
        Some("alice".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn another_accounts_job_cannot_be_seen() -> anyhow::Result<()> {
    let store = fresh_store().await?;
    let acme = account("acme");
    let globex = account("globex");
    let (job, _) = store.jobs().create_job(new_job(&acme, "alice")).await?;

    assert_eq!(store.jobs().get_job(&globex, job.job_id).await?, None);
    assert_eq!(store.jobs().job_events(&globex, job.job_id).await?, None);
    assert_eq!(store.jobs().job_events(&acme, job.job_id).await?, Some(Vec::new()));
    Ok(())
}
