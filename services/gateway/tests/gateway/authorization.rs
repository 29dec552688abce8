//! Every endpoint × every kind of caller answers the expected status, and another
//! account's job answers exactly as a job that does not exist.

use reqwest::Method;

use crate::helpers::{TestGateway, Who, product_file};

/// The answer expected of each caller, in the order of [`CALLERS`].
const CALLERS: [Who; 9] = [
    Who::Nobody,
    Who::Malformed,
    Who::WrongKey,
    Who::Expired,
    Who::WrongAudience,
    Who::NoRole,
    Who::Viewer,
    Who::Operator,
    Who::OtherAccount,
];

#[tokio::test]
async fn every_endpoint_answers_each_caller_as_its_token_and_roles_allow() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(3).await?;
    let failed = gateway.system.submit_delete_client("never-existed", false).await?;
    gateway.system.finished_job(&failed, crate::helpers::DEADLINE).await?;
    let client = &gateway.system.client_id;

    // (method, path, body, expected per caller in CALLERS order)
    let denied = [401, 401, 401, 401, 401, 403];
    let endpoints: Vec<(Method, String, Option<String>, [u16; 9])> = vec![
        (Method::GET, "/api/v1/me".into(), None, concat(denied, [200, 200, 200])),
        (Method::GET, "/api/v1/jobs".into(), None, concat(denied, [200, 200, 200])),
        (Method::GET, format!("/api/v1/jobs/{job_id}"), None, concat(denied, [200, 200, 404])),
        (
            Method::POST,
            format!("/api/v1/jobs/{job_id}/download-link"),
            None,
            concat(denied, [200, 200, 404]),
        ),
        (Method::GET, "/api/v1/events".into(), None, concat(denied, [200, 200, 200])),
        (
            Method::POST,
            format!("/api/v1/jobs/{failed}/retry"),
            None,
            concat(denied, [403, 200, 404]),
        ),
        (
            Method::POST,
            format!("/api/v1/jobs/product-upload?client_id={client}&file_name=p.csv"),
            Some(product_file(2)),
            concat(denied, [403, 202, 202]),
        ),
        (
            Method::POST,
            "/api/v1/jobs/warehouse-upload?file_name=l.csv".into(),
            Some("warehouse_code,location_code\nW1,A-01\n".into()),
            concat(denied, [403, 202, 202]),
        ),
        (
            Method::POST,
            format!("/api/v1/jobs/delete-client?client_id={client}&dry_run=true"),
            None,
            concat(denied, [403, 202, 202]),
        ),
    ];

    let mut mismatches = Vec::new();
    for (method, path, body, expected) in &endpoints {
        for (who, expected) in CALLERS.iter().zip(expected) {
            let mut request = gateway.request(method.clone(), path, *who);
            if let Some(body) = body {
                request = request.header("content-type", "text/csv").body(body.clone());
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let is_stream = response
                .headers()
                .get("content-type")
                .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
            if status != *expected {
                let text = if is_stream { String::new() } else { response.text().await? };
                mismatches.push(format!(
                    "{method} {path} as {who:?}: {status}, expected {expected}: {text}"
                ));
            } else if status >= 400 {
                // Every refusal is a plain JSON error with a message.
                let body: serde_json::Value = response.json().await?;
                if body["error"]["message"].as_str().is_none_or(str::is_empty) {
                    mismatches
                        .push(format!("{method} {path} as {who:?}: no error message: {body}"));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    gateway.stop().await
}

fn concat(denied: [u16; 6], allowed: [u16; 3]) -> [u16; 9] {
    let mut all = [0; 9];
    all[..6].copy_from_slice(&denied);
    all[6..].copy_from_slice(&allowed);
    all
}

#[tokio::test]
async fn another_accounts_job_answers_exactly_like_a_missing_one() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(2).await?;
    let missing = uuid_v7();

    for path in ["", "/download-link"] {
        let method = if path.is_empty() { Method::GET } else { Method::POST };
        let theirs = gateway.request(
            method.clone(),
            &format!("/api/v1/jobs/{job_id}{path}"),
            Who::OtherAccount,
        );
        let nobodys =
            gateway.request(method, &format!("/api/v1/jobs/{missing}{path}"), Who::OtherAccount);
        let (theirs, nobodys) = (theirs.send().await?, nobodys.send().await?);
        assert_eq!(theirs.status(), 404);
        assert_eq!(theirs.status(), nobodys.status());
        assert_eq!(theirs.text().await?, nobodys.text().await?, "the bodies differ for {path:?}");
    }

    let (status, page) = gateway.get("/api/v1/jobs", Who::OtherAccount).await?;
    assert_eq!(status, 200);
    assert_eq!(page["jobs"], serde_json::json!([]), "the other account sees no job");
    gateway.stop().await
}

#[tokio::test]
async fn refusals_say_why_in_plain_words() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let cases = [
        (Who::Nobody, 401, "no Authorization header"),
        (Who::Malformed, 401, "not a JWT"),
        (Who::WrongKey, 401, "signature is not valid"),
        (Who::Expired, 401, "session has expired"),
        (Who::WrongAudience, 401, "not meant for this service"),
        (Who::NoRole, 403, "AdminBackgroundJobView"),
    ];
    for (who, expected_status, expected_message) in cases {
        let (status, body) = gateway.get("/api/v1/jobs", who).await?;
        assert_eq!(status, expected_status, "{who:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected_message), "{who:?}: {message}");
    }
    let (status, body) = gateway
        .post(
            &format!("/api/v1/jobs/delete-client?client_id={}", gateway.system.client_id),
            Who::Viewer,
        )
        .await?;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("AdminBackgroundJobRetry")
    );
    gateway.stop().await
}

#[tokio::test]
async fn only_a_job_in_error_can_be_retried() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let completed = gateway.completed_upload(2).await?;
    let (status, body) =
        gateway.post(&format!("/api/v1/jobs/{completed}/retry"), Who::Operator).await?;
    assert_eq!(status, 409, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap_or_default().is_empty());
    let (status, _) =
        gateway.post(&format!("/api/v1/jobs/{}/retry", uuid_v7()), Who::Operator).await?;
    assert_eq!(status, 404);
    gateway.stop().await
}

fn uuid_v7() -> String {
    bgjobs_domain::JobId::new().to_string()
}
