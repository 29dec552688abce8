//! Mutual TLS for gRPC: the rustls configuration of a service's gRPC server, and
//! endpoints of another service's gRPC API whose every new connection takes the
//! credentials current then. tonic's own TLS settings are fixed once built, so the
//! TLS is done here: by the server's acceptor (`bgjobs_service::grpc::tls_incoming`)
//! and by the endpoint's connector.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};
use tower::BoxError;

use crate::tls::tls_error;
use crate::{Credentials, Error, Service};

impl Credentials {
    /// The server side of a gRPC API: this service's certificate, client certificates
    /// checked against the authority (a client without one still connects, so that a
    /// [`crate::Policy`] can refuse its calls with a clear status), HTTP/2 offered.
    pub fn grpc_server_config(&self) -> Result<ServerConfig, Error> {
        self.server_config(b"h2")
    }

    /// An endpoint for `callee`'s gRPC API at `url` (`https://...`), over mutual TLS:
    /// the server's certificate must be signed by the authority and name `callee`,
    /// whatever address is dialled.
    pub fn endpoint(&self, url: &str, callee: Service) -> Result<GrpcEndpoint, Error> {
        let Some(address) = url.strip_prefix("https://") else {
            return Err(Error::NotHttps(url.to_owned()));
        };
        let invalid = |reason: String| Error::Url { url: url.to_owned(), reason };
        let origin: Uri = url.parse().map_err(|error| invalid(format!("{error}")))?;
        // tonic dials an https:// URI only with TLS settings of its own, fixed once
        // built: the connection is dialled as plain, the connector does the TLS, and
        // requests still name the https origin.
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|error| invalid(error.to_string()))?
            .origin(origin);
        let config = self.client_config(callee, b"h2")?;
        let server_name = ServerName::try_from(callee.server_name()).map_err(tls_error)?;
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        let connector = TlsDialer { tcp, tls: TlsConnector::from(Arc::new(config)), server_name };
        Ok(GrpcEndpoint { endpoint, connector })
    }
}

/// Where and how to reach another service's gRPC API, over mutual TLS with the
/// credentials current at each connection (tonic's [`Endpoint`], as far as bgjobs
/// uses it).
#[derive(Clone, Debug)]
pub struct GrpcEndpoint {
    endpoint: Endpoint,
    connector: TlsDialer,
}

impl GrpcEndpoint {
    /// Connecting (TCP and TLS) may take at most `timeout`.
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        Self { endpoint: self.endpoint.connect_timeout(timeout), ..self }
    }

    /// Each call may take at most `timeout`.
    pub fn timeout(self, timeout: Duration) -> Self {
        Self { endpoint: self.endpoint.timeout(timeout), ..self }
    }

    /// The HTTP/2 window of each call, in bytes.
    pub fn initial_stream_window_size(self, size: impl Into<Option<u32>>) -> Self {
        Self { endpoint: self.endpoint.initial_stream_window_size(size), ..self }
    }

    /// A channel that connects on first use (and again after losing its connection).
    pub fn connect_lazy(&self) -> Channel {
        self.endpoint.connect_with_connector_lazy(self.connector.clone())
    }

    /// A channel, connected now.
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        self.endpoint.connect_with_connector(self.connector.clone()).await
    }
}

/// Dials TCP, then completes a TLS handshake with the credentials current then.
#[derive(Clone)]
struct TlsDialer {
    tcp: HttpConnector,
    tls: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsDialer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TlsDialer").field("server_name", &self.server_name).finish()
    }
}

type Dialling =
    Pin<Box<dyn Future<Output = Result<TokioIo<TlsStream<TcpStream>>, BoxError>> + Send>>;

impl tower::Service<Uri> for TlsDialer {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Dialling;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tcp.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.tcp.call(uri);
        let (tls, server_name) = (self.tls.clone(), self.server_name.clone());
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            let stream = tls.connect(server_name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
