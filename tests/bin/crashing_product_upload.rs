//! A product-upload consumer with a crash planted in it, for the fault-injection
//! suite's poison-file scenario (tests/faults/poison_file.rs), and nothing else: it is
//! a binary of the test package, never built into an image or shipped.
//!
//! It is the real consumer (same worker loop, queue, delivery lifecycle and upload
//! pass) except that its row parser crashes when a row's SKU equals
//! `BGJOBS_TEST_ONLY_CRASH_ON_SKU`: it aborts the whole process, as a panic under
//! `panic = "abort"` or an out-of-memory kill would, or, with
//! `BGJOBS_TEST_ONLY_CRASH_BY=panic`, panics on the reader's thread as a bug in a row
//! parser would. Without the SKU variable it refuses to start, so it cannot run by
//! mistake as an ordinary consumer.

use anyhow::Context;
use bgjobs_consumer::{Connections, Delivery, Emitter, Finished, Job, Stop, Worker};
use bgjobs_database::CatalogStore;
use bgjobs_database::catalog::{AppliedBatch, BatchTurn};
use bgjobs_domain::JobType;
use bgjobs_domain::upload::header::{ColumnIndex, ColumnSpec};
use bgjobs_domain::upload::write::{RowOutcome, WriteMode};
use bgjobs_domain::upload::{Rejection, product};
use bgjobs_domain::{AccountId, JobId};
use bgjobs_upload::{Settings, Upload, UploadRows};
use product_upload::ProductUpload;
use product_upload::rows::ProductRows;

/// The variable naming the SKU whose row crashes this consumer.
const CRASH_ON_SKU: &str = "BGJOBS_TEST_ONLY_CRASH_ON_SKU";
/// The variable saying how: `abort` (the default) or `panic`.
const CRASH_BY: &str = "BGJOBS_TEST_ONLY_CRASH_BY";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crash_on_sku()?;
    bgjobs_service::run(
        "crashing-product-upload",
        product_upload::settings::load,
        |settings| async {
            let worker = Worker::<CrashingUpload>::build(settings).await?;
            Ok(worker.run_until_stopped(bgjobs_service::shutdown_signal()).await?)
        },
    )
    .await
}

fn crash_on_sku() -> anyhow::Result<String> {
    std::env::var(CRASH_ON_SKU).with_context(|| {
        format!("{CRASH_ON_SKU} must name the SKU that crashes this test consumer")
    })
}

/// The product upload, its rows read by [`CrashingRows`].
#[derive(Clone)]
struct CrashingUpload {
    connections: Connections,
    settings: Settings,
    crash_on_sku: String,
}

impl Job for CrashingUpload {
    const TYPE: JobType = JobType::ProductUpload;
    const JOBS: &'static str = <ProductUpload as Job>::JOBS;
    type Settings = Settings;

    fn new(connections: Connections, settings: &Settings) -> Self {
        let crash_on_sku = crash_on_sku().expect("checked in main before the worker is built");
        Self { connections, settings: settings.clone(), crash_on_sku }
    }

    async fn run(&self, delivery: &Delivery<'_>, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let client_id = delivery.client_id().ok_or_else(|| Stop::Fail("no client".to_owned()))?;
        let rows = CrashingRows {
            products: ProductRows { client_id },
            crash_on_sku: self.crash_on_sku.clone(),
        };
        let upload = Upload {
            store: &self.connections.store,
            objects: &self.connections.objects,
            settings: &self.settings,
            delivery,
            rows: &rows,
        };
        upload.import(emitter).await
    }
}

/// Product rows whose parser aborts the process on the planted SKU.
#[derive(Clone)]
struct CrashingRows {
    products: ProductRows,
    crash_on_sku: String,
}

impl UploadRows for CrashingRows {
    type Row = product::Product;
    const COLUMNS: &'static [ColumnSpec] = ProductRows::COLUMNS;

    fn parser(
        &self,
    ) -> impl FnMut(u64, &[&[u8]], &ColumnIndex) -> Result<product::Product, Rejection> + Send + 'static
    {
        let mut parse = self.products.parser();
        let crash_on_sku = self.crash_on_sku.clone();
        move |row, fields, index| {
            let parsed = parse(row, fields, index);
            if parsed.as_ref().is_ok_and(|product| product.sku == crash_on_sku) {
                if std::env::var(CRASH_BY).is_ok_and(|how| how == "panic") {
                    panic!("row {row}: SKU {crash_on_sku}: a panic planted by the test");
                }
                eprintln!("row {row}: SKU {crash_on_sku}: aborting, as planted by the test");
                std::process::abort();
            }
            parsed
        }
    }

    fn key(row: &product::Product) -> &str {
        ProductRows::key(row)
    }

    fn refusal(row: &product::Product, outcome: RowOutcome) -> Option<String> {
        ProductRows::refusal(row, outcome)
    }

    async fn apply(
        &self,
        store: &CatalogStore,
        job: JobId,
        account: &AccountId,
        rows: &[(u64, product::Product)],
        write: WriteMode,
        turn: BatchTurn,
    ) -> Result<AppliedBatch, bgjobs_database::Error> {
        self.products.apply(store, job, account, rows, write, turn).await
    }

    async fn check(
        &self,
        store: &CatalogStore,
        job: JobId,
        attempt: u32,
        account: &AccountId,
        rows: &[(u64, product::Product)],
        write: WriteMode,
    ) -> Result<Vec<Option<RowOutcome>>, bgjobs_database::Error> {
        self.products.check(store, job, attempt, account, rows, write).await
    }
}
