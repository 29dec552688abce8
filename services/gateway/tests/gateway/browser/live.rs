//! Live updates on the page when the sign-in they were opened with runs out.

use chrono::Utc;
use gateway::auth::Claims;

use super::driver::Browser;
use crate::helpers::{TestGateway, trusted_key};

#[tokio::test]
async fn the_page_asks_to_sign_in_again_when_its_live_updates_end_with_the_token()
-> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let browser = Browser::start().await?;
    // Expired 20 s ago: accepted for about 10 s more, within the 30 s clock leeway.
    let now = Utc::now().timestamp();
    let claims = Claims { exp: now - 20, iat: Some(now - 60), ..gateway.operator_claims() };
    let token = trusted_key().sign(&claims)?;
    browser.open_signed_in(&gateway.url, "/", &token).await?;
    let live = "document.getElementById('live-state').textContent";
    browser
        .wait_for("live updates to start", &format!("{live}.startsWith('Live: changes')"))
        .await?;

    let stopped = browser
        .wait_for("live updates to stop", &format!("{live}.includes('sign in') && {live}"))
        .await?;
    assert_eq!(stopped, "Live updates stopped: sign in again.");
    // Told why the stream ended, the page did not open it again only to be refused.
    let opened = browser
        .eval(
            "performance.getEntriesByType('resource')\
             .filter((entry) => entry.name.endsWith('/api/v1/events')).length",
        )
        .await?;
    assert_eq!(opened, 1, "the page opened the live updates {opened} times");
    let banner = browser.eval("document.getElementById('banner').textContent").await?;
    assert!(banner.as_str().unwrap_or_default().contains("session has expired"), "{banner}");
    assert!(
        browser.eval("document.querySelector('#banner a').textContent").await? == "Sign in again"
    );
    gateway.stop().await
}
