//! Who may start a job at ingest: only a user, with a valid bearer token carrying the
//! retry role, in the token's own account, whoever forwards it and whatever
//! certificate the connection has. Each refusal says why and leaves nothing behind.

use bgjobs_auth::{RETRY_ROLE, SigningKey, VIEW_ROLE};
use bgjobs_identity::Service;
use bgjobs_test_support::{pki, tokens};

use crate::helpers::{json_of, spawn_app, user_token};

const PRODUCTS: &str = "sku,name\nA-1,Red mug\n";

#[tokio::test]
async fn an_upload_without_a_valid_token_of_the_accounts_user_is_refused_saying_why()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let gateway = pki::ingest_http(Service::Gateway);
    let view_only = tokens::sign(&tokens::claims(&app.account, "vera", &[VIEW_ROLE]));
    let expired = {
        let mut claims = tokens::claims(&app.account, "ann", &[VIEW_ROLE, RETRY_ROLE]);
        claims.exp = chrono::Utc::now().timestamp() - 3600;
        claims.iat = Some(claims.exp - 600);
        tokens::sign(&claims)
    };
    let foreign_key = SigningKey::generate()?;
    let forged =
        foreign_key.sign(&tokens::claims(&app.account, "ann", &[VIEW_ROLE, RETRY_ROLE]))?;
    let other_account = tokens::operator("globex", "ann");

    let cases: [(Option<&str>, u16, &str, &str); 6] = [
        (None, 401, "unauthenticated", "sign in: the request has no Authorization header"),
        (Some("not-a-jwt"), 401, "unauthenticated", "the bearer token is not a JWT"),
        (Some(&expired), 401, "unauthenticated", "your session has expired; sign in again"),
        (Some(&forged), 401, "unauthenticated", "the bearer token's signature is not valid"),
        (Some(&view_only), 403, "forbidden", "this needs the AdminBackgroundJobRetry role"),
        (Some(&other_account), 403, "forbidden", ""),
    ];
    for (token, status, code, message) in cases {
        let mut request = gateway.post(app.upload_url()).query(&[("client_id", "c-1")]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.body(PRODUCTS).send().await?;
        assert_eq!(response.status(), status, "{message}");
        let answer = json_of(response).await?;
        assert_eq!(answer["error"]["code"], code, "{answer}");
        if !message.is_empty() {
            assert_eq!(answer["error"]["message"], message, "{answer}");
        }
    }
    let response = gateway
        .post(app.upload_url())
        .bearer_auth(&other_account)
        .query(&[("client_id", "c-1")])
        .body(PRODUCTS)
        .send()
        .await?;
    let answer = json_of(response).await?;
    assert_eq!(
        answer["error"]["message"],
        format!(
            "your sign-in is for account 'globex'; it cannot start jobs in account '{}'",
            app.account
        )
    );
    let deletion = format!("{}/v1/accounts/{}/jobs/delete-client", app.address, app.account);
    let query = [("client_id", "c-1"), ("dry_run", "true")];
    let response = gateway.post(&deletion).query(&query).send().await?;
    assert_eq!(response.status(), 401, "a deletion needs a token too");
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn who_starts_the_job_comes_from_the_token_never_from_the_query() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    for (name, value) in [("created_by", "Mallory"), ("user_id", "u-mallory")] {
        let response = app
            .http
            .post(app.upload_url())
            .query(&[("client_id", "c-1"), (name, value)])
            .body(PRODUCTS)
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{name}");
        let answer = json_of(response).await?;
        assert_eq!(answer["error"]["field"], name, "{answer}");
    }
    app.assert_nothing_left().await?;

    let accepted = app.upload(PRODUCTS).await?;
    assert_eq!(accepted.status(), 202);
    let job = app.jobs().await?.pop().expect("the accepted job");
    assert_eq!(job.created_by, "ann@example.com", "the token's name");
    assert_eq!(job.reference_ids.unwrap_or_default().user_id, "u-ann", "the token's sub");
    app.stop().await
}

#[tokio::test]
async fn a_users_token_is_enough_whatever_certificate_the_connection_has() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let token = user_token(&app.account, None, None);
    let callers = [
        ("no certificate (a user calling directly)", pki::anonymous_ingest_http()),
        ("the gateway's", pki::ingest_http(Service::Gateway)),
        ("jobsctl's", pki::ingest_http(Service::Jobsctl)),
    ];
    for (certificate, http) in callers {
        let response = http
            .post(app.upload_url())
            .bearer_auth(&token)
            .query(&[("client_id", "c-1")])
            .body(PRODUCTS)
            .send()
            .await?;
        assert_eq!(response.status(), 202, "with {certificate}: {}", json_of(response).await?);
    }
    assert_eq!(app.jobs().await?.len(), 3);
    app.stop().await
}
