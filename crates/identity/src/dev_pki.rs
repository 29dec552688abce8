//! A certificate authority made up on the spot, with a certificate for every bgjobs
//! service: what tests and the local stack run with. Production certificates come
//! from the cluster's issuer (cert-manager, SPIFFE); see docs/security.md.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::Service;

/// A certificate authority that issues bgjobs identities.
pub struct DevPki {
    authority: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl DevPki {
    /// A new authority with a fresh key.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "bgjobs development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let authority = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { authority })
    }

    /// The authority's certificate, PEM-encoded: what every service trusts.
    pub fn ca_pem(&self) -> String {
        self.authority.pem()
    }

    /// A certificate naming `service` (its URI, and its server name), for client and
    /// server use.
    pub fn issue(&self, service: Service) -> Result<Issued, rcgen::Error> {
        self.issue_with(&[service])
    }

    /// A certificate naming every one of `services` (none, or several: certificates a
    /// server must refuse).
    pub fn issue_with(&self, services: &[Service]) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::default();
        let common_name = services.first().map_or("nobody", |service| service.name());
        params.distinguished_name.push(DnType::CommonName, common_name);
        for service in services {
            params.subject_alt_names.push(SanType::URI(service.uri().try_into()?));
            params.subject_alt_names.push(SanType::DnsName(service.server_name().try_into()?));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.authority)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// Writes `ca.pem` and, for every service, `<service>.pem` and `<service>.key`
    /// (readable by its owner only) into `directory`.
    pub fn write_all(&self, directory: &Path) -> Result<(), std::io::Error> {
        std::fs::create_dir_all(directory)?;
        std::fs::write(directory.join("ca.pem"), self.ca_pem())?;
        for service in Service::ALL {
            let issued = self.issue(service).map_err(std::io::Error::other)?;
            std::fs::write(directory.join(format!("{}.pem", service.name())), issued.cert_pem)?;
            write_private(&directory.join(format!("{}.key", service.name())), &issued.key_pem)?;
        }
        Ok(())
    }
}

/// Writes `text` to a new file at `path` that only its owner may read.
fn write_private(path: &Path, text: &str) -> Result<(), std::io::Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let _ = std::fs::remove_file(path);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}
