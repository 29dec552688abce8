//! Shared set-up: a migrated store on a fresh database, and job and event builders.

use bgjobs_database::Store;
use bgjobs_database::catalog::warehouse::Location;
use bgjobs_database::catalog::{Checkpoint, Product};
use bgjobs_database::jobs::{Counters, IncomingEvent, NewJob, ReferenceIds};
use bgjobs_domain::{AccountId, EventKind, EventPosition, JobId, JobType};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

/// A store on a fresh, migrated database.
pub async fn fresh_store() -> anyhow::Result<Store> {
    let url = bgjobs_test_support::postgres::fresh_database().await?;
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
}

/// An account id from a literal known to be valid.
pub fn account(name: &str) -> AccountId {
    AccountId::parse(name).expect("test account ids are valid")
}

/// A product upload of `account` created by `created_by`.
pub fn new_job(account: &AccountId, created_by: &str) -> NewJob {
    NewJob {
        job_id: JobId::new(),
        account_id: account.clone(),
        job_type: JobType::ProductUpload,
        input_object_key: None,
        original_file_name: Some("products.csv".to_owned()),
        parameters: serde_json::json!({ "all_or_nothing": false }),
        reference_ids: ReferenceIds {
            client_id: Some("client-1".to_owned()),
            user_id: None,
            warehouse_id: None,
        },
        created_by: created_by.to_owned(),
        notify: None,
    }
}

/// An event of `kind` at attempt/delivery/sequence, with a fresh event id.
pub fn event(
    account: &AccountId,
    job: JobId,
    (attempt, delivery, sequence): (u32, u32, u64),
    kind: EventKind,
) -> IncomingEvent {
    IncomingEvent {
        event_id: Uuid::now_v7(),
        job_id: job,
        account_id: account.clone(),
        position: EventPosition { attempt, delivery, sequence },
        kind,
        occurred_at: Utc::now(),
        message: format!("{} {sequence}", kind.as_str()),
        counters: None,
        result_object_key: None,
        worker_id: "worker-a".to_owned(),
    }
}

/// Counters of `processed` rows out of `total`, none rejected.
pub fn counters(total: u64, processed: u64) -> Counters {
    Counters { rows_total: total, rows_processed: processed, rows_rejected: 0 }
}

/// Sets a job's creation time, so that tests control the listing order and date filters.
pub async fn set_created_at(store: &Store, job: JobId, at: DateTime<Utc>) -> anyhow::Result<()> {
    let connection = store.connection();
    connection
        .execute(Statement::from_sql_and_values(
            connection.get_database_backend(),
            "UPDATE jobs.jobs SET created_at = $1 WHERE job_id = $2",
            [at.into(), job.as_uuid().into()],
        ))
        .await?;
    Ok(())
}

/// `rows` with their 1-based input row numbers, as an upload batch carries them.
pub fn numbered<T: Clone>(rows: &[T]) -> Vec<(u64, T)> {
    numbered_from(1, rows)
}

/// `rows` numbered from `first`: a later batch of the same upload.
pub fn numbered_from<T: Clone>(first: u64, rows: &[T]) -> Vec<(u64, T)> {
    (first..).zip(rows.iter().cloned()).collect()
}

/// A product with only the required columns filled.
pub fn product(sku: &str, name: &str) -> Product {
    Product {
        sku: sku.to_owned(),
        name: name.to_owned(),
        description: None,
        barcode: None,
        weight_kg: None,
        length_cm: None,
        width_cm: None,
        height_cm: None,
        price: None,
        hs_code: None,
        country_of_origin: None,
    }
}

/// A location with only its key and capacity filled.
pub fn location(warehouse_id: &str, code: &str, capacity: u32) -> Location {
    Location {
        warehouse_id: warehouse_id.to_owned(),
        location_code: code.to_owned(),
        zone: None,
        aisle: None,
        bay: None,
        level: None,
        location_type: None,
        pickable: None,
        capacity: Some(capacity),
    }
}

/// The totals a consumer passes in before a batch: `rows_committed` through it.
pub fn through(rows_committed: u64) -> Checkpoint {
    Checkpoint { attempt: 1, rows_committed, ..Checkpoint::default() }
}

/// Sessions of `store`'s database idle in a transaction, and those waiting for a lock.
pub async fn sessions(store: &Store) -> anyhow::Result<(i64, i64)> {
    let connection = store.connection();
    let sql = "SELECT count(*) FILTER (WHERE state = 'idle in transaction'), \
                      count(*) FILTER (WHERE wait_event_type = 'Lock') \
               FROM pg_stat_activity WHERE datname = current_database()";
    let statement = Statement::from_string(connection.get_database_backend(), sql);
    let row = connection.query_one(statement).await?.expect("a count");
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}
