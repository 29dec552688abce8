//! Demo sign-in on the page: one click per demo user, only when demo users are on.

use gateway::settings::KeySource;

use super::driver::Browser;
use crate::helpers::{ISSUER, TestGateway, Who, settings_for, start_alone, trusted_key};

#[tokio::test]
async fn each_demo_user_signs_in_with_one_click_and_signs_out() -> anyhow::Result<()> {
    let system = bgjobs_e2e::TestSystem::start().await?;
    let settings = settings_for(&system, &[("BGJOBS_GATEWAY_DEMO_USERS", "true")])?;
    let gateway = TestGateway::start_with(system, settings).await?;
    let (_, users) = gateway.get("/api/v1/demo/users", Who::Nobody).await?;
    let browser = Browser::start().await?;

    for (user, may_start_work) in [("viewer", false), ("operator", true), ("other", true)] {
        let listed = users
            .as_array()
            .into_iter()
            .flatten()
            .find(|listed| listed["id"] == user)
            .ok_or_else(|| anyhow::anyhow!("demo user {user} is not listed: {users}"))?;
        browser.client.goto(&format!("{}/sign-in", gateway.url)).await?;
        browser.click(&format!("#sign-in-{user}")).await?;
        let who = browser
            .wait_for("the signed-in user", "document.getElementById('who')?.textContent")
            .await?;
        let expected = format!(
            "{} · account {}",
            listed["name"].as_str().unwrap_or_default(),
            listed["account"].as_str().unwrap_or_default()
        );
        assert!(who.as_str().unwrap_or_default().starts_with(&expected), "{user}: {who}");
        let start_shown = browser.eval("!document.getElementById('start-actions').hidden").await?;
        assert_eq!(start_shown, may_start_work, "{user}");

        browser.click("#who button").await?;
        browser.wait_for("the sign-in page", "location.pathname === '/sign-in'").await?;
    }
    gateway.stop().await
}

#[tokio::test]
async fn the_sign_in_page_says_when_demo_users_are_off() -> anyhow::Result<()> {
    // Tokens from an identity provider (a configured key): no demo users.
    let (url, _stop) = start_alone(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")], |settings| {
        settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
        settings.issuer = ISSUER.to_owned();
    })
    .await?;
    let browser = Browser::start().await?;
    browser.client.goto(&format!("{url}/sign-in")).await?;
    let banner = browser
        .wait_for(
            "the message",
            "!document.getElementById('banner').hidden && document.getElementById('banner').textContent",
        )
        .await?;
    assert_eq!(
        banner,
        "Demo users are not enabled on this gateway. Sign in through your identity provider."
    );
    assert_eq!(browser.eval("document.querySelectorAll('#demo-users li').length").await?, 0);
    Ok(())
}
