use std::time::Duration;

use bgjobs_domain::JobType;
use bgjobs_messaging::amqp;
use bgjobs_proto::v1;
use bgjobs_test_support::wait;
use lapin::options::QueueDeleteOptions;

use crate::helpers::{DEADLINE, json_of, spawn_app_with};

#[tokio::test]
async fn an_unreachable_registry_answers_503_and_queues_nothing() -> anyhow::Result<()> {
    // Ingest starts without the registry (its channel connects lazily), then cannot reach it.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let registry_url = format!("https://{closed_port}").parse().map_err(anyhow::Error::msg)?;
    let app = spawn_app_with(|settings| settings.registry_url = registry_url).await?;

    let response = app.upload("sku,name\nA-1,Red mug\n").await?;

    assert_eq!(response.status(), 503);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(app.jobs().await?.is_empty());
    assert_eq!(app.queued_messages().await?, 0);
    assert_eq!(app.stored_keys().await?, Vec::<String>::new(), "the orphaned input is deleted");
    app.stop().await
}

#[tokio::test]
async fn a_job_that_cannot_be_queued_now_is_accepted_and_published_by_the_sweeper()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.republish_after = Duration::from_secs(1)).await?;
    // With its queue gone, the broker returns the message as unroutable.
    let channel = app.amqp.create_channel().await?;
    let queue = app.names.queue(JobType::ProductUpload);
    channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;

    let response = app.upload("sku,name\nA-1,Red mug\n").await?;

    assert_eq!(response.status(), 202, "a registered job is accepted");
    let jobs = app.jobs().await?;
    assert_eq!(jobs.len(), 1, "the job is registered");
    assert_eq!(jobs[0].status, v1::JobStatus::New as i32);

    // The queue comes back: the sweeper publishes the job, once.
    amqp::declare_topology(&app.amqp, &app.names, &amqp::QueueSettings::default()).await?;
    let mut messages = app.job_messages().await?;
    let delivery = messages.next().await?;
    assert_eq!(delivery.message.job_id, jobs[0].job_id);
    assert_eq!(delivery.message_id, Some(format!("{}:1", jobs[0].job_id)));
    wait::until("the job to be recorded as published", DEADLINE, || async {
        let request = v1::ListUnpublishedJobsRequest { older_than_secs: 0, limit: 0 };
        let listed = app.registry.clone().list_unpublished_jobs(request).await?.into_inner();
        Ok(listed.jobs.is_empty().then_some(()))
    })
    .await?;
    delivery.ack().await?;
    drop(messages);
    app.stop().await
}
