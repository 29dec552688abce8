//! The security headers are on every response: the page, API answers, errors,
//! downloads and the live updates stream; HSTS only when configured.

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::helpers::{TestGateway, Who, start_alone};

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What is missing or different from the headers every response must carry.
fn missing_security_headers(headers: &HeaderMap) -> Vec<String> {
    let expected = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ];
    expected
        .into_iter()
        .filter(|(name, value)| headers.get(*name).is_none_or(|found| found != *value))
        .map(|(name, _)| format!("{name}: {:?}", headers.get(name)))
        .collect()
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() -> anyhow::Result<()> {
    let gateway = TestGateway::start().await?;
    let job_id = gateway.completed_upload(2).await?;
    let (status, link) =
        gateway.post(&format!("/api/v1/jobs/{job_id}/download-link"), Who::Viewer).await?;
    anyhow::ensure!(status == 200, "no download link: {link}");
    let download = link["url"].as_str().unwrap_or_default().to_owned();

    let responses = [
        ("the page", Method::GET, "/".to_owned(), Who::Nobody, 200, "text/html"),
        ("a script", Method::GET, "/assets/app.js".to_owned(), Who::Nobody, 200, "text/javascript"),
        (
            "an API answer",
            Method::GET,
            "/api/v1/me".to_owned(),
            Who::Viewer,
            200,
            "application/json",
        ),
        ("a refusal", Method::GET, "/api/v1/jobs".to_owned(), Who::Nobody, 401, "application/json"),
        (
            "a missing job",
            Method::GET,
            format!("/api/v1/jobs/{}", uuid::Uuid::now_v7()),
            Who::Viewer,
            404,
            "application/json",
        ),
        ("an unknown path", Method::GET, "/no-such-page".to_owned(), Who::Nobody, 404, ""),
        ("a download", Method::GET, download, Who::Nobody, 200, "text/csv"),
        (
            "live updates",
            Method::GET,
            "/api/v1/events".to_owned(),
            Who::Viewer,
            200,
            "text/event-stream",
        ),
    ];
    let mut problems = Vec::new();
    for (what, method, path, who, status, content_type) in responses {
        // Only the head is read: the live updates stream never ends.
        let response = gateway.request(method, &path, who).send().await?;
        let found_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if response.status() != status || !found_type.starts_with(content_type) {
            problems.push(format!("{what}: {} {found_type}", response.status()));
        }
        let missing = missing_security_headers(response.headers());
        if !missing.is_empty() {
            problems.push(format!("{what}: {}", missing.join(", ")));
        }
        if response.headers().contains_key("strict-transport-security") {
            problems.push(format!("{what}: HSTS without BGJOBS_GATEWAY_HSTS"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    gateway.stop().await
}

#[tokio::test]
async fn hsts_is_sent_when_the_gateway_is_reached_over_https_only() -> anyhow::Result<()> {
    let env = [("BGJOBS_GATEWAY_DEMO_USERS", "true"), ("BGJOBS_GATEWAY_HSTS", "true")];
    let (url, _stop) = start_alone(&env, |_| {}).await?;
    for path in ["/", "/healthz", "/api/v1/me"] {
        let response = reqwest::get(format!("{url}{path}")).await?;
        assert_eq!(
            response.headers().get("strict-transport-security").map(|value| value.as_bytes()),
            Some(&b"max-age=31536000"[..]),
            "{path}"
        );
        assert!(missing_security_headers(response.headers()).is_empty(), "{path}");
    }
    Ok(())
}
