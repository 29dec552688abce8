//! Where the keys that verify users' tokens come from, and what a token must say:
//! the same variables for the gateway and ingest, so that both accept exactly the
//! same tokens.

use std::path::PathBuf;
use std::time::Duration;

use bgjobs_config::Error;
use bgjobs_config::values::{HttpUrl, Seconds};

use crate::{JwksRefresh, KeyError, Keys, Verifier};

bgjobs_config::section! {
    /// How users' bearer tokens (RS256 JWTs from the identity provider) are verified.
    pub struct TokenSettings {
        /// The identity provider's JWKS, which verifies users' tokens (RS256); either
        /// this or BGJOBS_AUTH_PUBLIC_KEY_FILE. https:// only, but for a loopback host
        /// (127.0.0.0/8, ::1, localhost).
        "BGJOBS_AUTH_JWKS_URL" => jwks_url: Option<HttpUrl>;
        /// At least this long between two fetches of the JWKS, however many tokens name
        /// an unknown key; also the wait after the first failed fetch.
        "BGJOBS_AUTH_JWKS_MIN_REFRESH_SECS" => jwks_min_refresh: Seconds<1, 3600> = "30";
        /// After failed fetches of the JWKS the wait doubles per failure, up to this.
        "BGJOBS_AUTH_JWKS_MAX_BACKOFF_SECS" => jwks_max_backoff: Seconds<1, 86400> = "300";
        /// Instead of a JWKS: a file with one PEM-encoded RSA public key.
        "BGJOBS_AUTH_PUBLIC_KEY_FILE" => public_key_file: Option<PathBuf>;
        /// The `iss` tokens must have; required with a JWKS or a key file (the
        /// gateway's demo users: bgjobs-gateway-demo).
        "BGJOBS_AUTH_ISSUER" => issuer: Option<String>;
        /// The `aud` tokens must have.
        "BGJOBS_AUTH_AUDIENCE" => audience: String = "bgjobs";
        /// A token valid for longer than this (from `iat`, else `nbf`, to `exp`) is
        /// refused.
        "BGJOBS_AUTH_MAX_TOKEN_LIFETIME_SECS" => max_token_lifetime: Seconds<60, 2592000> = "86400";
    }
}

/// Where the public keys that verify tokens come from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document fetched from this URL (and fetched again for an unknown key id).
    Jwks(String),
    /// One RSA public key, PEM-encoded.
    Pem(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jwks(url) => write!(f, "jwks {url}"),
            Self::Pem(_) => f.write_str("public key file"),
        }
    }
}

impl TokenSettings {
    /// The configured keys: a JWKS (checked to travel over https unless it is on
    /// this machine) or a key file's key; `None` when neither is set.
    pub fn key_source(&self) -> Result<Option<KeySource>, Error> {
        let rule = |variable, problem: String| Error::Rule { variable, problem };
        match (&self.jwks_url, &self.public_key_file) {
            (Some(_), Some(_)) => Err(rule(
                "BGJOBS_AUTH_JWKS_URL",
                "set either BGJOBS_AUTH_JWKS_URL or BGJOBS_AUTH_PUBLIC_KEY_FILE, not both"
                    .to_owned(),
            )),
            (Some(url), None) => {
                check_jwks_transport(url.as_str())
                    .map_err(|problem| rule("BGJOBS_AUTH_JWKS_URL", problem))?;
                Ok(Some(KeySource::Jwks(url.as_str().to_owned())))
            }
            (None, Some(path)) => {
                let pem = std::fs::read_to_string(path).map_err(|error| {
                    rule(
                        "BGJOBS_AUTH_PUBLIC_KEY_FILE",
                        format!("cannot read '{}': {error}", path.display()),
                    )
                })?;
                Ok(Some(KeySource::Pem(pem)))
            }
            (None, None) => Ok(None),
        }
    }

    /// How the JWKS is kept fresh.
    pub fn jwks_refresh(&self) -> Result<JwksRefresh, Error> {
        let refresh = JwksRefresh {
            min_interval: self.jwks_min_refresh.get(),
            max_backoff: self.jwks_max_backoff.get(),
            ..JwksRefresh::default()
        };
        if refresh.max_backoff < refresh.min_interval {
            return Err(Error::Rule {
                variable: "BGJOBS_AUTH_JWKS_MAX_BACKOFF_SECS",
                problem: "must be at least BGJOBS_AUTH_JWKS_MIN_REFRESH_SECS".to_owned(),
            });
        }
        Ok(refresh)
    }
}

/// Everything a token is checked against, every part configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The keys.
    pub keys: KeySource,
    /// The `iss` a token must have.
    pub issuer: String,
    /// The `aud` a token must have.
    pub audience: String,
    /// How long a token may be valid, from issue to expiry.
    pub max_lifetime: Duration,
    /// How the JWKS is kept fresh (with [`KeySource::Jwks`]).
    pub jwks_refresh: JwksRefresh,
}

impl Tokens {
    /// The checks `settings` configure, for a service that cannot start without
    /// them: keys (a JWKS or a key file) and an issuer are required. `service` names
    /// the service in the message that says what to set.
    pub fn required(settings: &TokenSettings, service: &str) -> Result<Self, Error> {
        let keys = settings.key_source()?.ok_or_else(|| Error::Rule {
            variable: "BGJOBS_AUTH_JWKS_URL",
            problem: format!(
                "{service} verifies users' tokens: set BGJOBS_AUTH_JWKS_URL (the identity \
                 provider's JWKS) or BGJOBS_AUTH_PUBLIC_KEY_FILE (a PEM RSA public key), as \
                 for the gateway"
            ),
        })?;
        let issuer = settings.issuer.clone().ok_or_else(|| Error::Rule {
            variable: "BGJOBS_AUTH_ISSUER",
            problem: "required: the 'iss' your identity provider puts in its tokens".to_owned(),
        })?;
        Ok(Self {
            keys,
            issuer,
            audience: settings.audience.clone(),
            max_lifetime: settings.max_token_lifetime.get(),
            jwks_refresh: settings.jwks_refresh()?,
        })
    }

    /// A verifier of these checks; a JWKS is fetched on first use.
    pub fn verifier(&self) -> Result<Verifier, KeyError> {
        let keys = match &self.keys {
            KeySource::Jwks(url) => Keys::jwks(url.clone(), self.jwks_refresh),
            KeySource::Pem(pem) => Keys::from_pem(pem)?,
        };
        Ok(Verifier::new(keys, &self.issuer, &self.audience, self.max_lifetime))
    }
}

/// Refuses a JWKS fetched over plain HTTP from anywhere but this machine: whoever
/// can change the document on the way can sign in as anyone.
fn check_jwks_transport(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| error.to_string())?;
    if parsed.scheme() == "https" {
        return Ok(());
    }
    // An IPv6 host is written in brackets.
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "'{url}' is plain http:// to another machine; the keys that verify every \
             sign-in must come over https:// (http:// is allowed only for 127.0.0.1, ::1 \
             or localhost)"
        ))
    }
}
