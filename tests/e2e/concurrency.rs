//! A consumer runs several jobs at once (`BGJOBS_CONCURRENCY`, 4 for the upload
//! consumers): a job that waits does not hold back the jobs queued after it.

use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::TestSystem;
use bgjobs_e2e::invariants::ensure_completed_on;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::wait;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

const DEADLINE: Duration = Duration::from_secs(60);
/// How long the upload queued behind the waiting one may take: well below the
/// store's lock timeout (30 s), after which the waiting batch would give up and free
/// a consumer that runs one job at a time.
const BEHIND_DEADLINE: Duration = Duration::from_secs(15);
/// The client of the upload queued behind: another client, as registering an upload
/// waits for the batches writing its own client's data.
const OTHER_CLIENT: &str = "other-client";

#[tokio::test]
async fn an_upload_waiting_on_a_locked_product_does_not_hold_back_the_next_one()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    system.store.catalog().ensure_client(&system.account, OTHER_CLIENT, "Other Corp").await?;
    let first = system.submit_products("sku,name\nHELD-1,Held product\n").await?;
    ensure_completed_on(&system.finished_job(&first, DEADLINE).await?, 1)?;

    // Another session holds the product's row, as a long transaction elsewhere would:
    // an upload changing it waits in its batch until the row is free.
    let connection = system.store.connection();
    let backend = connection.get_database_backend();
    let blocker = connection.begin().await?;
    blocker.execute_unprepared("SET LOCAL idle_in_transaction_session_timeout = 0").await?;
    let locked = blocker
        .query_all(Statement::from_sql_and_values(
            backend,
            "SELECT sku FROM catalog.products \
             WHERE account_id = $1 AND client_id = $2 AND sku = 'HELD-1' FOR UPDATE",
            [system.account.as_str().into(), system.client_id.as_str().into()],
        ))
        .await?;
    assert_eq!(locked.len(), 1, "the product to hold");
    let held = system.submit_products("sku,name\nHELD-1,Renamed product\n").await?;
    wait::until("the held upload to start", DEADLINE, || async {
        let job = system.job(&held).await?;
        Ok((job_status_from_proto(job.status) == Some(JobStatus::InProgress)).then_some(()))
    })
    .await?;

    let behind =
        system.submit_products_for(OTHER_CLIENT, "sku,name\nFREE-1,Free product\n").await?;
    ensure_completed_on(&system.finished_job(&behind, BEHIND_DEADLINE).await?, 1)?;
    let still = system.job(&held).await?;
    assert_eq!(
        job_status_from_proto(still.status),
        Some(JobStatus::InProgress),
        "the held upload ended while its row was held: {}",
        still.message
    );
    let log = system.log(&held).await?;
    assert!(
        log.iter().all(|entry| !entry.message.contains("fault")),
        "the held upload gave up waiting: {log:#?}"
    );

    blocker.rollback().await?;
    let held = system.finished_job(&held, DEADLINE).await?;
    ensure_completed_on(&held, 1)?;
    let records = system.results_records(&held).await?;
    assert_eq!(records.get(1).map(|record| record[2].as_str()), Some("updated"), "{records:?}");
    system.stop().await
}
