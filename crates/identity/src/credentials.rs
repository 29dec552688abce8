//! A service's certificate, its key and the certificate authority it trusts, as TLS
//! configurations for its gRPC server and its clients.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::Service;
use crate::caller::identities_in;

bgjobs_config::section! {
    /// This service's certificate for mutual TLS with the other bgjobs services. The
    /// defaults are where a cert-manager Certificate's Secret is mounted.
    pub struct Tls {
        /// PEM file of the certificate authority that signs every bgjobs service's
        /// certificate; only peers with a certificate it signed are accepted.
        "BGJOBS_TLS_CA_FILE" => ca_file: PathBuf = "/etc/bgjobs/tls/ca.crt";
        /// PEM file of this service's certificate (leaf first, then any intermediates).
        /// It names the service as the URI `spiffe://bgjobs.internal/<service>` and, for
        /// a service that serves gRPC, the DNS name `<service>.bgjobs.internal`.
        "BGJOBS_TLS_CERT_FILE" => cert_file: PathBuf = "/etc/bgjobs/tls/tls.crt";
        /// PEM file of the certificate's private key.
        "BGJOBS_TLS_KEY_FILE" => key_file: PathBuf = "/etc/bgjobs/tls/tls.key";
    }
}

/// Why credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate names no bgjobs identity, or more than one.
    #[error(
        "the certificate names {found} bgjobs identities; it must name exactly one as a URI \
         subject alternative name spiffe://bgjobs.internal/<service>"
    )]
    Identity {
        /// How many it names.
        found: usize,
    },
    /// The certificate is not PEM-encoded X.509.
    #[error("the certificate is not a PEM-encoded X.509 certificate: {0}")]
    Certificate(String),
    /// An internal URL that does not use TLS.
    #[error("'{0}' must start with https://: bgjobs services talk to each other over mutual TLS")]
    NotHttps(String),
    /// The certificate, its key or the authority cannot make a TLS configuration.
    #[error("the certificate, its key or the authority cannot be used for TLS: {0}")]
    Tls(String),
    /// An internal URL tonic refuses.
    #[error("'{url}' is not a usable gRPC URL: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// What a service proves its identity with and whom it trusts.
#[derive(Clone)]
pub struct Credentials {
    service: Service,
    pub(crate) ca_pem: Vec<u8>,
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        formatter.debug_struct("Credentials").field("service", &self.service).finish()
    }
}

impl Credentials {
    /// Reads the files `tls` names.
    pub fn load(tls: &Tls) -> Result<Self, Error> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::Read { path: path.to_owned(), source })
        };
        Self::from_pem(read(&tls.ca_file)?, read(&tls.cert_file)?, read(&tls.key_file)?)
    }

    /// Credentials of PEM-encoded certificate authority, certificate and key.
    pub fn from_pem(
        ca_pem: impl Into<Vec<u8>>,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<Self, Error> {
        let cert_pem = cert_pem.into();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&cert_pem)
            .map_err(|error| Error::Certificate(error.to_string()))?;
        let identities = identities_in(&pem.contents).map_err(Error::Certificate)?;
        let [service] = identities[..] else {
            return Err(Error::Identity { found: identities.len() });
        };
        Ok(Self { service, ca_pem: ca_pem.into(), cert_pem, key_pem: key_pem.into() })
    }

    /// The identity the certificate names.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The server side: this service's certificate, and client certificates checked
    /// against the authority. A client without one still connects, so that a
    /// [`crate::Policy`] can refuse its calls with a clear status.
    pub fn server_tls(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(true)
    }

    /// The client side of a call to `callee`: its certificate must be signed by the
    /// authority and name `callee`, whatever address is dialled.
    pub fn client_tls(&self, callee: Service) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(callee.server_name())
    }

    /// An endpoint for `callee`'s gRPC API at `url` (`https://...`), over mutual TLS.
    pub fn endpoint(&self, url: &str, callee: Service) -> Result<Endpoint, Error> {
        if !url.starts_with("https://") {
            return Err(Error::NotHttps(url.to_owned()));
        }
        let invalid = |reason: String| Error::Url { url: url.to_owned(), reason };
        Endpoint::from_shared(url.to_owned())
            .map_err(|error| invalid(error.to_string()))?
            .tls_config(self.client_tls(callee))
            .map_err(|error| invalid(error.to_string()))
    }
}
