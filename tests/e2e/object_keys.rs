//! Object keys are derived from the account and the job id: a job message naming another
//! account's input file is refused by the consumer as unusable, reads nothing, and its job
//! ends in Error through the dead-letter path.

use std::time::Duration;

use bgjobs_domain::{AccountId, JobId, JobStatus, object_keys};
use bgjobs_e2e::{TestSystem, job_message};
use bgjobs_messaging::amqp;
use bgjobs_object_store::ObjectMetadata;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::{self, CreateJobRequest, MarkPublishedRequest};

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_job_message_naming_another_accounts_input_file_is_dead_lettered_unread()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    // Another account's upload: a valid file, which the forged message points at.
    let victim = AccountId::parse(&format!("victim-{}", system.account))?;
    let victims_key = object_keys::input(&victim, JobId::new());
    let victims_file = "sku,name,price\nSECRET-1,The victim's product,1.00\n";
    let metadata = ObjectMetadata { content_type: "text/csv".to_owned(), original_file_name: None };
    system
        .objects
        .put_bytes(&victims_key, victims_file.as_bytes().to_vec().into(), &metadata)
        .await?;

    // A job of the system's account, registered as ingest does, whose message names the
    // victim's file instead of its own.
    let job_id = JobId::new();
    let parameters = serde_json::json!({ "client_id": system.client_id });
    let create = CreateJobRequest {
        job_id: job_id.to_string(),
        account_id: system.account.to_string(),
        job_type: v1::JobType::ProductUpload as i32,
        input_object_key: object_keys::input(&system.account, job_id),
        parameters_json: parameters.to_string(),
        reference_ids: Some(v1::ReferenceIds {
            client_id: system.client_id.clone(),
            ..Default::default()
        }),
        created_by: "mallory".to_owned(),
        ..Default::default()
    };
    let job = system.registry.clone().create_job(create).await?.into_inner().job.expect("a job");
    let forged = v1::JobMessage { input_object_key: victims_key.clone(), ..job_message(&job) };
    let connection = amqp::connect(amqp::DEFAULT_URL).await?;
    let publisher = amqp::JobPublisher::new(&connection, system.names()).await?;
    publisher.publish(&forged, None).await?;
    let published = MarkPublishedRequest { job_id: job.job_id.clone(), attempt: 1 };
    system.registry.clone().mark_published(published).await?;

    let ended = system.finished_job(&job.job_id, DEADLINE).await?;
    assert_eq!(
        (
            job_status_from_proto(ended.status),
            ended.message.as_str(),
            ended.result_object_key.as_str()
        ),
        (
            Some(JobStatus::Error),
            "dead-lettered unread: the job message named another input file than this job's own",
            ""
        )
    );
    let log = system.log(&job.job_id).await?;
    assert!(
        log.iter().all(|entry| entry.kind() != v1::EventKind::Started),
        "a consumer started the forged message: {log:?}"
    );
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 0);
    let own_results = object_keys::results(&system.account, job_id);
    assert!(system.objects.head(&own_results).await?.is_none(), "a results file was written");
    system.objects.delete(&victims_key).await?;
    system.stop().await
}
