//! What became of one delivery of a job message, and settling the message accordingly.

use bgjobs_messaging::amqp::JobDelivery;

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
    /// A transient fault (database, storage or broker unavailable); requeue.
    Retry {
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

/// Acks, requeues or dead-letters `delivery` as `outcome` says, logging why.
pub async fn settle(
    delivery: JobDelivery,
    outcome: Outcome,
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
        Outcome::Retry { cause } => {
            tracing::warn!(job_id, cause, "job interrupted; returning it to the queue");
            delivery.requeue().await
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
