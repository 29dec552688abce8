//! How the JWKS is fetched: one fetch for a storm of tokens naming a new key, a
//! schedule with backoff while the identity provider is down, and only RS256 signing
//! keys taken from the document.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tokio::time::Instant;

use super::{KEY_ID, Provider, claims, gateway_with_jwks, gateway_with_jwks_refreshed, refusal};
use crate::helpers::{foreign_key, trusted_key};
use gateway::auth::JwksRefresh;

/// How long a test waits for what it expects.
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_storm_of_tokens_naming_a_new_key_makes_one_fetch() -> anyhow::Result<()> {
    let trusted = trusted_key();
    let provider = Provider::serve(json!([foreign_key().jwk("old-key")?])).await?;
    // No minimum interval at all: only coalescing keeps the fetches down.
    let refresh = JwksRefresh { min_interval: Duration::ZERO, ..JwksRefresh::default() };
    let (gateway, _stop) = gateway_with_jwks_refreshed(&provider.url, refresh).await?;
    let old = foreign_key().sign_with_key_id("old-key", &claims())?;
    assert_eq!(refusal(&gateway, &old).await?.0, StatusCode::OK);
    assert_eq!(provider.fetches(), 1);

    // The provider rotates to a new key and answers slowly: every request naming it
    // arrives while the one fetch is under way.
    provider.publish(json!([foreign_key().jwk("old-key")?, trusted.jwk(KEY_ID)?]));
    provider.hold();
    let token = trusted.sign_with_key_id(KEY_ID, &claims())?;
    let storm: Vec<_> = (0..20)
        .map(|_| {
            let (gateway, token) = (gateway.clone(), token.clone());
            tokio::spawn(async move { refusal(&gateway, &token).await })
        })
        .collect();
    let deadline = Instant::now() + DEADLINE;
    while provider.fetches() < 2 {
        anyhow::ensure!(Instant::now() < deadline, "the new key id was never fetched");
        tokio::task::yield_now().await;
    }
    provider.release();
    for answer in storm {
        assert_eq!(answer.await??, (StatusCode::OK, String::new()));
    }
    // A request that came after the fetch found the key without fetching; any two
    // that waited together shared the one fetch.
    assert_eq!(provider.fetches(), 2);
    Ok(())
}

#[tokio::test]
async fn a_provider_that_is_down_is_asked_again_with_backoff() -> anyhow::Result<()> {
    let trusted = trusted_key();
    let provider = Provider::serve(json!([trusted.jwk(KEY_ID)?])).await?;
    let refresh = JwksRefresh {
        max_age: Duration::from_secs(600),
        min_interval: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    };
    let (gateway, _stop) = gateway_with_jwks_refreshed(&provider.url, refresh).await?;
    let known = trusted.sign_with_key_id(KEY_ID, &claims())?;
    assert_eq!(refusal(&gateway, &known).await?.0, StatusCode::OK);

    provider.set_down(true);
    let unknown = trusted.sign_with_key_id("rotated-key", &claims())?;
    let unavailable = (
        StatusCode::SERVICE_UNAVAILABLE,
        "sign-in cannot be checked right now (the identity provider's keys are unreachable); \
         try again shortly"
            .to_owned(),
    );
    // Requests as fast as they come, until the provider has been asked 7 more times.
    let deadline = Instant::now() + DEADLINE;
    let mut requests = 0;
    while provider.fetches() < 8 {
        anyhow::ensure!(Instant::now() < deadline, "only {} fetches", provider.fetches());
        let answer = refusal(&gateway, &unknown).await?;
        // The first request after the outage began may still be refused as an
        // unknown key: the last fetch had succeeded and the next is not due yet.
        if answer.0 != StatusCode::UNAUTHORIZED {
            assert_eq!(answer, unavailable);
        }
        requests += 1;
        // The keys fetched before the outage still verify their tokens.
        if requests % 10 == 0 {
            assert_eq!(refusal(&gateway, &known).await?.0, StatusCode::OK);
        }
    }
    assert!(requests > 20, "{requests} requests for 7 fetches: not a test of the schedule");

    let times = provider.fetch_times();
    let gaps: Vec<Duration> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    // After the success 50 ms; after failures 50, 100, 200, then 200 (capped: 400,
    // 800 and 1600 without the cap).
    let at_least = [50, 50, 100, 200, 200, 200, 200].map(Duration::from_millis);
    for (index, (gap, minimum)) in gaps.iter().zip(at_least).enumerate() {
        assert!(*gap >= minimum, "fetch {} came {gap:?} after the one before", index + 1);
    }
    let capped: Duration = gaps[4..].iter().sum();
    assert!(capped < Duration::from_millis(1400), "the backoff grew past its cap: {gaps:?}");

    // Back up: the next fetch the schedule allows finds the keys again.
    provider.set_down(false);
    provider.publish(json!([trusted.jwk(KEY_ID)?, trusted.jwk("rotated-key")?]));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = refusal(&gateway, &unknown).await?;
        if answer.0 == StatusCode::OK {
            break;
        }
        assert_eq!(answer, unavailable);
        anyhow::ensure!(Instant::now() < deadline, "the rotated key was never found");
    }
    Ok(())
}

