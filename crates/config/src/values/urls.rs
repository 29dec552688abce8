//! URLs: the HTTP ones services call, and the servers' ones that may hold a
//! password and so are kept secret.

use std::fmt;
use std::marker::PhantomData;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::Setting;

/// An http:// or https:// URL with a host and no query, as a base other paths are
/// appended to (so without a trailing '/').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    base: String,
}

impl HttpUrl {
    /// The URL as given, without a trailing '/'.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|error| error.to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("it must start with http:// or https://".to_owned());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("it has no host".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("it has a query or a fragment".to_owned());
        }
        Ok(Self { base: text.trim_end_matches('/').to_owned() })
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl Setting for HttpUrl {
    fn allowed() -> String {
        "an http:// or https:// URL such as http://127.0.0.1:50051".to_owned()
    }

    fn show(&self) -> String {
        self.base.clone()
    }
}

crate::deserialize_by_parse!(HttpUrl);

/// What a server's URL looks like.
pub trait UrlKind {
    /// The schemes it may have.
    const SCHEMES: &'static [&'static str];
    /// An example, for messages.
    const EXAMPLE: &'static str;

    /// Whether a user without a password is a secret token (`nats://TOKEN@HOST`).
    const BARE_USER_IS_TOKEN: bool = false;

    /// Further rules, beyond the scheme; the error says what is wrong.
    fn check(_url: &Url) -> Result<(), String> {
        Ok(())
    }
}

/// A Postgres URL: `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`.
#[derive(Debug, Clone)]
pub struct Postgres;

impl UrlKind for Postgres {
    const SCHEMES: &'static [&'static str] = &["postgres", "postgresql"];
    const EXAMPLE: &'static str = "postgres://USER:PASSWORD@HOST:5432/bgjobs";

    fn check(url: &Url) -> Result<(), String> {
        if url.path().trim_start_matches('/').is_empty() {
            return Err("it names no database".to_owned());
        }
        Ok(())
    }
}

/// A RabbitMQ URL: `amqp://USER:PASSWORD@HOST:PORT/VHOST`.
#[derive(Debug, Clone)]
pub struct Amqp;

impl UrlKind for Amqp {
    const SCHEMES: &'static [&'static str] = &["amqp", "amqps"];
    const EXAMPLE: &'static str = "amqp://USER:PASSWORD@HOST:5672/%2f";
}

/// A NATS URL: `nats://[USER:PASSWORD@]HOST:PORT`.
#[derive(Debug, Clone)]
pub struct Nats;

impl UrlKind for Nats {
    const SCHEMES: &'static [&'static str] = &["nats", "tls"];
    const EXAMPLE: &'static str = "nats://HOST:4222";
    const BARE_USER_IS_TOKEN: bool = true;

    fn check(url: &Url) -> Result<(), String> {
        if url.host_str().is_none_or(str::is_empty) {
            return Err("it has no host".to_owned());
        }
        Ok(())
    }
}

/// An SMTP URL: `smtps://USER:PASSWORD@HOST:465` (TLS from the start),
/// `smtp://USER:PASSWORD@HOST:587?tls=required` (STARTTLS), or `smtp://HOST:PORT`
/// (no TLS: loopback only).
#[derive(Debug, Clone)]
pub struct Smtp;

impl UrlKind for Smtp {
    const SCHEMES: &'static [&'static str] = &["smtps", "smtp"];
    const EXAMPLE: &'static str = "smtps://USER:PASSWORD@HOST:465";

    fn check(url: &Url) -> Result<(), String> {
        let tls = url.scheme() == "smtps"
            || url.query_pairs().any(|(key, value)| key == "tls" && value == "required");
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // Hosts of URLs whose scheme the url crate does not know stay text.
            Some(url::Host::Domain(name)) => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            None => false,
        };
        if !tls && !loopback {
            return Err("mail to another host must use TLS: smtps:// or ?tls=required".to_owned());
        }
        Ok(())
    }
}

/// The SMTP server's URL.
pub type SmtpUrl = ServerUrl<Smtp>;

/// The Postgres URL of the bgjobs database.
pub type PostgresUrl = ServerUrl<Postgres>;
/// The RabbitMQ URL.
pub type AmqpUrl = ServerUrl<Amqp>;
/// The NATS URL.
pub type NatsUrl = ServerUrl<Nats>;

/// A server's URL, which may hold a password: kept as a secret, printed with the
/// password replaced.
pub struct ServerUrl<K> {
    secret: SecretString,
    shown: String,
    kind: PhantomData<K>,
}

impl<K: UrlKind> ServerUrl<K> {
    /// The URL with its password, for the client that connects.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|error| error.to_string())?;
        if !K::SCHEMES.contains(&url.scheme()) {
            return Err(format!("the scheme must be {}", K::SCHEMES.join(" or ")));
        }
        K::check(&url)?;
        Ok(Self {
            secret: SecretString::from(text),
            shown: redact_server_url::<K>(text),
            kind: PhantomData,
        })
    }
}

impl<K> Clone for ServerUrl<K> {
    fn clone(&self) -> Self {
        Self { secret: self.secret.clone(), shown: self.shown.clone(), kind: PhantomData }
    }
}

