//! P5: the page's list of jobs over a long history. The system's database gets
//! `--page-jobs` jobs, one in ten in the benchmark user's account and the rest spread
//! over 99 other accounts; then each filter the page offers is asked many times, through
//! the gateway's API as the page asks, and straight to the registry as the gateway does.

use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_domain::{JobStatus, JobType};
use bgjobs_proto::convert::{job_status_to_proto, job_type_to_proto, timestamp};
use bgjobs_proto::v1::ListJobsRequest;

use crate::baseline::psql;
use crate::report::Series;
use crate::system::BenchSystem;

/// Requests per filter and way of asking; the first few warm caches and are not kept.
pub const REQUESTS: usize = 200;
const WARM_UP: usize = 10;

/// A filter of the page: its name in the report, the API's query string and the
/// registry request it becomes (the account is the benchmark user's).
pub struct Filter {
    pub name: &'static str,
    query: String,
    request: ListJobsRequest,
}

/// The filters the page offers, each alone, and none: `created_by` once with a name
/// fragment some jobs have and once with one no job has.
pub fn filters() -> Vec<Filter> {
    let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let from = day_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let base = ListJobsRequest::default();
    let filter = |name, query: &str, request| Filter { name, query: query.to_owned(), request };
    vec![
        filter("none", "", base.clone()),
        filter(
            "status = error",
            "status=error",
            ListJobsRequest {
                statuses: vec![job_status_to_proto(JobStatus::Error) as i32],
                ..base.clone()
            },
        ),
        filter(
            "type = delete-client",
            "job_type=delete-client",
            ListJobsRequest {
                job_types: vec![job_type_to_proto(JobType::DeleteClient) as i32],
                ..base.clone()
            },
        ),
        filter(
            "created by contains 'user17'",
            "created_by=user17",
            ListJobsRequest { created_by: "user17".into(), ..base.clone() },
        ),
        filter(
            "created by matches nobody",
            "created_by=nobody-here",
            ListJobsRequest { created_by: "nobody-here".into(), ..base.clone() },
        ),
        filter(
            "created in the last day",
            &format!("from={from}"),
            ListJobsRequest { created_from: Some(timestamp(day_ago)), ..base },
        ),
    ]
}

/// Fills the system's `jobs.jobs` with `jobs` finished and unfinished jobs over the past
/// year, a tenth of them in `account`; returns how long it took.
pub async fn populate(system: &BenchSystem, account: &str, jobs: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let sql = format!(
        "INSERT INTO jobs.jobs (job_id, account_id, job_type, status, attempt, message, \
         created_by, created_at, updated_by, updated_at) \
         SELECT gen_random_uuid(), \
           CASE WHEN n % 10 = 0 THEN '{account}' ELSE 'other-' || (n % 99) END, \
           (ARRAY['product-upload', 'product-upload', 'warehouse-upload', 'delete-client'])[1 + n % 4], \
           CASE WHEN n % 100 < 1 THEN 'new' WHEN n % 100 < 2 THEN 'in_progress' \
                WHEN n % 100 < 8 THEN 'error' ELSE 'completed' END, \
           1, 'done', \
           'user' || (n / 10 % 40) || '@example.com', \
           now() - make_interval(secs => ({jobs} - n) * 3.0), \
           'registry', now() - make_interval(secs => ({jobs} - n) * 3.0) \
         FROM generate_series(1, {jobs}) AS n; \
         ANALYZE jobs.jobs;"
    );
    psql(&system.database_url(), &sql).await.context("populating jobs.jobs")?;
    Ok(started.elapsed())
}

/// Milliseconds per request of `filter`: through the gateway's API, and to the registry.
pub async fn measure(system: &BenchSystem, filter: &Filter) -> anyhow::Result<(Series, Series)> {
    let mut api = Series::default();
    for index in 0..REQUESTS + WARM_UP {
        let started = Instant::now();
        let jobs = system.list_jobs(&filter.query).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(jobs <= 50, "{}: {jobs} jobs on one page", filter.name);
        if index >= WARM_UP {
            api.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    let mut registry = Series::default();
    let mut client = system.registry_client().await?;
    for index in 0..REQUESTS + WARM_UP {
        let mut request = filter.request.clone();
        request.account_id = system.account();
        let started = Instant::now();
        client.list_jobs(request).await?;
        let elapsed = started.elapsed();
        if index >= WARM_UP {
            registry.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    Ok((api, registry))
}
