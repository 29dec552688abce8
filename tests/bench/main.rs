//! `bgjobs-bench`: measures bgjobs beside its baselines in one run. Every figure is the
//! median of several runs with their min and max, and a ratio is computed run by run
//! (its baseline measured on the same fresh system, just before). `docs/performance.md`
//! has the figures, the machine and how to read them.
//!
//! It runs the release binaries beside it (`make bench` builds them) against the local
//! stack (`deploy/stack.sh up`), each run on a fresh database, bucket and queue prefix.

mod baseline;
mod data;
mod report;
mod resources;
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
    /// Where the generated files go (removed at the end).
    #[arg(long, default_value = ".run/bench")]
    dir: PathBuf,
}

/// Processes of the local stack whose CPU time is shown beside the services': by the
/// name `/proc/<pid>/comm` gives them, and how the report names them.
const STACK: [(&str, &str); 2] =
    [("postgres", "Postgres (all processes)"), ("weed", "SeaweedFS (S3)")];

/// One import's figures: rows per second, and the cores each process used meanwhile.
struct Measured {
    rows_per_second: f64,
    cores: Vec<f64>,
}

/// Everything measured, run by run.
#[derive(Default)]
struct Figures {
    bgjobs: [Series; 2],
    baseline: [Series; 2],
    ratio: [Series; 2],
    /// Per process ([`SERVICES`] then [`STACK`]), the cores used during each import.
    cores: Vec<[Series; 2]>,
    /// Per service, its peak resident set in MiB over the run.
    peak_mib: Vec<Series>,
}

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

    let mut figures = Figures {
        cores: (0..SERVICES.len() + STACK.len()).map(|_| Default::default()).collect(),
        peak_mib: vec![Series::default(); SERVICES.len()],
        ..Figures::default()
    };
    for run in 1..=args.runs {
        let system = BenchSystem::start(binaries).await?;
        let url = system.database_url();
        let rows = args.rows as f64;

        let copy = baseline::copy_into_empty(&url, &original, args.rows).await?;
        let expected = Outcome { created: args.rows, updated: 0, unchanged: 0, rejected: 0 };
        let first = import(&system, &original, expected).await?;
        record(&mut figures, 0, &first, rows / copy.as_secs_f64());

        let merge = baseline::merge(&url, &revised, changed).await?;
        let expected =
            Outcome { created: 0, updated: changed, unchanged: args.rows - changed, rejected: 0 };
        let second = import(&system, &revised, expected).await?;
        record(&mut figures, 1, &second, rows / merge.as_secs_f64());

        for ((_, pid), peak) in system.pids().zip(&mut figures.peak_mib) {
            let bytes = resources::peak_rss(pid).context("a service stopped")?;
            peak.push(bytes as f64 / (1024.0 * 1024.0));
        }
        system.stop().await?;
        eprintln!(
            "run {run}: P1 {} rows/s vs \\copy {} rows/s; P2 {} rows/s vs merge {} rows/s",
            whole(first.rows_per_second),
            whole(rows / copy.as_secs_f64()),
            whole(second.rows_per_second),
            whole(rows / merge.as_secs_f64()),
        );
    }
    print!("{}", render(&args, &figures));
    std::fs::remove_file(original)?;
    std::fs::remove_file(revised)?;
    Ok(())
}

/// Imports `file`, checks that `expected` became of its rows, and measures it.
async fn import(system: &BenchSystem, file: &Path, expected: Outcome) -> anyhow::Result<Measured> {
    let services: Vec<u32> = system.pids().map(|(_, pid)| pid).collect();
    let service_cpu = || services.iter().map(|pid| resources::cpu_time(*pid).unwrap_or_default());
    let before: Vec<Duration> = service_cpu().collect();
    let stack_before: Vec<GroupCpu> = STACK.iter().map(|(name, _)| GroupCpu::read(name)).collect();
    let (outcome, elapsed) = system.import(file).await?;
    anyhow::ensure!(outcome == expected, "the import of {} gave {outcome:?}", file.display());
    let seconds = elapsed.as_secs_f64();
    let mut cores: Vec<f64> = service_cpu()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before).as_secs_f64() / seconds)
        .collect();
    for ((name, _), before) in STACK.iter().zip(stack_before) {
        cores.push(before.used_until(&GroupCpu::read(name)).as_secs_f64() / seconds);
    }
    let rows = (outcome.created + outcome.updated + outcome.unchanged) as f64;
    Ok(Measured { rows_per_second: rows / seconds, cores })
}

/// Adds import `which` (0 for P1, 1 for P2) of one run to `figures`.
fn record(figures: &mut Figures, which: usize, measured: &Measured, baseline_rows_per_second: f64) {
    figures.bgjobs[which].push(measured.rows_per_second);
    figures.baseline[which].push(baseline_rows_per_second);
    figures.ratio[which].push(measured.rows_per_second / baseline_rows_per_second);
    for (cores, series) in measured.cores.iter().zip(&mut figures.cores) {
        series[which].push(*cores);
    }
}

/// The report: the figures beside their baselines and targets, then what each process
/// used.
fn render(args: &Args, figures: &Figures) -> String {
    let rows = whole(args.rows as f64);
    let what = [
        format!("{rows}-row product upload (every column), HTTP upload → Completed"),
        format!("re-upload of the same {rows} SKUs, 30 % of rows changed"),
    ];
    let baselines = [
        "`\\copy` into an empty table shaped like `catalog.products`",
        "`\\copy` into an unlogged staging table + one `INSERT … ON CONFLICT DO UPDATE`",
    ];
    let targets = ["≥ 0.5", "≥ 0.8"];
    let imports: Vec<Vec<String>> = (0..2)
        .map(|which| {
            vec![
                format!("P{}", which + 1),
                what[which].clone(),
                figures.bgjobs[which].summary(whole),
                format!("{}: {}", baselines[which], figures.baseline[which].summary(whole)),
                figures.ratio[which].summary(hundredths),
                targets[which].to_owned(),
            ]
        })
        .collect();
    let names = SERVICES.iter().copied().chain(STACK.iter().map(|(_, label)| *label));
    let usage: Vec<Vec<String>> = names
        .enumerate()
        .map(|(index, name)| {
            let peak =
                figures.peak_mib.get(index).map_or("—".to_owned(), |peak| peak.summary(tenths));
            let cores = &figures.cores[index];
            vec![name.to_owned(), cores[0].summary(hundredths), cores[1].summary(hundredths), peak]
        })
        .collect();
    format!(
        "\nMedian (min–max) of {runs} runs, each on a fresh system; rows per second.\n\n{}\n\
         CPU in cores (CPU seconds / wall seconds of the import) and peak resident memory.\n\n{}",
        table(&["#", "what", "bgjobs", "baseline, same run", "ratio", "target"], &imports),
        table(&["process", "cores during P1", "cores during P2", "peak RSS (MiB)"], &usage),
        runs = args.runs,
    )
}
