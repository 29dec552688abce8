//! Certificates renewed in place are used without a restart: real gRPC and HTTPS
//! servers on loopback, and clients, whose credentials are read again every second
//! from files in a directory of the test's own, which the tests overwrite as
//! cert-manager (or the kubelet, swapping a symlinked directory) would.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgjobs_config::{Environment, Load};
use bgjobs_identity::dev_pki::{DevPki, Issued};
use bgjobs_identity::{Credentials, Service, Tls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// How long a renewal may take to show: a few readings of the files, a second apart.
const DEADLINE: Duration = Duration::from_secs(20);

// --- files -----------------------------------------------------------------------

/// The settings of credentials in `directory`, read again every second.
fn tls_in(directory: &Path) -> Tls {
    let file = |name: &str| directory.join(name).display().to_string();
    let environment = Environment::from_pairs([
        ("BGJOBS_TLS_CA_FILE", file("ca.crt")),
        ("BGJOBS_TLS_CERT_FILE", file("tls.crt")),
        ("BGJOBS_TLS_KEY_FILE", file("tls.key")),
        ("BGJOBS_TLS_RELOAD_SECS", "1".to_owned()),
    ]);
    Tls::load(&environment).expect("TLS settings")
}

/// Overwrites the three files in `directory`, one after the other, as a writer that
/// is not atomic would.
fn write(directory: &Path, ca_pem: &str, issued: &Issued) {
    std::fs::write(directory.join("ca.crt"), ca_pem).expect("ca.crt written");
    std::fs::write(directory.join("tls.crt"), &issued.cert_pem).expect("tls.crt written");
    std::fs::write(directory.join("tls.key"), &issued.key_pem).expect("tls.key written");
}

fn issue(pki: &DevPki, service: Service) -> Issued {
    pki.issue(service).expect("a certificate issued")
}

/// The certificate of `issued`, DER-encoded, as a peer sees it.
fn der(issued: &Issued) -> Vec<u8> {
    CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("a PEM certificate").to_vec()
}

fn fixed(pki: &DevPki, issued: Issued) -> Credentials {
    Credentials::from_pem(pki.ca_pem(), issued.cert_pem, issued.key_pem).expect("credentials")
}

// --- servers ---------------------------------------------------------------------

/// A gRPC server (health) and an HTTPS server (TLS that echoes what it reads) from
/// one set of credentials, both recording the client certificate of each connection.
struct Servers {
    grpc: SocketAddr,
    https: SocketAddr,
    /// gRPC connections accepted.
    grpc_connections: Arc<AtomicUsize>,
    /// The leaf certificate of each connection's client (empty without one).
    client_certificates: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Servers {
    async fn start(credentials: &Credentials) -> Self {
        bgjobs_service::install_crypto_provider();
        let client_certificates = Arc::new(Mutex::new(Vec::new()));
        let grpc_connections = Arc::new(AtomicUsize::new(0));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let grpc = listener.local_addr().expect("address");
        let config = credentials.grpc_server_config().expect("gRPC server TLS");
        let limits = bgjobs_service::Limits::default();
        let (recorded, counted) = (client_certificates.clone(), grpc_connections.clone());
        let incoming =
            bgjobs_service::grpc::tls_incoming(listener, config, &limits).map(move |connection| {
                if let Ok(tls) = &connection {
                    counted.fetch_add(1, Ordering::SeqCst);
                    record(&recorded, tls.get_ref().get_ref().1.peer_certificates());
                }
                connection
            });
        let (_, health) = tonic_health::server::health_reporter();
        tokio::spawn(Server::builder().add_service(health).serve_with_incoming(incoming));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let https = listener.local_addr().expect("address");
        let acceptor = TlsAcceptor::from(Arc::new(
            credentials.https_server_config().expect("HTTPS server TLS"),
        ));
        let recorded = client_certificates.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, recorded) = (acceptor.clone(), recorded.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    record(&recorded, tls.get_ref().1.peer_certificates());
                    let (mut reading, mut writing) = tokio::io::split(tls);
                    let _ended = tokio::io::copy(&mut reading, &mut writing).await;
                });
            }
        });
        Self { grpc, https, grpc_connections, client_certificates }
    }

    fn grpc_url(&self) -> String {
        format!("https://{}", self.grpc)
    }

    /// The client certificate of the connection accepted last.
    fn last_client_certificate(&self) -> Vec<u8> {
        self.client_certificates.lock().expect("not poisoned").last().cloned().unwrap_or_default()
    }
}

