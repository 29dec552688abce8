//! The Background Jobs page in headless Chromium, against the real services.

mod driver;
mod handover;
mod harness;
mod live;
mod page;
mod sign_in;
mod starting;

use std::time::Duration;

use bgjobs_database::jobs::{Counters, IncomingEvent};
use bgjobs_domain::{EventKind, EventPosition, JobId};
use bgjobs_test_support::wait;
use chrono::Utc;
use driver::{Browser, PAGE_DEADLINE};
use serde_json::json;

use crate::helpers::{DEADLINE, TestGateway, Who, product_file, settings_for};

/// The jobs of the list tests: an upload by "tester" (completed, with results), a
/// deletion by Omar Operator (failed: no such client), a dry run by "tester".
struct Jobs {
    upload: String,
    failed: String,
    dry_run: String,
}

async fn three_jobs(gateway: &TestGateway) -> anyhow::Result<Jobs> {
    let upload = gateway.completed_upload(5).await?;
    let (status, accepted) = gateway
        .post(
            "/api/v1/jobs/delete-client?client_id=never-existed&confirm_name=Nobody",
            Who::Operator,
        )
        .await?;
    anyhow::ensure!(status == 202, "{accepted}");
    let failed = accepted["job_id"].as_str().unwrap_or_default().to_owned();
    gateway.system.finished_job(&failed, DEADLINE).await?;
    let dry_run = gateway.system.submit_delete_client(&gateway.system.client_id, true).await?;
    gateway.system.finished_job(&dry_run, DEADLINE).await?;
    Ok(Jobs { upload, failed, dry_run })
}

/// Records what a worker that started `job_id` (of 100 rows, `rows_processed` done)
/// would report, as the registry's applier does; no worker runs it.
async fn report_started(
    gateway: &TestGateway,
    job_id: JobId,
    rows_processed: u64,
) -> anyhow::Result<()> {
    gateway
        .system
        .store
        .jobs()
        .record_event(IncomingEvent {
            event_id: uuid::Uuid::now_v7(),
            job_id,
            account_id: gateway.system.account.clone(),
            position: EventPosition { attempt: 1, delivery: 1, sequence: 1 },
            kind: EventKind::Started,
            occurred_at: Utc::now(),
            message: "Started".to_owned(),
            counters: Some(Counters { rows_total: 100, rows_processed, rows_rejected: 0 }),
            result_object_key: None,
            worker_id: "product-upload/lost".to_owned(),
        })
        .await?;
    Ok(())
}

/// The day `job_id` was created, in UTC (the browser's zone in these tests).
async fn created_on(gateway: &TestGateway, job_id: &str) -> anyhow::Result<chrono::NaiveDate> {
    let job = gateway.system.job(job_id).await?;
    let created_at = job.created_at.as_ref().and_then(bgjobs_proto::convert::from_timestamp);
    Ok(created_at.ok_or_else(|| anyhow::anyhow!("job {job_id} has no created_at"))?.date_naive())
}

