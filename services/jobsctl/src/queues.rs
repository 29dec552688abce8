//! `jobsctl queues`: depth and consumers of every job queue and dead-letter queue,
//! read with passive declares (no management plugin needed).

use bgjobs_domain::JobType;
use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::queue_stats;
use lapin::Connection;
use serde::Serialize;

/// One queue's depth, or its absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueRow {
    /// The queue's name.
    pub queue: String,
    /// What it holds: "jobs" or "dead letters".
    pub role: &'static str,
    /// The job type it belongs to.
    pub job_type: &'static str,
    /// Messages ready for delivery (`None` when the queue does not exist).
    pub messages: Option<u32>,
    /// Consumers attached (`None` when the queue does not exist).
    pub consumers: Option<u32>,
}

/// Every queue of the topology under `names`, job queue then DLQ, per job type.
pub async fn rows(connection: &Connection, names: &Names) -> anyhow::Result<Vec<QueueRow>> {
    let mut rows = Vec::new();
    for job_type in JobType::ALL {
        let queues =
            [("jobs", names.queue(job_type)), ("dead letters", names.dead_letter_queue(job_type))];
        for (role, queue) in queues {
            let stats = queue_stats(connection, &queue).await?;
            rows.push(QueueRow {
                queue,
                role,
                job_type: job_type.as_str(),
                messages: stats.map(|stats| stats.messages),
                consumers: stats.map(|stats| stats.consumers),
            });
        }
    }
    Ok(rows)
}

/// The table `queues` prints.
pub fn table(rows: &[QueueRow]) -> String {
    let width = rows.iter().map(|row| row.queue.len()).max().unwrap_or(5).max(5);
    let mut lines =
        vec![format!("{:<width$}  {:<12}  {:>8}  {:>9}", "QUEUE", "ROLE", "MESSAGES", "CONSUMERS")];
    for row in rows {
        let number =
            |value: Option<u32>| value.map_or_else(|| "missing".to_owned(), |n| n.to_string());
        lines.push(format!(
            "{:<width$}  {:<12}  {:>8}  {:>9}",
            row.queue,
            row.role,
            number(row.messages),
            number(row.consumers)
        ));
    }
    lines.join("\n")
}
