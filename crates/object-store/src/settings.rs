//! Where the object store is and how to sign in: the section every service that
//! reads or writes job files composes.

use std::fmt;

use bgjobs_config::Setting;
use bgjobs_config::values::{HttpUrl, Seconds, Secret};

/// The local stack's secret key (`deploy/stack.sh` starts SeaweedFS with it): not a
/// secret, it guards a loopback server, and the production profile refuses it.
pub const LOCAL_SECRET_ACCESS_KEY: &str = "bgjobs-local-secret";

bgjobs_config::section! {
    /// Connection settings of the S3-compatible object store.
    pub struct Settings {
        /// Base URL of the S3 API; buckets are addressed by path, so any
        /// S3-compatible server works (the local stack runs SeaweedFS).
        "BGJOBS_S3_ENDPOINT" => endpoint: HttpUrl = "http://127.0.0.1:8333";
        /// Region requests are signed for.
        "BGJOBS_S3_REGION" => region: Region = "us-east-1";
        /// The bucket of input and results files.
        "BGJOBS_S3_BUCKET" => bucket: Bucket = "bgjobs";
        /// Access key id of the object store.
        "AWS_ACCESS_KEY_ID" => access_key_id: String = "bgjobs";
        /// Secret access key of the object store.
        "AWS_SECRET_ACCESS_KEY" => secret_access_key: Secret<1> = "bgjobs-local-secret",
            development_credential: crate::settings::local_secret;
        /// Seconds to wait for a connection to the S3 server before the request fails
        /// (and is tried again, up to 3 tries).
        "BGJOBS_S3_CONNECT_TIMEOUT_SECS" => connect_timeout: Seconds<1, 300> = "5";
        /// Seconds one S3 request may take, from sending it (its body included: at most
        /// one 8 MiB part) to the end of the server's answer, before it fails and is
        /// tried again (up to 3 tries). A download's body is not bounded as a whole: it
        /// fails once it delivers nothing for 20 s.
        "BGJOBS_S3_REQUEST_TIMEOUT_SECS" => request_timeout: Seconds<1, 3600> = "60";
    }
}

/// The production profile's check: the local stack's secret key.
pub fn local_secret(secret: &str) -> Option<&'static str> {
    (secret == LOCAL_SECRET_ACCESS_KEY).then_some("it is the local stack's built-in secret key")
}

/// An S3 bucket name: 3-63 lowercase letters, digits, '-' and '.', starting and
/// ending with a letter or digit, no "..", not shaped like an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket(String);

impl Bucket {
    /// The bucket `name`, if it follows the S3 naming rules; the error says which
    /// rule it breaks.
    pub fn parse(name: &str) -> Result<Self, String> {
        if !(3..=63).contains(&name.len()) {
            return Err("it must be 3 to 63 characters long".to_owned());
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err("only lowercase letters, digits, '-' and '.' are allowed".to_owned());
        }
        let edge_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
            return Err("it must start and end with a letter or a digit".to_owned());
        }
        if name.contains("..") {
            return Err("it must not contain '..'".to_owned());
        }
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err("it must not look like an IP address".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Setting for Bucket {
    fn allowed() -> String {
        "an S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.'".to_owned()
    }

    fn show(&self) -> String {
        self.0.clone()
    }
}

bgjobs_config::deserialize_by_parse!(Bucket);

/// A region name such as us-east-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);

impl Region {
    fn parse(name: &str) -> Result<Self, String> {
        if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            Ok(Self(name.to_owned()))
        } else {
            Err(String::new())
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for Region {
    fn allowed() -> String {
        "a region name such as us-east-1".to_owned()
    }

    fn show(&self) -> String {
        self.0.clone()
    }
}

bgjobs_config::deserialize_by_parse!(Region);

#[cfg(test)]
mod tests {
    use bgjobs_config::{Environment, Load};

    use super::*;

    fn settings_from(pairs: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::load(&Environment::from_pairs(pairs.iter().copied()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let settings = settings_from(&[]).expect("defaults are valid");
        assert_eq!(settings.endpoint.as_str(), "http://127.0.0.1:8333");
        assert_eq!(settings.region.as_str(), "us-east-1");
        assert_eq!(settings.bucket.as_str(), "bgjobs");
        assert_eq!(settings.access_key_id, "bgjobs");
        assert_eq!(settings.secret_access_key.expose(), LOCAL_SECRET_ACCESS_KEY);
        assert_eq!(settings.connect_timeout.get().as_secs(), 5);
        assert_eq!(settings.request_timeout.get().as_secs(), 60);
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
        assert_eq!(settings.endpoint.as_str(), "https://s3.eu-west-1.amazonaws.com");
        assert_eq!(settings.region.as_str(), "eu-west-1");
        assert_eq!(settings.bucket.as_str(), "acme-jobs.eu");
        assert_eq!(settings.access_key_id, "AKIAEXAMPLE");
        assert_eq!(settings.secret_access_key.expose(), LOCAL_SECRET_ACCESS_KEY);
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_refused_with_the_variable_name() {
        for endpoint in
            ["127.0.0.1:8333", "ftp://host", "http://", "http://host:port", "http://a b"]
        {
            let message = settings_from(&[("BGJOBS_S3_ENDPOINT", endpoint)]).expect_err(endpoint);
            assert!(message.starts_with("BGJOBS_S3_ENDPOINT="), "{endpoint}: {message}");
        }
        for endpoint in ["http://localhost:9000", "https://minio.internal/", "http://[::1]:8333"] {
            assert!(settings_from(&[("BGJOBS_S3_ENDPOINT", endpoint)]).is_ok(), "{endpoint}");
        }
    }

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        let long = "x".repeat(64);
        for bucket in ["ab", "Upper", "under_score", "-dash", "dot.", "a..b", "192.168.0.1", &long]
        {
            assert!(Bucket::parse(bucket).is_err(), "{bucket}");
        }
        let message = settings_from(&[("BGJOBS_S3_BUCKET", "No_Such")]).expect_err("invalid");
        assert!(
            message.starts_with("BGJOBS_S3_BUCKET='No_Such' is not allowed (only lowercase"),
            "{message}"
        );
        for bucket in ["bgjobs", "bgjobs-t-0123456789ab", "a.b-c", "123"] {
            assert!(Bucket::parse(bucket).is_ok(), "{bucket}");
        }
    }

    #[test]
    fn the_secret_key_is_never_printed() {
        let settings =
            settings_from(&[("AWS_SECRET_ACCESS_KEY", "hunter2-very-secret")]).expect("valid");
        let printed = format!("{settings:?} {}", bgjobs_config::effective_values(&settings));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("AWS_SECRET_ACCESS_KEY=<redacted>"), "{printed}");
    }
}
