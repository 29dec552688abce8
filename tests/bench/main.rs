//! `bgjobs-bench`: measures bgjobs beside its baselines in one run. Every figure is the
//! median of several runs with their min and max, and a ratio is computed run by run
//! (its baseline measured on the same fresh system, just before). `docs/performance.md`
//! has the figures, the machine and how to read them.
//!
//! It runs the release binaries beside it (`make bench` builds them) against the local
//! stack (`deploy/stack.sh up`), each run on a fresh database, bucket and queue prefix.

mod baseline;
mod data;
mod memory;
mod page;
mod report;
mod resources;
mod small;
mod system;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use report::{Series, hundredths, table, tenths, whole};
use resources::GroupCpu;
use system::{BenchSystem, Outcome, SERVICES};

#[derive(Debug, Parser)]
#[command(about = "Measures bgjobs beside its baselines in one run (docs/performance.md)")]
struct Args {
    /// Runs of each measurement, each on a fresh system.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Rows of the product files (P1 and P2).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    rows: u64,
    /// Jobs in the database for P5 (the page's list), a tenth of them in the measured
    /// account.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    page_jobs: u64,
    /// Small uploads (three rows each) per run for P4.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    small_jobs: u64,
    /// Users posting P4's small uploads at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// P3: sizes in MB of the files the product-upload consumer imports, as many at
    /// once as it runs jobs (comma-separated; the first is the baseline).
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1000],
          value_parser = clap::value_parser!(u64).range(1..))]
    memory_mb: Vec<u64>,
    /// Where the generated files go (removed at the end).
    #[arg(long, default_value = ".run/bench")]
    dir: PathBuf,
}

/// Processes of the local stack whose CPU time is shown beside the services': by the
/// name `/proc/<pid>/comm` gives them, and how the report names them.
const STACK: [(&str, &str); 4] = [
    ("postgres", "Postgres (all processes)"),
    ("weed", "SeaweedFS (S3)"),
    ("beam.smp", "RabbitMQ"),
    ("nats-server", "NATS"),
];

/// The measurements, in the order they run on each fresh system.
const MEASURED: usize = 3;

/// The phases whose CPU use the report shows: P1, P2, the deletion and P4.
const WITH_CPU: usize = MEASURED + 1;

/// One job's figures: rows (or jobs) per second, and the cores each process used
/// meanwhile.
struct Measured {
    per_second: f64,
    cores: Vec<f64>,
}

/// Everything measured, run by run; each array holds P1, P2 and the deletion.
#[derive(Default)]
struct Figures {
    bgjobs: [Series; MEASURED],
    baseline: [Series; MEASURED],
    ratio: [Series; MEASURED],
    /// Per process ([`SERVICES`] then [`STACK`]), the cores used during each job and
    /// during P4.
    cores: Vec<[Series; WITH_CPU]>,
    /// Per service, its peak resident set in MiB over the run.
    peak_mib: Vec<Series>,
    /// P4: small jobs per second, many users at once; the broker's raw ceiling for as
    /// many messages; their ratio.
    small_jobs: Series,
    raw_broker: Series,
    celery: Series,
    small_ratio: Series,
    /// P6: milliseconds from each small upload's acceptance to the page's API showing
    /// it started.
    start_ms: Series,
}

