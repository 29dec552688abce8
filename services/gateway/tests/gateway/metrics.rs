//! The gateway's metrics: each request to a route counted by its route's template,
//! method and status code, and timed; a path no route matches is not a label.

use bgjobs_config::Environment;
use bgjobs_identity::Service;
use bgjobs_test_support::pki;
use gateway::{Application, Settings};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn requests_are_counted_by_route_template_method_and_code() -> anyhow::Result<()> {
    let certificate = pki::tls_env(Service::Gateway);
    let settings = Settings::load(&Environment::from_lookup(|name| match name {
        "BGJOBS_GATEWAY_HTTP_ADDR" | "BGJOBS_OPS_ADDR" => Some("127.0.0.1:0".to_owned()),
        "BGJOBS_GATEWAY_DEMO_USERS" => Some("true".to_owned()),
        _ => certificate
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok()),
    }))
    .map_err(anyhow::Error::msg)?;
    let application = Application::build(settings).await?;
    let url = format!("http://{}", application.local_addr());
    let ops = application.ops_addr().ok_or_else(|| anyhow::anyhow!("no operations address"))?;
    let stop = CancellationToken::new();
    let served = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));

    let http = reqwest::Client::new();
    let job = "0193a4f0-7b1c-7d2e-8f00-0123456789ab";
    for (path, status) in [
        ("/api/v1/demo/users", 200),
        ("/api/v1/demo/users", 200),
        ("/api/v1/jobs", 401),
        (&format!("/api/v1/jobs/{job}") as &str, 401),
        ("/no/such/route/a1b2c3", 404),
    ] {
        let response = http.get(format!("{url}{path}")).send().await?;
        assert_eq!(response.status().as_u16(), status, "{path}");
    }

    let text = http.get(format!("http://{ops}/metrics")).send().await?.text().await?;
    for line in [
        r#"bgjobs_http_requests_total{route="/api/v1/demo/users",method="GET",code="200"} 2"#,
        r#"bgjobs_http_requests_total{route="/api/v1/jobs",method="GET",code="401"} 1"#,
        r#"bgjobs_http_requests_total{route="/api/v1/jobs/{job_id}",method="GET",code="401"} 1"#,
        r#"bgjobs_http_request_duration_seconds_count{route="/api/v1/demo/users",method="GET"} 2"#,
    ] {
        assert!(text.lines().any(|got| got == line), "{line} not in:\n{text}");
    }
    assert!(!text.contains(job) && !text.contains("a1b2c3"), "a path became a label:\n{text}");
    let ready = http.get(format!("http://{ops}/readyz")).send().await?;
    assert_eq!(ready.status().as_u16(), 200);

    stop.cancel();
    served.await??;
    Ok(())
}