#[tokio::test]
async fn a_viewer_filters_opens_details_and_downloads_results() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let jobs = three_jobs(&gateway).await?;
    let (upload, failed, dry_run) =
        (jobs.upload.as_str(), jobs.failed.as_str(), jobs.dry_run.as_str());
    let browser = Browser::start().await?;
    let token = gateway.token(Who::Viewer).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    browser.wait_for_rows("all jobs, newest first", &[dry_run, failed, upload]).await?;
    browser.screenshot("list").await?;

    // Each filter, reflected in the URL so a reload keeps it.
    browser
        .client
        .find(fantoccini::Locator::Css("#filter-status"))
        .await?
        .select_by_value("error")
        .await?;
    browser.wait_for_rows("the Error job", &[failed]).await?;
    assert!(
        browser.client.current_url().await?.query().unwrap_or_default().contains("status=error")
    );
    browser.client.refresh().await?;
    browser.wait_for_rows("the Error job after a reload", &[failed]).await?;
    assert_eq!(browser.eval("document.getElementById('filter-status').value").await?, "error");
    // A view-only user gets no Retry, even on an Error job, and no start buttons.
    assert_eq!(browser.eval("document.querySelectorAll('[data-action=retry]').length").await?, 0);
    let start_buttons =
        browser.client.find(fantoccini::Locator::Css("#start-product-upload")).await?;
    assert!(!start_buttons.is_displayed().await?, "a view-only user sees the start buttons");

    browser.click("#clear-filters").await?;
    browser.wait_for_rows("all jobs again", &[dry_run, failed, upload]).await?;
    browser
        .client
        .find(fantoccini::Locator::Css("#filter-type"))
        .await?
        .select_by_value("delete-client")
        .await?;
    browser.wait_for_rows("the deletions", &[dry_run, failed]).await?;

    browser.click("#clear-filters").await?;
    browser.set_input("#filter-created-by", "omar").await?;
    browser.wait_for_rows("Omar's job", &[failed]).await?;

    browser.click("#clear-filters").await?;
    // The days the jobs were created on, in the browser's zone (UTC): taken from the
    // jobs, not the clock, so a run across midnight filters the same way.
    let first_day = created_on(&gateway, upload).await?;
    let last_day = created_on(&gateway, dry_run).await?;
    let day_after = last_day + chrono::Days::new(1);
    browser.set_input("#filter-from", &day_after.to_string()).await?;
    browser.wait_for_rows("nothing created after the jobs' day", &[]).await?;
    let empty = browser.wait_for("the empty state", "!document.getElementById('empty').hidden && document.getElementById('empty').textContent").await?;
    assert!(empty.as_str().unwrap_or_default().contains("No jobs match these filters"), "{empty}");
    browser.set_input("#filter-from", &first_day.to_string()).await?;
    browser.set_input("#filter-to", &last_day.to_string()).await?;
    browser.wait_for_rows("the jobs of those days", &[dry_run, failed, upload]).await?;
    let query = browser.client.current_url().await?.query().unwrap_or_default().to_owned();
    assert!(
        query.contains(&format!("from={first_day}")) && query.contains(&format!("to={last_day}")),
        "{query}"
    );

    // Details: log, reference ids, parameters pretty-printed.
    browser.click(&format!("tr[data-job-id='{upload}'] [data-action=details]")).await?;
    let log = browser
        .wait_for("the message log", "document.getElementById('details-log')?.textContent")
        .await?;
    assert!(log.as_str().unwrap_or_default().contains("completed"), "{log}");
    assert_eq!(
        browser.eval("document.getElementById('details-job-id').textContent").await?,
        upload
    );
    assert_eq!(
        browser.eval("document.getElementById('details-client-id').textContent").await?,
        gateway.system.client_id.as_str()
    );
    let parameters =
        browser.eval("document.getElementById('details-parameters').textContent").await?;
    assert!(
        parameters.as_str().unwrap_or_default().contains("\n  \"client_id\": \"acme\""),
        "{parameters}"
    );
    assert!(
        browser
            .client
            .current_url()
            .await?
            .query()
            .unwrap_or_default()
            .contains(&format!("job={upload}"))
    );
    browser.click("#details-close").await?;

    // Download: the saved file is the results file.
    browser.click(&format!("tr[data-job-id='{upload}'] [data-action=download]")).await?;
    let saved = browser.downloads.join("products-results.csv");
    let content = wait::until("the download to be saved", PAGE_DEADLINE, || async {
        Ok(std::fs::read_to_string(&saved).ok())
    })
    .await?;
    let job = gateway.system.job(upload).await?;
    assert_eq!(content, gateway.system.results_text(&job).await?);
    gateway.stop().await
}

#[tokio::test]
async fn another_accounts_job_is_unreachable_by_url_and_an_expired_session_says_so()
-> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let upload = gateway.completed_upload(2).await?;
    let browser = Browser::start().await?;

    let other = gateway.token(Who::OtherAccount).unwrap_or_default();
    browser.open_signed_in(&gateway.url, &format!("/?job={upload}"), &other).await?;
    let shown = browser
        .wait_for(
            "the details to refuse",
            "document.querySelector('#details-body [role=alert]')?.textContent",
        )
        .await?;
    assert_eq!(shown, "no such job");
    assert_eq!(browser.row_ids().await?, Vec::<String>::new());

    let expired = gateway.token(Who::Expired).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &expired).await?;
    let banner = browser.wait_for("the session message", "!document.getElementById('banner').hidden && document.getElementById('banner').textContent").await?;
    assert!(banner.as_str().unwrap_or_default().contains("session has expired"), "{banner}");
    assert!(
        browser.eval("document.querySelector('#banner a').textContent").await? == "Sign in again"
    );
    gateway.stop().await
}

#[tokio::test]
async fn a_job_silent_past_the_threshold_shows_as_stalled() -> anyhow::Result<()> {
    let system = bgjobs_e2e::TestSystem::start().await?;
    let mut settings = settings_for(
        &system,
        &[("BGJOBS_GATEWAY_DEMO_USERS", "true"), ("BGJOBS_STALL_SECS", "1")],
    )?;
    settings.keys =
        gateway::settings::KeySource::Pem(crate::helpers::trusted_key().public_pem().to_owned());
    settings.issuer = crate::helpers::ISSUER.to_owned();
    let gateway = TestGateway::start_with(system, settings).await?;

    // A job that started and then went silent: registered, one Started event, no worker.
    let job_id = JobId::new();
    let request = bgjobs_proto::v1::CreateJobRequest {
        job_id: job_id.to_string(),
        account_id: gateway.system.account.to_string(),
        job_type: bgjobs_proto::v1::JobType::ProductUpload as i32,
        parameters_json: "{}".to_owned(),
        created_by: "tester".to_owned(),
        ..Default::default()
    };
    gateway.system.registry.clone().create_job(request).await?;
    report_started(&gateway, job_id, 40).await?;
    wait::until("the API to call it stalled", Duration::from_secs(10), || async {
        let (_, details) = gateway.get(&format!("/api/v1/jobs/{job_id}"), Who::Viewer).await?;
        Ok((details["job"]["stalled"] == json!(true)).then_some(()))
    })
    .await?;

    let browser = Browser::start().await?;
    let token = gateway.token(Who::Viewer).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    let warning = browser
        .wait_for(
            "the stalled warning",
            "document.querySelector('#job-rows .stalled')?.textContent",
        )
        .await?;
    // Whole minutes since the job's last update, however long the test took to get here.
    let shown_minutes: Option<i64> = warning
        .as_str()
        .and_then(|text| text.strip_prefix("⚠ stalled — last update "))
        .and_then(|rest| rest.strip_suffix(" min ago"))
        .and_then(|minutes| minutes.parse().ok());
    let job = gateway.system.job(&job_id.to_string()).await?;
    let updated_at = job.updated_at.as_ref().and_then(bgjobs_proto::convert::from_timestamp);
    let silent_minutes = updated_at.map(|at| (Utc::now() - at).num_minutes());
    assert!(
        shown_minutes
            .zip(silent_minutes)
            .is_some_and(|(shown, silent)| (0..=silent).contains(&shown)),
        "{warning} (silent for {silent_minutes:?} min)"
    );
    browser.click(&format!("tr[data-job-id='{job_id}'] [data-action=details]")).await?;
    let progress = browser
        .wait_for("the progress bar", "document.querySelector('#details-body progress')?.value")
        .await?;
    assert_eq!(progress, 40);
    gateway.stop().await
}

