//! Hostile files: a corpus of files that are not what an upload expects — binaries and
//! archives renamed `.csv`, other encodings, broken quoting, huge rows, formula cells,
//! invisible characters, odd numbers, odd line ends — each uploaded through ingest with
//! the exact end it must reach ([`cases::CASES`]): refused by ingest with its status and
//! message, a job in Error with its message, or a completed job with exactly these rows
//! rejected for these reasons. Every job must end (Completed or Error) before the
//! deadline, none may be dead-lettered, and no message may be a vague one.
//!
//! The small files are in `tests/hostile/`; the big ones are generated here.

mod cases;

use std::time::Duration;

use bgjobs_domain::{JobStatus, JobType};
use bgjobs_e2e::{Environment, Options, TestSystem};
use bgjobs_proto::convert::job_status_from_proto;
use bgjobs_proto::v1::Job;
use bgjobs_test_support::wait;

use cases::{Body, Expected, Upload};

/// How long every job of the corpus together may take to end.
const DEADLINE: Duration = Duration::from_secs(240);

/// The upload limit of the system under test: small, so that a body over it is cheap
/// to send, yet well above the consumers' row limit (1 MiB).
const MAX_UPLOAD: &str = "16MiB";

/// What became of one file.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Refused { status: u16, message: String },
    Failed(String),
    Completed { message: String, rejected: Vec<(u64, String, String)> },
}

impl Expected {
    fn as_ended(&self) -> Ended {
        let owned = |rows: &[(u64, &str, &str)]| {
            rows.iter()
                .map(|(row, key, reason)| (*row, (*key).to_owned(), (*reason).to_owned()))
                .collect()
        };
        match self {
            Expected::Refused { status, message } => {
                Ended::Refused { status: *status, message: (*message).to_owned() }
            }
            Expected::Failed(message) => Ended::Failed((*message).to_owned()),
            Expected::Completed { message, rejected } => {
                Ended::Completed { message: (*message).to_owned(), rejected: owned(rejected) }
            }
        }
    }
}

#[tokio::test]
async fn every_hostile_file_ends_exactly_as_documented() -> anyhow::Result<()> {
    let environment = Environment {
        settings: vec![("BGJOBS_MAX_UPLOAD_BYTES", MAX_UPLOAD.to_owned())],
        ..Environment::default()
    };
    let system = TestSystem::start_in(Options::default(), environment).await?;
    system.store.catalog().ensure_warehouse(&system.account, "WH1", "Main").await?;
    let cases = cases::all();
    assert!(cases.len() >= 40, "the corpus has {} files", cases.len());

    let mut submitted = Vec::new();
    for case in &cases {
        let body = match &case.body {
            Body::File(name) => {
                std::fs::read(format!("{}/hostile/{name}", env!("CARGO_MANIFEST_DIR")))?
            }
            Body::Generated(generate) => generate(),
        };
        let response = match case.upload {
            Upload::Products => system.upload_products_with(body, case.query).await?,
            Upload::Locations => system.upload_locations_with(body, case.query).await?,
        };
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await?;
        let outcome = if status == 202 {
            let job_id = answer["job_id"].as_str().unwrap_or_default().to_owned();
            Err(job_id)
        } else {
            let message = answer["error"]["message"].as_str().unwrap_or_default().to_owned();
            Ok(Ended::Refused { status, message })
        };
        submitted.push((case, outcome));
    }

    let job_ids: Vec<&str> = submitted
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().err().map(String::as_str))
        .collect();
    let jobs = every_job_ended(&system, &job_ids).await?;

    let mut wrong = Vec::new();
    for (case, outcome) in submitted {
        let ended = match outcome {
            Ok(refused) => refused,
            Err(job_id) => ended(&system, &jobs[&job_id]).await?,
        };
        if ended != case.expected.as_ended() {
            wrong.push(format!("{}: {ended:?}", case.name));
        }
    }
    assert!(wrong.is_empty(), "{} files ended otherwise:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(system.dead_lettered(JobType::ProductUpload).await?, 0);
    assert_eq!(system.dead_lettered(JobType::WarehouseUpload).await?, 0);
    system.stop().await
}

/// Waits until every job is Completed or Error; none may stay New or In Progress.
async fn every_job_ended(
    system: &TestSystem,
    job_ids: &[&str],
) -> anyhow::Result<std::collections::HashMap<String, Job>> {
    wait::until("every job of the corpus to end", DEADLINE, || async {
        let mut ended = std::collections::HashMap::new();
        for job_id in job_ids {
            let job = system.job(job_id).await?;
            let status = job_status_from_proto(job.status);
            if !status.is_some_and(JobStatus::is_terminal) {
                return Ok(None);
            }
            ended.insert((*job_id).to_owned(), job);
        }
        Ok(Some(ended))
    })
    .await
}

/// What a job's end says: its message, and for a completed job its rejected rows (row,
/// key and reason as the results file has them).
async fn ended(system: &TestSystem, job: &Job) -> anyhow::Result<Ended> {
    if job_status_from_proto(job.status) == Some(JobStatus::Error) {
        return Ok(Ended::Failed(job.message.clone()));
    }
    let records = system.results_records(job).await?;
    let rejected = records
        .iter()
        .skip(1)
        .filter(|record| record[2] == "rejected")
        .map(|record| (record[0].parse().unwrap_or_default(), record[1].clone(), record[3].clone()))
        .collect();
    Ok(Ended::Completed { message: job.message.clone(), rejected })
}
