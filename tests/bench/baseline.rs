//! The baselines: what Postgres itself does with the same file, through `psql`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::data::COLUMNS;

/// Runs `script` with `psql` on `database_url`, stopping at the first error; returns
/// what it printed and how long it took.
pub async fn psql(database_url: &str, script: &str) -> anyhow::Result<(String, Duration)> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new("psql")
        .args([database_url, "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting psql (Debian package postgresql-client)")?;
    let mut stdin = child.stdin.take().context("psql's standard input")?;
    stdin.write_all(script.as_bytes()).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "psql failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((String::from_utf8(output.stdout)?, elapsed))
}

/// The number psql printed after `tag` (`COPY 1000` gives 1000 for "COPY").
fn count_after(output: &str, tag: &str) -> anyhow::Result<u64> {
    let line = output.lines().rev().find(|line| line.starts_with(tag));
    let count = line.and_then(|line| line.rsplit(' ').next()?.parse().ok());
    count.with_context(|| format!("psql printed no {tag} count: {output}"))
}

/// `\copy` of `file` into `bench.products`, created empty first with the shape,
/// defaults and primary key of `catalog.products`; returns how long the copy took
/// (not the table's creation) after checking it copied `rows` rows.
pub async fn copy_into_empty(
    database_url: &str,
    file: &Path,
    rows: u64,
) -> anyhow::Result<Duration> {
    let create = "CREATE SCHEMA IF NOT EXISTS bench;
        DROP TABLE IF EXISTS bench.products;
        CREATE TABLE bench.products (LIKE catalog.products INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
        ALTER TABLE bench.products ALTER account_id SET DEFAULT 'bench', ALTER client_id SET DEFAULT 'acme';";
    psql(database_url, create).await?;
    let copy = format!(
        "\\copy bench.products ({COLUMNS}) FROM '{}' WITH (FORMAT csv, HEADER true)\n",
        file.display()
    );
    let (output, elapsed) = psql(database_url, &copy).await?;
    anyhow::ensure!(count_after(&output, "COPY")? == rows, "the copy did not copy {rows} rows");
    Ok(elapsed)
}

/// `\copy` of `file` into an unlogged staging table and one
/// `INSERT … ON CONFLICT DO UPDATE` into `bench.products` that changes only rows whose
/// values differ (as an upload leaves unchanged rows alone); checks that `changed`
/// rows changed and returns how long it all took.
pub async fn merge(database_url: &str, file: &Path, changed: u64) -> anyhow::Result<Duration> {
    let data = COLUMNS.split(',').filter(|column| *column != "sku");
    let set: Vec<String> =
        data.clone().map(|column| format!("{column} = excluded.{column}")).collect();
    let old: Vec<String> = data.clone().map(|column| format!("t.{column}")).collect();
    let new: Vec<String> = data.map(|column| format!("excluded.{column}")).collect();
    let script = format!(
        "CREATE UNLOGGED TABLE bench.staging (LIKE bench.products INCLUDING DEFAULTS);
\\copy bench.staging ({COLUMNS}) FROM '{file}' WITH (FORMAT csv, HEADER true)
INSERT INTO bench.products AS t (account_id, client_id, {COLUMNS})
    SELECT account_id, client_id, {COLUMNS} FROM bench.staging
    ON CONFLICT (account_id, client_id, sku) DO UPDATE SET {set}, updated_at = now()
    WHERE ({old}) IS DISTINCT FROM ({new});
DROP TABLE bench.staging;
",
        file = file.display(),
        set = set.join(", "),
        old = old.join(", "),
        new = new.join(", "),
    );
    let (output, elapsed) = psql(database_url, &script).await?;
    let merged = count_after(&output, "INSERT")?;
    anyhow::ensure!(merged == changed, "the merge changed {merged} rows, not {changed}");
    Ok(elapsed)
}

/// One `DELETE` of every row of `bench.products`; checks that `rows` rows went and
/// returns how long it took.
pub async fn delete(database_url: &str, rows: u64) -> anyhow::Result<Duration> {
    let (output, elapsed) =
        psql(database_url, "DELETE FROM bench.products WHERE client_id = 'acme';").await?;
    let deleted = count_after(&output, "DELETE")?;
    anyhow::ensure!(deleted == rows, "the delete deleted {deleted} rows, not {rows}");
    Ok(elapsed)
}
