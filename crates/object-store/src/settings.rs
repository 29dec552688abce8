//! Where the object store is and how to sign in, read once from the environment.

use std::fmt;

use crate::Error;

/// Default endpoint: the local stack's SeaweedFS (`deploy/stack.sh up`).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8333";
/// Default signing region.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default bucket of job files.
pub const DEFAULT_BUCKET: &str = "bgjobs";
/// Default access key id; `deploy/stack.sh` starts SeaweedFS with the same one.
pub const DEFAULT_ACCESS_KEY_ID: &str = "bgjobs";
/// Default secret key of the local stack (not a secret: it guards a loopback server).
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "bgjobs-local-secret";

/// Connection settings of the S3-compatible object store.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL of the S3 API, e.g. `http://127.0.0.1:8333`; buckets are addressed by path.
    pub endpoint: String,
    /// Signing region.
    pub region: String,
    /// The bucket that holds job files.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key; never printed.
    pub secret_access_key: String,
}

impl Settings {
    /// From env: BGJOBS_S3_ENDPOINT (default http://127.0.0.1:8333), BGJOBS_S3_REGION (us-east-1),
    /// BGJOBS_S3_BUCKET (bgjobs), AWS_ACCESS_KEY_ID (bgjobs), AWS_SECRET_ACCESS_KEY (bgjobs-local-secret).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Settings::from_env`], reading variables through `get`, so tests need
    /// not touch the process environment. An empty variable counts as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let read = |name: &str, default: &str| {
            get(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let settings = Self {
            endpoint: read("BGJOBS_S3_ENDPOINT", DEFAULT_ENDPOINT),
            region: read("BGJOBS_S3_REGION", DEFAULT_REGION),
            bucket: read("BGJOBS_S3_BUCKET", DEFAULT_BUCKET),
            access_key_id: read("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID),
            secret_access_key: read("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every field, naming the variable to fix.
    pub fn validate(&self) -> Result<(), Error> {
        validate_endpoint(&self.endpoint)?;
        validate_bucket_name(&self.bucket)?;
        if !self.region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::Config(format!(
                "BGJOBS_S3_REGION '{}' is not a region name such as us-east-1",
                self.region
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// An http(s) URL with a host, and nothing after the path: the SDK appends bucket and key.
fn validate_endpoint(endpoint: &str) -> Result<(), Error> {
    let invalid = |why: &str| {
        Err(Error::Config(format!(
            "BGJOBS_S3_ENDPOINT '{endpoint}' is not a usable URL: {why}; \
             expected http://host:port or https://host"
        )))
    };
    let Some(rest) = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://"))
    else {
        return invalid("it must start with http:// or https://");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    // "[::1]:8333" has colons in its host: split the port after the bracket.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return invalid("the IPv6 address has no closing ']'"),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return invalid("it has no host");
    }
    if port.is_some_and(|port| port.parse::<u16>().is_err()) {
        return invalid("the port is not a number from 0 to 65535");
    }
    if endpoint.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return invalid("it contains spaces, a query or a fragment");
    }
    Ok(())
}

/// The S3 bucket naming rules: 3-63 lowercase letters, digits, '-' and '.', starting
/// and ending with a letter or digit, no "..", not shaped like an IP address.
pub(crate) fn validate_bucket_name(bucket: &str) -> Result<(), Error> {
    let invalid = |why: &str| {
        Err(Error::Config(format!("BGJOBS_S3_BUCKET '{bucket}' is not a valid bucket name: {why}")))
    };
    if !(3..=63).contains(&bucket.len()) {
        return invalid("it must be 3 to 63 characters long");
    }
    if !bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return invalid("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(bucket.chars().next()) || !edge_ok(bucket.chars().last()) {
        return invalid("it must start and end with a letter or a digit");
    }
    if bucket.contains("..") {
        return invalid("it must not contain '..'");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid("it must not look like an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings_from(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    fn config_message(result: Result<Settings, Error>) -> String {
        match result {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = settings_from(&[]).expect("defaults are valid");
        assert_eq!(settings.endpoint, "http://127.0.0.1:8333");
        assert_eq!(settings.region, "us-east-1");
        assert_eq!(settings.bucket, "bgjobs");
        assert_eq!(settings.access_key_id, "bgjobs");
        assert_eq!(settings.secret_access_key, "bgjobs-local-secret");
    }

    #[test]
    fn variables_override_defaults_and_empty_ones_count_as_unset() {
        let settings = settings_from(&[
            ("BGJOBS_S3_ENDPOINT", "https://s3.eu-west-1.amazonaws.com"),
            ("BGJOBS_S3_REGION", "eu-west-1"),
            ("BGJOBS_S3_BUCKET", "acme-jobs.eu"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ])
        .expect("valid settings");
        assert_eq!(settings.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.bucket, "acme-jobs.eu");
        assert_eq!(settings.access_key_id, "AKIAEXAMPLE");
        assert_eq!(settings.secret_access_key, DEFAULT_SECRET_ACCESS_KEY);
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_refused_with_the_variable_name() {
        for endpoint in
            ["127.0.0.1:8333", "ftp://host", "http://", "http://host:port", "http://a b"]
        {
            let message = config_message(settings_from(&[("BGJOBS_S3_ENDPOINT", endpoint)]));
            assert!(message.starts_with("BGJOBS_S3_ENDPOINT"), "{endpoint}: {message}");
        }
        for endpoint in ["http://localhost:9000", "https://minio.internal/", "http://[::1]:8333"] {
            assert!(settings_from(&[("BGJOBS_S3_ENDPOINT", endpoint)]).is_ok(), "{endpoint}");
        }
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for bucket in
            ["ab", "Upper", "under_score", "-dash", "dot.", "a..b", "192.168.0.1", &"x".repeat(64)]
        {
            let message = config_message(settings_from(&[("BGJOBS_S3_BUCKET", bucket)]));
            assert!(message.starts_with("BGJOBS_S3_BUCKET"), "{bucket}: {message}");
        }
        for bucket in ["bgjobs", "bgjobs-t-0123456789ab", "a.b-c", "123"] {
            assert!(settings_from(&[("BGJOBS_S3_BUCKET", bucket)]).is_ok(), "{bucket}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let settings =
            settings_from(&[("AWS_SECRET_ACCESS_KEY", "hunter2-very-secret")]).expect("valid");
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
