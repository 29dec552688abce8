//! `jobsctl`: the operators' command line for bgjobs.

use std::time::Duration;

use clap::{Parser, Subcommand};

/// Inspect and operate bgjobs jobs.
#[derive(Parser)]
#[command(name = "jobsctl", version, about)]
struct Cli {
    /// The jobs-registry gRPC address.
    #[arg(
        long,
        env = "BGJOBS_REGISTRY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    registry: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Jobs as the registry records them.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The newest jobs of an account.
    List {
        /// The account (tenant) id.
        #[arg(long)]
        account: String,
        /// How many jobs to show (1-200).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One job with its message log.
    Show {
        /// The account (tenant) id.
        #[arg(long)]
        account: String,
        /// The job id.
        job_id: String,
    },
    /// Follow a job's message log until it is Completed or Error.
    Watch {
        /// The account (tenant) id.
        #[arg(long)]
        account: String,
        /// The job id.
        job_id: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut registry = jobsctl::jobs::connect(&cli.registry).await?;
    match cli.command {
        Command::Jobs(JobsCommand::List { account, limit }) => {
            jobsctl::jobs::list(&mut registry, &account, limit).await
        }
        Command::Jobs(JobsCommand::Show { account, job_id }) => {
            jobsctl::jobs::show(&mut registry, &account, &job_id).await
        }
        Command::Jobs(JobsCommand::Watch { account, job_id, timeout_secs }) => {
            let timeout = Duration::from_secs(timeout_secs);
            let job = jobsctl::jobs::watch(&mut registry, &account, &job_id, timeout).await?;
            println!("{}", jobsctl::render::job_details(&job));
            Ok(())
        }
    }
}
