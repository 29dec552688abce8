//! Job queues against the local RabbitMQ: topology, publishing, consuming, settling.

mod common;

use anyhow::Context;
use bgjobs_domain::JobType;
use bgjobs_messaging::amqp::{self, JobPublisher, QueueSettings};
use bgjobs_messaging::{Error, Names};
use bgjobs_test_support::{brokers, names::messaging_prefix, wait};
use common::{DEADLINE, TRACEPARENT, job_message, next};
use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
use lapin::{BasicProperties, Connection, ExchangeKind};

/// A connection and a freshly declared topology under a prefix of this test's own.
async fn declared(settings: &QueueSettings) -> anyhow::Result<(Connection, Names)> {
    let connection = amqp::connect(brokers::AMQP_ADMIN_URL).await?;
    let names = Names::new(messaging_prefix());
    amqp::declare_topology(&connection, &names, settings).await?;
    Ok((connection, names))
}

async fn wait_for_depth(connection: &Connection, queue: &str, expected: u32) -> anyhow::Result<()> {
    wait::until(&format!("{queue} to hold {expected} message(s)"), DEADLINE, || async {
        let depth = amqp::queue_depth(connection, queue).await?;
        Ok((depth == expected).then_some(()))
    })
    .await
}

#[tokio::test]
async fn declaring_the_topology_twice_is_harmless() -> anyhow::Result<()> {
    let settings = QueueSettings::default();
    let (connection, names) = declared(&settings).await?;
    amqp::declare_topology(&connection, &names, &settings).await?;
    for job_type in JobType::ALL {
        assert_eq!(amqp::queue_depth(&connection, &names.queue(job_type)).await?, 0);
        assert_eq!(amqp::queue_depth(&connection, &names.dead_letter_queue(job_type)).await?, 0);
    }
    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_published_job_is_consumed_with_its_properties_and_ack_removes_it() -> anyhow::Result<()>
{
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let publisher = JobPublisher::new(&connection, &names).await?;
    let message = job_message();
    publisher.publish(&message, Some(TRACEPARENT)).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    let delivery = next(&mut deliveries).await?;
    assert_eq!(delivery.message, message);
    assert_eq!(delivery.message_id, Some(format!("{}:1", message.job_id)));
    assert_eq!(delivery.delivery, 1);
    assert_eq!(delivery.traceparent.as_deref(), Some(TRACEPARENT));
    delivery.ack().await?;
    drop(deliveries);

    // Closing the consumer's channel would return an unacked message to the queue,
    // ahead of anything published later: the next consumer must see the marker first.
    let marker = job_message();
    publisher.publish(&marker, None).await?;
    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    let delivery = next(&mut deliveries).await?;
    assert_eq!(delivery.message, marker, "the acked message came back");
    assert_eq!(delivery.traceparent, None);
    delivery.ack().await?;

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_requeued_job_is_delivered_again_with_the_next_delivery_number() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let message = job_message();
    JobPublisher::new(&connection, &names).await?.publish(&message, Some(TRACEPARENT)).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    next(&mut deliveries).await?.requeue().await?;
    let again = next(&mut deliveries).await?;
    assert_eq!(again.message, message);
    assert_eq!(again.delivery, 2);
    assert_eq!(again.traceparent.as_deref(), Some(TRACEPARENT));
    again.ack().await?;

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_dead_lettered_job_lands_in_its_dead_letter_queue() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    JobPublisher::new(&connection, &names).await?.publish(&job_message(), None).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    next(&mut deliveries).await?.dead_letter().await?;
    wait_for_depth(&connection, &names.dead_letter_queue(JobType::ProductUpload), 1).await?;
    assert_eq!(
        amqp::queue_depth(&connection, &names.dead_letter_queue(JobType::WarehouseUpload)).await?,
        0
    );

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_job_requeued_past_the_delivery_limit_is_dead_lettered() -> anyhow::Result<()> {
    let settings = QueueSettings { delivery_limit: 2 };
    let (connection, names) = declared(&settings).await?;
    JobPublisher::new(&connection, &names).await?.publish(&job_message(), None).await?;
    let dead_letter_queue = names.dead_letter_queue(JobType::ProductUpload);

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    let mut delivery_numbers = Vec::new();
    let dead_lettered = wait_for_depth(&connection, &dead_letter_queue, 1);
    tokio::pin!(dead_lettered);
    loop {
        tokio::select! {
            delivery = next(&mut deliveries) => {
                let delivery = delivery?;
                delivery_numbers.push(delivery.delivery);
                delivery.requeue().await?;
            }
            outcome = &mut dead_lettered => {
                outcome?;
                break;
            }
        }
    }
    // RabbitMQ 3.10 dead-letters on the return that takes the count past the limit:
    // limit 2 means three deliveries.
    assert_eq!(delivery_numbers, [1, 2, 3]);

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn the_depth_of_a_missing_queue_is_an_error() -> anyhow::Result<()> {
    let connection = amqp::connect(brokers::AMQP_ADMIN_URL).await?;
    let missing = Names::new(messaging_prefix()).queue(JobType::ProductUpload);
    let error = amqp::queue_depth(&connection, &missing).await.err();
    assert!(matches!(&error, Some(Error::QueueNotFound(queue)) if *queue == missing), "{error:?}");
    assert_eq!(amqp::queue_stats(&connection, &missing).await?, None);
    // The failed passive declare closed only its own channel.
    assert!(connection.status().connected());
    Ok(())
}

#[tokio::test]
async fn an_undecodable_body_is_dead_lettered_and_not_yielded() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_publish(
            names.exchange().into(),
            JobType::ProductUpload.as_str().into(),
            BasicPublishOptions::default(),
            b"not protobuf at all",
            BasicProperties::default(),
        )
        .await?
        .await?;
    let valid = job_message();
    JobPublisher::new(&connection, &names).await?.publish(&valid, None).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 10, "test").await?;
    let first = next(&mut deliveries).await?;
    assert_eq!(first.message, valid, "the undecodable message was yielded");
    first.ack().await?;
    wait_for_depth(&connection, &names.dead_letter_queue(JobType::ProductUpload), 1).await?;

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn publishing_a_job_no_queue_is_bound_for_is_an_error() -> anyhow::Result<()> {
    let connection = amqp::connect(brokers::AMQP_ADMIN_URL).await?;
    let names = Names::new(messaging_prefix());
    // Only the exchange: publishing to a missing exchange would close the channel instead.
    let channel = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(names.exchange().into(), ExchangeKind::Topic, durable, Default::default())
        .await?;

    let error = JobPublisher::new(&connection, &names)
        .await?
        .publish(&job_message(), None)
        .await
        .err()
        .context("publishing to an exchange without queues succeeded")?;
    assert!(
        matches!(&error, Error::Unroutable { routing_key } if routing_key == "product-upload"),
        "unexpected error: {error}"
    );

    channel.exchange_delete(names.exchange().into(), Default::default()).await?;
    Ok(())
}

#[tokio::test]
async fn a_job_message_without_a_job_type_is_refused_before_publishing() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let message = bgjobs_proto::v1::JobMessage { job_type: 0, ..job_message() };
    let error = JobPublisher::new(&connection, &names).await?.publish(&message, None).await.err();
    assert!(matches!(error, Some(Error::InvalidMessage(_))), "{error:?}");
    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn consumers_only_see_their_own_job_type() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let publisher = JobPublisher::new(&connection, &names).await?;
    let delete_client = bgjobs_proto::v1::JobMessage {
        job_type: bgjobs_proto::v1::JobType::DeleteClient.into(),
        ..job_message()
    };
    publisher.publish(&delete_client, None).await?;
    publisher.publish(&job_message(), None).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::DeleteClient, 5, "test").await?;
    let delivery = next(&mut deliveries).await?;
    assert_eq!(delivery.message, delete_client);
    delivery.ack().await?;
    // The product upload went to its own queue, untouched by the delete-client consumer.
    wait_for_depth(&connection, &names.queue(JobType::ProductUpload), 1).await?;

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn redeclaring_with_another_delivery_limit_is_refused() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    let changed = QueueSettings { delivery_limit: 9 };
    let error = amqp::declare_topology(&connection, &names, &changed).await.err();
    assert!(
        error.as_ref().is_some_and(|e| e.to_string().contains("PRECONDITION_FAILED")),
        "{error:?}"
    );
    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_retry_returns_to_its_own_type_s_queue_after_its_delay() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    amqp::declare_delay_queues(&connection, &names, JobType::ProductUpload, 2).await?;
    let publisher = JobPublisher::new(&connection, &names).await?;
    let message = job_message();
    let delay = amqp::Delay { level: 1, delay: std::time::Duration::from_millis(50) };
    publisher.publish_delayed(&message, Some(TRACEPARENT), 3, delay).await?;

    let mut deliveries =
        amqp::consume(&connection, &names, JobType::ProductUpload, 1, "test").await?;
    let delivery = next(&mut deliveries).await?;
    assert_eq!(delivery.message, message);
    assert_eq!(delivery.retries, 2, "level 1 is the second retry");
    assert_eq!(delivery.delivery, 4, "three deliveries came before this copy");
    assert_eq!(delivery.traceparent.as_deref(), Some(TRACEPARENT));
    delivery.ack().await?;

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

/// A consumer's broker user may publish to its own type's delay exchange only; what it
/// puts there comes back to its own queue, whatever the routing key or the body say.
#[tokio::test]
async fn a_message_put_in_one_type_s_delay_path_never_reaches_another_type() -> anyhow::Result<()> {
    let (connection, names) = declared(&QueueSettings::default()).await?;
    amqp::declare_delay_queues(&connection, &names, JobType::ProductUpload, 1).await?;
    let delete_client = bgjobs_proto::v1::JobMessage {
        job_type: bgjobs_proto::v1::JobType::DeleteClient.into(),
        ..job_message()
    };
    let mut headers = lapin::types::FieldTable::default();
    headers.insert("bgjobs-delay-level".into(), lapin::types::AMQPValue::LongLongInt(0));
    let channel = connection.create_channel().await?;
    channel
        .basic_publish(
            names.delay_exchange(JobType::ProductUpload).as_str().into(),
            "delete-client".into(),
            BasicPublishOptions::default(),
            &prost::Message::encode_to_vec(&delete_client),
            BasicProperties::default().with_headers(headers).with_expiration("10".into()),
        )
        .await?
        .await?;

    wait_for_depth(&connection, &names.queue(JobType::ProductUpload), 1).await?;
    assert_eq!(amqp::queue_depth(&connection, &names.queue(JobType::DeleteClient)).await?, 0);

    amqp::delete_topology(&connection, &names).await?;
    Ok(())
}

#[tokio::test]
async fn a_refused_sign_in_names_the_user_and_not_the_password() -> anyhow::Result<()> {
    let url = "amqp://bgjobs-ingest:not-its-password@127.0.0.1:5672/%2f";
    let error = amqp::connect(url).await.err().context("signed in with a wrong password")?;
    let message = error.to_string();
    assert!(message.contains("refused to sign in"), "{message}");
    assert!(message.contains("bgjobs-ingest"), "{message}");
    assert!(!message.contains("not-its-password"), "{message}");
    assert!(!message.contains("is the broker running"), "{message}");
    Ok(())
}
