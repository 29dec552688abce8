//! P3: the product-upload consumer's peak memory while it runs its configured number
//! of jobs at once, each a file of the same size for a client of its own, one size
//! after the other on fresh systems (a fresh consumer process, so its peak resident
//! set belongs to that size alone).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::data;
use crate::report::{hundredths, table, tenths, whole};
use crate::resources;
use crate::system::{BenchSystem, Outcome};

/// Rows written to learn how long a row of the benchmark's files is.
const SAMPLE_ROWS: u64 = 10_000;

/// One size's figures.
struct Measured {
    size_mb: u64,
    /// Uploads at once.
    jobs: usize,
    rows: u64,
    seconds: f64,
    peak_mib: f64,
}

/// Measures every size in `sizes_mb` (megabytes, 10⁶ bytes, per file) in turn; returns
/// the report's table.
pub async fn measure(binaries: &Path, dir: &Path, sizes_mb: &[u64]) -> anyhow::Result<String> {
    let row_bytes = row_bytes(dir)?;
    let mut measured = Vec::new();
    for &size_mb in sizes_mb {
        let rows = (size_mb * 1_000_000).div_ceil(row_bytes).max(1);
        let file = dir.join(format!("memory-{size_mb}mb.csv"));
        data::write_products(&file, rows, data::Version::Original)?;
        let result = measure_size(binaries, &file, size_mb, rows).await;
        std::fs::remove_file(&file)?;
        measured.push(result?);
    }
    Ok(render(&measured))
}

/// Bytes per row of the benchmark's product files, from a sample.
fn row_bytes(dir: &Path) -> anyhow::Result<u64> {
    let sample = dir.join("memory-sample.csv");
    data::write_products(&sample, SAMPLE_ROWS, data::Version::Original)?;
    let bytes = std::fs::metadata(&sample)?.len();
    std::fs::remove_file(sample)?;
    Ok(bytes.div_ceil(SAMPLE_ROWS))
}

/// Imports `file` once per job the consumer runs at once, all at the same time, each
/// for a client of its own, and reads the consumer's peak resident set once all are
/// Completed.
async fn measure_size(
    binaries: &Path,
    file: &Path,
    size_mb: u64,
    rows: u64,
) -> anyhow::Result<Measured> {
    let system = BenchSystem::start(binaries).await?;
    let jobs = jobs_at_once(&system)?;
    let clients: Vec<String> = (1..=jobs).map(|job| format!("memory-{job}")).collect();
    for client in &clients {
        system.add_client(client).await?;
    }
    eprintln!("P3: {jobs} uploads of {size_mb} MB ({rows} rows) at once");
    let started = Instant::now();
    let imports = clients.iter().map(|client| system.import_for(client, file));
    let outcomes = futures::future::try_join_all(imports).await?;
    let seconds = started.elapsed().as_secs_f64();
    let created = Outcome { created: rows, updated: 0, unchanged: 0, rejected: 0 };
    for (outcome, _) in outcomes {
        anyhow::ensure!(outcome == created, "expected {created:?}, got {outcome:?}");
    }
    let pid = system.pid("product-upload")?;
    let peak = resources::peak_rss(pid).context("the consumer stopped")?;
    system.stop().await?;
    let peak_mib = peak as f64 / (1024.0 * 1024.0);
    eprintln!("P3: {size_mb} MB × {jobs}: peak {peak_mib:.1} MiB, {seconds:.0} s");
    Ok(Measured { size_mb, jobs, rows: rows * jobs as u64, seconds, peak_mib })
}

/// How many jobs the consumer runs at once: its `BGJOBS_CONCURRENCY`, or the upload
/// consumers' default.
fn jobs_at_once(system: &BenchSystem) -> anyhow::Result<usize> {
    let set = system.env_value("BGJOBS_CONCURRENCY");
    if set.is_empty() {
        Ok(bgjobs_upload::settings::DEFAULTS.concurrency)
    } else {
        set.parse().with_context(|| format!("BGJOBS_CONCURRENCY={set}"))
    }
}

fn render(measured: &[Measured]) -> String {
    let Some(first) = measured.first() else { return String::new() };
    let rows: Vec<Vec<String>> = measured
        .iter()
        .map(|size| {
            vec![
                format!("{} MB", whole(size.size_mb as f64)),
                whole(size.rows as f64),
                format!("{:.0} s", size.seconds),
                whole(size.rows as f64 / size.seconds),
                tenths(size.peak_mib),
                hundredths(size.peak_mib / first.peak_mib),
            ]
        })
        .collect();
    format!(
        "\nP3: the product-upload consumer's peak RSS running {jobs} uploads at once (its \
         configured number), each a file of the size shown for a client of its own; one run. \
         Target: the largest ≤ 1.2× the first, under 100 MiB.\n\n{}",
        table(
            &["each file", "rows in all", "all Completed", "rows/s", "peak RSS (MiB)", "× first"],
            &rows
        ),
        jobs = first.jobs,
    )
}
