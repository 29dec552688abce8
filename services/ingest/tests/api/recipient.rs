//! Who is emailed when a job ends: named in the query of every upload and of Delete
//! Client, recorded with the job by the registry.

use bgjobs_proto::v1::{GetJobRequest, Recipient};

use crate::helpers::{TestApp, json_of, spawn_app};

const PRODUCTS: &str = "sku,name\nA-1,Red mug\n";

/// Posts to `job_type` of the test's account with `query` (plus a creator) and `body`;
/// answers the new job's recipient as the registry recorded it.
async fn recorded_recipient(
    app: &TestApp,
    job_type: &str,
    query: &[(&str, &str)],
    body: Option<&'static str>,
) -> anyhow::Result<Option<Recipient>> {
    let url = format!("{}/v1/accounts/{}/jobs/{job_type}", app.address, app.account);
    let mut request = app.http.post(url).query(&[("created_by", "Vera")]).query(query);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let answer = json_of(response).await?;
    anyhow::ensure!(status == 202, "{job_type} answered {status}: {answer}");
    let job_id = answer["job_id"].as_str().unwrap_or_default().to_owned();
    let request = GetJobRequest { account_id: app.account.clone(), job_id };
    let job = app.registry.clone().get_job(request).await?.into_inner().job;
    Ok(job.and_then(|job| job.notify))
}

fn vera(time_zone: &str) -> Option<Recipient> {
    Some(Recipient { email: "vera@example.com".to_owned(), time_zone: time_zone.to_owned() })
}

#[tokio::test]
async fn an_upload_naming_an_address_records_who_is_emailed_when_it_ends() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let products = [
        ("client_id", "c-1"),
        ("notify_email", "vera@example.com"),
        ("notify_time_zone", "Europe/Paris"),
    ];
    let recipient = recorded_recipient(&app, "product-upload", &products, Some(PRODUCTS)).await?;
    assert_eq!(recipient, vera("Europe/Paris"));

    let locations = [("notify", "true"), ("notify_email", "vera@example.com")];
    let locations_file = Some("warehouse,location_code\nWH1,A-01\n");
    let recipient =
        recorded_recipient(&app, "warehouse-upload", &locations, locations_file).await?;
    assert_eq!(recipient, vera(""), "no time zone: the email shows UTC");

    let without_address = [("client_id", "c-1")];
    let recipient =
        recorded_recipient(&app, "product-upload", &without_address, Some(PRODUCTS)).await?;
    assert_eq!(recipient, None, "no address, nobody emailed");

    // Last: a deletion locks its client until it ends.
    let deletion =
        [("client_id", "c-1"), ("dry_run", "true"), ("notify_email", "vera@example.com")];
    assert_eq!(recorded_recipient(&app, "delete-client", &deletion, None).await?, vera(""));
    app.stop().await
}

#[tokio::test]
async fn notify_false_records_nobody_even_with_an_address() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let opted_out = [
        ("client_id", "c-1"),
        ("notify", "false"),
        ("notify_email", "vera@example.com"),
        ("notify_time_zone", "Europe/Paris"),
    ];
    let recipient = recorded_recipient(&app, "product-upload", &opted_out, Some(PRODUCTS)).await?;
    assert_eq!(recipient, None);
    let deletion = [
        ("client_id", "c-1"),
        ("confirm_name", "Client One"),
        ("notify", "false"),
        ("notify_email", "vera@example.com"),
    ];
    assert_eq!(recorded_recipient(&app, "delete-client", &deletion, None).await?, None);
    app.stop().await
}

#[tokio::test]
async fn a_malformed_recipient_is_refused_naming_the_field_and_leaves_nothing_behind()
-> anyhow::Result<()> {
    let app = spawn_app().await?;

    let cases = [
        (("notify_email", "vera at example.com"), "notify_email"),
        (("notify_time_zone", "Paris, France"), "notify_time_zone"),
        (("notify", "no"), "notify"),
    ];
    for ((name, value), expected_field) in cases {
        let response = app
            .http
            .post(app.upload_url())
            .query(&[("client_id", "c-1"), ("created_by", "Vera"), (name, value)])
            .body(PRODUCTS)
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{name}={value}");
        let answer = json_of(response).await?;
        assert_eq!(answer["error"]["field"], expected_field, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{expected_field} '")), "{message}");
    }
    app.assert_nothing_left().await?;
    app.stop().await
}
