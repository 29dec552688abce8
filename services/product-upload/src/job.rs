//! A product upload: the client must exist in the account before the file is read;
//! then the shared upload pass imports the file's products (see
//! [`bgjobs_upload::upload`]).

use bgjobs_consumer::{Connections, Delivery, Emitter, Finished, Job, Stop};
use bgjobs_domain::JobType;
use bgjobs_upload::{Settings, Upload};

use crate::rows::ProductRows;

/// The product-upload job type.
#[derive(Clone)]
pub struct ProductUpload {
    connections: Connections,
    settings: Settings,
}

impl Job for ProductUpload {
    const TYPE: JobType = JobType::ProductUpload;
    const JOBS: &'static str = "product uploads";
    type Settings = Settings;

    fn new(connections: Connections, settings: &Settings) -> Self {
        Self { connections, settings: settings.clone() }
    }

    async fn run(&self, delivery: &Delivery<'_>, emitter: &mut Emitter) -> Result<Finished, Stop> {
        let store = &self.connections.store;
        let client_id = delivery.client_id().ok_or_else(|| {
            Stop::Fail(
                "the upload names no client; choose the client the products belong to".to_owned(),
            )
        })?;
        let client_known = store
            .client_exists(&delivery.account, &client_id)
            .await
            .map_err(|error| Stop::store("the import failed", error))?;
        if !client_known {
            // The store's own refusal, so a batch that finds the client gone (deleted
            // meanwhile) fails the job with the same words.
            let missing = bgjobs_database::Error::ClientNotFound {
                account: delivery.account.clone(),
                client_id,
            };
            return Err(Stop::Fail(missing.to_string()));
        }
        let upload = Upload {
            store,
            objects: &self.connections.objects,
            settings: &self.settings,
            delivery,
            rows: &ProductRows { client_id },
        };
        upload.import(emitter).await
    }
}
