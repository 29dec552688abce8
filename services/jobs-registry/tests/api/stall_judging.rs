//! The stall detector judges silence only while the registry applies events in time.

use std::time::Duration;

use bgjobs_proto::v1::{EventKind, JobStatus};
use bgjobs_test_support::wait;
use sea_orm::Database;

use crate::events::{DEADLINE, event, log_of, wait_for_job};
use crate::helpers::{TestApp, spawn_app_with};
use crate::outages::lock_job_row;

const JUDGING: &str = "bgjobs_registry_judging_stalls";

async fn judging_is(app: &TestApp, what: &str, judging: bool) -> anyhow::Result<()> {
    let wanted = if judging { 1.0 } else { 0.0 };
    wait::until(what, DEADLINE, || async {
        Ok((app.metric_value(JUDGING).await? == Some(wanted)).then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_heartbeat_taken_but_not_yet_applied_keeps_its_job_from_being_judged_silent()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.stalls.threshold = Duration::from_secs(2)).await?;
    judging_is(&app, "the detector to judge, once the registry kept up", true).await?;
    let job = app.create_job("acme").await?;
    app.publisher.publish(&event(&job, 1, 1, EventKind::Started, "Started"), None).await?;
    wait_for_job(&app, &job, "the job to start", |job| job.status() == JobStatus::InProgress)
        .await?;

    // The job's row is locked, so its next heartbeat is taken but cannot be applied,
    // as during a database outage; the job's last applied event then ages past the
    // threshold.
    let database = Database::connect(app.settings.database_url.expose()).await?;
    let holder = lock_job_row(&database, &job).await?;
    app.publisher.publish(&event(&job, 1, 2, EventKind::Progress, "Still working"), None).await?;
    // A detector that judged on would block on the row to recover the job and never
    // say it waits.
    judging_is(&app, "the detector to wait for the heartbeat", false).await?;

    holder.rollback().await?;
    let applied = wait::until("the heartbeat to be applied", DEADLINE, || async {
        let log = log_of(&app, &job).await?;
        Ok((log.len() == 2).then_some(log))
    })
    .await?;
    // Applied on attempt 1, with no "worker lost" line before it: the job was never
    // requeued.
    assert_eq!(applied[1].message, "Still working");
    assert_eq!((applied[1].attempt, applied[1].ignored), (1, false), "{applied:?}");
    app.stop().await
}
