//! Who is emailed when a job ends: the user of the token that starts it, at the token's
//! address, unless the query opts out; recorded with the job by the registry.

use bgjobs_proto::v1::{GetJobRequest, Recipient};

use crate::helpers::{TestApp, json_of, spawn_app, user_token};

const PRODUCTS: &str = "sku,name\nA-1,Red mug\n";

/// Posts to `job_type` of the test's account as the user of `token` with `query` and
/// `body`; answers the new job's recipient as the registry recorded it.
async fn recorded_recipient(
    app: &TestApp,
    token: &str,
    job_type: &str,
    query: &[(&str, &str)],
    body: Option<&'static str>,
) -> anyhow::Result<Option<Recipient>> {
    let url = format!("{}/v1/accounts/{}/jobs/{job_type}", app.address, app.account);
    let mut request = app.http.post(url).bearer_auth(token).query(query);
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
async fn a_job_records_its_users_address_with_the_tokens_zone_or_else_the_querys()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let addressed = user_token(&app.account, Some("vera@example.com"), None);
    let zoned = user_token(&app.account, Some("vera@example.com"), Some("Asia/Kolkata"));

    let products = [("client_id", "c-1"), ("notify_time_zone", "Europe/Paris")];
    let recipient =
        recorded_recipient(&app, &addressed, "product-upload", &products, Some(PRODUCTS)).await?;
    assert_eq!(recipient, vera("Europe/Paris"));
    let recipient =
        recorded_recipient(&app, &zoned, "product-upload", &products, Some(PRODUCTS)).await?;
    assert_eq!(recipient, vera("Asia/Kolkata"), "the token's zoneinfo wins");

    let locations = [("notify", "true")];
    let locations_file = Some("warehouse,location_code\nWH1,A-01\n");
    let recipient =
        recorded_recipient(&app, &addressed, "warehouse-upload", &locations, locations_file)
            .await?;
    assert_eq!(recipient, vera(""), "no time zone: the email shows UTC");

    let unaddressed = user_token(&app.account, None, Some("Europe/Paris"));
    let without_address = [("client_id", "c-1")];
    let recipient =
        recorded_recipient(&app, &unaddressed, "product-upload", &without_address, Some(PRODUCTS))
            .await?;
    assert_eq!(recipient, None, "no address in the token, nobody emailed");

    // Last: a deletion locks its client until it ends.
    let deletion = [("client_id", "c-1"), ("dry_run", "true")];
    let recipient = recorded_recipient(&app, &addressed, "delete-client", &deletion, None).await?;
    assert_eq!(recipient, vera(""));
    app.stop().await
}

#[tokio::test]
async fn notify_false_records_nobody_even_with_an_address() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let addressed = user_token(&app.account, Some("vera@example.com"), Some("Europe/Paris"));

    let opted_out = [("client_id", "c-1"), ("notify", "false")];
    let recipient =
        recorded_recipient(&app, &addressed, "product-upload", &opted_out, Some(PRODUCTS)).await?;
    assert_eq!(recipient, None);
    let deletion = [("client_id", "c-1"), ("confirm_name", "Client One"), ("notify", "false")];
    assert_eq!(recorded_recipient(&app, &addressed, "delete-client", &deletion, None).await?, None);
    app.stop().await
}

#[tokio::test]
async fn a_malformed_recipient_or_an_address_in_the_query_is_refused_naming_the_field()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let addressed = user_token(&app.account, Some("vera@example.com"), None);

    let cases = [
        (("notify_time_zone", "Paris, France"), "notify_time_zone", "notify_time_zone '"),
        (("notify", "no"), "notify", "notify '"),
        (
            ("notify_email", "mallory@example.com"),
            "notify_email",
            "notify_email is not accepted: the address emailed comes from the bearer token",
        ),
    ];
    for ((name, value), expected_field, expected_start) in cases {
        let response = app
            .http
            .post(app.upload_url())
            .bearer_auth(&addressed)
            .query(&[("client_id", "c-1"), (name, value)])
            .body(PRODUCTS)
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{name}={value}");
        let answer = json_of(response).await?;
        assert_eq!(answer["error"]["field"], expected_field, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(expected_start), "{message}");
    }
    app.assert_nothing_left().await?;
    app.stop().await
}
