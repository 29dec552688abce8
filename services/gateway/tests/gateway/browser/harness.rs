//! The browser harness itself, and what the page shows when the registry is gone.

use std::time::Duration;

use bgjobs_test_support::wait;
use chrono::Utc;
use gateway::auth::{Claims, VIEW_ROLE};
use gateway::settings::KeySource;

use super::driver::{Browser, descendants};
use crate::helpers::{ISSUER, start_alone, trusted_key};

/// Whether `pid` is a live process (a zombie, killed and not yet reaped, is not).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rfind(')').and_then(|end| stat[end + 1..].split_whitespace().next());
        !matches!(state, None | Some("Z") | Some("X"))
    })
}

#[tokio::test]
async fn a_failing_test_leaves_no_chromedriver_or_chromium_behind() -> anyhow::Result<()> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    // A test that panics while its browser is open.
    let failing = tokio::spawn(async move {
        let browser = Browser::start().await.expect("a browser");
        browser.client.goto("about:blank").await.expect("a page");
        let driver = browser.driver_pid().expect("chromedriver's pid");
        let mut started = descendants(driver);
        started.push(driver);
        let _ = started_tx.send(started);
        panic!("the test failed");
    });
    assert!(failing.await.is_err_and(|error| error.is_panic()));
    let started = started_rx.await?;
    assert!(started.len() > 2, "chromedriver and Chromium were not running: {started:?}");

    wait::until("chromedriver and Chromium to end", Duration::from_secs(10), || async {
        let alive: Vec<u32> = started.iter().copied().filter(|pid| is_alive(*pid)).collect();
        Ok(alive.is_empty().then_some(()))
    })
    .await
}

#[tokio::test]
async fn an_unreachable_registry_shows_a_plain_message() -> anyhow::Result<()> {
    // A port that was free a moment ago: no registry answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let registry_url = format!("https://{closed}");
    let env = [("BGJOBS_GATEWAY_DEMO_USERS", "true"), ("BGJOBS_REGISTRY_URL", &registry_url)];
    let (url, _stop) = start_alone(&env, |settings| {
        settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
        settings.issuer = ISSUER.to_owned();
    })
    .await?;
    let token = trusted_key().sign(&Claims {
        sub: "u-1".to_owned(),
        name: "Vera Viewer".to_owned(),
        account: "acme".to_owned(),
        roles: vec![VIEW_ROLE.to_owned()],
        email: None,
        zoneinfo: None,
        iss: ISSUER.to_owned(),
        aud: "bgjobs".to_owned(),
        exp: Utc::now().timestamp() + 600,
        iat: None,
        nbf: None,
    })?;

    let browser = Browser::start().await?;
    browser.open_signed_in(&url, "/", &token).await?;
    let banner = browser
        .wait_for(
            "the registry message",
            "!document.getElementById('banner').hidden && document.getElementById('banner').textContent",
        )
        .await?;
    assert_eq!(banner, "the jobs registry is unreachable; try again shortly");
    let live = browser
        .wait_for(
            "the live updates state",
            "document.getElementById('live-state').textContent.match(/interrupted.*/)?.[0]",
        )
        .await?;
    assert!(live.as_str().unwrap_or_default().contains("unreachable"), "{live}");
    Ok(())
}
