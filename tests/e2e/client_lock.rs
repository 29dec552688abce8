//! The per-client lock across job types, through the public interfaces: uploads for
//! a client, and a second deletion of it, are refused while its deletion is
//! unfinished, a deletion waits for the client's running upload, and an upload
//! accepted earlier writes nothing once the deletion has begun.
//!
//! Jobs that must stay New or In Progress for as long as the test needs are
//! registered, and their events recorded, straight through the store: nothing
//! races a real consumer.

use std::collections::HashMap;
use std::time::Duration;

use bgjobs_database::Store;
use bgjobs_database::catalog::{Checkpoint, Product, WriteMode};
use bgjobs_database::jobs::{IncomingEvent, NewJob, ReferenceIds};
use bgjobs_domain::{AccountId, EventKind, EventPosition, JobId, JobStatus, JobType};
use bgjobs_e2e::{Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::JobMessage;
use bgjobs_test_support::wait;
use delete_client::Outcome;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(60);

/// A registered job of `job_type` for `client_id`, never published: it stays New
/// until the test records its events.
async fn register(
    store: &Store,
    account: &AccountId,
    job_type: JobType,
    client_id: &str,
) -> anyhow::Result<JobId> {
    let job = NewJob {
        job_id: JobId::new(),
        account_id: account.clone(),
        job_type,
        input_object_key: None,
        original_file_name: None,
        parameters: serde_json::json!({ "client_id": client_id }),
        reference_ids: ReferenceIds { client_id: Some(client_id.to_owned()), ..Default::default() },
        created_by: "tester".to_owned(),
        notify: None,
    };
    Ok(store.jobs().create_job(job).await?.0.job_id)
}

/// Records the `sequence`th event of `job`'s first delivery, as a worker would.
async fn record(
    store: &Store,
    account: &AccountId,
    job: JobId,
    sequence: u64,
    kind: EventKind,
) -> anyhow::Result<()> {
    let event = IncomingEvent {
        event_id: JobId::new().as_uuid(),
        job_id: job,
        account_id: account.clone(),
        position: EventPosition { attempt: 1, delivery: 1, sequence },
        kind,
        occurred_at: chrono::Utc::now(),
        message: format!("{} by the test", kind.as_str()),
        counters: None,
        result_object_key: None,
        worker_id: "product-upload/test".to_owned(),
    };
    store.jobs().record_event(event).await?;
    Ok(())
}

/// Posts a product file for `client_id`.
async fn upload_for(system: &TestSystem, client_id: &str) -> anyhow::Result<reqwest::Response> {
    let url = format!(
        "{}/v1/accounts/{}/jobs/product-upload?client_id={client_id}",
        system.ingest_url, system.account
    );
    let request = system.http.post(url).bearer_auth(system.user_token(None));
    Ok(request.body("sku,name,price\nA-1,Anvil,9.50\n").send().await?)
}

/// Keys stored under the account's uploads.
async fn stored_inputs(system: &TestSystem) -> anyhow::Result<usize> {
    let listed = system
        .objects
        .client()
        .list_objects_v2()
        .bucket(system.objects.bucket())
        .prefix(format!("uploads/{}/", system.account))
        .send()
        .await?;
    Ok(listed.contents().len())
}

async fn assert_upload_refused(system: &TestSystem, deletion: JobId) -> anyhow::Result<()> {
    let inputs_before = stored_inputs(system).await?;
    let response = upload_for(system, &system.client_id).await?;
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["error"]["code"], "client_locked", "{body}");
    assert_eq!(
        body["error"]["message"],
        format!(
            "client 'acme' is being deleted by job {deletion}; uploads for this client are \
             refused until it finishes"
        )
    );
    assert_eq!(stored_inputs(system).await?, inputs_before, "the input was kept");
    let uploads = system
        .store
        .jobs()
        .active_jobs_for_client(&system.account, "acme", &[JobType::ProductUpload], &JobStatus::ALL)
        .await?;
    assert!(uploads.is_empty(), "an upload was registered: {uploads:?}");
    Ok(())
}

#[tokio::test]
async fn a_dry_run_of_a_clients_deletion_lets_its_uploads_through() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let dry_run = NewJob {
        job_id: JobId::new(),
        account_id: system.account.clone(),
        job_type: JobType::DeleteClient,
        input_object_key: None,
        original_file_name: None,
        parameters: serde_json::json!({ "client_id": system.client_id, "dry_run": true }),
        reference_ids: ReferenceIds {
            client_id: Some(system.client_id.clone()),
            ..Default::default()
        },
        created_by: "tester".to_owned(),
        notify: None,
    };
    let dry_run = system.store.jobs().create_job(dry_run).await?.0.job_id;
    record(&system.store, &system.account, dry_run, 1, EventKind::Started).await?;

    let response = upload_for(&system, &system.client_id).await?;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED, "{}", response.text().await?);
    system.stop().await
}

