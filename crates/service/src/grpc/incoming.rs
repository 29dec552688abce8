//! The connections of a gRPC server over TLS: each accepted TCP connection completes
//! its handshake and sends the HTTP/2 preface in a task of its own, within the
//! handshake timeout, and only then is handed to tonic. The acceptor's rustls
//! configuration is asked for a certificate at every handshake, so a certificate
//! renewed meanwhile serves new connections.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_stream::Stream;

use super::prefaced::Prefaced;

/// How long accepting pauses after a failure that is not about one connection (out of
/// file descriptors, say), instead of spinning.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The TLS connections of a listener, for `serve_with_incoming`. tonic gives each
/// request the connection's `TlsConnectInfo<TcpConnectInfo>`, client certificates
/// included. A connection is handed on once its client has sent the HTTP/2 preface.
/// Dropping it closes the listener.
pub struct TlsIncoming {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: JoinSet<Option<Prefaced>>,
    paused: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for TlsIncoming {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TlsIncoming")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsIncoming {
    /// Serves TLS with `config` on `tcp`; a client has `handshake_timeout` to complete
    /// its handshake and send the HTTP/2 preface.
    pub fn new(
        tcp: TcpListener,
        config: rustls::ServerConfig,
        handshake_timeout: Duration,
    ) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            handshake_timeout,
            handshakes: JoinSet::new(),
            paused: None,
        }
    }

    /// Accepts every connection waiting, each into a handshake task of its own.
    fn poll_accept(&mut self, context: &mut Context<'_>) {
        loop {
            if let Some(pause) = &mut self.paused {
                if pause.as_mut().poll(context).is_pending() {
                    return;
                }
                self.paused = None;
            }
            match self.tcp.poll_accept(context) {
                Poll::Ready(Ok((stream, address))) => {
                    // An answer is small HTTP/2 frames written one after another
                    // (headers, data, trailers): with Nagle's algorithm, the last would
                    // wait for the client's delayed acknowledgement of the first, up to
                    // tens of milliseconds per call.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(client = %address, %error, "TCP_NODELAY could not be set");
                    }
                    let handshake = self.acceptor.accept(stream);
                    let timeout = self.handshake_timeout;
                    self.handshakes.spawn(async move {
                        let opened = async {
                            let tls = handshake.await.map_err(|error| ("TLS handshake", error))?;
                            Prefaced::read(tls).await.map_err(|error| ("HTTP/2 preface", error))
                        };
                        match tokio::time::timeout(timeout, opened).await {
                            Ok(Ok(connection)) => Some(connection),
                            Ok(Err((stage, error))) => {
                                tracing::info!(client = %address, %error, "{stage} failed");
                                None
                            }
                            Err(_) => {
                                tracing::info!(
                                    client = %address,
                                    ?timeout,
                                    "TLS handshake or HTTP/2 preface timed out"
                                );
                                None
                            }
                        }
                    });
                }
                Poll::Ready(Err(error)) => {
                    use std::io::ErrorKind::{
                        ConnectionAborted, ConnectionRefused, ConnectionReset,
                    };
                    if !matches!(
                        error.kind(),
                        ConnectionRefused | ConnectionAborted | ConnectionReset
                    ) {
                        tracing::error!(%error, "accepting a connection failed");
                        self.paused = Some(Box::pin(tokio::time::sleep(ACCEPT_PAUSE)));
                    }
                }
                Poll::Pending => return,
            }
        }
    }
}

impl Stream for TlsIncoming {
    type Item = Result<Prefaced, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.poll_accept(context);
        loop {
            match this.handshakes.poll_join_next(context) {
                Poll::Ready(Some(Ok(Some(connection)))) => {
                    return Poll::Ready(Some(Ok(connection)));
                }
                // Failed, timed out (logged) or panicked: the client is gone.
                Poll::Ready(Some(_)) => continue,
                // None: no handshake under way; the listener wakes this when one starts.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
