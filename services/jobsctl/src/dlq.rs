//! `jobsctl dlq ...`: list, show and replay dead-lettered job messages.
//!
//! Every command reads the dead-letter queues with [`DlqReader`]: each message
//! is held unacknowledged while it is looked at and handed back unchanged afterwards,
//! unless a replay removed it after its republish was confirmed.

mod describe;
mod replay;
mod selection;

use bgjobs_messaging::Names;
use bgjobs_messaging::amqp::{DlqMessage, DlqReader};
use lapin::Connection;

pub use describe::{LetterDetails, LetterSummary, age, details, summary, table};
pub use replay::{Outcome, ReplayOptions, ReplayReport, replay};
pub use selection::{Selection, parse_age};

/// Calls `visit` with every dead letter that `selection` picks, then hands every
/// message back to its queue.
pub async fn scan(
    connection: &Connection,
    names: &Names,
    selection: &Selection,
    mut visit: impl FnMut(&DlqMessage),
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for job_type in selection.job_types() {
        let mut reader = DlqReader::open(connection, names, job_type).await?;
        let read = async {
            while let Some(letter) = reader.next().await? {
                if selection.matches(&letter, now) {
                    visit(&letter);
                }
            }
            anyhow::Ok(())
        }
        .await;
        reader.hand_back().await?;
        read?;
    }
    Ok(())
}
