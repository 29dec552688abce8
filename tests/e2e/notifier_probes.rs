//! The notifier's probe server keeps the same bounds as every HTTP server of bgjobs:
//! probes answer, a client that dribbles its headers is disconnected within the header
//! timeout, and headers over the limit are answered 431.

use std::time::{Duration, Instant};

use bgjobs_e2e::TestSystem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The local stack's SMTP server.
const STACK_SMTP: &str = "smtp://127.0.0.1:2525";
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_notifier_s_probes_answer_within_the_header_timeout_and_size_limit()
-> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let limits = [("BGJOBS_HEADER_TIMEOUT_SECS", "2"), ("BGJOBS_MAX_HEADER_BYTES", "16384")];
    let notifier = system.start_notifier(STACK_SMTP, &limits).await?;
    let url = format!("http://{}", notifier.ops_addr);
    let client = reqwest::Client::new();
    for probe in ["healthz", "readyz"] {
        assert_eq!(client.get(format!("{url}/{probe}")).send().await?.status(), 200, "{probe}");
    }
    let over = client.get(format!("{url}/healthz")).header("x-padding", "a".repeat(32 * 1024));
    assert_eq!(over.send().await?.status(), 431);

    let mut connection = TcpStream::connect(notifier.ops_addr).await?;
    let started = Instant::now();
    let dribbling = async {
        connection.write_all(b"GET /healthz HTTP/1.1\r\nHost: notifier\r\n").await?;
        for byte in b"X-Slow: a".iter().cycle() {
            connection.write_all(&[*byte]).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::Ok(())
    };
    let _cut_off = tokio::time::timeout(HEADER_TIMEOUT * 10, dribbling).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(HEADER_TIMEOUT, connection.read_to_end(&mut rest)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the connection was still open after {elapsed:?}");
    assert!(elapsed >= HEADER_TIMEOUT, "closed after {elapsed:?}, before the header timeout");
    assert!(elapsed < HEADER_TIMEOUT * 4, "closed only after {elapsed:?}");

    notifier.stop().await?;
    system.stop().await
}
