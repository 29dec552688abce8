//! The operations endpoints of every service: probes that answer and follow a
//! consumer's dependencies, and counters that match what became of real work. In one
//! run — two uploads by a user with an email address, an operator's retries, the user
//! reading the jobs through the gateway — ingest, the product-upload consumer, the
//! registry, the notifier and the gateway each count exactly the requests, calls,
//! deliveries, events and emails that happened, never with a job, an account or an
//! address as a label; the warehouse-upload and delete-client consumers answer and
//! count none of it.

use std::net::SocketAddr;
use std::time::Duration;

use bgjobs_domain::JobStatus;
use bgjobs_e2e::private_stack::{PrivateNats, PrivatePostgres, Restartable};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_identity::Service;
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_test_support::{mail, unique_suffix, wait};

mod test_gateway;

use test_gateway::TestGateway;

const DEADLINE: Duration = Duration::from_secs(60);
/// The local stack's SMTP server.
const STACK_SMTP: &str = "smtp://127.0.0.1:2525";

/// The `/metrics` lines naming `job_type`, without the comments.
fn samples<'t>(text: &'t str, job_type: &str) -> Vec<&'t str> {
    let label = format!("job_type=\"{job_type}\"");
    text.lines().filter(|line| !line.starts_with('#') && line.contains(&label)).collect()
}

/// The value of the sample `name` (with its labels) in `text`.
fn value(text: &str, name: &str) -> anyhow::Result<f64> {
    let line = text.lines().find(|line| line.split(' ').next() == Some(name));
    let value = line.and_then(|line| line.rsplit(' ').next());
    Ok(value.ok_or_else(|| anyhow::anyhow!("no {name} in:\n{text}"))?.parse()?)
}

/// The `/metrics` text of the service whose operations endpoints are at `ops`.
async fn scrape(ops: SocketAddr) -> anyhow::Result<String> {
    let response = reqwest::get(format!("http://{ops}/metrics")).await?;
    anyhow::ensure!(response.status() == 200, "{ops}/metrics answered {}", response.status());
    Ok(response.text().await?)
}

