//! Each service's broker user may do what the service does and is refused the rest
//! (docs/security.md, "Brokers"): asked of the real RabbitMQ and of bgjobs' own NATS
//! server of the local stack, each operation on a connection of its own as one
//! service's user, under a prefix of the test's own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use bgjobs_domain::{AccountId, JobId, JobType};
use bgjobs_e2e::brokers;
use bgjobs_identity::Service;
use bgjobs_messaging::amqp::{self, Delay, JobPublisher, QueueSettings};
use bgjobs_messaging::{Names, events};
use bgjobs_proto::Message;
use bgjobs_proto::v1::{JobEvent, JobMessage, JobType as WireJobType};
use bgjobs_test_support::{unique_suffix, wait};
use lapin::BasicProperties;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use tokio_stream::StreamExt;

/// What the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Allowed,
    Refused,
}
use Answer::{Allowed, Refused};

/// How long a broker may take to answer, or to report a refusal.
const DEADLINE: Duration = Duration::from_secs(10);

/// Something a service's RabbitMQ user asks of RabbitMQ.
#[derive(Debug, Clone, Copy)]
enum AmqpOperation {
    /// Declare a job type's queues, bindings and the exchanges, as a consumer does.
    DeclareQueuesOf(JobType),
    /// Declare every job type's queues, as ingest does.
    DeclareAllQueues,
    /// Declare a job type's retry and delay exchanges and delay queues, as its consumer does.
    DeclareDelayQueues(JobType),
    /// Consume a queue (the name without prefix).
    Consume(&'static str),
    /// Take one message from a queue (basic.get), as jobsctl reads a dead-letter queue.
    Get(&'static str),
    /// Publish a job message to the jobs exchange, as ingest and a replay do.
    PublishJob(JobType),
    /// Publish a job message to its type's delay exchange, as a consumer's retry does.
    PublishDelayed(JobType),
    /// Publish a job message straight into a queue through the default exchange.
    PublishToQueue(&'static str),
    /// Read a queue's depth with a passive declare, as jobsctl and ingest's sweeper do.
    Depth(&'static str),
}

/// The answers RabbitMQ gives each service's user: its own work allowed, the rest
/// refused. The first rows declare everything, each consumer its own queues first (as
/// when it starts before ingest: RabbitMQ checks more rights when a declare creates a
/// queue with a dead-letter exchange than when the queue is already there).
const RABBITMQ: &[(Service, AmqpOperation, Answer)] = {
    use AmqpOperation::*;
    use JobType::{DeleteClient, ProductUpload, WarehouseUpload};
    use Service as S;
    &[
        (S::ProductUpload, DeclareQueuesOf(ProductUpload), Allowed),
        (S::ProductUpload, DeclareDelayQueues(ProductUpload), Allowed),
        (S::WarehouseUpload, DeclareQueuesOf(WarehouseUpload), Allowed),
        (S::DeleteClient, DeclareQueuesOf(DeleteClient), Allowed),
        (S::DeleteClient, DeclareDelayQueues(DeleteClient), Allowed),
        (S::Ingest, DeclareAllQueues, Allowed),
        (S::ProductUpload, Consume("bgjobs.product-upload"), Allowed),
        (S::ProductUpload, PublishDelayed(ProductUpload), Allowed),
        (S::ProductUpload, DeclareQueuesOf(DeleteClient), Refused),
        (S::ProductUpload, DeclareAllQueues, Refused),
        (S::ProductUpload, DeclareDelayQueues(DeleteClient), Refused),
        (S::ProductUpload, PublishJob(ProductUpload), Refused),
        (S::ProductUpload, PublishJob(DeleteClient), Refused),
        (S::ProductUpload, PublishDelayed(DeleteClient), Refused),
        (S::ProductUpload, Consume("bgjobs.delete-client"), Refused),
        (S::ProductUpload, Consume("bgjobs.dead-letters"), Refused),
        (S::ProductUpload, Get("bgjobs.product-upload.dlq"), Refused),
        (S::ProductUpload, PublishToQueue("bgjobs.delete-client"), Refused),
        (S::WarehouseUpload, Consume("bgjobs.warehouse-upload"), Allowed),
        (S::WarehouseUpload, Consume("bgjobs.product-upload"), Refused),
        (S::DeleteClient, Consume("bgjobs.delete-client"), Allowed),
        (S::DeleteClient, Consume("bgjobs.warehouse-upload"), Refused),
        (S::Ingest, Depth("bgjobs.product-upload"), Allowed),
        (S::Ingest, PublishJob(DeleteClient), Allowed),
        (S::Ingest, Consume("bgjobs.dead-letters"), Allowed),
        (S::Ingest, Get("bgjobs.delete-client.dlq"), Refused),
        (S::Ingest, DeclareDelayQueues(ProductUpload), Refused),
        (S::Ingest, PublishDelayed(ProductUpload), Refused),
        (S::Jobsctl, Get("bgjobs.delete-client.dlq"), Allowed),
        (S::Jobsctl, Depth("bgjobs.warehouse-upload"), Allowed),
        (S::Jobsctl, PublishJob(ProductUpload), Allowed),
        (S::Jobsctl, Consume("bgjobs.product-upload"), Refused),
        (S::Jobsctl, DeclareAllQueues, Refused),
        (S::Jobsctl, PublishToQueue("bgjobs.product-upload"), Refused),
    ]
};

#[tokio::test]
async fn each_service_s_rabbitmq_user_may_do_its_own_work_and_nothing_else() -> anyhow::Result<()> {
    let names = Names::new(format!("t{}.", unique_suffix()));
    let admin = amqp::connect(amqp::DEFAULT_URL).await?;

    let mut answers = Vec::new();
    for &(service, operation, _) in RABBITMQ {
        let answer = amqp_answer(service, operation, &names).await;
        answers.push(answer);
    }
    amqp::delete_topology(&admin, &names).await?;

    let mut wrong = Vec::new();
    for (&(service, operation, expected), answer) in RABBITMQ.iter().zip(answers) {
        let answer = answer?;
        if answer != expected {
            wrong.push(format!(
                "{} {operation:?}: {answer:?}, expected {expected:?}",
                service.name()
            ));
        }
    }
    assert!(wrong.is_empty(), "RabbitMQ answered otherwise than the table:\n{}", wrong.join("\n"));
    Ok(())
}

/// What RabbitMQ answers `operation` asked as `service`'s user, on a connection of its own.
async fn amqp_answer(
    service: Service,
    operation: AmqpOperation,
    names: &Names,
) -> anyhow::Result<Answer> {
    let url = brokers::with_login(
        amqp::DEFAULT_URL,
        &brokers::user(service),
        &brokers::password(service),
    );
    let connection = amqp::connect(&url).await?;
    let done = tokio::time::timeout(DEADLINE, run_amqp(&connection, operation, names)).await;
    connection.close(200, "OK".into()).await.ok();
    match done {
        Err(_) => anyhow::bail!("{} {operation:?}: no answer within {DEADLINE:?}", service.name()),
        Ok(Ok(())) => Ok(Allowed),
        Ok(Err(error)) if format!("{error:#}").contains("ACCESS_REFUSED") => Ok(Refused),
        Ok(Err(error)) => Err(error.context(format!("{} {operation:?}", service.name()))),
    }
}

async fn run_amqp(
    connection: &lapin::Connection,
    operation: AmqpOperation,
    names: &Names,
) -> anyhow::Result<()> {
    let settings = QueueSettings::default();
    let prefixed = |name: &str| format!("{}{name}", names.prefix());
    match operation {
        AmqpOperation::DeclareQueuesOf(job_type) => {
            amqp::declare_job_type(connection, names, &settings, job_type).await?;
        }
        AmqpOperation::DeclareAllQueues => {
            amqp::declare_topology(connection, names, &settings).await?;
        }
        AmqpOperation::DeclareDelayQueues(job_type) => {
            amqp::declare_delay_queues(connection, names, job_type, 1).await?
        }
        AmqpOperation::Consume(queue) => {
            let channel = connection.create_channel().await?;
            channel
                .basic_consume(
                    prefixed(queue).as_str().into(),
                    "permissions-test".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        AmqpOperation::Get(queue) => {
            let channel = connection.create_channel().await?;
            channel.basic_get(prefixed(queue).as_str().into(), BasicGetOptions::default()).await?;
        }
        AmqpOperation::PublishJob(job_type) => {
            JobPublisher::new(connection, names)
                .await?
                .publish(&job_message(job_type), None)
                .await?;
        }
        AmqpOperation::PublishDelayed(job_type) => {
            let delay = Delay { level: 0, delay: Duration::from_secs(60) };
            let publisher = JobPublisher::new(connection, names).await?;
            publisher.publish_delayed(&job_message(job_type), None, 1, delay).await?;
        }
        AmqpOperation::Depth(queue) => {
            amqp::queue_stats(connection, &prefixed(queue))
                .await?
                .ok_or_else(|| anyhow::anyhow!("{queue} does not exist"))?;
        }
        AmqpOperation::PublishToQueue(queue) => {
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            let body = job_message(JobType::DeleteClient).encode_to_vec();
            // Waiting for the confirm: a refused publish closes the channel instead.
            channel
                .basic_publish(
                    "".into(),
                    prefixed(queue).as_str().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &body,
                    BasicProperties::default(),
                )
                .await?
                .await?;
        }
    }
    Ok(())
}

fn job_message(job_type: JobType) -> JobMessage {
    let wire_type = match job_type {
        JobType::ProductUpload => WireJobType::ProductUpload,
        JobType::WarehouseUpload => WireJobType::WarehouseUpload,
        JobType::DeleteClient => WireJobType::DeleteClient,
    };
    JobMessage {
        job_id: uuid::Uuid::now_v7().to_string(),
        account_id: "acct-permissions".to_owned(),
        job_type: wire_type.into(),
        attempt: 1,
        ..Default::default()
    }
}

/// Something a service's NATS user asks of bgjobs' NATS server.
#[derive(Debug, Clone, Copy)]
enum NatsOperation {
    /// Make sure the events stream exists, as every service that talks to NATS does.
    EnsureStream,
    /// Publish a job event, waiting for JetStream to store it.
    PublishEvent,
    /// Publish on a subject outside `bgjobs.events.>` (the suffix after the prefix).
    PublishOn(&'static str),
    /// Subscribe to every job event, bypassing JetStream.
    SubscribeToEvents,
    /// Read (and acknowledge) an event through the named durable consumer.
    ReadEventsAs(&'static str),
    /// Change the stream's configuration (a shorter max age).
    UpdateStream,
}

/// The answers NATS gives each service's user. The allowed publishes store the events
/// the readers then read.
const NATS: &[(Service, NatsOperation, Answer)] = {
    use NatsOperation::*;
    use Service as S;
    &[
        (S::ProductUpload, EnsureStream, Allowed),
        (S::ProductUpload, PublishEvent, Allowed),
        (S::ProductUpload, PublishOn("bgjobs.jobs.product-upload"), Refused),
        (S::ProductUpload, SubscribeToEvents, Refused),
        (S::ProductUpload, ReadEventsAs("jobs-registry"), Refused),
        (S::ProductUpload, UpdateStream, Refused),
        (S::WarehouseUpload, PublishEvent, Allowed),
        (S::DeleteClient, PublishEvent, Allowed),
        (S::DeleteClient, ReadEventsAs("notifier"), Refused),
        (S::JobsRegistry, ReadEventsAs("jobs-registry"), Allowed),
        (S::JobsRegistry, ReadEventsAs("notifier"), Refused),
        (S::JobsRegistry, PublishEvent, Refused),
        (S::Notifier, EnsureStream, Allowed),
        (S::Notifier, ReadEventsAs("notifier"), Allowed),
        (S::Notifier, ReadEventsAs("jobs-registry"), Refused),
        (S::Notifier, PublishEvent, Refused),
        (S::Notifier, UpdateStream, Refused),
        // Last: the registry changes the stream and brings it back.
        (S::JobsRegistry, UpdateStream, Allowed),
        (S::JobsRegistry, EnsureStream, Allowed),
    ]
};

#[tokio::test]
async fn each_service_s_nats_user_may_do_its_own_work_and_nothing_else() -> anyhow::Result<()> {
    let names = Names::new(format!("t{}.", unique_suffix()));
    let admin = events::connect(brokers::NATS_ADMIN_URL).await?;
    events::ensure_stream(&admin, &names, 1).await?;

    let mut answers = Vec::new();
    for &(service, operation, _) in NATS {
        answers.push(nats_answer(service, operation, &names).await);
    }
    events::delete_stream(&admin, &names).await?;

    let mut wrong = Vec::new();
    for (&(service, operation, expected), answer) in NATS.iter().zip(answers) {
        let answer = answer?;
        if answer != expected {
            wrong.push(format!(
                "{} {operation:?}: {answer:?}, expected {expected:?}",
                service.name()
            ));
        }
    }
    assert!(wrong.is_empty(), "NATS answered otherwise than the table:\n{}", wrong.join("\n"));
    Ok(())
}

/// What the server answered an operation.
enum Outcome {
    /// The server answered it (a stored event, a created consumer, an ack).
    Answered,
    /// Sent without an answer to wait for: only a permissions violation would say no.
    Sent,
}

/// What NATS answers `operation` asked as `service`'s user, on a connection of its own:
/// refused when the server reports a permissions violation.
async fn nats_answer(
    service: Service,
    operation: NatsOperation,
    names: &Names,
) -> anyhow::Result<Answer> {
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&violations);
    let client = async_nats::ConnectOptions::new()
        .user_and_password(brokers::user(service), brokers::password(service))
        .event_callback(move |event| {
            let seen = Arc::clone(&seen);
            async move {
                if let async_nats::Event::ServerError(error) = event {
                    seen.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(error.to_string());
                }
            }
        })
        .connect(brokers::NATS_ADMIN_URL.rsplit('@').next().unwrap_or_default())
        .await?;
    let violation = || async {
        let errors = violations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Ok(errors.into_iter().find(|error| error.to_lowercase().contains("permissions violation")))
    };
    let what = format!("{} {operation:?}", service.name());
    let waiting_for = format!("a permissions violation for {what}");
    let refusal = wait::until(&waiting_for, DEADLINE, violation);
    tokio::pin!(refusal);
    let answer = tokio::select! {
        done = run_nats(&client, operation, names) => match done {
            Ok(Outcome::Answered) => Allowed,
            // Nothing comes back for a publish or a subscription the server accepts.
            Ok(Outcome::Sent) => if (&mut refusal).await.is_ok() { Refused } else { Allowed },
            Err(error) => {
                let refused = (&mut refusal).await;
                refused.map_err(|_| error.context(format!("{what} failed without a refusal")))?;
                Refused
            }
        },
        refused = &mut refusal => {
            refused?;
            Refused
        }
    };
    drop(client);
    Ok(answer)
}

async fn run_nats(
    client: &async_nats::Client,
    operation: NatsOperation,
    names: &Names,
) -> anyhow::Result<Outcome> {
    let context = jetstream::ContextBuilder::new().timeout(DEADLINE).build(client.clone());
    match operation {
        NatsOperation::EnsureStream => events::ensure_stream(client, names, 1).await?,
        NatsOperation::PublishEvent => {
            let account = AccountId::parse("acct-permissions")?;
            let job: JobId = uuid::Uuid::now_v7().to_string().parse()?;
            let event = JobEvent {
                event_id: uuid::Uuid::now_v7().to_string(),
                job_id: job.to_string(),
                account_id: account.to_string(),
                attempt: 1,
                sequence: 1,
                ..Default::default()
            };
            let subject = names.events_subject(&account, job);
            context.publish(subject, event.encode_to_vec().into()).await?.await?;
        }
        NatsOperation::PublishOn(subject) => {
            client.publish(format!("{}{subject}", names.prefix()), "forged".into()).await?;
            client.flush().await?;
            return Ok(Outcome::Sent);
        }
        NatsOperation::SubscribeToEvents => {
            let _subscription = client.subscribe(names.events_wildcard()).await?;
            client.flush().await?;
            return Ok(Outcome::Sent);
        }
        NatsOperation::ReadEventsAs(durable) => {
            let mut received = events::durable_events(client, names, durable).await?;
            let event = received.next().await.ok_or_else(|| anyhow::anyhow!("no event"))??;
            event.ack().await?;
        }
        NatsOperation::UpdateStream => {
            // The stream as ensure_stream makes it, but keeping events half as long.
            let config = jetstream::stream::Config {
                name: names.events_stream(),
                subjects: vec![names.events_wildcard()],
                storage: jetstream::stream::StorageType::File,
                retention: jetstream::stream::RetentionPolicy::Limits,
                duplicate_window: events::DUPLICATE_WINDOW,
                max_age: events::MAX_AGE / 2,
                discard: jetstream::stream::DiscardPolicy::Old,
                num_replicas: 1,
                ..Default::default()
            };
            context.update_stream(config).await?;
        }
    }
    Ok(Outcome::Answered)
}
