//! Mutual TLS for HTTP: the rustls configurations of a service's HTTPS server and of
//! its clients of another service's HTTPS API, from the same [`Credentials`] as gRPC.
//! Each new connection takes the credentials current at its handshake.

use rustls::{ClientConfig, ServerConfig};

use crate::{Credentials, Error, Service};

impl Credentials {
    /// The server side of an HTTPS API: this service's certificate, and client
    /// certificates checked against the authority. A client without one still
    /// connects, so that the server can refuse its requests with a clear answer (or
    /// serve the routes anyone may call, such as health probes).
    pub fn https_server_config(&self) -> Result<ServerConfig, Error> {
        self.server_config(b"http/1.1")
    }

    /// The client side of HTTPS calls to `callee`, with this service's certificate:
    /// the server's certificate must be signed by the authority and name `callee`
    /// (`<callee>.bgjobs.internal`), whatever address is dialled, as for gRPC.
    pub fn https_client_config(&self, callee: Service) -> Result<ClientConfig, Error> {
        self.client_config(callee, b"http/1.1")
    }

    /// Like [`Self::https_client_config`] but presenting no certificate, as a health
    /// probe does: for what anyone may call, and to test refusals.
    pub fn https_anonymous_client_config(&self, callee: Service) -> Result<ClientConfig, Error> {
        self.anonymous_client_config(callee, b"http/1.1")
    }
}
