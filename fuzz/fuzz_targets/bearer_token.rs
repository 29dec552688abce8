//! A bearer token, arbitrary bytes, as the gateway and ingest check it
//! (`bgjobs_auth::bearer_token`, then `Verifier::verify_session`). The first byte
//! chooses what the rest is:
//! - an `Authorization` header's value, checked as given;
//! - a token's claims (JSON), signed with the key the verifier trusts, so that the
//!   fuzzer reaches the checks behind the signature; whole-number `exp`, `iat` and
//!   `nbf` are seconds from now.
//!
//! Must hold: no panic; a refusal says why; a caller is made only from signed claims that
//! name the issuer, the audience and a subject, have not expired, are neither early nor issued in the
//! future (with the clock leeway), last no longer than the maximum lifetime, name a valid account and hold the
//! view role; the caller's account, user and roles are the claims'.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bgjobs_auth::{
    AuthError, CLOCK_LEEWAY_SECS, Claims, Keys, RETRY_ROLE, SigningKey, VIEW_ROLE, Verifier,
    bearer_token,
};
use bgjobs_domain::AccountId;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "bgjobs";
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

struct Fixture {
    runtime: tokio::runtime::Runtime,
    key: SigningKey,
    verifier: Verifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = SigningKey::generate().expect("an RSA key");
        let verifier =
            Verifier::new(Keys::single(key.decoding_key()), ISSUER, AUDIENCE, MAX_LIFETIME);
        let runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
        Fixture { runtime, key, verifier }
    })
}

fn refusal_says_why(error: &AuthError) {
    let (AuthError::Unauthenticated(reason)
    | AuthError::Forbidden(reason)
    | AuthError::Unavailable(reason)) = error;
    assert!(!reason.is_empty(), "a refusal without a reason");
}

fn header(value: &[u8]) {
    let fixture = fixture();
    let Ok(token) = bearer_token(Some(value)) else {
        return;
    };
    match fixture.runtime.block_on(fixture.verifier.verify_session(token)) {
        // Only the fixture's key signs, and arbitrary bytes carry no signature of it.
        Ok(session) => panic!("an unsigned token was accepted: {session:?}"),
        Err(error) => refusal_says_why(&error),
    }
}

fn signed(claims_json: &[u8]) {
    let fixture = fixture();
    let Ok(mut claims) = serde_json::from_slice::<serde_json::Value>(claims_json) else {
        return;
    };
    // Whole-number times are read as seconds from now, so that inputs stay valid (or
    // not) whenever they run.
    let before = chrono::Utc::now().timestamp();
    if let Some(object) = claims.as_object_mut() {
        for name in ["exp", "iat", "nbf"] {
            if let Some(offset) = object.get(name).and_then(serde_json::Value::as_i64) {
                object.insert(name.to_owned(), offset.saturating_add(before).into());
            }
        }
    }
    let Ok(token) = fixture.key.sign(&claims) else {
        return;
    };
    let verified = fixture.runtime.block_on(fixture.verifier.verify_session(&token));
    let after = chrono::Utc::now().timestamp();
    let session = match verified {
        Ok(session) => session,
        Err(error) => return refusal_says_why(&error),
    };
    let claims: Claims = serde_json::from_value(claims).expect("accepted claims read as Claims");
    let leeway = i64::try_from(CLOCK_LEEWAY_SECS).expect("small");
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert!(!claims.sub.trim().is_empty(), "a token without a subject accepted");
    assert!(claims.exp.saturating_add(leeway) >= before, "an expired token accepted");
    if let Some(nbf) = claims.nbf {
        assert!(nbf <= after.saturating_add(leeway), "an early token accepted");
    }
    let max = i64::try_from(MAX_LIFETIME.as_secs()).expect("small");
    if let Some(iat) = claims.iat {
        assert!(iat <= after + leeway, "a token issued in the future accepted");
    }
    let start = claims.iat.or(claims.nbf).unwrap_or(before);
    assert!(claims.exp.saturating_sub(start) <= max, "a token lasting too long accepted");
    assert!(claims.exp <= after + leeway + max, "a token accepted for longer than the maximum");
    assert!(claims.roles.iter().any(|role| role == VIEW_ROLE), "a caller without the view role");
    let caller = session.caller;
    assert_eq!(Some(caller.account), AccountId::parse(&claims.account).ok());
    assert_eq!(caller.user_id, claims.sub);
    assert_eq!(caller.can_retry, claims.roles.iter().any(|role| role == RETRY_ROLE));
    assert_eq!(session.expires_at.timestamp(), claims.exp + leeway + 1);
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((choice, rest)) if choice % 2 == 0 => header(rest),
        Some((_, rest)) => signed(rest),
        None => {}
    }
});
