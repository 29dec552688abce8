//! Live updates: the SSE stream carries the account's job changes, and only them.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::helpers::{DEADLINE, TestGateway, Who, product_file};

/// The `job` events of an SSE stream as JSON, in order, on a channel; the first
/// message is sent once the stream is `ready`.
async fn follow(
    gateway: &TestGateway,
    who: Who,
) -> anyhow::Result<mpsc::UnboundedReceiver<serde_json::Value>> {
    let response = gateway.request(reqwest::Method::GET, "/api/v1/events", who).send().await?;
    anyhow::ensure!(response.status() == 200, "events answered {}", response.status());
    let (sender, receiver) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut buffer = String::new();
        let mut chunks = response.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if block.contains("event: ready") {
                    ready.take().map(|ready| ready.send(()));
                }
                if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: "))
                    && block.contains("event: job")
                    && let Ok(job) = serde_json::from_str(data)
                    && sender.send(job).is_err()
                {
                    return;
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx).await??;
    Ok(receiver)
}

/// Receives events until one for `job_id` has `status`; returns every event seen.
async fn until_status(
    events: &mut mpsc::UnboundedReceiver<serde_json::Value>,
    job_id: &str,
    status: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no '{status}' event for {job_id}; saw {seen:?}"))?
            .ok_or_else(|| anyhow::anyhow!("the stream ended; saw {seen:?}"))?;
        let done = event["id"] == job_id && event["status"] == status;
        seen.push(event);
        if done {
            return Ok(seen);
        }
    }
}

#[tokio::test]
async fn a_running_job_moves_live_and_other_accounts_see_nothing_of_it() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let mut ours = follow(&gateway, Who::Viewer).await?;
    let mut theirs = follow(&gateway, Who::OtherAccount).await?;

    let job_id = gateway.system.submit_products(product_file(300)).await?;
    let seen = until_status(&mut ours, &job_id, "completed").await?;
    // Each event is the job as it was at one registry poll (every 500 ms), so how many
    // intermediate states show depends on the job's speed; the final one always does.
    let last = seen.last().cloned().unwrap_or_default();
    assert_eq!(last["counters"]["rows_processed"], 300);
    assert_eq!(last["has_results"], true);

    // A job of the other account, started after ours finished: the other stream sees
    // it, and had it been able to see ours, ours would have come first.
    let response = gateway
        .request(
            reqwest::Method::POST,
            "/api/v1/jobs/warehouse-upload?file_name=l.csv",
            Who::OtherAccount,
        )
        .header("content-type", "text/csv")
        .body("warehouse,location_code\nWH1,A-01\n")
        .send()
        .await?;
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await?;
    let their_job = accepted["job_id"].as_str().unwrap_or_default().to_owned();
    let their_seen = until_status(&mut theirs, &their_job, "completed").await?;
    assert!(their_seen.iter().all(|event| event["id"] != job_id.as_str()), "{their_seen:?}");
    gateway.stop().await
}

#[tokio::test]
async fn open_live_streams_end_at_shutdown_so_an_open_page_does_not_hold_the_gateway_up()
-> anyhow::Result<()> {
    let mut gateway = TestGateway::start().await?;
    let mut events = follow(&gateway, Who::Viewer).await?;
    let took = gateway.shut_down_gateway().await?;
    // Without ending the stream, the drain would wait for it for its full 10 s.
    assert!(took < Duration::from_secs(5), "the gateway took {took:?} to stop");
    let ended = tokio::time::timeout(DEADLINE, events.recv()).await?;
    assert!(ended.is_none(), "the stream went on after shutdown: {ended:?}");
    eprintln!("gateway stopped {took:?} after the signal with a live stream open");
    gateway.stop().await
}
