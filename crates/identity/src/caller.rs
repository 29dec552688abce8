//! The identity of the service at the other end of a call, read from its certificate.

use rustls::pki_types::CertificateDer;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use x509_parser::extensions::GeneralName;

use crate::Service;

/// The identity of a call's caller, proven by a certificate of the trusted authority.
/// A server with a [`crate::Policy`] puts it in every admitted request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub Service);

impl Caller {
    /// The caller of a request that reached a TLS server: `None` without a client
    /// certificate (the TLS layer admits only certificates the authority signed),
    /// `Err` when the certificate does not name exactly one bgjobs identity.
    pub fn of<B>(request: &http::Request<B>) -> Result<Option<Caller>, String> {
        let certificates = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        Self::from_peer_certificates(certificates.as_ref().map(|chain| &chain[..]))
    }

    /// The caller whose certificate chain (leaf first) a TLS handshake verified, as
    /// rustls gives it (`peer_certificates()`): `None` without a certificate, `Err`
    /// when it does not name exactly one bgjobs identity.
    pub fn from_peer_certificates(
        certificates: Option<&[CertificateDer<'_>]>,
    ) -> Result<Option<Caller>, String> {
        let Some(leaf) = certificates.and_then(|chain| chain.first()) else {
            return Ok(None);
        };
        match identities_in(leaf)?[..] {
            [service] => Ok(Some(Caller(service))),
            ref found => Err(format!(
                "the client certificate names {} bgjobs identities; it must name exactly one",
                found.len()
            )),
        }
    }
}

/// The bgjobs identities a DER-encoded certificate names as URI subject alternative
/// names.
pub(crate) fn identities_in(der: &[u8]) -> Result<Vec<Service>, String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|error| format!("the certificate cannot be read: {error}"))?;
    let names = certificate
        .subject_alternative_name()
        .map_err(|error| format!("the certificate's alternative names cannot be read: {error}"))?;
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    Ok(names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Service::from_uri(uri),
            _ => None,
        })
        .collect())
}
