//! The upload consumers' configuration: what every consumer reads, and how much one
//! row of an uploaded file may hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bgjobs_config::values::{Count, Size};
use bgjobs_config::{Environment, Error, Load, Section, Variable};
use bgjobs_consumer::Defaults;

use crate::reader::{Limits, MAX_HEADER_BYTES, in_words};

bgjobs_config::section! {
    /// What only the upload consumers read: the bounds on one row of a file.
    pub struct Csv {
        /// Longest row of an upload file (after decoding to UTF-8), quotes and separators
        /// included. The reader never holds more of one row than this: a longer row is
        /// rejected, or, when it is still inside a quoted field at this size, the job
        /// fails naming it. At least 64 KiB (the longest header line), at most 256 MiB.
        "BGJOBS_CSV_MAX_ROW_BYTES" => max_row_bytes: Size = "1MiB";
        /// Longest field of an upload file; a row with a longer one is rejected. At most
        /// BGJOBS_CSV_MAX_ROW_BYTES.
        "BGJOBS_CSV_MAX_FIELD_BYTES" => max_field_bytes: Size = "64KiB";
        /// Most fields in one row of an upload file, the header's included; a row with
        /// more is rejected, a header with more fails the job.
        "BGJOBS_CSV_MAX_COLUMNS" => max_columns: Count<1, 100000> = "1000";
    }
}

bgjobs_config::section! {
    /// How an upload consumer writes the batches of its jobs.
    pub struct Writes {
        /// Batches the consumer writes at once over all the jobs it runs, each in a
        /// transaction of its own on one of the process's 10 database connections. A job
        /// always writes one batch; it writes its next batch while the one before it
        /// commits only when fewer than this many are being written in all (at most three
        /// of one job). Batches of one job still commit in input order, and each row's
        /// key is claimed as if they ran one after another, so results and checkpoints
        /// are the same. 1 writes each job's batches one after another.
        "BGJOBS_BATCHES_IN_FLIGHT" => batches_in_flight: Count<1, 64> = "3";
    }
}

/// The batches a consumer may write at once over all its jobs
/// (`BGJOBS_BATCHES_IN_FLIGHT`), shared by the clones of its settings. Every batch
/// being written counts; a job's only batch goes whatever the count, a second one only
/// while the count is below the budget.
#[derive(Debug, Clone)]
pub struct BatchBudget {
    most: usize,
    writing: Arc<AtomicUsize>,
}

/// A batch counted by a [`BatchBudget`], uncounted when dropped.
#[derive(Debug)]
pub struct BatchPermit {
    writing: Arc<AtomicUsize>,
}

impl BatchBudget {
    /// A budget of `most` batches at once.
    pub fn new(most: usize) -> Self {
        Self { most, writing: Arc::new(AtomicUsize::new(0)) }
    }

    /// Counts a batch that goes whatever the count: a job's only one.
    pub fn take(&self) -> BatchPermit {
        self.writing.fetch_add(1, Ordering::AcqRel);
        BatchPermit { writing: Arc::clone(&self.writing) }
    }

    /// Counts a batch if fewer than the budget are being written.
    pub fn try_take(&self) -> Option<BatchPermit> {
        let below = |writing: usize| (writing < self.most).then_some(writing + 1);
        self.writing.fetch_update(Ordering::AcqRel, Ordering::Acquire, below).ok()?;
        Some(BatchPermit { writing: Arc::clone(&self.writing) })
    }
}

