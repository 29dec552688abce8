//! Tokens verified against an identity provider's JWKS (`BGJOBS_AUTH_JWKS_URL`), served
//! by the test on loopback: the key is found by the token's key id, the usual checks
//! apply, and the document is cached instead of fetched per request.

mod claims;
mod provider;
mod refresh;

use axum::http::StatusCode;
use chrono::Utc;
use gateway::auth::{Claims, JwksRefresh, RETRY_ROLE, VIEW_ROLE};
use serde_json::json;
use tokio_util::sync::DropGuard;

use crate::helpers::{ISSUER, foreign_key, start_alone, trusted_key};
use provider::Provider;

/// The key id the identity provider publishes the trusted key under.
const KEY_ID: &str = "idp-key-2026";

/// A gateway that verifies tokens against the JWKS at `jwks_url`; the registry and
/// ingest are never called by `/api/v1/me`, so no system runs behind it.
async fn gateway_with_jwks(jwks_url: &str) -> anyhow::Result<(String, DropGuard)> {
    gateway_with_jwks_refreshed(jwks_url, JwksRefresh::default()).await
}

/// Like [`gateway_with_jwks`], keeping the JWKS fresh as `refresh` says (tests use
/// intervals of milliseconds, which the settings cannot express).
async fn gateway_with_jwks_refreshed(
    jwks_url: &str,
    refresh: JwksRefresh,
) -> anyhow::Result<(String, DropGuard)> {
    let env = [("BGJOBS_AUTH_JWKS_URL", jwks_url), ("BGJOBS_AUTH_ISSUER", ISSUER)];
    start_alone(&env, |settings| settings.jwks_refresh = refresh).await
}

fn claims() -> Claims {
    Claims {
        sub: "u-42".to_owned(),
        name: "Jade Jwks".to_owned(),
        account: "jwks-account".to_owned(),
        roles: vec![VIEW_ROLE.to_owned(), RETRY_ROLE.to_owned()],
        email: Some("jade@example.com".to_owned()),
        zoneinfo: Some("Europe/Paris".to_owned()),
        iss: ISSUER.to_owned(),
        aud: "bgjobs".to_owned(),
        exp: Utc::now().timestamp() + 600,
        iat: Some(Utc::now().timestamp()),
        nbf: None,
    }
}

async fn me(gateway: &str, token: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::Client::new()
        .get(format!("{gateway}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// The status and error message `/api/v1/me` answers `token` with ("" on success).
async fn refusal(gateway: &str, token: &str) -> anyhow::Result<(StatusCode, String)> {
    let (status, body) = me(gateway, token).await?;
    let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
    Ok((StatusCode::from_u16(status)?, message))
}

#[tokio::test]
async fn tokens_are_verified_with_the_key_the_jwks_publishes_under_their_key_id()
-> anyhow::Result<()> {
    let trusted = trusted_key();
    let provider = Provider::serve(json!([trusted.jwk(KEY_ID)?])).await?;
    let (gateway, _stop) = gateway_with_jwks(&provider.url).await?;
    let foreign = foreign_key();

    let (status, body) = me(&gateway, &trusted.sign_with_key_id(KEY_ID, &claims())?).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "u-42");
    assert_eq!(body["name"], "Jade Jwks");
    assert_eq!(body["account"], "jwks-account");
    assert_eq!(body["can_retry"], true);
    assert_eq!(body["email"], "jade@example.com");
    // A malformed address refuses nothing: the user is just not emailed.
    let no_address = Claims { email: Some("jade at example.com".to_owned()), ..claims() };
    let (status, body) = me(&gateway, &trusted.sign_with_key_id(KEY_ID, &no_address)?).await?;
    assert_eq!((status, &body["email"]), (200, &json!(null)), "{body}");

    let expired = Claims { exp: Utc::now().timestamp() - 3600, ..claims() };
    let wrong_audience = Claims { aud: "another-app".to_owned(), ..claims() };
    let refused = [
        (
            "expired",
            trusted.sign_with_key_id(KEY_ID, &expired)?,
            "your session has expired; sign in again",
        ),
        (
            "signed by another key under the published key id",
            foreign.sign_with_key_id(KEY_ID, &claims())?,
            "the bearer token's signature is not valid",
        ),
        (
            "naming a key the JWKS does not publish",
            foreign.sign_with_key_id("someone-elses-key", &claims())?,
            "the bearer token is signed with an unknown key",
        ),
        (
            "for another audience",
            trusted.sign_with_key_id(KEY_ID, &wrong_audience)?,
            "the bearer token is not meant for this service",
        ),
    ];
    for (what, token, message) in refused {
        let (status, body) = me(&gateway, &token).await?;
        assert_eq!((status, body["error"]["message"].as_str()), (401, Some(message)), "{what}");
    }

    // One fetch served every request, and the unknown key id did not fetch again so
    // soon: forged tokens cannot flood the identity provider.
    assert_eq!(provider.fetches(), 1);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_identity_provider_answers_503_with_a_plain_message() -> anyhow::Result<()> {
    // A port that was free a moment ago: nothing answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (gateway, _stop) = gateway_with_jwks(&format!("http://{closed}/jwks.json")).await?;

    let token = trusted_key().sign_with_key_id(KEY_ID, &claims())?;
    let (status, body) = me(&gateway, &token).await?;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"]["message"],
        "sign-in cannot be checked right now (the identity provider's keys are unreachable); \
         try again shortly"
    );
    Ok(())
}
