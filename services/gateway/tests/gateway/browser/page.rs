//! The page itself: the columns, coloured badges, times in the user's time zone, the
//! empty state, labelled controls and keyboard use.

use bgjobs_proto::convert::from_timestamp;
use chrono::FixedOffset;
use fantoccini::key::Key;

use super::driver::Browser;
use super::report_started;
use crate::helpers::{DEADLINE, TestGateway, Who};

/// Controls without an accessible name: no label, no aria-label(ledby), no text.
const UNLABELLED_CONTROLS: &str = "[...document.querySelectorAll('input, select, textarea, button')]
    .filter(c => !(c.labels?.length || c.getAttribute('aria-label') || c.getAttribute('aria-labelledby')
        || (c.tagName === 'BUTTON' && c.textContent.trim())))
    .map(c => c.outerHTML)";

#[tokio::test]
async fn the_list_shows_every_column_coloured_badges_and_times_in_the_users_time_zone()
-> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let system = &gateway.system;
    let completed = gateway.completed_upload(1).await?;
    let failed = system.submit_delete_client("never-existed", false).await?;
    system.finished_job(&failed, DEADLINE).await?;
    // India has no daylight saving time: always UTC+5:30.
    let browser = Browser::start_in_time_zone("Asia/Kolkata").await?;
    let token = gateway.token(Who::Viewer).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    browser.wait_for_rows("both jobs", &[&failed, &completed]).await?;

    let headers = browser
        .eval("[...document.querySelectorAll('#jobs thead th')].map(th => th.textContent)")
        .await?;
    assert_eq!(
        headers,
        serde_json::json!([
            "ID",
            "Job Type",
            "Status",
            "Created",
            "Created By",
            "Message",
            "Last Updated",
            "Updated By",
            "Actions"
        ])
    );
    let badge_colour = |job_id: &str| {
        format!(
            "getComputedStyle(document.querySelector(\"tr[data-job-id='{job_id}'] .badge\")).backgroundColor"
        )
    };
    let (green, red) = (
        browser.eval(&badge_colour(&completed)).await?,
        browser.eval(&badge_colour(&failed)).await?,
    );
    assert_ne!(green, red, "Completed and Error badges look the same");

    // The absolute time (the tooltip of the relative one) is the user's local time.
    let created_at = system.job(&completed).await?.created_at.as_ref().and_then(from_timestamp);
    let created_at = created_at.ok_or_else(|| anyhow::anyhow!("the job has no created_at"))?;
    let india = FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("a valid offset");
    let expected = created_at.with_timezone(&india).format("%b %-d, %Y, %-I:%M:%S %p").to_string();
    let shown = browser
        .eval(&format!("document.querySelector(\"tr[data-job-id='{completed}'] time\").title"))
        .await?;
    // Chromium puts a narrow no-break space before AM/PM.
    let shown = shown.as_str().unwrap_or_default().replace('\u{202f}', " ");
    assert_eq!(shown, expected);
    gateway.stop().await
}

#[tokio::test]
async fn every_control_is_labelled_and_details_open_and_close_from_the_keyboard()
-> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let browser = Browser::start().await?;
    // An account with no jobs yet: the empty state says so.
    let other = gateway.token(Who::OtherAccount).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &other).await?;
    let empty = browser
        .wait_for(
            "the empty state",
            "!document.getElementById('empty').hidden && document.getElementById('empty').textContent",
        )
        .await?;
    assert_eq!(empty, "No jobs yet. Jobs appear here as soon as an upload or deletion starts.");

    let upload = gateway.completed_upload(1).await?;
    let token = gateway.token(Who::Operator).unwrap_or_default();
    // Leave the page first: a change of the fragment alone would not load it again.
    browser.client.goto("about:blank").await?;
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    browser.wait_for_rows("the upload", &[&upload]).await?;
    assert_eq!(browser.eval(UNLABELLED_CONTROLS).await?, serde_json::json!([]));

    // Tab-reachable native buttons: focus the row's View Details, press Enter.
    let view_details = format!("tr[data-job-id='{upload}'] [data-action=details]");
    browser.press_on(&view_details, Key::Enter, "document.getElementById('details').open").await?;
    browser.wait_for("the log", "document.getElementById('details-log')?.textContent").await?;
    assert_eq!(browser.eval(UNLABELLED_CONTROLS).await?, serde_json::json!([]));
    browser.press(Key::Escape).await?;
    browser.wait_for("the details to close", "!document.getElementById('details').open").await?;

    // The start dialogs' forms too.
    for start in ["#start-product-upload", "#start-warehouse-upload", "#start-delete-client"] {
        browser.click(start).await?;
        browser
            .wait_for("the start dialog", "document.getElementById('start-dialog').open")
            .await?;
        assert_eq!(browser.eval(UNLABELLED_CONTROLS).await?, serde_json::json!([]), "{start}");
        browser.press(Key::Escape).await?;
        browser
            .wait_for("the start dialog to close", "!document.getElementById('start-dialog').open")
            .await?;
    }
    gateway.stop().await
}

#[tokio::test]
async fn older_and_newer_page_through_the_list_newest_first() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    // 26 registered jobs, one more than the page's 25, oldest first; none is queued,
    // so they change only when the test says.
    let mut created = Vec::new();
    for _ in 0..26 {
        let job_id = bgjobs_domain::JobId::new();
        let request = bgjobs_proto::v1::CreateJobRequest {
            job_id: job_id.to_string(),
            account_id: gateway.system.account.to_string(),
            job_type: bgjobs_proto::v1::JobType::DeleteClient as i32,
            parameters_json: "{}".to_owned(),
            created_by: "tester".to_owned(),
            ..Default::default()
        };
        gateway.system.registry.clone().create_job(request).await?;
        created.push(job_id);
    }
    let newest_first: Vec<String> = created.iter().rev().map(ToString::to_string).collect();
    let newest_first: Vec<&str> = newest_first.iter().map(String::as_str).collect();
    let browser = Browser::start().await?;
    let token = gateway.token(Who::Viewer).unwrap_or_default();
    browser.open_signed_in(&gateway.url, "/", &token).await?;

    browser.wait_for_rows("the newest 25", &newest_first[..25]).await?;
    browser
        .wait_for(
            "live updates",
            "document.getElementById('live-state').textContent.startsWith('Live')",
        )
        .await?;
    // The oldest job changes, then the newest: live updates come in the order of the
    // changes, so once the newest shows In Progress the page has had the oldest's
    // update too, and must have left it off this full page of newer jobs.
    report_started(&gateway, created[0], 0).await?;
    report_started(&gateway, created[25], 0).await?;
    browser
        .wait_for(
            "the newest job's live update",
            &format!(
                "document.querySelector(\"tr[data-job-id='{}']\")?.dataset.status === 'in_progress'",
                newest_first[0]
            ),
        )
        .await?;
    assert_eq!(browser.row_ids().await?, newest_first[..25], "the page grew or changed order");
    assert_eq!(browser.eval("document.getElementById('newer').disabled").await?, true);
    browser.click("#older").await?;
    browser.wait_for_rows("the oldest job", &newest_first[25..]).await?;
    assert_eq!(browser.eval("document.getElementById('older').disabled").await?, true);
    browser.click("#newer").await?;
    browser.wait_for_rows("the newest 25 again", &newest_first[..25]).await?;
    gateway.stop().await
}