#[tokio::test]
async fn only_rsa_keys_for_rs256_signatures_are_taken_from_the_jwks() -> anyhow::Result<()> {
    let trusted = trusted_key();
    let with = |kid: &str, extra: serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let mut jwk = serde_json::to_value(trusted.jwk(kid)?)?;
        if let (Some(jwk), Some(extra)) = (jwk.as_object_mut(), extra.as_object()) {
            for (name, value) in extra {
                if value.is_null() {
                    jwk.remove(name);
                } else {
                    jwk.insert(name.clone(), value.clone());
                }
            }
        }
        Ok(jwk)
    };
    let provider = Provider::serve(json!([
        with("for-encryption", json!({ "use": "enc" }))?,
        with("for-rs512", json!({ "alg": "RS512" }))?,
        { "kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256" },
        { "kty": "a-key-type-from-the-future", "kid": "unreadable" },
        with("signing", json!({}))?,
        with("unlabelled", json!({ "use": null, "alg": null }))?,
    ]))
    .await?;
    let (gateway, _stop) = gateway_with_jwks(&provider.url).await?;

    for kid in ["signing", "unlabelled"] {
        let token = trusted.sign_with_key_id(kid, &claims())?;
        assert_eq!(refusal(&gateway, &token).await?, (StatusCode::OK, String::new()), "{kid}");
    }
    for kid in ["for-encryption", "for-rs512", "shared-secret", "unreadable"] {
        let token = trusted.sign_with_key_id(kid, &claims())?;
        let unknown = "the bearer token is signed with an unknown key".to_owned();
        assert_eq!(refusal(&gateway, &token).await?, (StatusCode::UNAUTHORIZED, unknown), "{kid}");
    }
    assert_eq!(provider.fetches(), 1);
    Ok(())
}

#[tokio::test]
async fn an_old_key_set_is_fetched_again_in_the_background_while_its_keys_still_work()
-> anyhow::Result<()> {
    let trusted = trusted_key();
    let provider = Provider::serve(json!([trusted.jwk(KEY_ID)?])).await?;
    // Every key set is old at once, and nothing spaces the fetches.
    let refresh = JwksRefresh {
        max_age: Duration::ZERO,
        min_interval: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let (gateway, _stop) = gateway_with_jwks_refreshed(&provider.url, refresh).await?;
    let token = trusted.sign_with_key_id(KEY_ID, &claims())?;
    assert_eq!(refusal(&gateway, &token).await?.0, StatusCode::OK);

    // The provider now answers only when the test lets it: requests whose key is
    // known are answered meanwhile, from the old set, and start one fetch between them.
    provider.hold();
    for _ in 0..5 {
        let answer = tokio::time::timeout(DEADLINE, refusal(&gateway, &token))
            .await
            .map_err(|_| anyhow::anyhow!("a request with a known key waited for the fetch"))??;
        assert_eq!(answer, (StatusCode::OK, String::new()));
    }
    let deadline = Instant::now() + DEADLINE;
    while provider.fetches() < 2 {
        anyhow::ensure!(Instant::now() < deadline, "the old set was never fetched again");
        tokio::task::yield_now().await;
    }
    assert_eq!(provider.fetches(), 2, "requests waiting for the same fetch started more");
    provider.release();
    Ok(())
}
