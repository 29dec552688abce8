//! Certificates for tests: one certificate authority per test process, made up on the
//! spot, and a certificate for every bgjobs service, written to a directory of the
//! process's own so that services started as child processes can read them too.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bgjobs_config::{Environment, Load};
use bgjobs_identity::dev_pki::DevPki;
use bgjobs_identity::{Credentials, Policy, Service, Tls};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::Channel;
use tower::ServiceExt;

/// The test process's authority and where its files are.
struct Authority {
    pki: DevPki,
    directory: PathBuf,
}

fn authority() -> &'static Authority {
    static AUTHORITY: OnceLock<Authority> = OnceLock::new();
    AUTHORITY.get_or_init(|| {
        let pki = DevPki::generate().expect("generating the test certificate authority");
        let directory = std::env::temp_dir().join(format!(
            "bgjobs-test-pki-{}-{}",
            std::process::id(),
            crate::unique_suffix()
        ));
        pki.write_all(&directory).expect("writing the test certificates");
        Authority { pki, directory }
    })
}

/// The TLS settings of `service`: the files of its certificate (read again every
/// `BGJOBS_TLS_RELOAD_SECS`, as declared, by a service that reloads them).
pub fn tls(service: Service) -> Tls {
    Tls::load(&Environment::from_pairs(tls_env(service)))
        .expect("the test certificates' settings are valid")
}

/// The variables that give `service` its certificate.
pub fn tls_env(service: Service) -> [(&'static str, String); 3] {
    let directory = &authority().directory;
    let text = |path: PathBuf| path.display().to_string();
    [
        ("BGJOBS_TLS_CA_FILE", text(directory.join("ca.pem"))),
        ("BGJOBS_TLS_CERT_FILE", text(directory.join(format!("{}.pem", service.name())))),
        ("BGJOBS_TLS_KEY_FILE", text(directory.join(format!("{}.key", service.name())))),
    ]
}

/// The credentials of `service`, as read once.
pub fn credentials(service: Service) -> Credentials {
    Credentials::load(&tls(service)).expect("reading the test certificates")
}

/// The authority, to issue certificates a server must refuse.
pub fn dev_pki() -> &'static DevPki {
    &authority().pki
}

/// A channel to `callee` at `url` (`https://...`) calling as `caller`, connected on
/// first use.
pub fn channel(url: &str, callee: Service, caller: Service) -> Channel {
    credentials(caller).endpoint(url, callee).expect("an https URL of a test server").connect_lazy()
}

/// An HTTP client of ingest's HTTPS API calling as `caller`: its certificate, and
/// only a server that proves it is ingest (plain `http://` URLs work as usual).
pub fn ingest_http(caller: Service) -> reqwest::Client {
    https_client(caller, credentials(caller))
}

/// An HTTP client of ingest's HTTPS API with `credentials` (any certificate, such as
/// one a server must refuse), calling as `caller` in panics only.
pub fn https_client(caller: Service, credentials: Credentials) -> reqwest::Client {
    let config = credentials
        .https_client_config(Service::Ingest)
        .unwrap_or_else(|error| panic!("TLS for {caller}: {error}"));
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("building an HTTPS client")
}

/// An HTTP client of ingest's HTTPS API without a certificate of its own (as a
/// kubelet's probe), that still checks the server is ingest.
pub fn anonymous_ingest_http() -> reqwest::Client {
    let config = credentials(Service::Gateway)
        .https_anonymous_client_config(Service::Ingest)
        .expect("TLS without a certificate");
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .expect("building an HTTPS client")
}

/// A channel to the server `policy` guards that calls each method as an identity the
/// policy lets call it: for tests of what a method does rather than of who may call it.
#[derive(Clone, Debug)]
pub struct AsAllowed {
    policy: &'static Policy,
    channels: HashMap<Service, Channel>,
}

impl AsAllowed {
    /// Channels to the server at `url`, one per identity.
    pub fn new(url: &str, policy: &'static Policy) -> Self {
        let channels = Service::ALL
            .into_iter()
            .map(|caller| (caller, channel(url, policy.server, caller)))
            .collect();
        Self { policy, channels }
    }
}

type Answer =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, tonic::transport::Error>> + Send>>;

impl tower::Service<http::Request<Body>> for AsAllowed {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Answer;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies the channel it goes through.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        // A method no one may call goes as ingest, to be refused.
        let caller = self
            .policy
            .rule(path)
            .and_then(|rule| rule.callers.first().copied())
            .unwrap_or(Service::Ingest);
        let channel = self.channels[&caller].clone();
        Box::pin(channel.oneshot(request))
    }
}
