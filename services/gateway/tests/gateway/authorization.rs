//! Every route of the API's table (`gateway::access::ROUTES`) × every kind of
//! caller answers what the table says, and another account's job answers exactly as a
//! job that does not exist.

use gateway::access::{self, ApiRoute, Needs, Scope};
use reqwest::Method;

use crate::helpers::{TestGateway, Who, product_file};

/// Every kind of caller.
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

/// A request that a route's handler answers with `admitted` when it lets the caller in.
struct Sample {
    path: String,
    body: Option<(&'static str, String)>,
    admitted: u16,
}

/// What the table says `who` gets from `route`, whose handler answers `admitted`.
fn expected(route: &ApiRoute, who: Who, admitted: u16) -> u16 {
    if route.needs == Needs::Nothing {
        return admitted;
    }
    match who {
        Who::Nobody | Who::Malformed | Who::WrongKey | Who::Expired | Who::WrongAudience => 401,
        Who::NoRole => 403,
        Who::Viewer if route.needs == Needs::Retry => 403,
        Who::OtherAccount if route.scope == Scope::Job => 404,
        Who::Viewer | Who::Operator | Who::OtherAccount => admitted,
    }
}

#[tokio::test]
async fn every_route_answers_each_caller_as_the_access_table_says() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(3).await?;
    let failed = gateway.system.submit_delete_client("never-existed", false).await?;
    gateway.system.finished_job(&failed, crate::helpers::DEADLINE).await?;
    let client = gateway.system.client_id.clone();
    let account = gateway.system.account.to_string();
    let csv = |body: String| Some(("text/csv", body));
    // A request for each route of the table, and what its handler answers an admitted
    // caller (demo sign-in is off here; a made-up download link is refused).
    let sample = |route: &ApiRoute| -> Option<Sample> {
        let (path, body, admitted) = match route.path {
            "/api/v1/openapi.json" | "/api/v1/me" | "/api/v1/jobs" | "/api/v1/events" => {
                (route.path.to_owned(), None, 200)
            }
            "/api/v1/jobs/product-upload" => (
                format!("{}?client_id={client}&file_name=p.csv", route.path),
                csv(product_file(2)),
                202,
            ),
            "/api/v1/jobs/warehouse-upload" => (
                format!("{}?file_name=l.csv", route.path),
                csv("warehouse_code,location_code\nW1,A-01\n".to_owned()),
                202,
            ),
            "/api/v1/jobs/delete-client" => {
                (format!("{}?client_id={client}&dry_run=true", route.path), None, 202)
            }
            "/api/v1/jobs/{job_id}" => (format!("/api/v1/jobs/{job_id}"), None, 200),
            "/api/v1/jobs/{job_id}/retry" => (format!("/api/v1/jobs/{failed}/retry"), None, 200),
            "/api/v1/jobs/{job_id}/download-link" => {
                (format!("/api/v1/jobs/{job_id}/download-link"), None, 200)
            }
            "/api/v1/downloads/{account}/{job_id}" => (
                format!("/api/v1/downloads/{account}/{job_id}?expires=4102444800&signature=00"),
                None,
                403,
            ),
            "/api/v1/demo/users" | "/api/v1/demo/jwks.json" => (route.path.to_owned(), None, 404),
            "/api/v1/demo/sign-in" => (
                route.path.to_owned(),
                Some(("application/json", r#"{"user":"operator"}"#.to_owned())),
                404,
            ),
            _ => return None,
        };
        Some(Sample { path, body, admitted })
    };

    let mut mismatches = Vec::new();
    for route in access::ROUTES {
        let Some(Sample { path, body, admitted }) = sample(route) else {
            mismatches
                .push(format!("{} {}: no sample request in this test", route.method, route.path));
            continue;
        };
        let method = Method::from_bytes(route.method.as_bytes())?;
        for who in CALLERS {
            let expected = expected(route, who, admitted);
            let mut request = gateway.request(method.clone(), &path, who);
            if let Some((content_type, body)) = &body {
                request = request.header("content-type", *content_type).body(body.clone());
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let is_stream = response
                .headers()
                .get("content-type")
                .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
            if status != expected {
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
