//! One set of what a service proves its identity with and whom it trusts, read from
//! PEM and checked once: the certificate chain with its key, ready for every TLS
//! handshake, and verifiers of peers' certificates built from the authority.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SignatureScheme};

use crate::caller::identities_in;
use crate::{Error, Service};

/// A certificate, its key and the authority, parsed and consistent.
pub(crate) struct Material {
    /// The identity the certificate names.
    pub(crate) service: Service,
    /// The files as read, to tell whether they changed.
    pub(crate) pem: Pem,
    /// The chain and the key every handshake presents.
    pub(crate) certified_key: Arc<CertifiedKey>,
    /// Checks a client's certificate against the authority; a client without one still
    /// connects.
    pub(crate) client_verifier: Arc<dyn ClientCertVerifier>,
    /// Checks a server's certificate against the authority.
    pub(crate) server_verifier: Arc<WebPkiServerVerifier>,
}

/// The three PEM texts, as read.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pem {
    pub(crate) ca: Vec<u8>,
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        formatter.debug_struct("Material").field("service", &self.service).finish_non_exhaustive()
    }
}

impl Material {
    /// Parses `pem`: the certificate must name exactly one bgjobs identity, the key
    /// must be the certificate's, the authority must hold at least one certificate.
    pub(crate) fn parse(pem: Pem) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(&pem.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Error::Certificate(error.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(Error::Certificate("it holds no PEM certificate".to_owned()));
        };
        let identities = identities_in(leaf).map_err(Error::Certificate)?;
        let [service] = identities[..] else {
            return Err(Error::Identity { found: identities.len() });
        };
        // The parser's messages may quote a line of the file: never for the key.
        let key = PrivateKeyDer::from_pem_slice(&pem.key).map_err(|_| Error::Key)?;
        let provider = provider();
        let certified_key =
            CertifiedKey::from_der(chain, key, &provider).map_err(|error| match error {
                rustls::Error::InconsistentKeys(_) => Error::KeyMismatch,
                _ => Error::Key,
            })?;
        let roots = roots(&pem.ca)?;
        let authority =
            |error: rustls::server::VerifierBuilderError| Error::Authority(error.to_string());
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(authority)?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(authority)?;
        Ok(Self {
            service,
            pem,
            certified_key: Arc::new(certified_key),
            client_verifier,
            server_verifier,
        })
    }

    /// Whether the authority signed this certificate and it is valid now, as a peer
    /// would check it when this service calls it.
    pub(crate) fn check_signed_by_authority(&self) -> Result<(), String> {
        let (leaf, intermediates) = match &self.certified_key.cert[..] {
            [leaf, intermediates @ ..] => (leaf, intermediates),
            [] => return Err("it holds no certificate".to_owned()),
        };
        self.client_verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    /// When the certificate expires (its notAfter), as RFC 2822 text.
    pub(crate) fn not_after(&self) -> String {
        let Some(leaf) = self.certified_key.cert.first() else {
            return "unknown".to_owned();
        };
        match x509_parser::parse_x509_certificate(leaf) {
            Ok((_, certificate)) => {
                let not_after = certificate.validity().not_after;
                not_after.to_rfc2822().unwrap_or_else(|_| not_after.to_string())
            }
            Err(_) => "unknown".to_owned(),
        }
    }

    /// The signature schemes peers' certificates are checked with.
    pub(crate) fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.server_verifier.supported_verify_schemes()
    }
}

/// The authority's certificates, every one of them usable as a trust anchor.
fn roots(ca_pem: &[u8]) -> Result<Arc<RootCertStore>, Error> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        let certificate = certificate.map_err(|error| Error::Authority(error.to_string()))?;
        roots.add(certificate).map_err(|error| Error::Authority(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(Error::Authority("it holds no PEM certificate".to_owned()));
    }
    Ok(Arc::new(roots))
}

/// ring, as every other TLS stack in bgjobs, whatever provider the process installed.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}
