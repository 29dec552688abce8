//! The command line: commands, and options that override the environment variables.

use bgjobs_config::Environment;
use bgjobs_domain::{JobId, JobType};
use clap::{Args, Parser, Subcommand};
use jobsctl::dlq::{ReplayOptions, Selection, parse_age};

/// Inspect and operate bgjobs: jobs, dead-lettered messages and queues.
#[derive(Parser)]
#[command(name = "jobsctl", version, about)]
pub struct Cli {
    /// The jobs-registry gRPC URL [default: BGJOBS_REGISTRY_URL, else https://127.0.0.1:50051].
    #[arg(long, global = true)]
    pub registry: Option<String>,
    /// The RabbitMQ URL [default: BGJOBS_AMQP_URL, else the local broker].
    #[arg(long, global = true)]
    pub amqp_url: Option<String>,
    /// Ingest's gRPC URL, through which retries go [default: BGJOBS_INGEST_GRPC_URL,
    /// else https://127.0.0.1:50052].
    #[arg(long, global = true)]
    pub ingest: Option<String>,
    /// The prefix of every queue and exchange name [default: BGJOBS_PREFIX, else empty].
    #[arg(long, global = true)]
    pub prefix: Option<String>,
    /// Print the effective connection settings, passwords redacted, and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Jobs as the registry records them.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Dead-lettered job messages: list, show, replay.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Depth and consumers of every job queue and dead-letter queue.
    Queues {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make up a certificate authority and a certificate for every service, for a
    /// local stack only: production certificates come from the cluster's issuer.
    DevCerts {
        /// The directory to write `ca.pem`, `<service>.pem` and `<service>.key` into.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
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
    /// Retry a job in Error: the registry requeues it as its next attempt (recording
    /// the operator and reason in its log) and ingest publishes it.
    Retry {
        /// The account (tenant) id.
        #[arg(long)]
        account: String,
        /// The job id.
        job_id: String,
        /// Why: recorded in the job's message log.
        #[arg(long)]
        reason: String,
        /// Who retries: recorded in the job's message log and as its Updated By.
        #[arg(long, env = "USER")]
        operator: String,
    },
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered messages: job, account, type, attempt, deaths, replays, age, cause.
    List {
        #[command(flatten)]
        filters: Filters,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one job's dead-lettered message(s): headers and the decoded
    /// job message, as JSON.
    Show {
        /// The job id.
        job_id: JobId,
        /// Look only in this job type's dead-letter queue.
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<JobType>,
    },
    /// Put dead-lettered messages back on their job queue (each is removed from the
    /// dead-letter queue only once its republish is confirmed).
    Replay(Replay),
}

/// Narrowing a list or replay down; every given filter must hold.
#[derive(Args)]
pub struct Filters {
    /// Only this job type: product-upload, warehouse-upload or delete-client.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<JobType>,
    /// Only jobs of this account.
    #[arg(long)]
    pub account: Option<String>,
    /// Only messages dead-lettered longer ago than this (90s, 15m, 2h, 3d).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Only messages whose cause contains this text (case-insensitive), e.g. delivery_limit.
    #[arg(long, value_name = "TEXT")]
    pub cause: Option<String>,
}

impl Filters {
    /// The selection of these filters and `job_ids`.
    pub fn selection(self, job_ids: Vec<JobId>) -> anyhow::Result<Selection> {
        let older_than = self
            .older_than
            .as_deref()
            .map(parse_age)
            .transpose()
            .map_err(|error| anyhow::anyhow!("--older-than: {error}"))?;
        Ok(Selection {
            job_ids,
            job_type: self.job_type,
            account: self.account,
            older_than,
            cause: self.cause,
        })
    }
}

#[derive(Args)]
pub struct Replay {
    /// Replay this job's dead-lettered message (repeat for several jobs).
    #[arg(long = "job", value_name = "JOB_ID")]
    pub job_ids: Vec<JobId>,
    #[command(flatten)]
    pub filters: Filters,
    /// Replay every dead-lettered message (required when no job or filter is given).
    #[arg(long, conflicts_with_all = ["job_ids", "job_type", "account", "older_than", "cause"])]
    pub all: bool,
    /// Why: recorded in each job's message log.
    #[arg(long)]
    pub reason: String,
    /// Who replays: recorded in each job's message log.
    #[arg(long, env = "USER")]
    pub operator: String,
    /// Only show what would be replayed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many messages per second.
    #[arg(long, value_name = "MSGS_PER_SEC", default_value_t = 10.0)]
    pub rate: f64,
}

impl Replay {
    /// The replay these arguments ask for, refused when it is ambiguous.
    pub fn options(self) -> anyhow::Result<ReplayOptions> {
        let selection = self.filters.selection(self.job_ids)?;
        if selection.is_everything() && !self.all {
            anyhow::bail!(
                "say which messages to replay: --job <id>, a filter (--type, --account, \
                 --older-than, --cause) or --all"
            );
        }
        if self.reason.trim().is_empty() || self.operator.trim().is_empty() {
            anyhow::bail!("--reason and --operator must not be empty; they go in each job's log");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            anyhow::bail!("--rate must be a positive number of messages per second");
        }
        Ok(ReplayOptions {
            selection,
            operator: self.operator,
            reason: self.reason,
            dry_run: self.dry_run,
            rate: Some(self.rate),
        })
    }
}

impl Cli {
    /// The environment with the options given in its place: an option is checked by
    /// the same rules as the variable it overrides.
    pub fn environment(&self) -> Environment<'_> {
        Environment::from_lookup(|name| {
            let option = match name {
                "BGJOBS_REGISTRY_URL" => &self.registry,
                "BGJOBS_AMQP_URL" => &self.amqp_url,
                "BGJOBS_INGEST_GRPC_URL" => &self.ingest,
                "BGJOBS_PREFIX" => &self.prefix,
                _ => &None,
            };
            option.clone().or_else(|| std::env::var(name).ok())
        })
    }
}
