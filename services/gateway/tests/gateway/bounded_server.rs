//! The gateway's HTTP server keeps its bounds: a client that dribbles its headers is
//! disconnected, headers over the limit are answered 431, a request not answered within the request timeout is answered 503,
//! a large JSON body is refused, and requests beyond the concurrency limit are refused
//! at once (503, Retry-After) while the admitted uploads complete and probes answer.

use std::time::{Duration, Instant};

use bgjobs_e2e::TestSystem;
use futures::StreamExt;
use futures::stream;
use gateway::settings::KeySource;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::helpers::{
    ISSUER, TestGateway, Who, product_file, settings_for, start_alone, trusted_key,
};

const SHORT: Duration = Duration::from_secs(1);

/// A gateway in front of `system` trusting [`trusted_key`], with `adjust` applied.
async fn gateway_with(
    system: TestSystem,
    extra: &[(&str, &str)],
    adjust: impl FnOnce(&mut gateway::Settings),
) -> anyhow::Result<TestGateway> {
    // Loaded as in demo mode, then trusting the tests' key, as `TestGateway::start` does.
    let extra: Vec<_> =
        [("BGJOBS_GATEWAY_DEMO_USERS", "true")].into_iter().chain(extra.iter().copied()).collect();
    let mut settings = settings_for(&system, &extra)?;
    settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
    settings.issuer = ISSUER.to_owned();
    adjust(&mut settings);
    TestGateway::start_with(system, settings).await
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_disconnected_within_the_header_timeout()
-> anyhow::Result<()> {
    let demo = [("BGJOBS_GATEWAY_DEMO_USERS", "true")];
    let (url, _stop) =
        start_alone(&demo, |settings| settings.limits.header_timeout = SHORT * 2).await?;
    let address = url.trim_start_matches("http://").to_owned();
    let mut connection = TcpStream::connect(&address).await?;
    let started = Instant::now();
    let dribbling = async {
        connection.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n").await?;
        for byte in b"X-Slow: a".iter().cycle() {
            connection.write_all(&[*byte]).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::Ok(())
    };
    let _cut_off = tokio::time::timeout(SHORT * 10, dribbling).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(SHORT * 2, connection.read_to_end(&mut rest)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the connection was still open after {elapsed:?}");
    assert!(elapsed >= SHORT * 2, "closed after {elapsed:?}, before the header timeout");
    assert!(elapsed < SHORT * 8, "closed only after {elapsed:?}");

    // Others are served; a JSON body over the limit is refused before it is read.
    assert_eq!(reqwest::get(format!("{url}/healthz")).await?.status(), 200);
    let oversized = format!("{{\"user\": \"{}\"}}", "a".repeat(1024 * 1024));
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/demo/sign-in"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await?;
    assert_eq!(response.status(), 413);
    Ok(())
}

#[tokio::test]
async fn headers_over_the_header_limit_are_answered_431() -> anyhow::Result<()> {
    let demo = [("BGJOBS_GATEWAY_DEMO_USERS", "true")];
    let (url, _stop) =
        start_alone(&demo, |settings| settings.limits.max_header_bytes = 16 * 1024).await?;
    let client = reqwest::Client::new();
    let within = client.get(format!("{url}/healthz")).header("x-padding", "a".repeat(8 * 1024));
    assert_eq!(within.send().await?.status(), 200);
    let over = client.get(format!("{url}/healthz")).header("x-padding", "a".repeat(32 * 1024));
    assert_eq!(over.send().await?.status(), 431);
    Ok(())
}

#[tokio::test]
async fn a_request_not_answered_within_the_request_timeout_is_answered_503() -> anyhow::Result<()> {
    // A registry that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let silent_url = format!("https://{}", silent.local_addr()?);
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let system = TestSystem::start().await?;
    let extra = [("BGJOBS_REGISTRY_URL", silent_url.as_str())];
    let gateway =
        gateway_with(system, &extra, |settings| settings.limits.request_timeout = SHORT).await?;

    let started = Instant::now();
    let (status, body) = gateway.get("/api/v1/jobs", Who::Viewer).await?;
    let elapsed = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("within 1 s"), "{body}");
    assert!(elapsed >= SHORT && elapsed < SHORT * 3, "answered after {elapsed:?}");
    holding.abort();
    gateway.stop().await
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused_at_once_and_admitted_ones_complete()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let gateway =
        gateway_with(system, &[], |settings| settings.limits.max_concurrent_requests = 2).await?;
    let path = format!("/api/v1/jobs/product-upload?client_id={}", gateway.system.client_id);
    let mut releases = Vec::new();
    let mut admitted = Vec::new();
    for _ in 0..2 {
        let (release, released) = oneshot::channel::<()>();
        releases.push(release);
        let file = product_file(50);
        let (head, rest) = (file[..40].to_owned(), file[40..].to_owned());
        let body = stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(stream::once(
            async move {
                let _ = released.await;
                Ok::<_, std::io::Error>(rest)
            },
        ));
        let request = gateway
            .request(reqwest::Method::POST, &path, Who::Operator)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(body));
        admitted.push(tokio::spawn(request.send()));
    }

    // Both uploads hold their place: one more request is shed, at once.
    let openapi = format!("{}/api/v1/openapi.json", gateway.url);
    let (response, took) =
        bgjobs_test_support::wait::until("a request to be shed", SHORT * 10, || async {
            let started = Instant::now();
            let response = gateway.http.get(&openapi).send().await?;
            Ok((response.status() == 503).then_some((response, started.elapsed())))
        })
        .await?;
    assert!(took < SHORT, "shed only after {took:?}");
    assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("limit of 2"), "{body}");
    // Probes are not shed: a busy replica is not a dead one.
    let probe = gateway.http.get(format!("{}/healthz", gateway.url)).send().await?;
    assert_eq!(probe.status(), 200);

    for release in releases {
        let _ = release.send(());
    }
    for upload in admitted {
        let response = upload.await??;
        let status = response.status();
        assert_eq!(status, 202, "{}", response.text().await?);
    }
    assert_eq!(gateway.http.get(&openapi).send().await?.status(), 200);
    gateway.stop().await
}