fn record(recorded: &Mutex<Vec<Vec<u8>>>, chain: Option<&[CertificateDer<'_>]>) {
    let leaf = chain.and_then(|chain| chain.first()).map(|leaf| leaf.to_vec()).unwrap_or_default();
    recorded.lock().expect("not poisoned").push(leaf);
}

// --- clients ---------------------------------------------------------------------

/// A health check on a channel.
async fn check(channel: Channel) -> Result<(), tonic::Status> {
    HealthClient::new(channel).check(HealthCheckRequest::default()).await.map(|_| ())
}

/// A new connection to the registry's gRPC server with `credentials`, and a call on it.
async fn call_on_a_new_connection(
    credentials: &Credentials,
    servers: &Servers,
) -> Result<Channel, String> {
    let endpoint =
        credentials.endpoint(&servers.grpc_url(), Service::JobsRegistry).expect("endpoint");
    let channel = endpoint.connect().await.map_err(|error| format!("{error:?}"))?;
    check(channel.clone()).await.map_err(|status| format!("{status:?}"))?;
    Ok(channel)
}

/// An HTTPS connection to the registry with `credentials`, proven by an echo.
async fn https_connection(
    credentials: &Credentials,
    servers: &Servers,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let config = credentials.https_client_config(Service::JobsRegistry).expect("client TLS");
    let tcp = TcpStream::connect(servers.https).await.map_err(|error| error.to_string())?;
    let name = ServerName::try_from(Service::JobsRegistry.server_name()).expect("a name");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|error| error.to_string())?;
    echo(&mut tls).await?;
    Ok(tls)
}

