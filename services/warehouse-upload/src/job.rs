//! A warehouse upload: the account's warehouses are read once, then the shared
//! upload pass imports the file's locations (see [`bgjobs_upload::upload`]).

use std::sync::Arc;

use bgjobs_consumer::{Connections, Delivery, Emitter, Finished, Job, Stop};
use bgjobs_domain::JobType;
use bgjobs_upload::{Settings, Upload};

use crate::rows::LocationRows;

/// The warehouse-upload job type.
#[derive(Clone)]
pub struct WarehouseUpload {
    connections: Connections,
    settings: Settings,
}

impl Job for WarehouseUpload {
    const TYPE: JobType = JobType::WarehouseUpload;
    const JOBS: &'static str = "warehouse uploads";
    type Settings = Settings;

    fn new(connections: Connections, settings: &Settings) -> Self {
        Self { connections, settings: settings.clone() }
    }

    async fn run(&self, delivery: &Delivery<'_>, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let store = &self.connections.store;
        // Once per job: rows are checked against this set, never queried one by one.
        let warehouses = store
            .warehouse_ids(&delivery.account)
            .await
            .map_err(|error| Stop::store("the import failed", error))?;
        let upload = Upload {
            store,
            objects: &self.connections.objects,
            settings: &self.settings,
            delivery,
            rows: &LocationRows { warehouses: Arc::new(warehouses) },
        };
        upload.import(emitter).await
    }
}
