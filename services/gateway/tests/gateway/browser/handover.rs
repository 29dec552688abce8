//! What the page takes from its address: a token only from this tab's own sign-in, a
//! return path only on this site, a job id only when it is one.

use chrono::Utc;
use gateway::auth::{Claims, VIEW_ROLE};
use gateway::settings::KeySource;
use serde_json::json;
use tokio_util::sync::DropGuard;

use super::driver::{Browser, SIGN_IN_STATE_KEY};
use crate::helpers::{ISSUER, start_alone, trusted_key};

/// A gateway trusting [`trusted_key`], with nothing behind it (the page's sign-in
/// needs only `/api/v1/me`).
async fn gateway() -> anyhow::Result<(String, DropGuard)> {
    start_alone(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")], |settings| {
        settings.keys = KeySource::Pem(trusted_key().public_pem().to_owned());
        settings.issuer = ISSUER.to_owned();
    })
    .await
}

fn token() -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    Ok(trusted_key().sign(&Claims {
        sub: "u-1".to_owned(),
        name: "Vera Viewer".to_owned(),
        account: "acme".to_owned(),
        roles: vec![VIEW_ROLE.to_owned()],
        email: None,
        zoneinfo: None,
        iss: ISSUER.to_owned(),
        aud: "bgjobs".to_owned(),
        exp: now + 600,
        iat: Some(now),
        nbf: None,
    })?)
}

const BANNER: &str =
    "!document.getElementById('banner').hidden && document.getElementById('banner').textContent";

#[tokio::test]
async fn a_token_in_the_address_without_this_tabs_sign_in_state_is_ignored() -> anyhow::Result<()> {
    let (url, _stop) = gateway().await?;
    let token = token()?;
    let browser = Browser::start().await?;
    // (the state this tab's sign-in keeps, the state in the address)
    let cases = [
        ("no sign-in started, no state", None, None),
        ("no sign-in started, a state made up", None, Some("c0ffee")),
        ("a sign-in started, no state", Some("5e55104"), None),
        ("a sign-in started, another state", Some("5e55104"), Some("c0ffee")),
    ];
    for (what, kept, handed) in cases {
        browser.client.goto(&format!("{url}/healthz")).await?;
        browser
            .client
            .execute(
                "sessionStorage.clear(); \
                 if (arguments[1]) sessionStorage.setItem(arguments[0], arguments[1]);",
                vec![json!(SIGN_IN_STATE_KEY), json!(kept)],
            )
            .await?;
        let state = handed.map(|state| format!("&state={state}")).unwrap_or_default();
        browser.client.goto(&format!("{url}/#access_token={token}{state}")).await?;
        let banner = browser.wait_for(what, BANNER).await?;
        assert_eq!(
            banner,
            "The sign-in in this link was ignored: it was not started from this page. Sign in \
             yourself.Sign in",
            "{what}"
        );
        let kept_after = browser
            .eval(&format!(
                "[sessionStorage.getItem('bgjobs.token'), \
                 sessionStorage.getItem('{SIGN_IN_STATE_KEY}'), location.hash]"
            ))
            .await?;
        assert_eq!(
            kept_after,
            json!([null, null, ""]),
            "{what}: the token was kept or left in the address"
        );
    }

    // The same token with the state of this tab's sign-in is taken.
    browser.open_signed_in(&url, "/", &token).await?;
    let who = browser
        .wait_for("the signed-in user", "document.getElementById('who').textContent")
        .await?;
    assert!(who.as_str().unwrap_or_default().starts_with("Vera Viewer"), "{who}");
    assert_eq!(browser.eval("location.hash").await?, "");
    Ok(())
}

#[tokio::test]
async fn signing_in_never_returns_to_another_site() -> anyhow::Result<()> {
    let (url, _stop) = start_alone(&[("BGJOBS_GATEWAY_DEMO_USERS", "true")], |_| {}).await?;
    let browser = Browser::start().await?;
    let elsewhere = [
        "//evil.example/jobs",
        "/\\evil.example/jobs",
        "/\t/evil.example/jobs",
        "https://evil.example/jobs",
        "javascript:alert(1)",
        "jobs",
    ];
    let cases =
        elsewhere.iter().map(|back| (*back, "/")).chain([("/?status=error", "/?status=error")]);
    for (back, expected) in cases {
        let query: String = url_encoded(back);
        browser.client.goto(&format!("{url}/sign-in?return={query}")).await?;
        browser.click("#sign-in-viewer").await?;
        let landed = browser
            .wait_for(
                &format!("the page after signing in with return {back:?}"),
                "document.getElementById('who')?.textContent \
                 && (location.origin + location.pathname + location.search)",
            )
            .await?;
        assert_eq!(landed, format!("{url}{expected}"), "return {back:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_job_id_in_the_address_that_is_not_one_shows_a_message_and_asks_nothing()
-> anyhow::Result<()> {
    let (url, _stop) = gateway().await?;
    let browser = Browser::start().await?;
    browser.open_signed_in(&url, "/?job=..%2F..%2Fdemo%2Fusers", &token()?).await?;
    let banner = browser
        .wait_for("the message", &format!("({BANNER} || '').includes('not a job id') && {BANNER}"))
        .await?;
    assert_eq!(
        banner,
        "The address names the job \"../../demo/users\", which is not a job id (job ids look like \
         0190f5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d). Check the link you followed."
    );
    let asked = browser
        .eval(
            "performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => n.includes('/api/v1/jobs/') || n.includes('demo'))",
        )
        .await?;
    assert_eq!(asked, json!([]), "the page asked the API about the job anyway");
    assert_eq!(browser.eval("document.getElementById('details').open").await?, false);
    Ok(())
}

/// `text` as a query value.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
