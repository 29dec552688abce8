//! What a token's subject and times must say: a subject that is not blank, not before
//! (`nbf`, with the clock leeway), issued no later than now (`iat`, with the leeway), an
//! expiry (`exp`), and a lifetime no longer than the maximum.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::json;

use super::{KEY_ID, Provider, claims, gateway_with_jwks, refusal};
use crate::helpers::{ISSUER, start_alone, trusted_key};

const HOUR: i64 = 3600;

#[tokio::test]
async fn a_token_with_a_blank_subject_or_times_out_of_bounds_is_refused() -> anyhow::Result<()> {
    let provider = Provider::serve(json!([trusted_key().jwk(KEY_ID)?])).await?;
    let (gateway, _stop) = gateway_with_jwks(&provider.url).await?;
    let now = Utc::now().timestamp();
    let not_yet = "the bearer token is not valid yet (its 'nbf' is in the future); check the \
                   clocks of this machine and the identity provider";
    let issued_later = "the bearer token was issued in the future (its 'iat'); check the clocks \
                        of this machine and the identity provider";
    let too_long = "the bearer token is valid for longer than the 24 hours this service \
                    accepts; sign in again with a shorter-lived token";
    let cases = [
        (
            "valid in an hour",
            token_with(json!({ "nbf": now + HOUR }))?,
            StatusCode::UNAUTHORIZED,
            not_yet,
        ),
        (
            "valid in 10 s, within the leeway",
            token_with(json!({ "nbf": now + 10 }))?,
            StatusCode::OK,
            "",
        ),
        ("valid since a minute", token_with(json!({ "nbf": now - 60 }))?, StatusCode::OK, ""),
        (
            "issued now for 25 hours",
            token_with(json!({ "iat": now, "exp": now + 25 * HOUR }))?,
            StatusCode::UNAUTHORIZED,
            too_long,
        ),
        (
            "issued 23 hours ago for 24 hours",
            token_with(json!({ "iat": now - 23 * HOUR, "exp": now + HOUR }))?,
            StatusCode::OK,
            "",
        ),
        (
            "issued in a year for an hour",
            token_with(
                json!({ "iat": now + 365 * 24 * HOUR, "exp": now + 365 * 24 * HOUR + HOUR }),
            )?,
            StatusCode::UNAUTHORIZED,
            issued_later,
        ),
        (
            "issued in 10 s, within the leeway",
            token_with(json!({ "iat": now + 10, "exp": now + HOUR }))?,
            StatusCode::OK,
            "",
        ),
        (
            "no iat, valid from now for 25 hours",
            token_with(json!({ "iat": null, "nbf": now, "exp": now + 25 * HOUR }))?,
            StatusCode::UNAUTHORIZED,
            too_long,
        ),
        (
            "no iat, valid from 2 hours ago for 24 hours",
            token_with(json!({ "iat": null, "nbf": now - 2 * HOUR, "exp": now + 22 * HOUR }))?,
            StatusCode::OK,
            "",
        ),
        (
            "neither iat nor nbf, expiring in 25 hours",
            token_with(json!({ "iat": null, "nbf": null, "exp": now + 25 * HOUR }))?,
            StatusCode::UNAUTHORIZED,
            too_long,
        ),
        (
            "an empty subject",
            token_with(json!({ "sub": " " }))?,
            StatusCode::UNAUTHORIZED,
            "the bearer token's 'sub' claim is empty",
        ),
        (
            "no expiry",
            token_with(json!({ "exp": null }))?,
            StatusCode::UNAUTHORIZED,
            "the bearer token has no 'exp' claim",
        ),
    ];
    for (what, token, status, message) in cases {
        assert_eq!(refusal(&gateway, &token).await?, (status, message.to_owned()), "{what}");
    }
    Ok(())
}

/// A token of [`claims`] with `changes`: a claim set to null is left out.
fn token_with(changes: serde_json::Value) -> anyhow::Result<String> {
    let mut token = serde_json::to_value(claims())?;
    if let (Some(token), Some(changes)) = (token.as_object_mut(), changes.as_object()) {
        for (name, value) in changes {
            if value.is_null() {
                token.remove(name);
            } else {
                token.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(trusted_key().sign_with_key_id(KEY_ID, &token)?)
}

#[tokio::test]
async fn the_maximum_lifetime_is_configured() -> anyhow::Result<()> {
    let env = [
        ("BGJOBS_GATEWAY_DEMO_USERS", "true"),
        ("BGJOBS_AUTH_MAX_TOKEN_LIFETIME_SECS", "3600"),
        ("BGJOBS_AUTH_ISSUER", ISSUER),
    ];
    let (gateway, _stop) = start_alone(&env, |settings| {
        settings.keys = gateway::settings::KeySource::Pem(trusted_key().public_pem().to_owned());
    })
    .await?;
    let now = Utc::now().timestamp();
    let hour = claims();
    let hour = gateway::auth::Claims { iat: Some(now), exp: now + HOUR, ..hour };
    let longer = gateway::auth::Claims { exp: now + HOUR + 60, ..hour.clone() };
    assert_eq!(refusal(&gateway, &trusted_key().sign(&hour)?).await?.0, StatusCode::OK);
    assert_eq!(
        refusal(&gateway, &trusted_key().sign(&longer)?).await?,
        (
            StatusCode::UNAUTHORIZED,
            "the bearer token is valid for longer than the 1 hour this service accepts; sign in \
             again with a shorter-lived token"
                .to_owned()
        )
    );
    Ok(())
}