/// Small uploads per run for P6, one after the other on an otherwise idle system.
const SMALL_UPLOADS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let exe = std::env::current_exe()?;
    let binaries = exe.parent().context("the benchmark's directory")?;
    if !binaries.ends_with("release") {
        eprintln!("warning: {} is not a release build; its figures say little", exe.display());
    }
    std::fs::create_dir_all(&args.dir)?;
    let original = args.dir.join("products.csv");
    let revised = args.dir.join("products-revised.csv");
    eprintln!("generating {} rows in {} and {}", args.rows, original.display(), revised.display());
    data::write_products(&original, args.rows, data::Version::Original)?;
    data::write_products(&revised, args.rows, data::Version::Revised)?;
    let changed = (1..=args.rows).filter(|row| data::is_revised(*row)).count() as u64;
    // P6's file: the first product as P2 left it, so its uploads change nothing.
    let first = args.dir.join("first-product.csv");
    data::write_products(&first, 1, data::Version::Revised)?;
    let small = std::fs::read_to_string(&first)?;
    std::fs::remove_file(first)?;
    let rows = args.rows;
    eprintln!("installing the Celery baseline's packages in {}", args.dir.display());
    let celery = small::Celery::install(&args.dir).await?;

    let mut figures = Figures {
        cores: (0..SERVICES.len() + STACK.len()).map(|_| Default::default()).collect(),
        peak_mib: vec![Series::default(); SERVICES.len()],
        ..Figures::default()
    };
    for run in 1..=args.runs {
        let system = BenchSystem::start(binaries).await?;
        let url = system.database_url();
        let mut baselines = [Duration::ZERO; MEASURED];
        let mut measured = Vec::with_capacity(MEASURED);

        baselines[0] = baseline::copy_into_empty(&url, &original, rows).await?;
        let created = Outcome { created: rows, updated: 0, unchanged: 0, rejected: 0 };
        measured.push(measure(&system, rows, imported(&system, &original, created)).await?);

        baselines[1] = baseline::merge(&url, &revised, changed).await?;
        let updated =
            Outcome { created: 0, updated: changed, unchanged: rows - changed, rejected: 0 };
        measured.push(measure(&system, rows, imported(&system, &revised, updated)).await?);

        for _ in 0..SMALL_UPLOADS {
            let waited = system.time_to_start(small.clone()).await?;
            figures.start_ms.push(waited.as_secs_f64() * 1000.0);
        }

        baselines[2] = baseline::delete(&url, rows).await?;
        measured.push(measure(&system, rows, system.delete_client()).await?);

        let (jobs, clients) = (args.small_jobs as usize, args.clients as usize);
        let raw = small::raw_broker(&system.amqp_url(), jobs, clients).await?;
        let with_celery = celery.small_uploads(&system, jobs, clients).await?;
        let uploads = async {
            let per_second = small::uploads(&system, jobs, clients).await?;
            Ok(Duration::from_secs_f64(jobs as f64 / per_second))
        };
        let p4 = measure(&system, jobs as u64, uploads).await?;
        for (cores, series) in p4.cores.iter().zip(&mut figures.cores) {
            series[MEASURED].push(*cores);
        }
        let small_jobs = p4.per_second;
        eprintln!(
            "run {run}: P4 {small_jobs:.1} jobs/s vs Celery {with_celery:.1} jobs/s, raw broker {raw:.0} messages/s"
        );
        figures.small_jobs.push(small_jobs);
        figures.raw_broker.push(raw);
        figures.celery.push(with_celery);
        figures.small_ratio.push(small_jobs / with_celery);

        for ((_, pid), peak) in system.pids().zip(&mut figures.peak_mib) {
            let bytes = resources::peak_rss(pid).context("a service stopped")?;
            peak.push(bytes as f64 / (1024.0 * 1024.0));
        }
        system.stop().await?;
        let mut said = Vec::new();
        for (which, (measured, baseline)) in measured.iter().zip(baselines).enumerate() {
            let baseline_rows_per_second = rows as f64 / baseline.as_secs_f64();
            figures.bgjobs[which].push(measured.per_second);
            figures.baseline[which].push(baseline_rows_per_second);
            figures.ratio[which].push(measured.per_second / baseline_rows_per_second);
            for (cores, series) in measured.cores.iter().zip(&mut figures.cores) {
                series[which].push(*cores);
            }
            said.push(format!(
                "{} {} rows/s vs {} rows/s",
                LABELS[which],
                whole(measured.per_second),
                whole(baseline_rows_per_second)
            ));
        }
        eprintln!("run {run}: {}", said.join("; "));
    }
    let memory = memory::measure(binaries, &args.dir, &args.memory_mb).await?;
    let page = list_page(binaries, args.page_jobs).await?;
    print!("{}{memory}{page}", render(&args, &figures));
    std::fs::remove_file(original)?;
    std::fs::remove_file(revised)?;
    Ok(())
}

/// P5 on a fresh system whose database holds `jobs` jobs: each filter's latency
/// through the API (p95) and at the registry (p99), as a report table.
async fn list_page(binaries: &Path, jobs: u64) -> anyhow::Result<String> {
    let system = BenchSystem::start(binaries).await?;
    eprintln!("P5: adding {} jobs", whole(jobs as f64));
    let took = page::populate(&system, &system.account(), jobs).await?;
    eprintln!("P5: added in {:.0} s", took.as_secs_f64());
    let mut rows = Vec::new();
    for filter in page::filters() {
        let (api, registry) = page::measure(&system, &filter).await?;
        let (api_p95, registry_p99) = (api.percentile(95.0), registry.percentile(99.0));
        eprintln!("P5 {}: API p95 {api_p95:.1} ms, registry p99 {registry_p99:.1} ms", filter.name);
        rows.push(vec![
            filter.name.to_owned(),
            format!("{} ms", tenths(api.percentile(50.0))),
            format!("{} ms", tenths(api_p95)),
            format!("{} ms", tenths(registry.percentile(50.0))),
            format!("{} ms", tenths(registry_p99)),
        ]);
    }
    system.stop().await?;
    Ok(format!(
        "\nP5: the page's first page (50 jobs), {account} jobs in the account, {jobs} in all; \
         {requests} requests per filter. Targets: API p95 ≤ 25 ms, registry p99 ≤ 10 ms.\n\n{}",
        table(&["filter", "API p50", "API p95", "registry p50", "registry p99"], &rows),
        account = whole(jobs as f64 / 10.0),
        jobs = whole(jobs as f64),
        requests = page::REQUESTS,
    ))
}

