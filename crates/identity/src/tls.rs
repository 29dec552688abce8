//! rustls configurations that take the current credentials at every handshake: the
//! certificate presented, the authority a peer's certificate is checked against. A
//! connection keeps what its handshake used; only new connections see renewed files.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WantsClientCert};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ConfigBuilder, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};

use crate::credentials::Live;
use crate::material::provider;
use crate::{Credentials, Error, Service};

impl Credentials {
    /// A server's TLS: the current certificate, and client certificates checked
    /// against the current authority (a client without one still connects, so that
    /// the server can refuse its calls with a clear answer). Offers `alpn`.
    pub(crate) fn server_config(&self, alpn: &[u8]) -> Result<ServerConfig, Error> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_client_cert_verifier(Arc::new(CurrentAuthority(self.live.clone())))
            .with_cert_resolver(Arc::new(CurrentCertificate(self.live.clone())));
        // No resumption: a resumed session would skip the checks against the current
        // authority and carry the client certificate of its first handshake.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(config)
    }

    /// A client's TLS with the current certificate: the server's must be signed by the
    /// current authority and name `callee`, whatever address is dialled. Offers `alpn`.
    pub(crate) fn client_config(
        &self,
        callee: Service,
        alpn: &[u8],
    ) -> Result<ClientConfig, Error> {
        let config = self
            .client_builder(callee)?
            .with_client_cert_resolver(Arc::new(CurrentCertificate(self.live.clone())));
        Ok(finish_client(config, alpn))
    }

    /// Like [`Self::client_config`], presenting no certificate.
    pub(crate) fn anonymous_client_config(
        &self,
        callee: Service,
        alpn: &[u8],
    ) -> Result<ClientConfig, Error> {
        Ok(finish_client(self.client_builder(callee)?.with_no_client_auth(), alpn))
    }

    fn client_builder(
        &self,
        callee: Service,
    ) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, Error> {
        let expected = ServerName::try_from(callee.server_name()).map_err(tls_error)?;
        let verifier = Arc::new(NamedServerVerifier { live: self.live.clone(), expected });
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier))
    }
}

/// `config` offering `alpn` and resuming no session: a resumed session would skip the
/// check of the server against the current authority and present no certificate.
fn finish_client(mut config: ClientConfig, alpn: &[u8]) -> ClientConfig {
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

pub(crate) fn tls_error(error: impl std::fmt::Display) -> Error {
    Error::Tls(error.to_string())
}

/// Presents the current certificate, as a server and as a client.
#[derive(Debug)]
struct CurrentCertificate(Arc<Live>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current().certified_key.clone())
    }
}

impl ResolvesClientCert for CurrentCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current().certified_key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Checks a client's certificate against the current authority; a client without
/// one is let through, for the server's policy to answer.
#[derive(Debug)]
struct CurrentAuthority(Arc<Live>);

impl ClientCertVerifier for CurrentAuthority {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints would be borrowed from credentials that may be swapped meanwhile;
        // without them a client presents the one certificate it has.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.current().client_verifier.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.current().client_verifier.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.current().client_verifier.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.current().supported_verify_schemes()
    }
}

/// Checks the server's certificate as webpki does, against the current authority and
/// the name of the service meant rather than the host of the URL: services are dialled
/// by address (a pod IP, a proxy, 127.0.0.1) but must prove they are the service called.
#[derive(Debug)]
struct NamedServerVerifier {
    live: Arc<Live>,
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
        self.live.current().server_verifier.verify_server_cert(
            end_entity,
            intermediates,
            &self.expected,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.live.current().server_verifier.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.live.current().server_verifier.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.live.current().supported_verify_schemes()
    }
}
