//! Ingest's HTTP API over TLS with client certificates of the bgjobs authority: a
//! certificate of another authority gets no answer, a stalled handshake holds up no
//! one, and the probes answer anyone. Who may start a job is the user's token's say
//! (`users.rs`).

use bgjobs_identity::dev_pki::DevPki;
use bgjobs_identity::{Credentials, Service};
use bgjobs_test_support::pki;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_probes_answer_without_a_certificate() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let probe = pki::anonymous_ingest_http();
    for path in ["/healthz", "/readyz"] {
        let response = probe.get(format!("{}{path}", app.address)).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        let response = probe.head(format!("{}{path}", app.address)).send().await?;
        assert_eq!(response.status(), 200, "HEAD {path}");
    }
    app.stop().await
}

#[tokio::test]
async fn a_certificate_of_another_authority_gets_no_answer() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let stranger = DevPki::generate()?.issue(Service::Gateway)?;
    let our_authority = std::fs::read(pki::tls(Service::Gateway).ca_file)?;
    let credentials = Credentials::from_pem(our_authority, stranger.cert_pem, stranger.key_pem)?;
    let http = pki::https_client(Service::Gateway, credentials);
    let sent = http.get(format!("{}/healthz", app.address)).send().await;
    assert!(sent.is_err(), "a foreign certificate was answered: {sent:?}");
    app.stop().await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_holds_up_no_one() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let address = app.address.trim_start_matches("https://");
    // Connected, silent: its handshake waits in a task of its own.
    let _silent = tokio::net::TcpStream::connect(address).await?;
    let response = app.http.get(format!("{}/healthz", app.address)).send().await?;
    assert_eq!(response.status(), 200);
    app.stop().await
}