#[tokio::test]
async fn the_retry_role_retries_a_failed_job_and_sees_it_complete_live() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    // An upload for a client that does not exist yet fails; once the client exists,
    // a retry succeeds.
    let response = gateway
        .request(
            reqwest::Method::POST,
            "/api/v1/jobs/product-upload?client_id=arrives-later",
            Who::Operator,
        )
        .header("content-type", "text/csv")
        .body(product_file(50))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 202, "upload answered {}", response.status());
    let accepted: serde_json::Value = response.json().await?;
    let failed = accepted["job_id"].as_str().unwrap_or_default().to_owned();
    let job = gateway.system.finished_job(&failed, DEADLINE).await?;
    anyhow::ensure!(job.message.contains("arrives-later"), "unexpected failure: {}", job.message);
    gateway
        .system
        .store
        .catalog()
        .ensure_client(&gateway.system.account, "arrives-later", "Later Ltd")
        .await?;

    let browser = Browser::start().await?;
    let token = gateway.token(Who::Operator).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    browser
        .wait_for(
            "live updates",
            "document.getElementById('live-state').textContent.startsWith('Live')",
        )
        .await?;
    let row = format!("tr[data-job-id='{failed}']");
    // Every status the row shows, in order, however briefly: a row is replaced on
    // each change, so watch the table for rows of this job.
    browser
        .eval(&format!(
            "(window.statusesShown = [], new MutationObserver(() => {{ \
               const status = document.querySelector(\"{row}\")?.dataset.status; \
               if (status && window.statusesShown.at(-1) !== status) window.statusesShown.push(status); \
             }}).observe(document.getElementById('job-rows'), {{ childList: true, subtree: true }}), true)"
        ))
        .await?;
    // The slowest network for the Retry's answer: it reaches the page only after the
    // live updates have shown the job completed, as a loaded server can make happen.
    browser
        .eval(&format!(
            "(window.retryAnswered = false, window.fetch = ((fetch) => async (path, options) => {{ \
               const response = await fetch(path, options); \
               if (!String(path).endsWith('/retry')) return response; \
               while (document.querySelector(\"{row}\")?.dataset.status !== 'completed') \
                 await new Promise((resolve) => setTimeout(resolve, 50)); \
               setTimeout(() => {{ window.retryAnswered = true; }}, 0); \
               return response; \
             }})(window.fetch), true)"
        ))
        .await?;
    browser.click(&format!("{row} [data-action=retry]")).await?;
    browser
        .wait_for(
            "the retried job to complete",
            &format!("document.querySelector(\"{row}\")?.dataset.status === 'completed'"),
        )
        .await?;
    browser.wait_for("the Retry's late answer", "window.retryAnswered").await?;
    let shown: Vec<String> = serde_json::from_value(browser.eval("window.statusesShown").await?)?;
    // The Retry's answer (New) came after the live updates (In Progress, Completed):
    // the row may skip a state, but never goes back to one it has left.
    let order = ["error", "new", "in_progress", "completed"];
    let ranks: Vec<Option<usize>> =
        shown.iter().map(|status| order.iter().position(|known| known == status)).collect();
    assert!(
        ranks.iter().all(Option::is_some) && ranks.is_sorted(),
        "the row went backwards after Retry: {shown:?}"
    );
    assert_eq!(shown.last().map(String::as_str), Some("completed"), "{shown:?}");
    let text = browser.eval(&format!("document.querySelector(\"{row}\").textContent")).await?;
    assert!(text.as_str().unwrap_or_default().contains("50 of 50 rows imported"), "{text}");
    browser.click(&format!("{row} [data-action=details]")).await?;
    let log =
        browser.wait_for("the log", "document.getElementById('details-log')?.textContent").await?;
    assert!(
        log.as_str().unwrap_or_default().contains("Omar Operator"),
        "the retry is logged with its user: {log}"
    );
    gateway.stop().await
}
