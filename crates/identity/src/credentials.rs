//! A service's certificate, its key and the certificate authority it trusts: read once,
//! or kept current as the files are renewed, for the TLS configurations of its servers
//! and clients (`https.rs`, `grpc.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use bgjobs_config::values::Seconds;

use crate::Service;
use crate::material::{Material, Pem};

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
        /// Seconds between two readings of the three files by a running service: a
        /// certificate renewed in place (cert-manager rewrites the mounted Secret) is
        /// used for new connections within as long, without a restart. Files that do
        /// not make valid credentials (not PEM, a key that is not the certificate's,
        /// another identity, not signed by the authority) are ignored with a warning
        /// naming the file, and the previous certificate kept. jobsctl reads them once.
        "BGJOBS_TLS_RELOAD_SECS" => reload_interval: Seconds<1, 86400> = "60";
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
    /// The private key cannot be read (the reason never quotes the file).
    #[error(
        "the private key is not a PEM-encoded private key (PKCS#8, PKCS#1 or SEC1) of a kind TLS can use"
    )]
    Key,
    /// The private key is not the certificate's.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// The certificate authority's file holds no usable certificate.
    #[error("the certificate authority is not a PEM-encoded X.509 certificate: {0}")]
    Authority(String),
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

/// What a service proves its identity with and whom it trusts. Clones share one
/// source: credentials from [`Credentials::reloading`] change under every clone, and
/// under every TLS configuration made from them, when the files are renewed.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) live: Arc<Live>,
}

/// The credentials in use now, swapped whole when renewed files pass every check.
pub(crate) struct Live {
    current: ArcSwap<Material>,
    /// Why the files as they are now were not taken, while they are not.
    rejection: ArcSwapOption<String>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Live").field("service", &self.current().service).finish()
    }
}

impl Live {
    /// The credentials every new handshake uses.
    pub(crate) fn current(&self) -> Guard<Arc<Material>> {
        self.current.load()
    }

    /// Puts renewed credentials in use.
    pub(crate) fn replace(&self, material: Material) {
        self.current.store(Arc::new(material));
        self.rejection.store(None);
    }

    /// Notes why the files as they are now were not taken.
    pub(crate) fn reject(&self, why: String) {
        self.rejection.store(Some(Arc::new(why)));
    }

    /// The files are those in use again.
    pub(crate) fn clear_rejection(&self) {
        self.rejection.store(None);
    }

    /// Why the files as they are now were not taken, if they were not.
    pub(crate) fn rejection(&self) -> Option<String> {
        self.rejection.load_full().map(|why| why.as_ref().clone())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        formatter.debug_struct("Credentials").field("service", &self.service()).finish()
    }
}

impl Credentials {
    /// Reads the files `tls` names, once: for a tool that runs briefly (jobsctl).
    pub fn load(tls: &Tls) -> Result<Self, Error> {
        Ok(Self::new(Material::parse(read_files(tls)?)?))
    }

    /// Reads the files `tls` names, then again every `reload_interval` for as long as
    /// these credentials or a TLS configuration made from them are in use. Renewed
    /// files are taken when they make valid credentials of the same identity; until
    /// then the previous ones stay in use and a warning says which file is wrong and
    /// why. Must be called within a tokio runtime.
    pub fn reloading(tls: &Tls) -> Result<Self, Error> {
        let credentials = Self::load(tls)?;
        crate::reload::spawn(tls, &credentials);
        Ok(credentials)
    }

    /// Credentials of PEM-encoded certificate authority, certificate and key, which
    /// never change.
    pub fn from_pem(
        ca_pem: impl Into<Vec<u8>>,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<Self, Error> {
        let pem = Pem { ca: ca_pem.into(), cert: cert_pem.into(), key: key_pem.into() };
        Ok(Self::new(Material::parse(pem)?))
    }

    fn new(material: Material) -> Self {
        let live =
            Live { current: ArcSwap::from_pointee(material), rejection: ArcSwapOption::empty() };
        Self { live: Arc::new(live) }
    }

    /// The identity the certificate names (the same for as long as the credentials
    /// are reloaded: files naming another are refused).
    pub fn service(&self) -> Service {
        self.live.current().service
    }

    /// Why the files as they are now were not taken by [`Credentials::reloading`]
    /// (which file, and what is wrong with it); `None` once they were, or while they
    /// have not changed.
    pub fn rejection(&self) -> Option<String> {
        self.live.rejection()
    }
}

/// The three files, each read whole.
fn read_files(tls: &Tls) -> Result<Pem, Error> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read { path: path.to_owned(), source })
    };
    Ok(Pem { ca: read(&tls.ca_file)?, cert: read(&tls.cert_file)?, key: read(&tls.key_file)? })
}
