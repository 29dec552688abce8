use bgjobs_proto::v1::{self, GetJobRequest};
use bytes::Bytes;
use futures::stream;

use crate::helpers::{json_of, spawn_app};

const PRODUCTS: &str = "sku,name,barcode\nA-1,Red mug,4006381333931\nB-2,Blue mug,\n";

#[tokio::test]
async fn a_valid_upload_is_stored_registered_and_queued_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let file_name = "Produits été 2024.csv";

    let response = app
        .http
        .post(app.upload_url())
        .query(&[("client_id", "c-1"), ("file_name", file_name), ("mode", "all-or-nothing")])
        .body(PRODUCTS)
        .send()
        .await?;

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str()?.to_owned();
    let answer = json_of(response).await?;
    let job_id = answer["job_id"].as_str().expect("a job id").to_owned();
    let key = format!("uploads/{}/{job_id}/input.csv", app.account);
    assert_eq!(answer["status"], "new");
    assert_eq!(answer["input_object_key"], key.as_str());
    assert_eq!(location, format!("/v1/accounts/{}/jobs/{job_id}", app.account));

    // The file, byte for byte, with the user's file name beside it.
    let info = app.store.head(&key).await?.expect("the input file is stored");
    assert_eq!(info.original_file_name.as_deref(), Some(file_name));
    assert_eq!(info.content_type.as_deref(), Some("text/csv"));
    assert_eq!(app.store.get_bytes(&key).await?, Bytes::from(PRODUCTS));
    assert_eq!(app.stored_keys().await?, vec![key.clone()]);

    // The job, New, with everything the page shows.
    let request = GetJobRequest { account_id: app.account.clone(), job_id: job_id.clone() };
    let job = app.registry.clone().get_job(request).await?.into_inner().job.expect("a job");
    assert_eq!(job.status, v1::JobStatus::New as i32);
    assert_eq!(job.job_type, v1::JobType::ProductUpload as i32);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.input_object_key, key);
    assert_eq!(job.original_file_name, file_name);
    assert_eq!(job.created_by, "ann@example.com");
    let reference_ids = job.reference_ids.clone().unwrap_or_default();
    assert_eq!(
        (reference_ids.client_id.as_str(), reference_ids.user_id.as_str()),
        ("c-1", "u-ann")
    );
    let parameters: serde_json::Value = serde_json::from_str(&job.parameters_json)?;
    assert_eq!(
        parameters,
        serde_json::json!({ "client_id": "c-1", "all_or_nothing": true, "write": "create-or-update" })
    );

    // Exactly one job message, for attempt 1.
    let mut job_messages = app.job_messages().await?;
    let delivery = job_messages.next().await?;
    assert_eq!(delivery.message_id.as_deref(), Some(format!("{job_id}:1").as_str()));
    let message = &delivery.message;
    assert_eq!(message.job_id, job_id);
    assert_eq!(message.account_id, app.account);
    assert_eq!(message.job_type, v1::JobType::ProductUpload as i32);
    assert_eq!(message.attempt, 1);
    assert_eq!(message.input_object_key, key);
    assert_eq!(message.parameters_json, job.parameters_json);
    assert_eq!(message.reference_ids, job.reference_ids);
    assert_eq!(message.created_by, "ann@example.com");
    assert_eq!(app.queued_messages().await?, 0, "a second message was queued");
    delivery.ack().await?;

    app.stop().await
}

#[tokio::test]
async fn the_file_name_may_come_in_the_x_file_name_header() -> anyhow::Result<()> {
    let app = spawn_app().await?;

    let response = app
        .http
        .post(app.upload_url())
        .query(&[("client_id", "c-1")])
        .header("X-File-Name", "Catalogue%20%C3%A9t%C3%A9.csv")
        .body(PRODUCTS)
        .send()
        .await?;

    assert_eq!(response.status(), 202);
    let answer = json_of(response).await?;
    let key = answer["input_object_key"].as_str().expect("a key");
    let info = app.store.head(key).await?.expect("the input file is stored");
    assert_eq!(info.original_file_name.as_deref(), Some("Catalogue été.csv"));

    app.stop().await
}

#[tokio::test]
async fn a_file_larger_than_one_part_is_streamed_whole() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    // 20 MiB in 64 KiB chunks without a Content-Length: more than two 8 MiB parts.
    let row = "SKU-000000,A product with a reasonably long name,4006381333931\n";
    let chunk = Bytes::from(row.repeat(64 * 1024 / row.len()));
    let chunks = 20 * 1024 * 1024 / chunk.len() + 1;
    let expected_size = (chunk.len() * chunks) as u64;
    let body = stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));

    let response = app.upload(reqwest::Body::wrap_stream(body)).await?;

    assert_eq!(response.status(), 202);
    let answer = json_of(response).await?;
    let key = answer["input_object_key"].as_str().expect("a key");
    let info = app.store.head(key).await?.expect("the input file is stored");
    assert_eq!(info.size, expected_size);

    app.stop().await
}
