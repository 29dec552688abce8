//! Ingest's HTTP API over mutual TLS: a listener that completes each TLS handshake in
//! a task of its own (a slow or silent client holds up no one else, and is cut off
//! after the header timeout, `BGJOBS_HEADER_TIMEOUT_SECS`), and the identity each
//! connection's client certificate proves, given to every request as [`Peer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use bgjobs_identity::Caller;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Accepts TCP connections and hands on those whose TLS handshake succeeded.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`; a client has `handshake_timeout` to complete
    /// the handshake.
    pub fn new(
        tcp: TcpListener,
        config: rustls::ServerConfig,
        handshake_timeout: Duration,
    ) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Self { tcp, acceptor, handshake_timeout, handshakes: JoinSet::new() }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Both branches are cancel-safe: a connection accepted or a handshake finished
        // is never lost when the server stops waiting.
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, address)) => {
                        let acceptor = self.acceptor.clone();
                        let handshake = handshake(acceptor, stream, address, self.handshake_timeout);
                        self.handshakes.spawn(handshake);
                    }
                    Err(error) => accept_failed(error).await,
                },
                Some(finished) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = finished {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The TLS handshake of one connection; `None` when it failed or took too long (the
/// client sees the TLS alert or the connection closed).
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    address: SocketAddr,
    timeout: Duration,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some((tls, address)),
        Ok(Err(error)) => {
            tracing::info!(client = %address, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(client = %address, ?timeout, "TLS handshake timed out");
            None
        }
    }
}

/// As axum's own listener does: a failed accept is logged, and when it is not about
/// one connection (out of file descriptors, say) the loop pauses instead of spinning.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The other end of a connection: its address, and who its certificate proves it is
/// (`Ok(None)` without one; `Err` when it names no single bgjobs identity).
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub address: SocketAddr,
    /// The client's identity.
    pub caller: Result<Option<Caller>, String>,
}

impl Peer {
    /// The peer of a connection that completed its handshake.
    pub fn of(stream: &TlsStream<TcpStream>, address: SocketAddr) -> Self {
        let (_, session) = stream.get_ref();
        let caller = Caller::from_peer_certificates(session.peer_certificates());
        Self { address, caller }
    }
}