impl<K> fmt::Debug for ServerUrl<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl<K> fmt::Display for ServerUrl<K> {
    /// The URL with its password replaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl<K: UrlKind> Setting for ServerUrl<K> {
    const SECRET: bool = true;

    fn allowed() -> String {
        let schemes: Vec<String> = K::SCHEMES.iter().map(|scheme| format!("{scheme}://")).collect();
        let article = if K::SCHEMES[0].starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        format!("{article} {} URL such as {}", schemes.join(" or "), K::EXAMPLE)
    }

    fn show(&self) -> String {
        self.shown.clone()
    }

    fn redact(text: &str) -> String {
        redact_server_url::<K>(text)
    }
}

impl<'de, K: UrlKind> serde::Deserialize<'de> for ServerUrl<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<K: UrlKind> std::str::FromStr for ServerUrl<K> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// A server's URL with its password, or its token for a kind that takes one, replaced.
fn redact_server_url<K: UrlKind>(url: &str) -> String {
    let shown = redact_password(url);
    if !K::BARE_USER_IS_TOKEN {
        return shown;
    }
    let Some((scheme, rest)) = shown.split_once("://") else {
        return shown;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !rest[..at].contains(':') => format!("{scheme}://<redacted>{}", &rest[at..]),
        _ => shown,
    }
}

/// `scheme://user:secret@host/...` as `scheme://user:<redacted>@host/...`, and a
/// `password=` in the query (as Postgres takes it) as `password=<redacted>`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{user}:<redacted>{}", &rest[at..authority_end]),
            None => rest[..authority_end].to_owned(),
        },
        None => rest[..authority_end].to_owned(),
    };
    format!("{scheme}://{authority}{}", redact_query_password(&rest[authority_end..]))
}

/// The path, query and fragment of a URL with the value of each `password=` replaced.
fn redact_query_password(tail: &str) -> String {
    let Some(query_start) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(query_start + 1);
    let (query, fragment) = match query.find('#') {
        Some(hash) => query.split_at(hash),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _value)) if key.eq_ignore_ascii_case("password") => {
                format!("{key}=<redacted>")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}{}{fragment}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_keep_their_password_out_of_sight() {
        let url = AmqpUrl::parse("amqp://jobs:hunter2@broker:5672/%2f").expect("valid");
        assert_eq!(url.expose(), "amqp://jobs:hunter2@broker:5672/%2f");
        assert_eq!(url.show(), "amqp://jobs:<redacted>@broker:5672/%2f");
        assert!(!format!("{url:?} {url}").contains("hunter2"));
        assert_eq!(AmqpUrl::redact("http://a:b@c/d@e"), "http://a:<redacted>@c/d@e");
        assert_eq!(
            PostgresUrl::redact("postgres://app@db/jobs?sslmode=require&password=pw"),
            "postgres://app@db/jobs?sslmode=require&password=<redacted>"
        );
        assert_eq!(PostgresUrl::redact("postgres://a:b@db?x=1"), "postgres://a:<redacted>@db?x=1");
        assert_eq!(PostgresUrl::redact("postgres://app@db/jobs"), "postgres://app@db/jobs");
        assert_eq!(NatsUrl::redact("nats://s3cret@nats:4222"), "nats://<redacted>@nats:4222");
        assert_eq!(NatsUrl::redact("nats://app:pw@nats:4222"), "nats://app:<redacted>@nats:4222");
    }

    #[test]
    fn each_kind_of_server_url_has_its_rules() {
        assert!(PostgresUrl::parse("postgresql://app:pw@db:5432/jobs?sslmode=require").is_ok());
        assert_eq!(
            PostgresUrl::parse("postgres://db:5432").err().as_deref(),
            Some("it names no database")
        );
        assert!(PostgresUrl::parse("mysql://db/jobs").is_err());
        assert!(NatsUrl::parse("tls://nats:4222").is_ok());
        assert!(NatsUrl::parse("http://nats").is_err());
        assert!(AmqpUrl::parse("http://broker").is_err());
    }

    #[test]
    fn mail_leaves_the_machine_only_over_tls() {
        assert!(SmtpUrl::parse("smtp://127.0.0.1:2525").is_ok());
        assert!(SmtpUrl::parse("smtp://[::1]:2525").is_ok());
        assert!(SmtpUrl::parse("smtp://localhost:2525").is_ok());
        assert!(SmtpUrl::parse("smtps://bgjobs:pw@mail.example.com:465").is_ok());
        assert!(SmtpUrl::parse("smtp://bgjobs:pw@mail.example.com:587?tls=required").is_ok());
        assert_eq!(
            SmtpUrl::parse("smtp://mail.example.com:25").err().as_deref(),
            Some("mail to another host must use TLS: smtps:// or ?tls=required")
        );
    }

    #[test]
    fn http_urls_are_bases_without_a_trailing_slash() {
        assert_eq!(
            HttpUrl::parse("https://minio.internal/").map(|url| url.base).as_deref(),
            Ok("https://minio.internal")
        );
        for bad in [
            "127.0.0.1:8333",
            "ftp://host",
            "http://",
            "http://host:port",
            "http://a b",
            "http://h/?q",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(HttpUrl::parse("http://[::1]:8333").is_ok());
    }
}
