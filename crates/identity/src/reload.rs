//! Keeping credentials current: the certificate, key and authority files are read
//! again on an interval, and taken when they changed and make valid credentials of the
//! same identity. cert-manager renews a certificate by rewriting its Secret, which the
//! kubelet swaps in under the mounted directory at once; files written one by one can
//! still be read half-way, which only fails the checks until the next reading.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::credentials::Live;
use crate::material::{Material, Pem};
use crate::{Credentials, Error, Service, Tls};

/// The files of one set of credentials.
struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A file that makes the credentials unusable, and why.
struct Rejection {
    file: PathBuf,
    why: String,
}

/// Reads the files of `tls` every `reload_interval` and swaps what they hold into
/// `credentials`, until no clone of them (nor a TLS configuration made from them) is
/// left.
pub(crate) fn spawn(tls: &Tls, credentials: &Credentials) {
    let files =
        Files { ca: tls.ca_file.clone(), cert: tls.cert_file.clone(), key: tls.key_file.clone() };
    let interval = tls.reload_interval.get();
    let service = credentials.service();
    tracing::info!(
        %service,
        certificate = %files.cert.display(),
        not_after = %credentials.live.current().not_after(),
        reload_secs = interval.as_secs(),
        "certificate loaded; its files are read again on an interval"
    );
    tokio::spawn(reload_until_unused(Arc::downgrade(&credentials.live), files, service, interval));
}

async fn reload_until_unused(live: Weak<Live>, files: Files, service: Service, interval: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Files already found wrong, not checked (nor reported) again until they change.
    let mut rejected: Option<Pem> = None;
    loop {
        ticks.tick().await;
        let Some(live) = live.upgrade() else {
            return;
        };
        reload(&live, &files, service, &mut rejected).await;
    }
}

/// One reading of the files.
async fn reload(live: &Live, files: &Files, service: Service, rejected: &mut Option<Pem>) {
    let pem = match read(files).await {
        Ok(pem) => pem,
        Err(rejection) => return report(live, &rejection),
    };
    if pem == live.current().pem {
        live.clear_rejection();
        *rejected = None;
        return;
    }
    if rejected.as_ref() == Some(&pem) {
        return;
    }
    match check(pem.clone(), files, service) {
        Ok(material) => {
            tracing::info!(
                %service,
                certificate = %files.cert.display(),
                not_after = %material.not_after(),
                "certificate renewed: new connections use it"
            );
            live.replace(material);
            *rejected = None;
        }
        Err(rejection) => {
            report(live, &rejection);
            *rejected = Some(pem);
        }
    }
}

/// Logs `rejection` once (not again while it stays the same) and keeps it for
/// [`Credentials::rejection`].
fn report(live: &Live, rejection: &Rejection) {
    let text = format!("{}: {}", rejection.file.display(), rejection.why);
    if live.rejection().as_deref() == Some(&text) {
        return;
    }
    tracing::warn!(
        file = %rejection.file.display(),
        reason = %rejection.why,
        "certificate files not taken; the previous certificate stays in use"
    );
    live.reject(text);
}

/// Each file, read whole.
async fn read(files: &Files) -> Result<Pem, Rejection> {
    async fn read_one(path: &Path) -> Result<Vec<u8>, Rejection> {
        tokio::fs::read(path)
            .await
            .map_err(|error| Rejection { file: path.to_owned(), why: error.to_string() })
    }
    Ok(Pem {
        ca: read_one(&files.ca).await?,
        cert: read_one(&files.cert).await?,
        key: read_one(&files.key).await?,
    })
}

/// Credentials of `pem` if they are valid and name `service`; otherwise which file is
/// wrong and why.
fn check(pem: Pem, files: &Files, service: Service) -> Result<Material, Rejection> {
    let rejection = |file: &Path, why: String| Rejection { file: file.to_owned(), why };
    let material = Material::parse(pem).map_err(|error| match error {
        Error::Authority(_) => rejection(&files.ca, error.to_string()),
        Error::Key => rejection(&files.key, error.to_string()),
        Error::KeyMismatch => rejection(
            &files.key,
            format!(
                "the private key does not belong to the certificate in {}",
                files.cert.display()
            ),
        ),
        _ => rejection(&files.cert, error.to_string()),
    })?;
    if material.service != service {
        return Err(rejection(
            &files.cert,
            format!(
                "the certificate names {}, not {service}: a service keeps its identity",
                material.service
            ),
        ));
    }
    material.check_signed_by_authority().map_err(|why| {
        rejection(
            &files.cert,
            format!(
                "the certificate is not valid under the authority in {}: {why}",
                files.ca.display()
            ),
        )
    })?;
    Ok(material)
}
