//! Who is emailed when a job started through the gateway ends: the signed-in user, at
//! the address of their token (never one the request names), unless they opt out.

use gateway::auth::Claims;
use serde_json::{Value, json};

use crate::helpers::{OPERATOR_EMAIL, TestGateway, Who, product_file, trusted_key};

/// Starts work at `path` with `token` (a CSV `body` for uploads) and answers the job as
/// the REST API shows it to the operator.
async fn started_job(
    gateway: &TestGateway,
    token: &str,
    path: &str,
    body: Option<String>,
) -> anyhow::Result<Value> {
    let mut request = gateway.http.post(format!("{}{path}", gateway.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "text/csv").body(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let accepted: Value = response.json().await?;
    anyhow::ensure!(status == 202, "{path}: {status} {accepted}");
    let job_id = accepted["job_id"].as_str().unwrap_or_default();
    let (status, details) = gateway.get(&format!("/api/v1/jobs/{job_id}"), Who::Operator).await?;
    anyhow::ensure!(status == 200, "{details}");
    Ok(details["job"].clone())
}

fn operator_token(gateway: &TestGateway, change: impl FnOnce(&mut Claims)) -> String {
    let mut claims = gateway.operator_claims();
    change(&mut claims);
    trusted_key().sign(&claims).expect("signed")
}

#[tokio::test]
async fn work_started_through_the_gateway_emails_the_address_of_the_token() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let client = &gateway.system.client_id;
    let operator = gateway.token(Who::Operator).unwrap_or_default();
    // The request names another address: it is not believed.
    let forged = "notify_email=mallory@example.com&notify_time_zone=America/Lima";
    let locations = "warehouse_code,location_code\nW1,A-01\n".to_owned();

    // No zoneinfo in the token: the zone the browser sent.
    let upload = started_job(
        &gateway,
        &operator,
        &format!("/api/v1/jobs/product-upload?client_id={client}&time_zone=Asia/Kolkata&{forged}"),
        Some(product_file(1)),
    )
    .await?;
    assert_eq!(upload["notify"], json!({ "email": OPERATOR_EMAIL, "time_zone": "Asia/Kolkata" }));

    // The token's zoneinfo wins over the browser's.
    let in_paris = operator_token(&gateway, |claims| claims.zoneinfo = Some("Europe/Paris".into()));
    let warehouse = started_job(
        &gateway,
        &in_paris,
        &format!("/api/v1/jobs/warehouse-upload?time_zone=Asia/Kolkata&{forged}"),
        Some(locations),
    )
    .await?;
    assert_eq!(
        warehouse["notify"],
        json!({ "email": OPERATOR_EMAIL, "time_zone": "Europe/Paris" })
    );

    // No zone at all: the email shows UTC.
    let dry_run = started_job(
        &gateway,
        &operator,
        &format!("/api/v1/jobs/delete-client?client_id={client}&dry_run=true"),
        None,
    )
    .await?;
    assert_eq!(dry_run["notify"], json!({ "email": OPERATOR_EMAIL, "time_zone": null }));

    // Another account sees nothing of the job, its recipient included.
    let job_path = format!("/api/v1/jobs/{}", upload["id"].as_str().unwrap_or_default());
    let (status, _) = gateway.get(&job_path, Who::OtherAccount).await?;
    assert_eq!(status, 404);
    gateway.stop().await
}

#[tokio::test]
async fn notify_false_opts_out_and_a_token_without_an_address_emails_nobody() -> anyhow::Result<()>
{
    let gateway = TestGateway::start().await?;
    let client = &gateway.system.client_id;
    let operator = gateway.token(Who::Operator).unwrap_or_default();
    let upload_path =
        |query: &str| format!("/api/v1/jobs/product-upload?client_id={client}&{query}");

    let opted_out = started_job(
        &gateway,
        &operator,
        &upload_path("notify=false&time_zone=Asia/Kolkata"),
        Some(product_file(1)),
    )
    .await?;
    assert_eq!(opted_out["notify"], Value::Null);

    let no_email = operator_token(&gateway, |claims| claims.email = None);
    let unaddressed =
        started_job(&gateway, &no_email, &upload_path("notify=true"), Some(product_file(1)))
            .await?;
    assert_eq!(unaddressed["notify"], Value::Null);

    // A malformed address in the token refuses nothing: nobody is emailed.
    let bad_email = operator_token(&gateway, |claims| claims.email = Some("omar".into()));
    let unaddressed =
        started_job(&gateway, &bad_email, &upload_path("notify=true"), Some(product_file(1)))
            .await?;
    assert_eq!(unaddressed["notify"], Value::Null);

    for (query, message) in [
        ("notify=no", "notify 'no' is not known; use true (email me when the job ends) or false"),
        ("time_zone=Paris,%20France", "time_zone 'Paris, France' is not a time zone"),
    ] {
        let response = gateway
            .request(reqwest::Method::POST, &upload_path(query), Who::Operator)
            .header("content-type", "text/csv")
            .body(product_file(1))
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await?;
        let shown = body["error"]["message"].as_str().unwrap_or_default();
        assert!(shown.starts_with(message), "{query}: {shown}");
    }
    gateway.stop().await
}
