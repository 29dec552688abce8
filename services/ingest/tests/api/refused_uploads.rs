use bytes::Bytes;
use futures::stream;

use crate::helpers::{json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_empty_file_is_refused_with_400_and_leaves_nothing_behind() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let response = app.upload("").await?;

    assert_eq!(response.status(), 400);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "empty_file");
    assert!(
        answer["error"]["message"].as_str().unwrap_or_default().starts_with("the file is empty")
    );
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn a_binary_file_is_refused_with_415_and_leaves_nothing_behind() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let response = app.upload(&b"sku,name\nA-1,\x00\x01\x02\n"[..]).await?;

    assert_eq!(response.status(), 415);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "not_csv_text");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("the file is not a CSV text file"),
        "{answer}"
    );
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_refused_with_415() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    // "Café" in Latin-1.
    let response = app.upload(&b"sku,name\nA-1,Caf\xe9\n"[..]).await?;

    assert_eq!(response.status(), 415);
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_with_413_and_leaves_nothing_behind() -> anyhow::Result<()>
{
    let app = spawn_app_with(|settings| settings.max_upload_bytes = 1024).await?;
    let body = "A-1,Red mug\n".repeat(10 * 1024 / 12);

    // With a Content-Length, refused before a byte is read.
    let response = app.upload(body.clone()).await?;
    assert_eq!(response.status(), 413);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "file_too_large");
    assert_eq!(answer["error"]["message"], "the file is larger than the 1 KiB limit");

    // Streamed without one, refused once the limit is passed.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        body.as_bytes().chunks(512).map(|chunk| Ok(Bytes::copy_from_slice(chunk))).collect();
    let response = app.upload(reqwest::Body::wrap_stream(stream::iter(chunks))).await?;
    assert_eq!(response.status(), 413);
    assert_eq!(json_of(response).await?["error"]["code"], "file_too_large");

    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn a_missing_client_id_is_refused_with_400_naming_the_field() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let response = app.http.post(app.upload_url()).body("sku\nA-1\n").send().await?;

    assert_eq!(response.status(), 400);
    let answer = json_of(response).await?;
    assert_eq!(
        (answer["error"]["code"].as_str(), answer["error"]["field"].as_str()),
        (Some("invalid_request"), Some("client_id"))
    );
    assert!(
        answer["error"]["message"].as_str().unwrap_or_default().contains("client_id"),
        "{answer}"
    );
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn a_bad_account_id_is_refused_with_400_naming_the_field() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let response = app
        .http
        .post(app.upload_url_for("acme.eu"))
        .query(&[("client_id", "c-1")])
        .body("sku\nA-1\n")
        .send()
        .await?;

    assert_eq!(response.status(), 400);
    let answer = json_of(response).await?;
    assert_eq!(
        (answer["error"]["code"].as_str(), answer["error"]["field"].as_str()),
        (Some("invalid_request"), Some("account_id"))
    );
    assert!(
        answer["error"]["message"].as_str().unwrap_or_default().contains("account_id"),
        "{answer}"
    );
    app.assert_nothing_left().await?;
    app.stop().await
}

#[tokio::test]
async fn an_upload_for_a_client_being_deleted_is_refused_with_409_and_leaves_nothing_behind()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let deletion_id = bgjobs_domain::JobId::new().to_string();
    let deletion = bgjobs_proto::v1::CreateJobRequest {
        job_id: deletion_id.clone(),
        account_id: app.account.clone(),
        job_type: bgjobs_proto::v1::JobType::DeleteClient as i32,
        parameters_json: r#"{"client_id":"c-1","dry_run":false}"#.to_owned(),
        reference_ids: Some(bgjobs_proto::v1::ReferenceIds {
            client_id: "c-1".to_owned(),
            ..Default::default()
        }),
        created_by: "ann@example.com".to_owned(),
        ..Default::default()
    };
    app.registry.clone().create_job(deletion).await?;

    let response = app.upload("sku,name\nA-1,Anvil\n").await?;

    assert_eq!(response.status(), 409);
    let answer = json_of(response).await?;
    assert_eq!(answer["error"]["code"], "client_locked");
    assert_eq!(
        answer["error"]["message"],
        format!(
            "client 'c-1' is being deleted by job {deletion_id}; uploads for this client are \
             refused until it finishes"
        )
    );
    assert_eq!(app.stored_keys().await?, Vec::<String>::new(), "the input was left in S3");
    let jobs: Vec<String> = app.jobs().await?.into_iter().map(|job| job.job_id).collect();
    assert_eq!(jobs, [deletion_id], "only the deletion is registered");
    assert_eq!(app.queued_messages().await?, 0, "a job message was queued");
    app.stop().await
}
