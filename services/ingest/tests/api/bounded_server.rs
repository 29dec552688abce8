//! Ingest's HTTPS API keeps its bounds: a client that dribbles its TLS handshake is
//! disconnected, an upload that keeps sending takes as long as it needs while one
//! that stalls is refused, and requests beyond the concurrency limit are refused at
//! once while the admitted ones complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use bgjobs_test_support::wait;

use crate::helpers::{json_of, spawn_app_with};

const SHORT: Duration = Duration::from_secs(1);

/// A product file of `rows` rows, about 30 bytes each.
fn product_file(rows: usize) -> String {
    let mut file = String::from("sku,name,barcode\n");
    for row in 1..=rows {
        file.push_str(&format!("SKU-{row:06},Mug number {row},\n"));
    }
    file
}

/// `file` in `pieces` chunks, one every `every`.
fn sent_slowly(file: String, pieces: usize, every: Duration) -> reqwest::Body {
    let bytes = Bytes::from(file);
    let size = bytes.len().div_ceil(pieces);
    let chunks: Vec<Bytes> = (0..pieces)
        .map(|piece| {
            bytes.slice((piece * size).min(bytes.len())..((piece + 1) * size).min(bytes.len()))
        })
        .collect();
    let paced = stream::iter(chunks).then(move |chunk| async move {
        tokio::time::sleep(every).await;
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(paced)
}

/// The first `head` bytes of `file`, then the rest only once `release` fires.
fn held_until(file: String, head: usize, release: oneshot::Receiver<()>) -> reqwest::Body {
    let bytes = Bytes::from(file);
    let (first, rest) = (bytes.slice(..head), bytes.slice(head..));
    let first = stream::once(async move { Ok::<_, std::io::Error>(first) });
    let rest = stream::once(async move {
        let _ = release.await;
        Ok::<_, std::io::Error>(rest)
    });
    reqwest::Body::wrap_stream(first.chain(rest))
}

#[tokio::test]
async fn a_client_dribbling_its_tls_handshake_is_disconnected_within_the_header_timeout()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.limits.header_timeout = SHORT * 2).await?;
    let address = app.address.trim_start_matches("https://").to_owned();
    let mut connection = TcpStream::connect(&address).await?;
    let started = Instant::now();
    let dribbling = async {
        for byte in [0x16_u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc].iter().cycle() {
            if connection.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let _gave_up = tokio::time::timeout(SHORT * 10, dribbling).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(SHORT * 2, connection.read_to_end(&mut rest)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the connection was still open after {elapsed:?}");
    assert!(elapsed >= SHORT * 2, "closed after {elapsed:?}, before the header timeout");
    assert!(elapsed < SHORT * 8, "closed only after {elapsed:?}");
    let healthy = app.http.get(format!("{}/healthz", app.address)).send().await?;
    assert_eq!(healthy.status(), 200);
    app.stop().await
}

#[tokio::test]
async fn an_upload_sending_slowly_but_steadily_is_not_cut_by_any_timeout() -> anyhow::Result<()> {
    let app = spawn_app_with(|settings| {
        settings.limits.request_timeout = SHORT;
        settings.limits.body_idle_timeout = SHORT;
    })
    .await?;
    let started = Instant::now();
    // 12 pieces, one every 300 ms: the upload takes over 3 s, three times either timeout.
    let response =
        app.upload(sent_slowly(product_file(1000), 12, Duration::from_millis(300))).await?;
    let took = started.elapsed();
    assert!(took > SHORT * 3, "the upload took only {took:?}");
    assert_eq!(response.status(), 202, "{:?}", json_of(response).await);
    assert_eq!(app.jobs().await?.len(), 1);
    app.stop().await
}

#[tokio::test]
async fn an_upload_stalling_mid_body_is_refused_within_the_body_idle_timeout() -> anyhow::Result<()>
{
    let app = spawn_app_with(|settings| settings.limits.body_idle_timeout = SHORT * 2).await?;
    let (_never_released, release) = oneshot::channel();
    let started = Instant::now();
    let answer = tokio::time::timeout(
        SHORT * 10,
        app.upload(held_until(product_file(1000), 12 * 1024, release)),
    )
    .await;
    let elapsed = started.elapsed();
    let response = answer.map_err(|_| anyhow::anyhow!("no answer after {elapsed:?}"))??;
    assert!(elapsed >= SHORT * 2, "refused after {elapsed:?}, before the idle timeout");
    assert_eq!(response.status(), 400);
    let body = json_of(response).await?;
    assert_eq!(body["error"]["code"], "upload_interrupted", "{body}");
    assert!(app.jobs().await?.is_empty(), "a job was registered for a stalled upload");
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused_at_once_and_admitted_ones_complete()
-> anyhow::Result<()> {
    let app = spawn_app_with(|settings| settings.limits.max_concurrent_requests = 2).await?;
    let app = Arc::new(app);
    let mut releases = Vec::new();
    let mut admitted = Vec::new();
    for _ in 0..2 {
        let (release, released) = oneshot::channel();
        releases.push(release);
        let uploading = Arc::clone(&app);
        let body = held_until(product_file(100), 100, released);
        admitted.push(tokio::spawn(async move { uploading.upload(body).await }));
    }

    // Both uploads hold their place: one more request is shed, at once.
    let (response, took) = wait::until("a request to be shed", SHORT * 10, || async {
        let started = Instant::now();
        let response = app.upload("sku,name\nA-1,Mug\n").await?;
        Ok((response.status() == 503).then_some((response, started.elapsed())))
    })
    .await?;
    assert!(took < SHORT, "shed only after {took:?}");
    assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
    let body = json_of(response).await?;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("limit of 2"), "{body}");
    // Probes are not shed: a busy replica is not a dead one.
    let probe = app.http.get(format!("{}/healthz", app.address)).send().await?;
    assert_eq!(probe.status(), 200);

    for release in releases {
        let _ = release.send(());
    }
    for upload in admitted {
        let response = upload.await??;
        let status = response.status();
        assert_eq!(status, 202, "{:?}", json_of(response).await);
    }
    assert_eq!(app.jobs().await?.len(), 2);
    let app = Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("an upload still holds the app"))?;
    app.stop().await
}
