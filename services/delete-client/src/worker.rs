//! The consumer loop: takes delete-client messages one at a time, processes
//! each, and settles it according to the outcome.

use std::future::Future;

use bgjobs_domain::JobType;
use bgjobs_messaging::{Names, amqp, events};
use bgjobs_storage::ObjectStore;
use bgjobs_store::Store;
use futures::StreamExt;

use crate::process::{Processor, ProcessorSettings};
use crate::settings::Settings;

/// A running delete-client consumer.
pub struct Worker {
    processor: Processor,
    connection: lapin::Connection,
    names: Names,
    settings: Settings,
}

impl Worker {
    /// Connects to everything the consumer needs and declares the queue topology.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        bgjobs_storage::install_crypto_provider();
        let store = Store::connect(&settings.database_url).await?;
        let objects = ObjectStore::connect(&settings.s3).await?;
        let names = Names::new(settings.prefix.clone());
        let nats = events::connect(&settings.nats_url).await?;
        events::ensure_stream(&nats, &names).await?;
        let publisher = events::EventPublisher::new(nats, names.clone());
        let connection = amqp::connect(&settings.amqp_url).await?;
        let queue_settings = amqp::QueueSettings { delivery_limit: settings.delivery_limit };
        amqp::declare_topology(&connection, &names, &queue_settings).await?;
        let processor = Processor::new(
            store,
            objects,
            publisher,
            ProcessorSettings {
                batch_size: settings.batch_size,
                progress_interval: settings.progress_interval,
                worker_id: settings.worker_id.clone(),
                lock_wait: settings.lock_wait,
            },
        );
        Ok(Self { processor, connection, names, settings })
    }

    /// The processor, for driving single messages in tests.
    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// Consumes until `shutdown` completes. A job being processed when shutdown is
    /// asked for is finished first; nothing new is taken.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut deliveries = amqp::consume(
            &self.connection,
            &self.names,
            JobType::DeleteClient,
            self.settings.prefetch,
            &self.settings.worker_id,
        )
        .await?;
        tracing::info!(worker = %self.settings.worker_id, "consuming client deletions");
        tokio::pin!(shutdown);
        loop {
            let delivery = tokio::select! {
                () = &mut shutdown => break,
                next = deliveries.next() => match next {
                    Some(delivery) => delivery?,
                    None => anyhow::bail!("the delete-client queue consumer was cancelled by the broker"),
                },
            };
            let outcome = self
                .processor
                .handle(&delivery.message, delivery.delivery, delivery.traceparent.clone())
                .await;
            bgjobs_upload_pipeline::settle(delivery, outcome).await?;
        }
        tracing::info!("stopped taking client deletions");
        Ok(())
    }
}