/// How the report names the measurements.
const LABELS: [&str; MEASURED] = ["P1", "P2", "D1"];

/// Imports `file` and checks that `expected` became of its rows; returns how long
/// it took.
async fn imported(
    system: &BenchSystem,
    file: &Path,
    expected: Outcome,
) -> anyhow::Result<Duration> {
    let (outcome, elapsed) = system.import(file).await?;
    anyhow::ensure!(
        outcome == expected,
        "{}: expected {expected:?}, got {outcome:?}",
        file.display()
    );
    Ok(elapsed)
}

/// Runs `job` (of `count` rows or jobs), which gives how long it took, and measures
/// the cores each process used meanwhile.
async fn measure(
    system: &BenchSystem,
    count: u64,
    job: impl Future<Output = anyhow::Result<Duration>>,
) -> anyhow::Result<Measured> {
    let services: Vec<u32> = system.pids().map(|(_, pid)| pid).collect();
    let service_cpu = || services.iter().map(|pid| resources::cpu_time(*pid).unwrap_or_default());
    let before: Vec<Duration> = service_cpu().collect();
    let stack_before: Vec<GroupCpu> = STACK.iter().map(|(name, _)| GroupCpu::read(name)).collect();
    let seconds = job.await?.as_secs_f64();
    let mut cores: Vec<f64> = service_cpu()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before).as_secs_f64() / seconds)
        .collect();
    for ((name, _), before) in STACK.iter().zip(stack_before) {
        cores.push(before.used_until(&GroupCpu::read(name)).as_secs_f64() / seconds);
    }
    Ok(Measured { per_second: count as f64 / seconds, cores })
}

/// The report: the figures beside their baselines and targets, then what each process
/// used.
fn render(args: &Args, figures: &Figures) -> String {
    let rows = whole(args.rows as f64);
    let what = [
        format!("{rows}-row product upload (every column), HTTP upload → Completed"),
        format!("re-upload of the same {rows} SKUs, 30 % of rows changed"),
        format!("Delete Client of those {rows} products, request → Completed"),
    ];
    let baselines = [
        "`\\copy` into an empty table shaped like `catalog.products`",
        "`\\copy` into an unlogged staging table + one `INSERT … ON CONFLICT DO UPDATE`",
        "one `DELETE` of the same rows",
    ];
    let targets = ["≥ 0.5", "≥ 0.8", "—"];
    let mut jobs: Vec<Vec<String>> = (0..MEASURED)
        .map(|which| {
            vec![
                LABELS[which].to_owned(),
                what[which].clone(),
                figures.bgjobs[which].summary(whole),
                format!("{}: {}", baselines[which], figures.baseline[which].summary(whole)),
                figures.ratio[which].summary(hundredths),
                targets[which].to_owned(),
            ]
        })
        .collect();
    jobs.push(vec![
        "P4".to_owned(),
        format!(
            "{} small uploads (3 rows) from {} users at once, first post → last Completed in the registry, jobs/s",
            args.small_jobs, args.clients
        ),
        figures.small_jobs.summary(tenths),
        format!(
            "Celery tasks with late acks, same S3 read and Postgres insert: {} jobs/s; \
             raw lapin loop, as many messages with confirms and acks: {} messages/s",
            figures.celery.summary(tenths),
            figures.raw_broker.summary(whole)
        ),
        format!("{} (of Celery's)", figures.small_ratio.summary(hundredths)),
        "≥ 1,000 jobs/s and ≥ 5× Celery".to_owned(),
    ]);
    jobs.push(vec![
        "P6".to_owned(),
        format!("idle system: upload accepted → In Progress on the page's API, {SMALL_UPLOADS} uploads a run"),
        format!("p50 {} ms", figures.start_ms.summary(tenths)),
        "—".to_owned(),
        "—".to_owned(),
        "p50 ≤ 100 ms".to_owned(),
    ]);
    let names = SERVICES.iter().copied().chain(STACK.iter().map(|(_, label)| *label));
    let usage: Vec<Vec<String>> = names
        .enumerate()
        .map(|(index, name)| {
            let peak =
                figures.peak_mib.get(index).map_or("—".to_owned(), |peak| peak.summary(tenths));
            let mut row = vec![name.to_owned()];
            row.extend(figures.cores[index].iter().map(|series| series.summary(hundredths)));
            row.push(peak);
            row
        })
        .collect();
    format!(
        "\nMedian (min–max) of {runs} runs, each on a fresh system; rows per second.\n\n{}\n\
         CPU in cores (CPU seconds / wall seconds of the job) and peak resident memory.\n\n{}",
        table(&["#", "what", "bgjobs", "baseline, same run", "ratio", "target"], &jobs),
        table(
            &[
                "process",
                "cores during P1",
                "cores during P2",
                "cores during D1",
                "cores during P4",
                "peak RSS (MiB)"
            ],
            &usage
        ),
        runs = args.runs,
    )
}
