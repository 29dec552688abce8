//! Live update streams are bounded: a user, and everyone together, may hold only so many
//! open at once (one more is a 429 saying which limit), and a stream ends, saying so,
//! when the token it was opened with expires.

use std::time::Duration;

use bgjobs_e2e::TestSystem;
use bgjobs_test_support::wait;
use chrono::Utc;
use futures::StreamExt;
use gateway::auth::Claims;
use gateway::settings::KeySource;
use tokio::sync::mpsc;

use crate::helpers::{DEADLINE, ISSUER, TestGateway, product_file, settings_for, trusted_key};

/// A gateway trusting [`trusted_key`], with `extra` settings.
async fn gateway_with(extra: &[(&str, &str)]) -> anyhow::Result<TestGateway> {
    let system = TestSystem::start().await?;
    let mut variables = vec![("BGJOBS_GATEWAY_DEMO_USERS", "true")];
    variables.extend_from_slice(extra);
    let mut settings = settings_for(&system, &variables)?;
    settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
    settings.issuer = ISSUER.to_owned();
    TestGateway::start_with(system, settings).await
}

/// A token of user `sub` (view and retry roles, the test's account) with `exp`.
fn token_of(gateway: &TestGateway, sub: &str, exp: i64) -> String {
    let claims = Claims {
        sub: sub.to_owned(),
        exp,
        iat: Some(Utc::now().timestamp() - 60),
        ..gateway.operator_claims()
    };
    trusted_key().sign(&claims).expect("signed")
}

/// `GET /api/v1/events` with `token`; the answer's body is left unread (the stream
/// stays open while the answer is kept).
async fn open(gateway: &TestGateway, token: &str) -> anyhow::Result<reqwest::Response> {
    let url = format!("{}/api/v1/events", gateway.url);
    Ok(gateway.http.get(url).bearer_auth(token).send().await?)
}

/// The code and message of a 429.
async fn refusal(response: reqwest::Response) -> anyhow::Result<(String, String)> {
    anyhow::ensure!(response.status() == 429, "expected 429, got {}", response.status());
    let retry_after = response.headers().get("retry-after").cloned();
    anyhow::ensure!(retry_after.is_some(), "a 429 without Retry-After");
    let body: serde_json::Value = response.json().await?;
    let text = |field: &str| body["error"][field].as_str().unwrap_or_default().to_owned();
    Ok((text("code"), text("message")))
}

/// The events of a stream as (name, data), on a channel that closes when it ends.
fn events(response: reqwest::Response) -> mpsc::UnboundedReceiver<(String, String)> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = String::new();
        let mut chunks = response.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block.lines().find_map(|line| line.strip_prefix(name)).unwrap_or_default()
                };
                let name = field("event: ");
                if !name.is_empty()
                    && sender.send((name.to_owned(), field("data: ").to_owned())).is_err()
                {
                    return;
                }
            }
        }
    });
    receiver
}

/// The next event, or `None` when the stream ended; fails after [`DEADLINE`].
async fn next(
    events: &mut mpsc::UnboundedReceiver<(String, String)>,
) -> anyhow::Result<Option<(String, String)>> {
    tokio::time::timeout(DEADLINE, events.recv())
        .await
        .map_err(|_| anyhow::anyhow!("no event and no end within {DEADLINE:?}"))
}

#[tokio::test]
async fn live_streams_over_a_user_s_limit_or_the_total_are_refused_with_429_until_one_closes()
-> anyhow::Result<()> {
    let gateway = gateway_with(&[
        ("BGJOBS_GATEWAY_SSE_MAX_PER_USER", "2"),
        ("BGJOBS_GATEWAY_SSE_MAX_TOTAL", "3"),
    ])
    .await?;
    let later = Utc::now().timestamp() + 3600;
    let (ann, bob) = (token_of(&gateway, "u-ann", later), token_of(&gateway, "u-bob", later));

    let anns_first = open(&gateway, &ann).await?;
    let anns_second = open(&gateway, &ann).await?;
    assert_eq!((anns_first.status().as_u16(), anns_second.status().as_u16()), (200, 200));
    let (code, message) = refusal(open(&gateway, &ann).await?).await?;
    assert_eq!(code, "too_many_requests");
    assert!(message.contains("already have 2 pages following live updates"), "{message}");

    // Another user still gets the last place, then the total is reached for everyone.
    let bobs_first = open(&gateway, &bob).await?;
    assert_eq!(bobs_first.status(), 200);
    let (code, message) = refusal(open(&gateway, &bob).await?).await?;
    assert_eq!(code, "too_many_requests");
    assert!(message.contains("as many live updates as it can"), "{message}");

    // A page closed gives its place back, once the gateway sees the connection go.
    drop(anns_first);
    let anns_third = wait::until("a closed stream to give its place back", DEADLINE, || async {
        let response = open(&gateway, &ann).await?;
        Ok((response.status() == 200).then_some(response))
    })
    .await?;
    drop((anns_second, anns_third, bobs_first));
    gateway.stop().await
}

#[tokio::test]
async fn a_live_stream_ends_with_an_expired_event_when_its_token_expires() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    // Expired 25 s ago, so accepted for 5 s more within the 30 s clock leeway.
    let now = Utc::now().timestamp();
    let expiring = token_of(&gateway, "u-ann", now - 25);
    let lasting = token_of(&gateway, "u-ann", now + 3600);
    let opened = tokio::time::Instant::now();
    let response = open(&gateway, &expiring).await?;
    assert_eq!(response.status(), 200, "the token is still accepted when the stream opens");
    let mut expiring_events = events(response);
    let mut lasting_events = events(open(&gateway, &lasting).await?);

    let ready = next(&mut expiring_events).await?;
    assert_eq!(ready.map(|(name, _)| name).as_deref(), Some("ready"));
    let expired = next(&mut expiring_events).await?;
    let took = opened.elapsed();
    assert_eq!(
        expired,
        Some(("expired".to_owned(), "your session has expired; sign in again".to_owned()))
    );
    assert!(took >= Duration::from_secs(3), "ended after {took:?}, before the token expired");
    assert_eq!(next(&mut expiring_events).await?, None, "the stream goes on after 'expired'");
    assert_eq!(open(&gateway, &expiring).await?.status(), 401, "the token is refused now");

    // The stream opened with a token still valid is still live.
    assert_eq!(next(&mut lasting_events).await?.map(|(name, _)| name).as_deref(), Some("ready"));
    let job_id = gateway.system.submit_products(product_file(1)).await?;
    loop {
        let (name, data) = next(&mut lasting_events)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the lasting stream ended"))?;
        if name == "job" && data.contains(&job_id) {
            break;
        }
    }
    gateway.stop().await
}