/// The sum of the samples in `text` whose name (with labels) starts with `prefix`.
fn total(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn every_service_counts_what_became_of_the_same_real_jobs() -> anyhow::Result<()> {
    let system = TestSystem::start().await?;
    let notifier = system.start_notifier(STACK_SMTP, &[]).await?;
    let gateway = TestGateway::start(&system).await?;
    let ops = system.ops_addr(Service::ProductUpload)?;
    let http = reqwest::Client::new();
    let get = |path: &'static str| http.get(format!("http://{ops}{path}")).send();

    let live = get("/healthz").await?;
    assert_eq!((live.status().as_u16(), live.text().await?), (200, "ok".to_owned()));
    let ready = get("/readyz").await?;
    assert_eq!((ready.status().as_u16(), ready.text().await?), (200, "ready".to_owned()));
    let before = get("/metrics").await?.text().await?;
    assert!(samples(&before, "product-upload").is_empty(), "counted before any job:\n{before}");

    // Both uploads by a user who is emailed about the jobs they start.
    let to = format!("counted-{}@example.com", unique_suffix());
    let token = system.user_token(Some(&to));
    let completed =
        system.submit_products_as(&token, "sku,name,price\nSKU-1,One,1.00\n", "").await?;
    let failed = system.submit_products_as(&token, "name,price\nOne,1.00\n", "").await?;
    for (job_id, status) in [(&completed, JobStatus::Completed), (&failed, JobStatus::Error)] {
        let job = system.finished_job(job_id, DEADLINE).await?;
        assert_eq!(job_status_from_proto(job.status), Some(status), "{}", job.message);
    }

    // An operator retries the failed job (it fails again: the file has not changed) and
    // then the completed one (refused), through ingest's gRPC API.
    let mut ingest_grpc = system.ingest_as(Service::Jobsctl);
    let retry = |job_id: &str| jobsctl::jobs::Retry {
        account: system.account.to_string(),
        job_id: job_id.to_owned(),
        operator: "oscar".to_owned(),
        reason: "counting".to_owned(),
    };
    jobsctl::jobs::retry(&mut ingest_grpc, retry(&failed)).await?;
    let job = wait::until("the retried job to fail again", DEADLINE, || async {
        let job = system.job(&failed).await?;
        let status = job_status_from_proto(job.status);
        Ok((job.attempt == 2 && status.is_some_and(JobStatus::is_terminal)).then_some(job))
    })
    .await?;
    assert_eq!(job_status_from_proto(job.status), Some(JobStatus::Error), "{}", job.message);
    let refused = jobsctl::jobs::retry(&mut ingest_grpc, retry(&completed)).await;
    assert!(refused.is_err(), "a completed job was retried");

    let response = get("/metrics").await?;
    let content_type = response.headers()["content-type"].to_str()?.to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await?;
    let counted = samples(&text, "product-upload");
    for line in [
        r#"bgjobs_consumer_deliveries_total{job_type="product-upload",outcome="completed"} 1"#,
        r#"bgjobs_consumer_deliveries_total{job_type="product-upload",outcome="failed"} 2"#,
        r#"bgjobs_consumer_delivery_duration_seconds_count{job_type="product-upload",outcome="completed"} 1"#,
        r#"bgjobs_consumer_delivery_duration_seconds_count{job_type="product-upload",outcome="failed"} 2"#,
        r#"bgjobs_consumer_rows_per_second_count{job_type="product-upload"} 1"#,
    ] {
        assert!(counted.contains(&line), "{line} not in:\n{text}");
    }
    // Nothing else became of a delivery: no retry, dead letter or other outcome.
    let outcomes =
        counted.iter().filter(|line| line.starts_with("bgjobs_consumer_deliveries_total"));
    assert_eq!(outcomes.count(), 2, "{text}");
    assert!(text.lines().any(|line| line == "bgjobs_consumer_deliveries_in_progress 0"), "{text}");
    // Each consumer counts its own type only.
    for other in [Service::WarehouseUpload, Service::DeleteClient] {
        let text = scrape(system.ops_addr(other)?).await?;
        assert!(samples(&text, "product-upload").is_empty(), "{other:?}:\n{text}");
    }

    // Ingest counted both uploads by their route's template, not their path.
    let ingest = system.ops_addr(Service::Ingest)?;
    let text = scrape(ingest).await?;
    let uploads = r#"bgjobs_http_requests_total{route="/v1/accounts/{account_id}/jobs/product-upload",method="POST",code="202"} 2"#;
    assert!(text.lines().any(|line| line == uploads), "{uploads} not in:\n{text}");
    assert!(!text.contains(system.account.as_str()), "an account became a label:\n{text}");
    // ...and the operator's two retries by gRPC method and status.
    let retries = r#"bgjobs_grpc_requests_total{method="/bgjobs.v1.Ingest/RetryJob",code="#;
    let retries: Vec<&str> = text.lines().filter(|line| line.starts_with(retries)).collect();
    assert_eq!(retries.len(), 2, "{retries:?} in:\n{text}");
    assert!(retries.iter().any(|line| line.ends_with(r#"code="OK"} 1"#)), "{retries:?}");
    assert!(
        retries.iter().any(|line| line.ends_with(r#"code="FAILED_PRECONDITION"} 1"#)),
        "{retries:?}"
    );

    // The registry applied each job's start and end once, and timed each event.
    let registry = system.ops_addr(Service::JobsRegistry)?;
    let ready = http.get(format!("http://{registry}/readyz")).send().await?;
    assert_eq!((ready.status().as_u16(), ready.text().await?), (200, "ready".to_owned()));
    let text = scrape(registry).await?;
    let count = |name: &str| value(&text, name);
    for (kind, applied) in [("started", 3.0), ("completed", 1.0), ("failed", 2.0)] {
        let name = format!("bgjobs_registry_events_total{{kind=\"{kind}\",result=\"applied\"}}");
        assert_eq!(count(&name)?, applied, "{name}");
    }
    let events = total(&text, "bgjobs_registry_events_total{");
    assert_eq!(count("bgjobs_registry_event_lag_seconds_count")?, events, "one lag per event");
    // The jobs by type: three starts (one a retry), one completion with its one row,
    // two failures, each ended attempt timed; ingest registered the two jobs through
    // CreateJob.
    for (name, expected) in [
        (r#"bgjobs_jobs_total{job_type="product-upload",status="started"}"#, 3.0),
        (r#"bgjobs_jobs_total{job_type="product-upload",status="completed"}"#, 1.0),
        (r#"bgjobs_jobs_total{job_type="product-upload",status="failed"}"#, 2.0),
        (r#"bgjobs_jobs_total{job_type="warehouse-upload",status="started"}"#, 0.0),
        (r#"bgjobs_job_rows_total{job_type="product-upload",result="imported"}"#, 1.0),
        (r#"bgjobs_job_rows_total{job_type="product-upload",result="rejected"}"#, 0.0),
        (r#"bgjobs_job_duration_seconds_count{job_type="product-upload",status="completed"}"#, 1.0),
        (r#"bgjobs_job_duration_seconds_count{job_type="product-upload",status="failed"}"#, 2.0),
        (
            r#"bgjobs_grpc_requests_total{method="/bgjobs.v1.JobsRegistry/CreateJob",code="OK"}"#,
            2.0,
        ),
    ] {
        assert_eq!(count(name)?, expected, "{name}");
    }

    // The notifier emailed the user once per finished attempt: the completion, and
    // the failure of each of the failed job's two attempts.
    assert_emails_counted(&system, notifier.ops_addr, &to, 3).await?;
    let text = scrape(notifier.ops_addr).await?;
    assert_no_job_or_account(&text, &system, &[&completed, &failed, &to]);

    // The user reads the jobs through the gateway: the list once, then each job once.
    let listed = gateway.get(&token, "/api/v1/jobs").await?;
    let mut seen: Vec<(&str, &str)> = listed["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|job| (job["id"].as_str().unwrap_or(""), job["status"].as_str().unwrap_or("")))
        .collect();
    seen.sort_unstable();
    let mut expected = [(completed.as_str(), "completed"), (failed.as_str(), "error")];
    expected.sort_unstable();
    assert_eq!(seen, expected, "{listed}");
    for (job_id, status) in expected {
        let details = gateway.get(&token, &format!("/api/v1/jobs/{job_id}")).await?;
        assert_eq!(details["job"]["status"], status, "{details}");
    }
    // Counted by route template, method and code; nothing else was asked of it.
    let text = scrape(gateway.ops).await?;
    let mut requests: Vec<&str> =
        text.lines().filter(|line| line.starts_with("bgjobs_http_requests_total{")).collect();
    requests.sort_unstable();
    assert_eq!(
        requests,
        [
            r#"bgjobs_http_requests_total{route="/api/v1/jobs",method="GET",code="200"} 1"#,
            r#"bgjobs_http_requests_total{route="/api/v1/jobs/{job_id}",method="GET",code="200"} 2"#,
        ],
        "{text}"
    );
    for line in [
        r#"bgjobs_http_request_duration_seconds_count{route="/api/v1/jobs",method="GET"} 1"#,
        r#"bgjobs_http_request_duration_seconds_count{route="/api/v1/jobs/{job_id}",method="GET"} 2"#,
    ] {
        assert!(text.lines().any(|got| got == line), "{line} not in:\n{text}");
    }
    assert_no_job_or_account(&text, &system, &[&completed, &failed, &to]);

    gateway.stop().await?;
    notifier.stop().await?;
    system.stop().await
}

/// Asserts that `text` names neither the system's account nor any of `identifiers`
/// (job ids, addresses): labels are bounded.
fn assert_no_job_or_account(text: &str, system: &TestSystem, identifiers: &[&str]) {
    for identifier in identifiers.iter().copied().chain([system.account.as_str()]) {
        assert!(!text.contains(identifier), "{identifier} became a label:\n{text}");
    }
}

/// Waits until the notifier at `ops` has settled `emails` emails and every event it
/// was given, then asserts that it counted each as sent, put none off, and that the
/// mail server received each for `to`.
async fn assert_emails_counted(
    system: &TestSystem,
    ops: SocketAddr,
    to: &str,
    emails: u32,
) -> anyhow::Result<()> {
    let settled = "bgjobs_notifier_emails_total{";
    let what = format!("the notifier to settle {emails} emails");
    wait::until(&what, DEADLINE, || async {
        Ok((total(&scrape(ops).await?, settled) >= f64::from(emails)).then_some(()))
    })
    .await?;
    system.notifier_consumer_settled("notifier", DEADLINE).await?;
    let text = scrape(ops).await?;
    let counted: Vec<&str> = text.lines().filter(|line| line.starts_with(settled)).collect();
    let sent = format!("bgjobs_notifier_emails_total{{outcome=\"sent\"}} {emails}");
    assert_eq!(counted, [sent.as_str()], "{text}");
    assert!(text.lines().any(|line| line == "bgjobs_notifier_email_retries_total 0"), "{text}");
    assert_eq!(mail::received_by(to)?.len(), usize::try_from(emails)?, "received for {to}");
    Ok(())
}

/// Waits until the consumer at `ops` answers `/readyz` with `status` and a body
/// containing `says`.
async fn readiness(ops: std::net::SocketAddr, status: u16, says: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let what = format!("/readyz to answer {status} saying '{says}'");
    wait::until(&what, Duration::from_secs(30), || async {
        let response = http.get(format!("http://{ops}/readyz")).send().await?;
        let answered = response.status().as_u16();
        let body = response.text().await?;
        Ok((answered == status && body.contains(says)).then_some(body))
    })
    .await
}

#[tokio::test]
async fn a_consumer_is_not_ready_while_nats_or_its_database_is_down() -> anyhow::Result<()> {
    let nats = PrivateNats::start().await?;
    let postgres = PrivatePostgres::start().await?;
    let environment = Environment {
        nats_url: Some(nats.url()),
        postgres_server_url: Some(postgres.server_url()),
        ..Environment::default()
    };
    let system = TestSystem::start_in(Options::default(), environment).await?;
    let ops = system.ops_addr(Service::ProductUpload)?;
    readiness(ops, 200, "ready").await?;

    nats.stop().await?;
    readiness(ops, 503, "NATS is not connected").await?;
    let live = reqwest::get(format!("http://{ops}/healthz")).await?;
    assert_eq!(live.status().as_u16(), 200, "liveness does not follow a dependency");
    nats.start().await?;
    readiness(ops, 200, "ready").await?;

    postgres.stop().await?;
    let body = readiness(ops, 503, "the database does not answer").await?;
    assert!(!body.contains("NATS"), "{body}");
    postgres.start().await?;
    readiness(ops, 200, "ready").await?;
    system.stop().await
}