impl Drop for BatchPermit {
    fn drop(&mut self) {
        self.writing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The longest row limit allowed: the reader's memory per job stays within a few
/// times this.
const MOST_ROW_BYTES: u64 = 256 << 20;

/// Everything an upload consumer needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What every consumer reads.
    pub consumer: bgjobs_consumer::Settings,
    /// The most one row of a file may hold.
    pub limits: Limits,
    /// Batches written at once over all the consumer's jobs (`BGJOBS_BATCHES_IN_FLIGHT`).
    pub batches: BatchBudget,
    csv: Csv,
    writes: Writes,
}

/// What an upload consumer does unless its settings say otherwise: 2,000 valid rows per
/// committed batch (with set-based statements a larger batch costs less per row), and
/// four jobs at once (a small upload mostly waits on Postgres, S3 and NATS).
pub const DEFAULTS: Defaults = Defaults { batch_size: 2_000, concurrency: 4 };

impl Settings {
    /// Reads the settings of the upload consumer named `service` from `environment`,
    /// with [`DEFAULTS`] for what it leaves unset.
    pub fn load(environment: &Environment<'_>, service: &str) -> Result<Self, Error> {
        let consumer = bgjobs_consumer::Settings::load(environment, service, DEFAULTS)?;
        let csv = Csv::load(environment)?;
        let writes = Writes::load(environment)?;
        let limits = Limits {
            row_bytes: csv.max_row_bytes.get(),
            field_bytes: csv.max_field_bytes.get(),
            columns: csv.max_columns.get(),
        };
        let header = MAX_HEADER_BYTES as u64;
        if !(header..=MOST_ROW_BYTES).contains(&limits.row_bytes) {
            return Err(Error::Rule {
                variable: "BGJOBS_CSV_MAX_ROW_BYTES",
                problem: format!(
                    "{} bytes is not allowed: a row limit must be from {} (the longest header \
                     line) to {}",
                    limits.row_bytes,
                    in_words(header),
                    in_words(MOST_ROW_BYTES)
                ),
            });
        }
        if limits.field_bytes > limits.row_bytes {
            return Err(Error::Rule {
                variable: "BGJOBS_CSV_MAX_FIELD_BYTES",
                problem: format!(
                    "{} bytes is above BGJOBS_CSV_MAX_ROW_BYTES ({} bytes); a field cannot be \
                     longer than its row",
                    limits.field_bytes, limits.row_bytes
                ),
            });
        }
        Ok(Self {
            consumer,
            limits,
            batches: BatchBudget::new(writes.batches_in_flight.get() as usize),
            csv,
            writes,
        })
    }
}

impl Section for Settings {
    fn variables() -> Vec<&'static Variable> {
        let mut all = bgjobs_consumer::Settings::variables();
        bgjobs_config::add_variables(&mut all, Csv::variables());
        bgjobs_config::add_variables(&mut all, Writes::variables());
        all
    }

    fn show(&self, out: &mut Vec<(&'static str, String)>) {
        self.consumer.show(out);
        self.csv.show(out);
        self.writes.show(out);
    }
}

impl AsRef<bgjobs_consumer::Settings> for Settings {
    fn as_ref(&self) -> &bgjobs_consumer::Settings {
        &self.consumer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        Settings::load(&Environment::from_pairs(pairs.iter().copied()), "product-upload")
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_row_limits_default_to_a_mebibyte_a_row_64_kib_a_field_and_1000_columns() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(
            settings.limits,
            Limits { row_bytes: 1 << 20, field_bytes: 64 << 10, columns: 1000 }
        );
        assert_eq!(settings.limits, Limits::DEFAULT);
        assert_eq!(settings.consumer.batch_size, 2_000);
        assert_eq!(settings.consumer.concurrency, 4);
        assert_eq!(settings.batches.most, 3);
    }

    #[test]
    fn a_row_limit_below_the_header_line_or_a_field_limit_above_the_row_is_refused() {
        assert_eq!(
            load(&[("BGJOBS_CSV_MAX_ROW_BYTES", "1KiB")]).unwrap_err(),
            "BGJOBS_CSV_MAX_ROW_BYTES: 1024 bytes is not allowed: a row limit must be from \
             64 KiB (the longest header line) to 256 MiB"
        );
        let error =
            load(&[("BGJOBS_CSV_MAX_ROW_BYTES", "64KiB"), ("BGJOBS_CSV_MAX_FIELD_BYTES", "1MiB")])
                .unwrap_err();
        assert!(error.starts_with("BGJOBS_CSV_MAX_FIELD_BYTES: 1048576 bytes is above"), "{error}");
        let settings = load(&[
            ("BGJOBS_CSV_MAX_ROW_BYTES", "128KiB"),
            ("BGJOBS_CSV_MAX_FIELD_BYTES", "128KiB"),
            ("BGJOBS_CSV_MAX_COLUMNS", "20"),
        ])
        .expect("valid");
        assert_eq!(settings.limits.columns, 20);
    }
}
