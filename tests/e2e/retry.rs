//! Retry through ingest's gRPC API: the registry requeues the failed job on its next
//! attempt, ingest publishes it, and the consumer runs it again.

use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_object_store::ObjectMetadata;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::RetryJobRequest;
use tonic::Code;

const DEADLINE: Duration = Duration::from_secs(60);

fn retry_request(system: &TestSystem, job_id: &str) -> RetryJobRequest {
    RetryJobRequest {
        account_id: system.account.to_string(),
        job_id: job_id.to_owned(),
        actor: "ops@example.com".to_owned(),
        reason: "the file was fixed".to_owned(),
    }
}

#[tokio::test]
async fn a_failed_upload_retried_after_its_file_was_fixed_completes_on_attempt_two()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("name,price\nRed mug,4.99\n").await?;
    let failed = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(failed.status), Some(JobStatus::Error), "{}", failed.message);

    let fixed = "sku,name,price\nMUG-1,Red mug,4.99\nMUG-2,Blue mug,5.49\n";
    let metadata = ObjectMetadata { content_type: "text/csv".to_owned(), original_file_name: None };
    system
        .objects
        .put_bytes(&failed.input_object_key, fixed.as_bytes().to_vec().into(), &metadata)
        .await?;
    let retried = system.ingest.clone().retry_job(retry_request(&system, &job_id)).await?;
    let retried = retried.into_inner().job.expect("the retried job");
    assert_eq!((job_status_from_proto(retried.status), retried.attempt), (Some(JobStatus::New), 2));

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Completed), "{}", job.message);
    assert_eq!((job.attempt, job.message.as_str()), (2, "2 of 2 rows imported, 0 rejected"));
    assert_eq!(system.store.catalog().count_products(&system.account, &system.client_id).await?, 2);
    let log = system.log(&job_id).await?;
    let retry =
        log.iter().find(|entry| entry.actor == "ops@example.com").expect("the retry is logged");
    assert_eq!(retry.message, "Retried by ops@example.com: the file was fixed");

    // A completed job cannot be retried; the refusal comes back through ingest.
    let refused = system.ingest.clone().retry_job(retry_request(&system, &job_id)).await;
    let status = refused.expect_err("a completed job");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "only jobs in Error can be retried; this job is Completed");
    system.stop().await
}

#[tokio::test]
async fn an_operator_retries_a_failed_job_with_jobsctl_and_its_refusals_are_plain()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let job_id = system.submit_products("name,price\nRed mug,4.99\n").await?;
    let failed = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(failed.status), Some(JobStatus::Error), "{}", failed.message);
    let fixed = "sku,name,price\nMUG-1,Red mug,4.99\n";
    let metadata = ObjectMetadata { content_type: "text/csv".to_owned(), original_file_name: None };
    system
        .objects
        .put_bytes(&failed.input_object_key, fixed.as_bytes().to_vec().into(), &metadata)
        .await?;

    let operator_retry = |job_id: &str, account: String| jobsctl::jobs::Retry {
        account,
        job_id: job_id.to_owned(),
        operator: "oscar".to_owned(),
        reason: "sku column added".to_owned(),
    };
    let mut ingest = system.ingest_as(bgjobs_identity::Service::Jobsctl);
    let account = system.account.to_string();
    let retried =
        jobsctl::jobs::retry(&mut ingest, operator_retry(&job_id, account.clone())).await?;
    assert_eq!((job_status_from_proto(retried.status), retried.attempt), (Some(JobStatus::New), 2));
    assert_eq!(retried.updated_by, "oscar");

    let job = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!((job_status_from_proto(job.status), job.attempt), (Some(JobStatus::Completed), 2));
    let log = system.log(&job_id).await?;
    assert!(
        log.iter()
            .any(|entry| entry.actor == "oscar"
                && entry.message == "Retried by oscar: sku column added"),
        "the operator's retry is not in the log: {:?}",
        log.iter().map(|entry| &entry.message).collect::<Vec<_>>()
    );

    // What an operator reads when the retry is refused.
    let refusal = |result: anyhow::Result<bgjobs_proto::v1::Job>| {
        result.expect_err("the retry should be refused").to_string()
    };
    let completed = jobsctl::jobs::retry(&mut ingest, operator_retry(&job_id, account.clone()));
    assert_eq!(
        refusal(completed.await),
        "only jobs in Error can be retried; this job is Completed"
    );
    let unknown = bgjobs_domain::JobId::new().to_string();
    let not_found =
        refusal(jobsctl::jobs::retry(&mut ingest, operator_retry(&unknown, account)).await);
    let other_account = refusal(
        jobsctl::jobs::retry(&mut ingest, operator_retry(&job_id, "acct-other".into())).await,
    );
    assert!(not_found.contains(&unknown), "{not_found}");
    assert_eq!(other_account, not_found.replace(&unknown, &job_id), "no existence leak");
    let no_reason =
        jobsctl::jobs::Retry { reason: " ".into(), ..operator_retry(&job_id, "a".into()) };
    assert_eq!(
        refusal(jobsctl::jobs::retry(&mut ingest, no_reason).await),
        "--reason and --operator must not be empty; they go in the job's log"
    );
    system.stop().await
}

