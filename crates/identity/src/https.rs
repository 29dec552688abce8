//! Mutual TLS for HTTP: the rustls configurations of a service's HTTPS server and of
//! its clients of another service's HTTPS API, from the same [`Credentials`] as gRPC.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::{Credentials, Error, Service};

impl Credentials {
    /// The server side of an HTTPS API: this service's certificate, and client
    /// certificates checked against the authority. A client without one still
    /// connects, so that the server can refuse its requests with a clear answer (or
    /// serve the routes anyone may call, such as health probes).
    pub fn https_server_config(&self) -> Result<ServerConfig, Error> {
        let provider = provider();
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots()?, provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(tls_error)?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(self.chain()?, self.key()?)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The client side of HTTPS calls to `callee`, with this service's certificate:
    /// the server's certificate must be signed by the authority and name `callee`
    /// (`<callee>.bgjobs.internal`), whatever address is dialled, as for gRPC.
    pub fn https_client_config(&self, callee: Service) -> Result<ClientConfig, Error> {
        let mut config = self
            .https_client_builder(callee)?
            .with_client_auth_cert(self.chain()?, self.key()?)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Like [`Self::https_client_config`] but presenting no certificate, as a health
    /// probe does: for what anyone may call, and to test refusals.
    pub fn https_anonymous_client_config(&self, callee: Service) -> Result<ClientConfig, Error> {
        let mut config = self.https_client_builder(callee)?.with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    fn https_client_builder(
        &self,
        callee: Service,
    ) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, Error> {
        let provider = provider();
        let expected = ServerName::try_from(callee.server_name()).map_err(tls_error)?;
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots()?, provider.clone())
            .build()
            .map_err(tls_error)?;
        let verifier = Arc::new(NamedServerVerifier { inner, expected });
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier))
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, Error> {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(&self.ca_pem) {
            roots.add(certificate.map_err(tls_error)?).map_err(tls_error)?;
        }
        Ok(Arc::new(roots))
    }

    fn chain(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        CertificateDer::pem_slice_iter(&self.cert_pem).collect::<Result<_, _>>().map_err(tls_error)
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, Error> {
        PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(tls_error)
    }
}

/// ring, as every other TLS stack in bgjobs, whatever provider the process installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn tls_error(error: impl std::fmt::Display) -> Error {
    Error::Tls(error.to_string())
}

/// Checks the server's certificate as webpki does, against the name of the service
/// meant rather than the host of the URL: services are dialled by address (a pod IP, a
/// proxy, 127.0.0.1) but must prove they are the service called.
#[derive(Debug)]
struct NamedServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: ServerName<'static>,
}

impl ServerCertVerifier for NamedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.expected, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
