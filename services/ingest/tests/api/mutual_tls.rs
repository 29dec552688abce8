//! Ingest's HTTP API over mutual TLS: only the gateway starts jobs; a call without a
//! certificate of the bgjobs authority is a 401 and one by another identity a 403,
//! each saying why in ingest's error format; the probes answer anyone.

use bgjobs_identity::dev_pki::DevPki;
use bgjobs_identity::{Credentials, Service};
use bgjobs_test_support::pki;

use crate::helpers::{json_of, spawn_app};

const PRODUCTS: &str = "sku,name\nA-1,Red mug\n";

#[tokio::test]
async fn an_upload_without_a_certificate_or_by_another_identity_is_refused_saying_who_may_call()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let query = [("client_id", "c-1"), ("created_by", "ann@example.com")];

    let anonymous = pki::anonymous_ingest_http();
    let response = anonymous.post(app.upload_url()).query(&query).body(PRODUCTS).send().await?;
    assert_eq!(response.status(), 401);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "unauthenticated", "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "ingest accepts only calls from bgjobs services, each with a client certificate of \
         the bgjobs certificate authority; this call has none"
    );

    let jobsctl = pki::ingest_http(Service::Jobsctl);
    let response = jobsctl.post(app.upload_url()).query(&query).body(PRODUCTS).send().await?;
    assert_eq!(response.status(), 403);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "jobsctl may not call POST /v1/accounts/{account_id}/jobs/product-upload; only gateway may"
    );

    app.assert_nothing_left().await?;
    let response = app.upload(PRODUCTS).await?;
    assert_eq!(response.status(), 202, "as the gateway: {}", json_of(response).await?);
    app.stop().await
}

#[tokio::test]
async fn the_probes_answer_without_a_certificate() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let probe = pki::anonymous_ingest_http();
    for path in ["/healthz", "/readyz"] {
        let response = probe.get(format!("{}{path}", app.address)).send().await?;
        assert_eq!(response.status(), 200, "{path}");
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
