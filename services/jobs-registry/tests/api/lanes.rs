//! Events of several jobs applied at once: a job held up holds up only its own lane.

use bgjobs_proto::v1::{EventKind, JobStatus};
use bgjobs_test_support::wait;
use jobs_registry::applier::lane_of;
use sea_orm::Database;

use crate::events::{DEADLINE, event, log_of, wait_for_job};
use crate::helpers::spawn_app;
use crate::outages::{lock_job_row, lock_waiters, redeliveries};

#[tokio::test]
async fn a_job_whose_row_is_locked_holds_up_no_job_on_another_lane() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let lanes = app.settings.apply_concurrency;
    assert!(lanes > 1, "the registry applies one event at a time by default");
    let held = app.create_job("acme").await?;
    let mut other = app.create_job("acme").await?;
    while lane_of(&other.job_id, lanes) == lane_of(&held.job_id, lanes) {
        other = app.create_job("acme").await?;
    }
    // The held job's row is locked, as a long transaction on it would.
    let database = Database::connect(app.settings.database_url.expose()).await?;
    let holder = lock_job_row(&database, &held).await?;

    app.publisher.publish(&event(&held, 1, 1, EventKind::Started, "Started"), None).await?;
    wait::until("the applier to wait on the held row", DEADLINE, || async {
        Ok((!lock_waiters(&database).await?.is_empty()).then_some(()))
    })
    .await?;
    app.publisher.publish(&event(&other, 1, 1, EventKind::Started, "Started"), None).await?;

    // Well within the lock timeout (30 s), which would otherwise free the lane.
    wait_for_job(&app, &other, "the other job to start", |job| {
        job.status() == JobStatus::InProgress
    })
    .await?;
    assert_eq!(app.get_job("acme", &held.job_id).await?.status(), JobStatus::New);

    holder.rollback().await?;
    wait_for_job(&app, &held, "the held job to start", |job| job.status() == JobStatus::InProgress)
        .await?;
    assert_eq!(log_of(&app, &held).await?.len(), 1);
    assert_eq!(redeliveries(&app).await?, 0, "the held job's event waited in place");
    app.stop().await
}
