//! P4: many small uploads at once, end to end: `clients` users each post small product
//! files through the gateway's API until `jobs` were accepted; the figure is jobs per
//! second from the first post until the registry records the last one Completed.
//!
//! Its baselines: the broker's own ceiling for the same number of messages (a raw lapin
//! loop publishing with confirms and consuming with acks, on the same RabbitMQ), and
//! the same jobs as Celery tasks with late acks (`bench/celery/small_uploads.py`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bgjobs_test_support::wait;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, Database, Statement};
use tokio::process::Command;
use tokio_stream::StreamExt;

use crate::system::BenchSystem;

/// The client whose products the small uploads create, apart from the one the large
/// imports and Delete Client measure.
const CLIENT: &str = "small-uploads";

/// How long all the small jobs together may take.
const DEADLINE: Duration = Duration::from_secs(900);

/// A product file of three new products, distinct for each job.
fn small_file(job: usize) -> String {
    let mut csv = String::from("sku,name,price\n");
    for row in 1..=3 {
        csv.push_str(&format!("SMALL-{job}-{row},Small product {row},{row}.50\n"));
    }
    csv
}

/// Posts `jobs` small uploads from `clients` concurrent users and waits until the
/// registry has recorded every one of them Completed; returns jobs per second.
pub async fn uploads(system: &BenchSystem, jobs: usize, clients: usize) -> anyhow::Result<f64> {
    let database = Database::connect(system.database_url()).await?;
    let client = Statement::from_sql_and_values(
        database.get_database_backend(),
        "INSERT INTO catalog.clients (account_id, client_id, name) VALUES ($1, $2, 'Small uploads') \
         ON CONFLICT DO NOTHING",
        [system.account().into(), CLIENT.into()],
    );
    database.execute(client).await?;
    let finished_before = finished(&database).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut posting = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (uploader, next) = (system.uploader(CLIENT), next.clone());
        posting.spawn(async move {
            loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= jobs {
                    return anyhow::Ok(());
                }
                uploader.submit(small_file(job)).await?;
            }
        });
    }
    while let Some(posted) = posting.join_next().await {
        posted??;
    }
    let expected = finished_before.0 + jobs as u64;
    wait::until("the small jobs to finish", DEADLINE, || async {
        let (completed, failed) = finished(&database).await?;
        anyhow::ensure!(
            failed == finished_before.1,
            "{} small jobs failed",
            failed - finished_before.1
        );
        Ok((completed >= expected).then_some(()))
    })
    .await?;
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Product uploads the registry has recorded Completed, and in Error.
async fn finished(database: &sea_orm::DatabaseConnection) -> anyhow::Result<(u64, u64)> {
    let sql = "SELECT count(*) FILTER (WHERE status = 'completed'), \
                      count(*) FILTER (WHERE status = 'error') \
               FROM jobs.jobs WHERE job_type = 'product-upload'";
    let row = database
        .query_one(Statement::from_string(database.get_database_backend(), sql))
        .await?
        .context("no count")?;
    let completed: i64 = row.try_get_by_index(0)?;
    let failed: i64 = row.try_get_by_index(1)?;
    Ok((u64::try_from(completed)?, u64::try_from(failed)?))
}

/// The broker's ceiling: `messages` published with confirms by `clients` concurrent
/// publishers to a queue of its own while one consumer (prefetch 100) acknowledges
/// them; returns messages per second until the last acknowledgement.
pub async fn raw_broker(amqp_url: &str, messages: usize, clients: usize) -> anyhow::Result<f64> {
    let queue = format!("bench-raw-{}", uuid::Uuid::new_v4());
    let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
    let setup = connection.create_channel().await?;
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    setup.queue_declare(queue.as_str().into(), durable, FieldTable::default()).await?;

    let consuming = connection.create_channel().await?;
    consuming.basic_qos(100, BasicQosOptions::default()).await?;
    let mut deliveries = consuming
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        for _ in 0..messages {
            let delivery = deliveries.next().await.context("the consumer ended")??;
            delivery.ack(BasicAckOptions::default()).await?;
        }
        anyhow::Ok(())
    });
    let next = Arc::new(AtomicUsize::new(0));
    let mut publishing = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let (queue, next) = (queue.clone(), next.clone());
        publishing.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < messages {
                let persistent = BasicProperties::default().with_delivery_mode(2);
                let body = small_file(0).into_bytes();
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        persistent,
                    )
                    .await?
                    .await?;
                anyhow::ensure!(confirm.is_ack(), "the broker refused a message");
            }
            anyhow::Ok(())
        });
    }
    while let Some(published) = publishing.join_next().await {
        published??;
    }
    tokio::time::timeout(DEADLINE, consumer).await???;
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    setup.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
    connection.close(200, "done".into()).await?;
    Ok(rate)
}

/// The Celery baseline's Python, with its packages (`bench/celery/requirements.txt`)
/// installed in a virtual environment of its own under `dir`.
pub struct Celery {
    python: PathBuf,
}

/// The baseline's script and its requirements, beside this file.
fn celery_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/celery")
}

impl Celery {
    /// Creates the virtual environment in `dir` if it is missing and installs the
    /// pinned packages into it (from PyPI; nothing when they are there already).
    pub async fn install(dir: &Path) -> anyhow::Result<Self> {
        let venv = dir.join("celery-venv");
        if !venv.join("bin/python").exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).await?;
        }
        let requirements = celery_dir().join("requirements.txt");
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(requirements);
        run(&mut pip).await?;
        Ok(Self { python: venv.join("bin/python") })
    }

    /// P4's Celery baseline on `system`'s broker, S3 bucket and database: `jobs` small
    /// uploads from `clients` threads; returns jobs per second.
    pub async fn small_uploads(
        &self,
        system: &BenchSystem,
        jobs: usize,
        clients: usize,
    ) -> anyhow::Result<f64> {
        let setting = |name: &str, default: &str| {
            let value = system.env_value(name);
            if !value.is_empty() {
                return value;
            }
            std::env::var(name).unwrap_or_else(|_| default.to_owned())
        };
        let mut script = Command::new(&self.python);
        script
            .arg(celery_dir().join("small_uploads.py"))
            .args(["--jobs", &jobs.to_string(), "--clients", &clients.to_string()])
            .env("BENCH_AMQP_URL", system.amqp_url())
            .env("BENCH_S3_ENDPOINT", setting("BGJOBS_S3_ENDPOINT", "http://127.0.0.1:8333"))
            .env("BENCH_S3_REGION", setting("BGJOBS_S3_REGION", "us-east-1"))
            .env("BENCH_S3_BUCKET", system.env_value("BGJOBS_S3_BUCKET"))
            .env("AWS_ACCESS_KEY_ID", setting("AWS_ACCESS_KEY_ID", "bgjobs"))
            .env(
                "AWS_SECRET_ACCESS_KEY",
                setting("AWS_SECRET_ACCESS_KEY", bgjobs_object_store::LOCAL_SECRET_ACCESS_KEY),
            )
            .env("BENCH_DATABASE_URL", system.database_url())
            .env("BENCH_CELERY_QUEUE", format!("bench-celery-{}", uuid::Uuid::new_v4()))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let output = run(&mut script).await?;
        let last = output.lines().last().context("the Celery baseline printed nothing")?;
        last.trim().parse().with_context(|| format!("the Celery baseline printed {last:?}"))
    }
}

/// Runs `command` to its end; its standard output, or why it failed.
async fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command.output().await.with_context(|| format!("running {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}
