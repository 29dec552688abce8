//! The client of one bucket: connecting, and the small operations (bucket,
//! whole-object put and get, head). Streaming uploads are in `upload.rs`.

use std::fmt;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::operation::create_bucket::CreateBucketError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_smithy_http_client::tls;
use bytes::Bytes;

use crate::metadata::original_file_name;
use crate::{Error, ObjectInfo, ObjectMetadata, Settings};

/// Every request is bounded, so a server that accepts a connection and then never
/// answers fails the call instead of blocking its worker for ever. The read timeout
/// runs from sending a request to the first byte of the answer (a request body, at
/// most one part, is sent within it); the attempt timeout also covers reading a
/// small answer's body. A download's body is read after the operation returned, so
/// no whole-transfer bound cuts off a large file: stalled-stream protection (on by
/// default) fails a body that delivers nothing for its grace period (20 s) instead.
fn timeouts(settings: &Settings) -> TimeoutConfig {
    let connect = settings.connect_timeout.get();
    let request = settings.request_timeout.get();
    TimeoutConfig::builder()
        .connect_timeout(connect)
        .read_timeout(request)
        .operation_attempt_timeout(connect + request)
        .build()
}

/// A cheap-to-clone handle on the bucket of job files.
#[derive(Clone)]
pub struct ObjectStore {
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// Builds the client. No request is sent: call [`ObjectStore::ensure_bucket`] to
    /// check that the server answers and the bucket exists.
    pub async fn connect(settings: &Settings) -> Result<Self, Error> {
        bgjobs_service::install_crypto_provider();
        // One HTTP client on rustls with ring, the crypto every other client of the
        // workspace uses, instead of the SDK's default aws-lc build.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let credentials = Credentials::new(
            &settings.access_key_id,
            settings.secret_access_key.expose(),
            None,
            None,
            "bgjobs-settings",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(settings.region.as_str().to_owned()))
            .endpoint_url(settings.endpoint.as_str())
            // S3-compatible servers on one host name have no per-bucket DNS names.
            .force_path_style(true)
            .credentials_provider(credentials)
            // Standard retries (3 attempts, backoff) cover a server restart or a dropped
            // connection; every request body here is in memory, so it can be resent.
            .retry_config(RetryConfig::standard())
            .timeout_config(timeouts(settings))
            .build();
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: settings.bucket.as_str().to_owned(),
        })
    }

    /// The bucket this store reads and writes.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The underlying SDK client, for S3 operations this crate does not wrap
    /// (presigned links, listings in tests and tools).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Creates the bucket if it is missing; a bucket that exists and that we can
    /// use is fine.
    pub async fn ensure_bucket(&self) -> Result<(), Error> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        // us-east-1 is the one region that refuses an explicit location constraint.
        if let Some(region) = self.client.config().region().map(|region| region.as_ref())
            && region != "us-east-1"
        {
            let constraint = BucketLocationConstraint::from(region);
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder().location_constraint(constraint).build(),
            );
        }
        match request.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created bucket");
                Ok(())
            }
            Err(error) => match error.as_service_error() {
                Some(CreateBucketError::BucketAlreadyOwnedByYou(_)) => Ok(()),
                // Some servers answer "exists" for our own bucket too: it is only a
                // problem if we cannot use it.
                Some(CreateBucketError::BucketAlreadyExists(_)) => self.check_bucket_access().await,
                _ => Err(Error::s3("CreateBucket", error)),
            },
        }
    }

    async fn check_bucket_access(&self) -> Result<(), Error> {
        let Err(error) = self.client.head_bucket().bucket(&self.bucket).send().await else {
            return Ok(());
        };
        let cause = match Error::s3("HeadBucket", error) {
            Error::S3 { message, .. } => message,
            other => other.to_string(),
        };
        Err(Error::S3 {
            operation: "HeadBucket",
            message: format!(
                "bucket '{}' exists but these credentials cannot use it (it may belong to \
                 another account; choose another BGJOBS_S3_BUCKET): {cause}",
                self.bucket
            ),
        })
    }

    /// Stores a body that is already in memory, in one request.
    pub async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        metadata: &ObjectMetadata,
    ) -> Result<(), Error> {
        self.put_body(key, ByteStream::from(body), metadata).await
    }

    /// One PutObject of `body`.
    pub(crate) async fn put_body(
        &self,
        key: &str,
        body: ByteStream,
        metadata: &ObjectMetadata,
    ) -> Result<(), Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&metadata.content_type)
            .set_metadata(Some(metadata.user_metadata()))
            .body(body)
            .send()
            .await
            .map_err(|error| Error::s3("PutObject", error))?;
        Ok(())
    }

    /// Deletes the object; deleting a missing key is not an error (S3 semantics).
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| Error::s3("DeleteObject", error))?;
        Ok(())
    }

    /// A streaming reader of the object (never the whole object in memory).
    pub async fn get_reader(
        &self,
        key: &str,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, Error> {
        let body = self.get_object(key).await?;
        Ok(Box::new(body.into_async_read()))
    }

    /// The whole object in memory: for small files only (results summaries, tests).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, Error> {
        let body = self.get_object(key).await?;
        let collected = body.collect().await.map_err(|error| Error::S3 {
            operation: "GetObject",
            message: format!(
                "reading the body of '{key}' failed: {}",
                crate::error::causes(&error)
            ),
        })?;
        Ok(collected.into_bytes())
    }

    async fn get_object(&self, key: &str) -> Result<ByteStream, Error> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => Ok(output.body),
            Err(error) => match error.as_service_error() {
                Some(GetObjectError::NoSuchKey(_)) => Err(Error::NotFound { key: key.to_owned() }),
                _ => Err(Error::s3("GetObject", error)),
            },
        }
    }

    /// Size and metadata of the object, or `None` if there is none at `key`.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, Error> {
        let output = match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(error) => {
                return match error.as_service_error() {
                    Some(HeadObjectError::NotFound(_)) => Ok(None),
                    _ => Err(Error::s3("HeadObject", error)),
                };
            }
        };
        Ok(Some(ObjectInfo {
            size: output
                .content_length()
                .and_then(|length| u64::try_from(length).ok())
                .unwrap_or(0),
            content_type: output.content_type().map(str::to_owned),
            original_file_name: original_file_name(output.metadata()),
        }))
    }
}
