//! The first rejected rows of a job's results file, for the email to list.

use bgjobs_domain::object_keys;
use bgjobs_domain::{AccountId, JobId};
use bgjobs_object_store::ObjectStore;
use tokio_util::io::SyncIoBridge;

use crate::content::{MAX_REJECTED_ROWS, RejectedRow};

/// The first [`MAX_REJECTED_ROWS`] rejected rows of the results file of `job`, read
/// as a stream (a results file has a line per input row) and no further than needed.
/// The key is derived from the account and the job, never taken from an event. No
/// file yet is no rows.
pub async fn first_rejected_rows(
    objects: &ObjectStore,
    account: &AccountId,
    job: JobId,
) -> Result<Vec<RejectedRow>, bgjobs_object_store::Error> {
    let key = object_keys::results(account, job);
    let reader = match objects.get_reader(&key).await {
        Ok(reader) => reader,
        Err(bgjobs_object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let bridge = SyncIoBridge::new(reader);
    let read = tokio::task::spawn_blocking(move || rejected_from(bridge, MAX_REJECTED_ROWS)).await;
    read.map_err(|error| bgjobs_object_store::Error::S3 {
        operation: "GetObject",
        message: format!("reading the results file '{key}' stopped: {error}"),
    })?
    .map_err(|error| bgjobs_object_store::Error::S3 {
        operation: "GetObject",
        message: format!("the results file '{key}' cannot be read: {error}"),
    })
}

/// Up to `limit` rejected rows of a results file (`row,key,outcome,reason`).
fn rejected_from(reader: impl std::io::Read, limit: usize) -> Result<Vec<RejectedRow>, csv::Error> {
    let mut rows = Vec::new();
    for record in csv::Reader::from_reader(reader).into_records() {
        let record = record?;
        if record.get(2) != Some("rejected") {
            continue;
        }
        let Some(row) = record.get(0).and_then(|row| row.parse().ok()) else {
            continue;
        };
        rows.push(RejectedRow {
            row,
            key: record.get(1).unwrap_or_default().to_owned(),
            reason: record.get(3).unwrap_or_default().to_owned(),
        });
        if rows.len() == limit {
            break;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rejected_rows_are_taken_up_to_the_limit() {
        let file = "row,key,outcome,reason\n2,A,created,\n3,B,rejected,\"price is negative, got -1\"\n\
                    4,,rejected,sku is required\n5,C,rejected,too long\n";
        let rows = rejected_from(file.as_bytes(), 2).expect("reads");
        assert_eq!(
            rows,
            [
                RejectedRow { row: 3, key: "B".into(), reason: "price is negative, got -1".into() },
                RejectedRow { row: 4, key: String::new(), reason: "sku is required".into() },
            ]
        );
    }
}
