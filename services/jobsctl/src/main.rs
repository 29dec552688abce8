//! `jobsctl`: the operators' command line for bgjobs.

mod cli;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use bgjobs_config::Load;
use bgjobs_identity::dev_pki::DevPki;
use bgjobs_identity::{Credentials, Tls};
use bgjobs_messaging::{Names, amqp};
use bgjobs_proto::v1::jobs_registry_client::JobsRegistryClient;
use clap::Parser;
use cli::{Cli, Command, DlqCommand, JobsCommand};
use indicatif::{ProgressBar, ProgressStyle};
use jobsctl::settings::Settings;
use jobsctl::{dlq, jobs, queues};
use tonic::transport::Channel;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings =
        Settings::load(&cli.environment()).map_err(|error| anyhow::anyhow!("{error}"))?;
    if cli.print_config {
        print!("{}", bgjobs_config::effective_values(&settings));
        return Ok(());
    }
    // One TLS provider for every client (lapin and tonic both use rustls).
    bgjobs_service::install_crypto_provider();
    let names = Names::new(settings.naming.prefix.to_string());
    let registry = Endpoint { url: settings.registry.url.as_str(), tls: &settings.tls };
    let amqp_url = settings.broker.url.expose();
    match cli.command {
        Command::Jobs(command) => run_jobs(registry, settings.ingest.url.as_str(), command).await,
        Command::Dlq(command) => run_dlq(amqp_url, registry, &names, command).await,
        Command::DevCerts { out } => {
            let pki = DevPki::generate().context("generating a certificate authority")?;
            pki.write_all(&out).with_context(|| format!("writing into {}", out.display()))?;
            println!("certificates of every bgjobs service written to {}", out.display());
            Ok(())
        }
        Command::Queues { json } => {
            let connection = amqp::connect(amqp_url).await?;
            let rows = queues::rows(&connection, &names).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{}", queues::table(&rows));
            }
            Ok(())
        }
    }
}

/// Where a gRPC API is and the certificate jobsctl calls it with.
#[derive(Clone, Copy)]
struct Endpoint<'a> {
    url: &'a str,
    tls: &'a Tls,
}

impl Endpoint<'_> {
    fn credentials(&self) -> anyhow::Result<Credentials> {
        Credentials::load(self.tls).context("loading jobsctl's certificate (BGJOBS_TLS_*)")
    }

    async fn registry(&self) -> anyhow::Result<JobsRegistryClient<Channel>> {
        jobs::connect(self.url, &self.credentials()?).await
    }
}

async fn run_jobs(
    registry: Endpoint<'_>,
    ingest_url: &str,
    command: JobsCommand,
) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { account, limit } => {
            jobs::list(&mut registry.registry().await?, &account, limit).await
        }
        JobsCommand::Show { account, job_id } => {
            jobs::show(&mut registry.registry().await?, &account, &job_id).await
        }
        JobsCommand::Watch { account, job_id, timeout_secs } => {
            let mut registry = registry.registry().await?;
            let timeout = Duration::from_secs(timeout_secs);
            let job = jobs::watch(&mut registry, &account, &job_id, timeout).await?;
            println!("{}", jobsctl::render::job_details(&job));
            Ok(())
        }
        JobsCommand::Retry { account, job_id, reason, operator } => {
            let mut ingest = jobs::connect_ingest(ingest_url, &registry.credentials()?).await?;
            let job =
                jobs::retry(&mut ingest, jobs::Retry { account, job_id, operator, reason }).await?;
            println!("{}", jobsctl::render::job_details(&job));
            Ok(())
        }
    }
}

async fn run_dlq(
    amqp_url: &str,
    registry: Endpoint<'_>,
    names: &Names,
    command: DlqCommand,
) -> anyhow::Result<()> {
    let connection = amqp::connect(amqp_url).await?;
    let now = chrono::Utc::now();
    match command {
        DlqCommand::List { filters, json } => {
            let selection = filters.selection(Vec::new())?;
            let mut letters = Vec::new();
            dlq::scan(&connection, names, &selection, |letter| {
                letters.push(dlq::summary(letter, now));
            })
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead-lettered messages");
            } else {
                println!("{}", dlq::table(&letters));
            }
            Ok(())
        }
        DlqCommand::Show { job_id, job_type } => {
            let selection =
                dlq::Selection { job_ids: vec![job_id], job_type, ..Default::default() };
            let mut letters = Vec::new();
            dlq::scan(&connection, names, &selection, |letter| {
                letters.push(dlq::details(letter, now));
            })
            .await?;
            if letters.is_empty() {
                anyhow::bail!("no dead-lettered message of job {job_id}");
            }
            println!("{}", serde_json::to_string_pretty(&letters)?);
            Ok(())
        }
        DlqCommand::Replay(replay) => {
            let options = replay.options()?;
            let mut registry = registry.registry().await?;
            let progress = progress_bar(&connection, names, &options.selection).await?;
            let report = dlq::replay(&connection, names, &mut registry, &options, &progress).await;
            progress.finish_and_clear();
            let report = report?;
            println!("{}", report.summary());
            Ok(())
        }
    }
}

/// A bar over every message of the dead-letter queues the selection reads, drawn on
/// stderr when it is a terminal (hidden otherwise, so scripts get clean output).
async fn progress_bar(
    connection: &lapin::Connection,
    names: &Names,
    selection: &dlq::Selection,
) -> anyhow::Result<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let mut total = 0u64;
    for job_type in selection.job_types() {
        let stats = amqp::queue_stats(connection, &names.dead_letter_queue(job_type)).await?;
        total += stats.map_or(0, |stats| u64::from(stats.messages));
    }
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} messages read  {elapsed}")
        .context("progress bar template")?;
    Ok(ProgressBar::new(total).with_style(style))
}
