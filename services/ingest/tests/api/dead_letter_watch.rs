use bgjobs_domain::JobType;
use bgjobs_messaging::amqp;
use bgjobs_proto::v1;
use bgjobs_test_support::wait;

use crate::helpers::{DEADLINE, spawn_app_with};

#[tokio::test]
async fn a_message_returned_past_the_delivery_limit_fails_its_job_and_stays_in_the_dlq()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.delivery_limit = 2).await?;
    let response = app.upload("sku,name\nA-1,Red mug\n").await?;
    assert_eq!(response.status(), 202);

    // A consumer that dies on the message each time: RabbitMQ 3.10 delivers it
    // limit + 1 times, then dead-letters it.
    let mut messages = app.job_messages().await?;
    for _ in 0..3 {
        messages.next().await?.requeue().await?;
    }

    let job = wait::until("the job to fail", DEADLINE, || async {
        let jobs = app.jobs().await?;
        Ok(jobs.into_iter().find(|job| job.status == v1::JobStatus::Error as i32))
    })
    .await?;
    assert_eq!(job.message, "dead-lettered after 3 deliveries: the delivery limit was reached");
    assert_eq!(job.updated_by, "jobs-registry");
    let dead_letter_queue = app.names.dead_letter_queue(JobType::ProductUpload);
    assert_eq!(amqp::queue_depth(&app.amqp, &dead_letter_queue).await?, 1, "kept for operators");
    drop(messages);
    app.stop().await
}
