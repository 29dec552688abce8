//! Download links: a URL that carries the account, the job, an expiry and an HMAC
//! over the three, so the browser can fetch a results file without a bearer token
//! (a plain link or `<a download>`), and nobody can make or stretch one.

use std::sync::Arc;

use bgjobs_domain::{AccountId, JobId};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;

/// How long a link works after it is made (the issue allows at most 15 minutes).
pub const LINK_VALIDITY: TimeDelta = TimeDelta::minutes(10);

/// Makes and checks download links; cheap to clone.
#[derive(Clone)]
pub struct LinkSigner {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner")
    }
}

impl LinkSigner {
    /// A signer with `secret`, or with 32 random bytes: links then only work on this
    /// gateway process (set `BGJOBS_DOWNLOAD_SECRET` when running several replicas).
    pub fn new(secret: Option<&str>) -> Self {
        let key: Arc<[u8]> = match secret {
            Some(secret) => Arc::from(secret.as_bytes()),
            None => {
                let mut random = [0u8; 32];
                rand::Rng::fill(&mut rand::rng(), &mut random);
                Arc::from(random.as_slice())
            }
        };
        Self { key }
    }

    fn mac(&self, account: &AccountId, job: JobId, expires: i64) -> Hmac<Sha256> {
        // Any key length is accepted by HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{account}\n{job}\n{expires}").as_bytes());
        mac
    }

    /// The path and query of a link to `job`'s results, valid until the returned time.
    pub fn link(
        &self,
        account: &AccountId,
        job: JobId,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires_at = now + LINK_VALIDITY;
        let expires = expires_at.timestamp();
        let signature = hex(&self.mac(account, job, expires).finalize().into_bytes());
        let path =
            format!("/api/v1/downloads/{account}/{job}?expires={expires}&signature={signature}");
        (path, expires_at)
    }

    /// Accepts a link made by [`Self::link`] that has not expired at `now`.
    pub fn check(
        &self,
        account: &AccountId,
        job: JobId,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let signature = unhex(signature).ok_or_else(invalid_link)?;
        self.mac(account, job, expires).verify_slice(&signature).map_err(|_| invalid_link())?;
        if now.timestamp() > expires {
            return Err(ApiError::Forbidden(
                "this download link has expired; download again from the Background Jobs page"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

fn invalid_link() -> ApiError {
    ApiError::Forbidden("this download link is not valid".to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes of hex text, or `None` unless every character is a hex digit (a sign,
/// which `u8::from_str_radix` alone takes, is not).
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> (i64, String) {
        let query = path.split_once('?').expect("query").1;
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').expect("pair") {
                ("expires", value) => expires = value.parse().expect("number"),
                ("signature", value) => signature = value.to_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[test]
    fn only_hex_digits_are_read_as_a_signature() {
        assert_eq!(unhex("0aFf"), Some(vec![0x0a, 0xff]));
        // u8::from_str_radix reads "+a" as 0x0a: a second spelling of a valid link.
        for bad in ["+a", "-0", "0", "zz", "é"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_link_works_until_it_expires_and_only_for_its_account_and_job() {
        let signer = LinkSigner::new(None);
        let account = AccountId::parse("acct").expect("valid");
        let other = AccountId::parse("other").expect("valid");
        let job = JobId::new();
        let now = Utc::now();
        let (path, expires_at) = signer.link(&account, job, now);
        assert_eq!(expires_at - now, LINK_VALIDITY);
        let (expires, signature) = parts(&path);
        assert!(signer.check(&account, job, expires, &signature, now).is_ok());
        assert!(signer.check(&account, job, expires, &signature, expires_at).is_ok());
        let late = expires_at + TimeDelta::seconds(1);
        let expired = signer.check(&account, job, expires, &signature, late).expect_err("expired");
        assert!(expired.to_string().contains("expired"));
        assert!(signer.check(&other, job, expires, &signature, now).is_err());
        assert!(signer.check(&account, JobId::new(), expires, &signature, now).is_err());
        assert!(signer.check(&account, job, expires + 3600, &signature, now).is_err());
        assert!(signer.check(&account, job, expires, "zz", now).is_err());
        assert!(LinkSigner::new(None).check(&account, job, expires, &signature, now).is_err());
    }
}