#[tokio::test]
async fn uploads_for_a_client_are_refused_while_its_deletion_is_queued_or_running()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let deletion =
        register(&system.store, &system.account, JobType::DeleteClient, &system.client_id).await?;

    assert_upload_refused(&system, deletion).await?;
    record(&system.store, &system.account, deletion, 1, EventKind::Started).await?;
    assert_upload_refused(&system, deletion).await?;

    // Another client of the account is not locked.
    system.store.catalog().ensure_client(&system.account, "globex", "Globex").await?;
    let response = upload_for(&system, "globex").await?;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await?;
    let job_id = body["job_id"].as_str().unwrap_or_default().to_owned();
    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);

    // Once the deletion finished, uploads are accepted again.
    record(&system.store, &system.account, deletion, 2, EventKind::Completed).await?;
    assert_eq!(
        upload_for(&system, &system.client_id).await?.status(),
        reqwest::StatusCode::ACCEPTED
    );
    system.stop().await
}

#[tokio::test]
async fn a_second_deletion_of_a_client_is_refused_while_one_is_unfinished_naming_it()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let (store, account, client) = (&system.store, &system.account, system.client_id.as_str());
    let first = register(store, account, JobType::DeleteClient, client).await?;
    let deletions = || async {
        let jobs = store.jobs();
        anyhow::Ok(
            jobs.active_jobs_for_client(account, client, &[JobType::DeleteClient], &JobStatus::ALL)
                .await?
                .len(),
        )
    };

    for sequence in [1, 2] {
        if sequence == 2 {
            record(store, account, first, 1, EventKind::Started).await?;
        }
        let response = system.request_delete_client(client, "").await?;
        assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
        let body: serde_json::Value = response.json().await?;
        assert_eq!(body["error"]["code"], "client_locked", "{body}");
        assert_eq!(
            body["error"]["message"],
            format!(
                "client 'acme' is already being deleted by job {first}; another deletion of it \
                 is refused until that one finishes (a dry run is accepted)"
            )
        );
        assert_eq!(deletions().await?, 1, "the refused deletion was registered");
    }

    // A dry run deletes nothing: it is accepted beside the deletion, and runs.
    let dry_run = system.submit_delete_client(client, true).await?;
    let job = system.finished_job(&dry_run, DEADLINE).await?;
    assert_eq!(job.message, "Dry run: would delete 0 products and the client 'ACME Corp'");

    record(store, account, first, 2, EventKind::Completed).await?;
    let again = system.submit_delete_client(client, false).await?;
    let job = system.finished_job(&again, DEADLINE).await?;
    assert_eq!(job.message, "Deleted the client", "once the first deletion ended");
    system.stop().await
}

#[tokio::test]
async fn a_deletion_waits_for_the_running_upload_of_its_client() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let seeded = system.submit_products("sku,name,price\nA-1,Anvil,9.50\nB-2,Bolt,0.50\n").await?;
    let seeded = system.finished_job(&seeded, DEADLINE).await?;
    assert_eq!(seeded.message, "2 of 2 rows imported, 0 rejected");
    let upload =
        register(&system.store, &system.account, JobType::ProductUpload, &system.client_id).await?;
    record(&system.store, &system.account, upload, 1, EventKind::Started).await?;

    let deletion = system.submit_delete_client(&system.client_id, false).await?;

    let waiting = format!("Waiting for upload {upload} of client 'acme' to finish");
    wait::until("the deletion to wait for the upload", DEADLINE, || async {
        let log = system.log(&deletion).await?;
        Ok(log.iter().any(|entry| entry.message == waiting).then_some(()))
    })
    .await?;
    let job = system.job(&deletion).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::InProgress), "{}", job.message);
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 2);
    assert!(system.store.catalog().client_exists(&system.account, &system.client_id).await?);

    record(&system.store, &system.account, upload, 2, EventKind::Completed).await?;

    let job = system.finished_job(&deletion, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "Deleted 2 products and the client");
    assert!(!system.store.catalog().client_exists(&system.account, &system.client_id).await?);
    system.stop().await
}

/// A product with only the required columns filled.
fn product(sku: &str) -> Product {
    Product {
        sku: sku.to_owned(),
        name: format!("Product {sku}"),
        description: None,
        barcode: None,
        weight_kg: None,
        length_cm: None,
        width_cm: None,
        height_cm: None,
        price: None,
        hs_code: None,
        country_of_origin: None,
    }
}