async fn echo(tls: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Result<(), String> {
    tls.write_all(b"ping").await.map_err(|error| error.to_string())?;
    let mut answer = [0_u8; 4];
    tls.read_exact(&mut answer).await.map_err(|error| error.to_string())?;
    if &answer != b"ping" {
        return Err(format!("echoed {answer:?}"));
    }
    Ok(())
}

/// The certificate the server at `address` presents to a new connection, whoever
/// signed it (the probe trusts anything and presents nothing).
async fn presented(address: SocketAddr, alpn: &[u8]) -> Vec<u8> {
    let provider = Arc::new(ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TrustAnything(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(address).await.expect("connected");
    let name = ServerName::try_from(Service::JobsRegistry.server_name()).expect("a name");
    let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("handshake");
    let chain = tls.get_ref().1.peer_certificates().expect("a server certificate");
    chain[0].to_vec()
}

async fn presented_by_both(servers: &Servers) -> (Vec<u8>, Vec<u8>) {
    (presented(servers.grpc, b"h2").await, presented(servers.https, b"http/1.1").await)
}

#[derive(Debug)]
struct TrustAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for TrustAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Waits until `condition` gives a value, checking every 50 ms, for at most [`DEADLINE`].
async fn until<T, Fut>(what: &str, mut condition: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- tests -----------------------------------------------------------------------

#[tokio::test]
async fn new_connections_get_the_renewed_certificate_while_open_ones_keep_working() {
    let pki = DevPki::generate().expect("pki");
    let directory = tempfile::tempdir().expect("a directory");
    let first = issue(&pki, Service::JobsRegistry);
    write(directory.path(), &pki.ca_pem(), &first);
    let credentials = Credentials::reloading(&tls_in(directory.path())).expect("credentials");
    let servers = Servers::start(&credentials).await;
    let client = fixed(&pki, issue(&pki, Service::Ingest));

    let open_channel = call_on_a_new_connection(&client, &servers).await.expect("a gRPC call");
    let mut open_https = https_connection(&client, &servers).await.expect("an HTTPS connection");
    assert_eq!(presented_by_both(&servers).await, (der(&first), der(&first)));

    let renewed = issue(&pki, Service::JobsRegistry);
    write(directory.path(), &pki.ca_pem(), &renewed);
    until("the gRPC server to present the renewed certificate", || async {
        (presented(servers.grpc, b"h2").await == der(&renewed)).then_some(())
    })
    .await;
    assert_eq!(presented(servers.https, b"http/1.1").await, der(&renewed), "HTTPS");

    // Connections opened before keep working, on the certificate they started with.
    let connections = servers.grpc_connections.load(Ordering::SeqCst);
    check(open_channel).await.expect("a call on the open gRPC connection");
    assert_eq!(servers.grpc_connections.load(Ordering::SeqCst), connections, "no new connection");
    echo(&mut open_https).await.expect("the open HTTPS connection");
    // New clients accept the renewed certificate.
    call_on_a_new_connection(&client, &servers).await.expect("a gRPC call");
    https_connection(&client, &servers).await.expect("an HTTPS connection");
    assert_eq!(credentials.rejection(), None);
}

#[tokio::test]
async fn files_that_make_no_valid_credentials_leave_the_previous_certificate_in_use() {
    let pki = DevPki::generate().expect("pki");
    let directory = tempfile::tempdir().expect("a directory");
    let first = issue(&pki, Service::JobsRegistry);
    write(directory.path(), &pki.ca_pem(), &first);
    let credentials = Credentials::reloading(&tls_in(directory.path())).expect("credentials");
    let servers = Servers::start(&credentials).await;
    let client = fixed(&pki, issue(&pki, Service::Ingest));
    let wrong = |contains: &'static str| {
        let credentials = credentials.clone();
        move || {
            let rejection = credentials.rejection();
            async move { rejection.filter(|why| why.contains(contains)) }
        }
    };
    let still_serving_the_first = || async {
        assert_eq!(presented_by_both(&servers).await, (der(&first), der(&first)));
        call_on_a_new_connection(&client, &servers).await.expect("a gRPC call");
        https_connection(&client, &servers).await.expect("an HTTPS connection");
    };

    std::fs::write(directory.path().join("tls.crt"), "-----BEGIN CERT").expect("written");
    let why = until("garbage to be refused", wrong("not a PEM-encoded X.509 certificate")).await;
    assert!(why.starts_with(&directory.path().join("tls.crt").display().to_string()), "{why}");
    still_serving_the_first().await;

    write(directory.path(), &pki.ca_pem(), &issue(&pki, Service::Gateway));
    let why = until("another identity to be refused", wrong("names gateway")).await;
    assert!(why.contains("not jobs-registry"), "{why}");
    still_serving_the_first().await;

    let renewed = issue(&pki, Service::JobsRegistry);
    let other_key = issue(&pki, Service::JobsRegistry).key_pem;
    write(directory.path(), &pki.ca_pem(), &Issued { key_pem: other_key, ..renewed.clone() });
    let why = until("a key of another certificate to be refused", wrong("does not belong")).await;
    assert!(why.starts_with(&directory.path().join("tls.key").display().to_string()), "{why}");
    assert!(!why.contains("PRIVATE KEY"), "the key's contents are never told: {why}");
    still_serving_the_first().await;

    let stranger = DevPki::generate().expect("another pki");
    write(directory.path(), &pki.ca_pem(), &issue(&stranger, Service::JobsRegistry));
    until("a certificate of another authority to be refused", wrong("not valid under")).await;
    still_serving_the_first().await;

    // Valid files are taken again.
    write(directory.path(), &pki.ca_pem(), &renewed);
    until("the renewed certificate to be presented", || async {
        (presented(servers.grpc, b"h2").await == der(&renewed)).then_some(())
    })
    .await;
    assert_eq!(credentials.rejection(), None);
}

#[tokio::test]
async fn a_new_authority_written_with_new_certificates_is_trusted_by_new_connections() {
    let old = DevPki::generate().expect("pki");
    let (server_files, client_files) =
        (tempfile::tempdir().expect("a directory"), tempfile::tempdir().expect("a directory"));
    write(server_files.path(), &old.ca_pem(), &issue(&old, Service::JobsRegistry));
    write(client_files.path(), &old.ca_pem(), &issue(&old, Service::Ingest));
    let server = Credentials::reloading(&tls_in(server_files.path())).expect("credentials");
    let client = Credentials::reloading(&tls_in(client_files.path())).expect("credentials");
    let servers = Servers::start(&server).await;
    call_on_a_new_connection(&client, &servers).await.expect("a gRPC call");
    // Made before the rotation: each new connection takes the client's current files.
    let endpoint = client.endpoint(&servers.grpc_url(), Service::JobsRegistry).expect("endpoint");

    let new = DevPki::generate().expect("a new pki");
    let new_server_certificate = issue(&new, Service::JobsRegistry);
    let new_client_certificate = issue(&new, Service::Ingest);
    write(server_files.path(), &new.ca_pem(), &new_server_certificate);
    write(client_files.path(), &new.ca_pem(), &new_client_certificate);
    until("the client made before the rotation to call the rotated server", || async {
        let connected = endpoint.connect().await.ok()?;
        check(connected).await.ok()?;
        (servers.last_client_certificate() == der(&new_client_certificate)).then_some(())
    })
    .await;
    assert_eq!(
        presented_by_both(&servers).await,
        (der(&new_server_certificate), der(&new_server_certificate))
    );

    let newcomer = fixed(&new, issue(&new, Service::Gateway));
    call_on_a_new_connection(&newcomer, &servers)
        .await
        .expect("a gRPC call with the new authority");
    https_connection(&newcomer, &servers).await.expect("HTTPS with the new authority");
    let left_behind = fixed(&old, issue(&old, Service::Gateway));
    call_on_a_new_connection(&left_behind, &servers)
        .await
        .expect_err("the old authority is no longer trusted");
    https_connection(&left_behind, &servers).await.expect_err("nor over HTTPS");
}

#[tokio::test]
async fn a_client_presents_its_renewed_certificate_on_new_connections() {
    let pki = DevPki::generate().expect("pki");
    let servers = Servers::start(&fixed(&pki, issue(&pki, Service::JobsRegistry))).await;
    let directory = tempfile::tempdir().expect("a directory");
    let first = issue(&pki, Service::Gateway);
    write(directory.path(), &pki.ca_pem(), &first);
    let client = Credentials::reloading(&tls_in(directory.path())).expect("credentials");
    let endpoint = client.endpoint(&servers.grpc_url(), Service::JobsRegistry).expect("endpoint");
    let lazy = endpoint.connect_lazy();
    check(lazy.clone()).await.expect("a gRPC call");
    assert_eq!(servers.last_client_certificate(), der(&first), "gRPC");
    https_connection(&client, &servers).await.expect("an HTTPS connection");
    assert_eq!(servers.last_client_certificate(), der(&first), "HTTPS");

    let renewed = issue(&pki, Service::Gateway);
    write(directory.path(), &pki.ca_pem(), &renewed);
    until("a new gRPC connection to present the renewed certificate", || async {
        let connected = endpoint.connect().await.ok()?;
        check(connected).await.ok()?;
        (servers.last_client_certificate() == der(&renewed)).then_some(())
    })
    .await;
    https_connection(&client, &servers).await.expect("an HTTPS connection");
    assert_eq!(servers.last_client_certificate(), der(&renewed), "HTTPS");
    // The lazy channel's connection, opened with the first certificate, still serves.
    check(lazy).await.expect("a call on the open connection");
}

#[tokio::test]
async fn files_reached_through_a_swapped_symlinked_directory_are_renewed() {
    use std::os::unix::fs::symlink;

    let pki = DevPki::generate().expect("pki");
    let mount = tempfile::tempdir().expect("a directory");
    let first = issue(&pki, Service::JobsRegistry);
    // As the kubelet mounts a Secret: each file a link into `..data`, itself a link
    // to the directory of the current version.
    std::fs::create_dir(mount.path().join("..v1")).expect("created");
    write(&mount.path().join("..v1"), &pki.ca_pem(), &first);
    symlink("..v1", mount.path().join("..data")).expect("linked");
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        symlink(format!("..data/{file}"), mount.path().join(file)).expect("linked");
    }
    let credentials = Credentials::reloading(&tls_in(mount.path())).expect("credentials");
    let servers = Servers::start(&credentials).await;
    assert_eq!(presented(servers.grpc, b"h2").await, der(&first));

    let renewed = issue(&pki, Service::JobsRegistry);
    std::fs::create_dir(mount.path().join("..v2")).expect("created");
    write(&mount.path().join("..v2"), &pki.ca_pem(), &renewed);
    symlink("..v2", mount.path().join("..data_tmp")).expect("linked");
    std::fs::rename(mount.path().join("..data_tmp"), mount.path().join("..data")).expect("swapped");
    std::fs::remove_dir_all(mount.path().join("..v1")).expect("removed");
    until("the renewed certificate to be presented", || async {
        (presented_by_both(&servers).await == (der(&renewed), der(&renewed))).then_some(())
    })
    .await;
    assert_eq!(credentials.rejection(), None);
}
