//! Users' bearer tokens for tests: one signing key per test process, standing for the
//! identity provider, whose public key every ingest and gateway a test starts trusts
//! (through [`env`]).

use std::path::PathBuf;
use std::sync::OnceLock;

use bgjobs_auth::{Claims, RETRY_ROLE, SigningKey, VIEW_ROLE};

/// The issuer of the tests' tokens.
pub const ISSUER: &str = "https://idp.test";
/// The audience of the tests' tokens (the services' default).
pub const AUDIENCE: &str = "bgjobs";

/// The test process's signing key and the file of its public key.
struct Provider {
    key: SigningKey,
    public_key_file: PathBuf,
}

fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let key = SigningKey::generate().expect("generating the tests' token signing key");
        let public_key_file = std::env::temp_dir().join(format!(
            "bgjobs-test-token-key-{}-{}.pem",
            std::process::id(),
            crate::unique_suffix()
        ));
        std::fs::write(&public_key_file, key.public_pem())
            .expect("writing the tests' token public key");
        Provider { key, public_key_file }
    })
}

/// The key the tests' identity provider signs with.
pub fn key() -> &'static SigningKey {
    &provider().key
}

/// The variables that make a service trust the tests' tokens.
pub fn env() -> [(&'static str, String); 2] {
    [
        ("BGJOBS_AUTH_PUBLIC_KEY_FILE", provider().public_key_file.display().to_string()),
        ("BGJOBS_AUTH_ISSUER", ISSUER.to_owned()),
    ]
}

/// The claims of `name` (id `u-<name>`) in `account` with `roles`, valid for an hour.
pub fn claims(account: &str, name: &str, roles: &[&str]) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: format!("u-{name}"),
        name: name.to_owned(),
        account: account.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        email: None,
        zoneinfo: None,
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: now + 3600,
        iat: Some(now),
        nbf: None,
    }
}

/// A token of `claims`, signed with [`key`].
pub fn sign(claims: &Claims) -> String {
    key().sign(claims).expect("signing a test token")
}

/// A token of `name` in `account` with the roles that see jobs and start them.
pub fn operator(account: &str, name: &str) -> String {
    sign(&claims(account, name, &[VIEW_ROLE, RETRY_ROLE]))
}
