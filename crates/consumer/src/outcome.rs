//! What became of one delivery of a job message, and settling the message accordingly.

use bgjobs_messaging::amqp::{Delay, JobDelivery, JobPublisher};

/// What became of a delivery, and so what to do with the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The job completed; ack.
    Completed {
        /// The completion message, e.g. "998 of 1,000 rows imported, 2 rejected".
        message: String,
    },
    /// The job failed for good (bad file, unknown client); its Failed event is out; ack.
    Failed {
        /// What is wrong, as the user reads it.
        message: String,
    },
    /// A transient fault (database, storage or broker unavailable): put the message
    /// off for `delay`, then it is delivered again.
    RetryLater {
        /// What went wrong.
        cause: String,
        /// The delay queue level and how long to wait.
        delay: Delay,
    },
    /// A transient fault after every retry was used: dead-letter (the job then goes
    /// to Error with the cause).
    GiveUp {
        /// What went wrong.
        cause: String,
    },
    /// The delivery's attempt was superseded by a newer one with its own message;
    /// nothing was committed after that and no end was reported; ack.
    Superseded {
        /// Why, naming the attempts.
        cause: String,
    },
    /// The message itself is unusable (no valid job or account id); dead-letter.
    Poison {
        /// Why.
        cause: String,
    },
}

/// Acks, puts off or dead-letters `delivery` as `outcome` says, logging why; a
/// delayed copy is published through `publisher`.
pub async fn settle(
    delivery: JobDelivery,
    outcome: Outcome,
    publisher: &JobPublisher,
) -> Result<(), bgjobs_messaging::Error> {
    let job_id = delivery.message.job_id.clone();
    match outcome {
        Outcome::Completed { message } => {
            tracing::info!(job_id, message, "job completed");
            delivery.ack().await
        }
        Outcome::Failed { message } => {
            tracing::warn!(job_id, message, "job failed");
            delivery.ack().await
        }
        Outcome::RetryLater { cause, delay } => {
            tracing::warn!(job_id, cause, ?delay, "transient fault; retrying the job later");
            delivery.retry_later(publisher, delay).await
        }
        Outcome::GiveUp { cause } => {
            tracing::error!(job_id, cause, "transient fault after the last retry; dead-lettering");
            delivery.dead_letter().await
        }
        Outcome::Superseded { cause } => {
            tracing::warn!(job_id, cause, "stale delivery stopped; dropping its message");
            delivery.ack().await
        }
        Outcome::Poison { cause } => {
            tracing::error!(job_id, cause, "unusable job message; dead-lettering it");
            delivery.dead_letter().await
        }
    }
}
