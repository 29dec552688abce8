//! Demo users: only when enabled, and their tokens work like any other.

use crate::helpers::{TestGateway, Who, settings_for};

#[tokio::test]
async fn demo_sign_in_is_refused_unless_enabled() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let (status, _) = gateway.get("/api/v1/demo/users", Who::Nobody).await?;
    assert_eq!(status, 404);
    let response = gateway
        .http
        .post(format!("{}/api/v1/demo/sign-in", gateway.url))
        .json(&serde_json::json!({ "user": "operator" }))
        .send()
        .await?;
    assert_eq!(response.status(), 404);
    gateway.stop().await
}

#[tokio::test]
async fn a_demo_user_signs_in_and_sees_their_account_with_their_roles() -> anyhow::Result<()> {
    let system = bgjobs_e2e::TestSystem::start().await?;
    let settings = settings_for(&system, &[("BGJOBS_GATEWAY_DEMO_USERS", "true")])?;
    let gateway = TestGateway::start_with(system, settings).await?;
    let (status, users) = gateway.get("/api/v1/demo/users", Who::Nobody).await?;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().map(Vec::len), Some(3));

    for (user, can_retry, account) in
        [("viewer", false, "demo"), ("operator", true, "demo"), ("other", true, "demo-other")]
    {
        let session: serde_json::Value = gateway
            .http
            .post(format!("{}/api/v1/demo/sign-in", gateway.url))
            .json(&serde_json::json!({ "user": user }))
            .send()
            .await?
            .json()
            .await?;
        let token = session["token"].as_str().unwrap_or_default();
        let me: serde_json::Value = gateway
            .http
            .get(format!("{}/api/v1/me", gateway.url))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            (me["can_retry"].as_bool(), me["account"].as_str()),
            (Some(can_retry), Some(account)),
            "{user}: {me}"
        );
        assert_eq!(me["email"], format!("{user}@example.com"), "{user}: {me}");
    }
    let response = gateway
        .http
        .post(format!("{}/api/v1/demo/sign-in", gateway.url))
        .json(&serde_json::json!({ "user": "admin" }))
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    gateway.stop().await
}
