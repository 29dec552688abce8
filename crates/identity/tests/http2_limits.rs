//! The HTTP/2 bounds of a gRPC server built as the registry and ingest build theirs
//! (`bgjobs_service::grpc::server` on `tls_incoming`), against clients speaking raw
//! HTTP/2 frames over mutual TLS: one that sends nothing after its handshake, one that
//! stops answering pings, and a tonic client that opens more calls than a connection
//! may carry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bgjobs_identity::dev_pki::DevPki;
use bgjobs_identity::{Credentials, Service};
use bgjobs_service::Limits;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response};

/// Longer than any bound these tests set, so that a server that never enforces one
/// fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(15);

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

struct Server {
    address: SocketAddr,
    pki: DevPki,
}

fn credentials(pki: &DevPki, service: Service) -> Credentials {
    let issued = pki.issue(service).expect("issued");
    Credentials::from_pem(pki.ca_pem(), issued.cert_pem, issued.key_pem).expect("credentials")
}

/// Serves the gRPC health service as the registry, within `limits`.
async fn serve(limits: Limits) -> Server {
    bgjobs_service::install_crypto_provider();
    let pki = DevPki::generate().expect("pki");
    let tls = credentials(&pki, Service::JobsRegistry).grpc_server_config().expect("server TLS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let address = listener.local_addr().expect("address");
    let (_, health) = tonic_health::server::health_reporter();
    let incoming = bgjobs_service::grpc::tls_incoming(listener, tls, &limits);
    let router = bgjobs_service::grpc::server(&limits).add_service(health);
    tokio::spawn(router.serve_with_incoming(incoming));
    Server { address, pki }
}

/// A TLS connection to `server` as ingest, offering HTTP/2, with nothing sent yet.
async fn connect_raw(server: &Server) -> TlsStream<TcpStream> {
    let mut config = credentials(&server.pki, Service::Ingest)
        .https_client_config(Service::JobsRegistry)
        .expect("client TLS");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from(Service::JobsRegistry.server_name()).expect("server name");
    let tcp = TcpStream::connect(server.address).await.expect("connected");
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake")
}

/// One HTTP/2 frame: its type, flags and payload.
struct Frame {
    kind: u8,
    flags: u8,
    payload: Vec<u8>,
}

/// The next frame, or None when the server closed the connection.
async fn read_frame(stream: &mut TlsStream<TcpStream>) -> Option<Frame> {
    let mut header = [0_u8; 9];
    stream.read_exact(&mut header).await.ok()?;
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
    let mut payload = vec![0_u8; usize::try_from(length).expect("a frame's length")];
    stream.read_exact(&mut payload).await.ok()?;
    Some(Frame { kind: header[3], flags: header[4], payload })
}

fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("a small frame").to_be_bytes();
    let mut bytes = vec![length[1], length[2], length[3], kind, flags, 0, 0, 0, 0];
    bytes.extend_from_slice(payload);
    bytes
}

/// The value of `parameter` in a SETTINGS frame's payload.
fn setting(payload: &[u8], parameter: u16) -> Option<u32> {
    payload.chunks_exact(6).find_map(|entry| {
        (u16::from_be_bytes([entry[0], entry[1]]) == parameter)
            .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
    })
}

async fn health_check(server: &Server) -> Result<(), tonic::Status> {
    let channel = credentials(&server.pki, Service::Ingest)
        .endpoint(&format!("https://{}", server.address), Service::JobsRegistry)
        .expect("endpoint")
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(format!("no connection: {error:?}")))?;
    HealthClient::new(channel).check(HealthCheckRequest::default()).await.map(|_| ())
}

#[tokio::test]
async fn a_client_that_sends_nothing_after_its_tls_handshake_is_disconnected() {
    let limits = Limits { header_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = serve(limits).await;
    let mut silent = connect_raw(&server).await;

    let mut byte = [0_u8; 1];
    let ended = tokio::time::timeout(DEADLINE, silent.read(&mut byte)).await;
    let read = ended.expect("the server kept a silent connection past the handshake timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "the server sent data to a silent client: {read:?}");
    health_check(&server).await.expect("a client that speaks HTTP/2 is served");
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_disconnected_and_the_stream_limit_is_advertised() {
    let limits = Limits {
        http2_keepalive: Duration::from_secs(1),
        max_concurrent_streams: 7,
        ..Limits::default()
    };
    let server = serve(limits).await;
    let mut peer = connect_raw(&server).await;
    peer.write_all(PREFACE).await.expect("preface sent");
    peer.write_all(&frame(SETTINGS, 0, &[])).await.expect("settings sent");

    // A well-behaved peer except for pings: it acknowledges the server's settings and
    // never answers a ping.
    let mut advertised = None;
    let mut pings = 0;
    let closed = tokio::time::timeout(DEADLINE, async {
        while let Some(frame) = read_frame(&mut peer).await {
            match (frame.kind, frame.flags & ACK) {
                (SETTINGS, 0) => {
                    advertised = setting(&frame.payload, SETTINGS_MAX_CONCURRENT_STREAMS);
                    peer.write_all(&self::frame(SETTINGS, ACK, &[])).await.expect("ack sent");
                }
                (PING, 0) => pings += 1,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a peer that answers no ping past {DEADLINE:?}");
    assert!(pings >= 1, "the connection ended without a ping being sent");
    assert_eq!(advertised, Some(7), "SETTINGS_MAX_CONCURRENT_STREAMS");
}

#[tokio::test]
async fn a_connection_carries_no_more_calls_at_once_than_the_stream_limit() {
    let limits = Limits { max_concurrent_streams: 2, ..Limits::default() };
    let server = serve(limits).await;
    let channel = credentials(&server.pki, Service::Ingest)
        .endpoint(&format!("https://{}", server.address), Service::JobsRegistry)
        .expect("endpoint")
        .connect()
        .await
        .expect("connected");
    let mut client = HealthClient::new(channel);

    // Two Watch calls stay open on the connection, each past its first answer.
    let mut watches = Vec::new();
    for _ in 0..2 {
        let mut watch =
            client.watch(HealthCheckRequest::default()).await.expect("watching").into_inner();
        let first = watch.message().await.expect("an answer").expect("a status");
        assert_eq!(first.status(), health_check_response::ServingStatus::Serving);
        watches.push(watch);
    }
    let mut third = client.clone();
    let mut waiting = tokio::spawn(async move { third.check(HealthCheckRequest::default()).await });
    // The third call waits for a stream: it is not answered while both are open.
    let early = tokio::time::timeout(Duration::from_secs(1), &mut waiting).await;
    assert!(early.is_err(), "a third call ran beside two with a limit of 2: {early:?}");

    drop(watches.pop());
    let answered = tokio::time::timeout(DEADLINE, waiting).await;
    answered.expect("the third call ran once a stream was free").expect("joined").expect("served");
}