/// Starts a product-upload consumer in this process against `system`; it stops when
/// the returned token is cancelled.
async fn start_product_upload(system: &TestSystem) -> anyhow::Result<CancellationToken> {
    let env: HashMap<&str, &str> = system.service_env().collect();
    let settings =
        product_upload::settings::load(&bgjobs_config::Environment::from_lookup(|name| {
            env.get(name).map(|value| (*value).to_owned())
        }))?;
    let worker = product_upload::Worker::build(settings).await?;
    let stop = CancellationToken::new();
    tokio::spawn(worker.run_until_stopped(stop.clone().cancelled_owned()));
    Ok(stop)
}

#[tokio::test]
async fn an_upload_accepted_before_the_deletion_writes_nothing_once_it_has_begun()
-> anyhow::Result<()> {
    // No product-upload consumer yet: the upload stays queued until the deletion began.
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let (store, account, client) = (&system.store, &system.account, system.client_id.as_str());
    let seeded: Vec<(u64, Product)> = vec![(1, product("A-1")), (2, product("B-2"))];
    let after = Checkpoint { attempt: 1, rows_committed: 2, ..Checkpoint::default() };
    let write = WriteMode::CreateOrUpdate;
    store
        .catalog()
        .apply_product_batch_as(JobId::new(), account, client, &seeded, write, &after)
        .await?;
    let upload = system.submit_products("sku,name,price\nA-1,Anvil,9.50\nZ-9,Zither,120\n").await?;

    // The deletion, registered after the upload was accepted, has begun, as its
    // consumer does before deleting the first batch.
    let deletion = register(store, account, JobType::DeleteClient, client).await?;
    record(store, account, deletion, 1, EventKind::Started).await?;
    store.catalog().begin_client_deletion(deletion, 1, account, client).await?;

    let consumer = start_product_upload(&system).await?;
    let job = system.finished_job(&upload, DEADLINE).await?;
    consumer.cancel();
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error), "{}", job.message);
    assert_eq!(
        job.message,
        format!("client 'acme' is being deleted (job {deletion}); nothing more was imported")
    );
    assert_eq!(store.catalog().count_products(account, client).await?, 2);
    assert!(
        store.catalog().get_product(account, client, "Z-9").await?.is_none(),
        "Z-9 was imported"
    );

    // The deletion then deletes what was there before it began, and nothing is left.
    let message = JobMessage {
        job_id: deletion.to_string(),
        account_id: account.to_string(),
        job_type: bgjobs_proto::v1::JobType::DeleteClient as i32,
        attempt: 1,
        parameters_json: r#"{"client_id": "acme", "dry_run": false}"#.to_owned(),
        created_by: "tester".to_owned(),
        ..JobMessage::default()
    };
    let expected = Outcome::Completed { message: "Deleted 2 products and the client".to_owned() };
    assert_eq!(system.delete_client.handle(&message, 1, 0, None).await, expected);
    assert_eq!(store.catalog().count_products(account, client).await?, 0);
    assert!(!store.catalog().client_exists(account, client).await?);
    let deleted = system.finished_job(&deletion.to_string(), DEADLINE).await?;
    assert_eq!(deleted.message, "Deleted 2 products and the client");
    system.stop().await
}

#[tokio::test]
async fn a_dry_run_deletion_does_not_stop_an_upload_of_its_client() -> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let upload = system.submit_products("sku,name,price\nA-1,Anvil,9.50\n").await?;

    let dry_run = system.submit_delete_client(&system.client_id, true).await?;
    let job = system.finished_job(&dry_run, DEADLINE).await?;
    assert_eq!(job.message, "Dry run: would delete 0 products and the client 'ACME Corp'");

    let consumer = start_product_upload(&system).await?;
    let job = system.finished_job(&upload, DEADLINE).await?;
    consumer.cancel();
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!(job.message, "1 of 1 rows imported, 0 rejected");
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 1);
    system.stop().await
}

#[tokio::test]
async fn an_upload_accepted_before_a_completed_deletion_finds_no_client() -> anyhow::Result<()> {
    let system = TestSystem::start_with(Options { product_upload_in_process: false }).await?;
    let upload = system.submit_products("sku,name,price\nA-1,Anvil,9.50\n").await?;

    let deletion = system.submit_delete_client(&system.client_id, false).await?;
    let job = system.finished_job(&deletion, DEADLINE).await?;
    assert_eq!(job.message, "Deleted the client");

    let consumer = start_product_upload(&system).await?;
    let job = system.finished_job(&upload, DEADLINE).await?;
    consumer.cancel();
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error), "{}", job.message);
    assert_eq!(
        job.message,
        format!(
            "client 'acme' does not exist in account {}; create the client first",
            system.account
        )
    );
    assert!(!system.store.catalog().client_exists(&system.account, &system.client_id).await?);
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    system.stop().await
}
