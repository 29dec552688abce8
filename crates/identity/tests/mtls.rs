//! A real tonic server over mutual TLS on loopback, its health service behind a
//! policy that lets only ingest call `Check`, called by clients with every kind of
//! credentials.

use std::net::SocketAddr;

use bgjobs_identity::dev_pki::{DevPki, Issued};
use bgjobs_identity::{Credentials, Policy, Rule, Service};
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

static POLICY: Policy = Policy {
    server: Service::JobsRegistry,
    rules: &[Rule { path: "/grpc.health.v1.Health/Check", callers: &[Service::Ingest] }],
};

fn credentials(pki: &DevPki, issued: Issued) -> Credentials {
    Credentials::from_pem(pki.ca_pem(), issued.cert_pem, issued.key_pem).expect("credentials")
}

/// Serves the health service as the registry, behind [`POLICY`]; returns its address.
async fn serve(pki: &DevPki) -> SocketAddr {
    bgjobs_service::install_crypto_provider();
    let server = credentials(pki, pki.issue(Service::JobsRegistry).expect("issued"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let address = listener.local_addr().expect("address");
    let (_, health) = tonic_health::server::health_reporter();
    let tls = server.grpc_server_config().expect("server TLS");
    let incoming =
        bgjobs_service::grpc::tls_incoming(listener, tls, &bgjobs_service::Limits::default());
    let router = Server::builder().layer(POLICY.layer()).add_service(health);
    tokio::spawn(router.serve_with_incoming(incoming));
    address
}

/// A health check through `endpoint`: tonic's own, or one of [`Credentials::endpoint`].
trait Connect {
    async fn channel(&self) -> Result<tonic::transport::Channel, tonic::transport::Error>;
}

impl Connect for Endpoint {
    async fn channel(&self) -> Result<tonic::transport::Channel, tonic::transport::Error> {
        self.connect().await
    }
}

impl Connect for bgjobs_identity::GrpcEndpoint {
    async fn channel(&self) -> Result<tonic::transport::Channel, tonic::transport::Error> {
        self.connect().await
    }
}

async fn check(endpoint: impl Connect) -> Result<(), tonic::Status> {
    let channel = endpoint
        .channel()
        .await
        .map_err(|error| tonic::Status::unavailable(format!("no connection: {error:?}")))?;
    HealthClient::new(channel).check(HealthCheckRequest::default()).await.map(|_| ())
}

fn url(address: SocketAddr) -> String {
    format!("https://{address}")
}

#[tokio::test]
async fn the_identity_the_method_allows_is_served() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let ingest = credentials(&pki, pki.issue(Service::Ingest).expect("issued"));
    let endpoint = ingest.endpoint(&url(address), Service::JobsRegistry).expect("endpoint");
    check(endpoint).await.expect("ingest may check the registry's health");
}

#[tokio::test]
async fn another_identity_is_refused_with_permission_denied_naming_who_may_call() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let gateway = credentials(&pki, pki.issue(Service::Gateway).expect("issued"));
    let endpoint = gateway.endpoint(&url(address), Service::JobsRegistry).expect("endpoint");
    let refused = check(endpoint).await.expect_err("the gateway may not");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "gateway may not call /grpc.health.v1.Health/Check; only ingest may"
    );
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_as_unauthenticated() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let anonymous = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem()))
        .domain_name(Service::JobsRegistry.server_name());
    let endpoint = Endpoint::from_shared(url(address)).expect("url").tls_config(anonymous);
    let refused = check(endpoint.expect("endpoint")).await.expect_err("refused");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("client certificate"), "{}", refused.message());
}

#[tokio::test]
async fn a_certificate_naming_two_identities_is_refused_as_unauthenticated() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let two = pki.issue_with(&[Service::Ingest, Service::Gateway]).expect("issued");
    let identity = tonic::transport::Identity::from_pem(two.cert_pem, two.key_pem);
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem()))
        .identity(identity)
        .domain_name(Service::JobsRegistry.server_name());
    let endpoint = Endpoint::from_shared(url(address)).expect("url").tls_config(config);
    let refused = check(endpoint.expect("endpoint")).await.expect_err("refused");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
}

#[tokio::test]
async fn a_certificate_of_another_authority_gets_no_connection() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let other = DevPki::generate().expect("another pki");
    // Trusts the real authority, but proves itself with the other one's certificate.
    let forged = other.issue(Service::Ingest).expect("issued");
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem()))
        .identity(tonic::transport::Identity::from_pem(forged.cert_pem, forged.key_pem))
        .domain_name(Service::JobsRegistry.server_name());
    let endpoint = Endpoint::from_shared(url(address)).expect("url").tls_config(config);
    let refused = check(endpoint.expect("endpoint")).await.expect_err("refused");
    assert_ne!(refused.code(), Code::Ok);
    assert_ne!(refused.code(), Code::PermissionDenied, "the handshake itself must fail");
}

#[tokio::test]
async fn a_client_refuses_a_server_that_is_not_the_service_it_calls() {
    let pki = DevPki::generate().expect("pki");
    let address = serve(&pki).await;
    let ingest = credentials(&pki, pki.issue(Service::Ingest).expect("issued"));
    // The registry's certificate does not name the notifier.
    let endpoint = ingest.endpoint(&url(address), Service::Notifier).expect("endpoint");
    let refused = check(endpoint).await.expect_err("refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
}

#[test]
fn a_plain_http_url_is_refused_for_internal_calls() {
    let pki = DevPki::generate().expect("pki");
    let ingest = credentials(&pki, pki.issue(Service::Ingest).expect("issued"));
    let refused = ingest.endpoint("http://127.0.0.1:50051", Service::JobsRegistry).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "'http://127.0.0.1:50051' must start with https://: bgjobs services talk to each other \
         over mutual TLS"
    );
}

#[test]
fn credentials_name_the_identity_of_their_certificate() {
    let pki = DevPki::generate().expect("pki");
    for service in Service::ALL {
        assert_eq!(credentials(&pki, pki.issue(service).expect("issued")).service(), service);
    }
    let none = pki.issue_with(&[]).expect("issued");
    let refused = Credentials::from_pem(pki.ca_pem(), none.cert_pem, none.key_pem).unwrap_err();
    assert!(refused.to_string().starts_with("the certificate names 0 bgjobs identities"));
}
