//! A fresh, empty S3 bucket per test on the local stack's S3 server.

use anyhow::Context;
use bgjobs_config::{Environment, Load};
use bgjobs_object_store::{ObjectStore, Settings};

/// The settings tests use: the environment's (`BGJOBS_S3_*`, `AWS_*`, else the local
/// stack's defaults) with `bucket` in place of the configured bucket.
///
/// Panics with the reason if those variables are invalid: a test cannot run then.
pub fn settings_for(bucket: &str) -> Settings {
    settings_with(&[("BGJOBS_S3_BUCKET", bucket)])
}

/// The environment's object store settings with `overrides` in place.
///
/// Panics with the reason if the result is invalid: a test cannot run then.
pub fn settings_with(overrides: &[(&str, &str)]) -> Settings {
    let overrides: Vec<(String, String)> =
        overrides.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
    let environment = Environment::from_lookup(move |name| {
        let given = overrides.iter().find(|(overridden, _)| overridden == name);
        given.map(|(_, value)| value.clone()).or_else(|| std::env::var(name).ok())
    });
    Settings::load(&environment).unwrap_or_else(|error| panic!("{error}"))
}

/// Creates a bucket `bgjobs-t-<unique suffix>` and returns a store on it.
///
/// Buckets are left behind for inspection after a failure; `deploy/stack.sh clean`
/// deletes every `bgjobs-t-*` bucket.
pub async fn fresh_bucket() -> anyhow::Result<ObjectStore> {
    let settings = settings_for(&format!("bgjobs-t-{}", crate::unique_suffix()));
    let store = ObjectStore::connect(&settings).await?;
    store.ensure_bucket().await.with_context(|| {
        format!(
            "creating test bucket {} at {}; is the local stack up (deploy/stack.sh up)?",
            settings.bucket, settings.endpoint
        )
    })?;
    Ok(store)
}