#[tokio::test]
async fn the_gateway_retries_only_for_the_user_of_the_token_it_sends() -> anyhow::Result<()> {
    use bgjobs_auth::VIEW_ROLE;
    use bgjobs_identity::Service;
    use bgjobs_proto::v1::ingest_client::IngestClient;
    use bgjobs_test_support::{pki, tokens};

    let system = TestSystem::start().await?;
    let job_id = system.submit_products("name,price\nRed mug,4.99\n").await?;
    let failed = system.finished_job(&job_id, DEADLINE).await?;
    assert_eq!(job_status_from_proto(failed.status), Some(JobStatus::Error), "{}", failed.message);
    let ingest_url = system.env_value("BGJOBS_INGEST_GRPC_URL");
    let gateway = IngestClient::new(pki::channel(&ingest_url, Service::Ingest, Service::Gateway));
    let account = system.account.as_str();
    let as_user = |token: Option<String>| {
        let mut request = tonic::Request::new(retry_request(&system, &job_id));
        if let Some(token) = token {
            let bearer = format!("Bearer {token}").parse().expect("a metadata value");
            request.metadata_mut().insert("authorization", bearer);
        }
        request
    };

    let cases = [
        (
            None,
            Code::Unauthenticated,
            "sign in: the request has no Authorization header".to_owned(),
        ),
        (
            Some(tokens::sign(&tokens::claims(account, "vera", &[VIEW_ROLE]))),
            Code::PermissionDenied,
            "this needs the AdminBackgroundJobRetry role".to_owned(),
        ),
        (
            Some(tokens::operator("globex", "olga")),
            Code::PermissionDenied,
            format!(
                "your sign-in is for account 'globex'; it cannot retry jobs in account '{account}'"
            ),
        ),
    ];
    for (token, code, message) in cases {
        let status = gateway.clone().retry_job(as_user(token)).await.expect_err("refused");
        assert_eq!((status.code(), status.message()), (code, message.as_str()));
    }
    let still = system.job(&job_id).await?;
    assert_eq!((job_status_from_proto(still.status), still.attempt), (Some(JobStatus::Error), 1));

    let token = tokens::operator(account, "Omar Operator");
    let retried = gateway.clone().retry_job(as_user(Some(token))).await?.into_inner();
    assert_eq!(retried.job.map(|job| job.attempt), Some(2));
    let log = system.log(&job_id).await?;
    let retry = log.iter().find(|entry| entry.message.starts_with("Retried by")).expect("logged");
    assert_eq!(
        (retry.actor.as_str(), retry.message.as_str()),
        ("Omar Operator", "Retried by Omar Operator: the file was fixed"),
        "the token's user, not the actor the request named"
    );
    system.stop().await
}
