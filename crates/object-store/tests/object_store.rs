//! The object store against the local stack's S3 server (`deploy/stack.sh up`).

use std::io;
use std::time::Duration;

use bgjobs_object_store::{Error, ObjectMetadata, ObjectStore, PART_SIZE};
use bgjobs_test_support::s3::fresh_bucket;
use bgjobs_test_support::wait;
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

#[path = "object_store/spooled.rs"]
mod spooled;

const MIB: usize = 1024 * 1024;
const CHUNK_SIZE: usize = 64 * 1024;

fn csv_metadata(original_file_name: Option<&str>) -> ObjectMetadata {
    ObjectMetadata {
        content_type: "text/csv".to_owned(),
        original_file_name: original_file_name.map(str::to_owned),
    }
}

/// Chunk `index` of a pseudo-random body: every chunk differs, so a part stored
/// twice or out of order changes the checksum.
fn chunk(index: usize, size: usize) -> Bytes {
    let mut state = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A body of `size` bytes, generated one chunk at a time as the store pulls it.
fn generated_body(size: usize) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + Unpin {
    let chunks = size.div_ceil(CHUNK_SIZE);
    stream::iter(
        (0..chunks).map(move |index| Ok(chunk(index, CHUNK_SIZE.min(size - index * CHUNK_SIZE)))),
    )
}

fn checksum_of_generated_body(size: usize) -> (usize, Vec<u8>) {
    let mut hasher = Sha256::new();
    for index in 0..size.div_ceil(CHUNK_SIZE) {
        hasher.update(chunk(index, CHUNK_SIZE.min(size - index * CHUNK_SIZE)));
    }
    (size, hasher.finalize().to_vec())
}

/// Reads the object through the streaming reader, one buffer at a time.
async fn streamed_checksum(store: &ObjectStore, key: &str) -> anyhow::Result<(usize, Vec<u8>)> {
    let mut reader = store.get_reader(key).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; CHUNK_SIZE];
    let mut size = 0;
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok((size, hasher.finalize().to_vec()));
        }
        size += read;
        hasher.update(&buffer[..read]);
    }
}

async fn etag(store: &ObjectStore, key: &str) -> anyhow::Result<String> {
    let output = store.client().head_object().bucket(store.bucket()).key(key).send().await?;
    Ok(output.e_tag().unwrap_or_default().trim_matches('"').to_owned())
}

async fn multipart_uploads_in_progress(store: &ObjectStore) -> anyhow::Result<usize> {
    let output = store.client().list_multipart_uploads().bucket(store.bucket()).send().await?;
    Ok(output.uploads().len())
}

#[tokio::test]
async fn a_small_object_round_trips_with_its_metadata_and_a_non_ascii_file_name()
-> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let name = "Produits été 2024 – 商品 (1).csv";
    let body = Bytes::from_static(b"sku,name\nAB-1,Widget\n");

    store.put_bytes("uploads/acme/1/input.csv", body.clone(), &csv_metadata(Some(name))).await?;

    let info = store.head("uploads/acme/1/input.csv").await?.expect("the object exists");
    assert_eq!(info.size, body.len() as u64);
    assert_eq!(info.content_type.as_deref(), Some("text/csv"));
    assert_eq!(info.original_file_name.as_deref(), Some(name));
    assert_eq!(store.get_bytes("uploads/acme/1/input.csv").await?, body);
    let mut text = String::new();
    store.get_reader("uploads/acme/1/input.csv").await?.read_to_string(&mut text).await?;
    assert_eq!(text.as_bytes(), body);
    Ok(())
}

#[tokio::test]
async fn a_body_of_at_most_one_part_is_stored_in_a_single_request() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;

    let stored = store
        .put_stream("one-part", generated_body(PART_SIZE), &csv_metadata(None), u64::MAX)
        .await?;

    assert_eq!(stored, PART_SIZE as u64);
    assert!(!etag(&store, "one-part").await?.contains('-'), "a multipart ETag for one part");
    assert_eq!(streamed_checksum(&store, "one-part").await?, checksum_of_generated_body(PART_SIZE));
    let info = store.head("one-part").await?.expect("the object exists");
    assert_eq!(info.original_file_name, None);
    Ok(())
}

#[tokio::test]
async fn a_20_mib_streamed_body_is_stored_in_parts_and_reads_back_identical() -> anyhow::Result<()>
{
    let store = fresh_bucket().await?;
    let size = 20 * MIB;
    let metadata = csv_metadata(Some("catalogue complet.csv"));

    let stored =
        store.put_stream("big.csv", generated_body(size), &metadata, 100 * MIB as u64).await?;

    assert_eq!(stored, size as u64);
    // S3 marks a multipart object's ETag with its part count: 8 + 8 + 4 MiB.
    assert!(etag(&store, "big.csv").await?.ends_with("-3"), "not stored in 3 parts");
    assert_eq!(streamed_checksum(&store, "big.csv").await?, checksum_of_generated_body(size));
    let info = store.head("big.csv").await?.expect("the object exists");
    assert_eq!(info.size, size as u64);
    assert_eq!(info.original_file_name.as_deref(), Some("catalogue complet.csv"));
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_and_leaves_nothing_behind() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let limit = 10 * MIB as u64;

    let refused =
        store.put_stream("too-big", generated_body(20 * MIB), &csv_metadata(None), limit).await;

    assert!(matches!(refused, Err(Error::TooLarge { limit: 10485760 })), "{refused:?}");
    assert_eq!(store.head("too-big").await?, None);
    assert_eq!(
        multipart_uploads_in_progress(&store).await?,
        0,
        "the multipart upload was not aborted"
    );
    Ok(())
}

#[tokio::test]
async fn a_small_body_over_a_small_limit_is_refused_too() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;

    let refused = store.put_stream("small", generated_body(2048), &csv_metadata(None), 1024).await;

    assert!(matches!(refused, Err(Error::TooLarge { limit: 1024 })), "{refused:?}");
    assert_eq!(store.head("small").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_failing_body_stream_aborts_the_upload() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let body = stream::iter(
        (0..(9 * MIB / CHUNK_SIZE)).map(|index| Ok::<_, io::Error>(chunk(index, CHUNK_SIZE))),
    )
    .chain(stream::iter([Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away"))]));

    let failed = store.put_stream("broken", body, &csv_metadata(None), u64::MAX).await;

    match failed {
        Err(Error::Body(cause)) => assert!(cause.to_string().contains("client went away")),
        other => panic!("expected a body error, got {other:?}"),
    }
    assert_eq!(store.head("broken").await?, None);
    assert_eq!(
        multipart_uploads_in_progress(&store).await?,
        0,
        "the multipart upload was not aborted"
    );
    Ok(())
}

#[tokio::test]
async fn a_cancelled_upload_is_aborted_in_the_background() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    // One full part and a bit, then a client that never sends the rest.
    let body = stream::iter(
        (0..(9 * MIB / CHUNK_SIZE)).map(|index| Ok::<_, io::Error>(chunk(index, CHUNK_SIZE))),
    )
    .chain(stream::pending());
    let uploading = {
        let store = store.clone();
        tokio::spawn(async move {
            store.put_stream("cancelled", body, &csv_metadata(None), u64::MAX).await
        })
    };
    wait::until("the first part to be uploaded", Duration::from_secs(30), || async {
        Ok((multipart_uploads_in_progress(&store).await? == 1).then_some(()))
    })
    .await?;

    uploading.abort();

    wait::until("the cancelled upload to be aborted", Duration::from_secs(30), || async {
        Ok((multipart_uploads_in_progress(&store).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(store.head("cancelled").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_missing_key_is_not_found() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;

    assert_eq!(store.head("nothing/here.csv").await?, None);
    match store.get_reader("nothing/here.csv").await {
        Err(Error::NotFound { key }) => assert_eq!(key, "nothing/here.csv"),
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("expected NotFound, got a reader"),
    }
    assert!(matches!(store.get_bytes("nothing/here.csv").await, Err(Error::NotFound { .. })));
    Ok(())
}

#[tokio::test]
async fn ensuring_an_existing_bucket_succeeds() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;

    store.ensure_bucket().await?;
    store.ensure_bucket().await?;
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_give_a_readable_s3_error() -> anyhow::Result<()> {
    let settings = bgjobs_test_support::s3::settings_with(&[
        ("BGJOBS_S3_BUCKET", "bgjobs-t-credentials"),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
    ]);
    let store = ObjectStore::connect(&settings).await?;

    let refused = store.head("anything").await;

    match refused {
        Err(Error::S3 { operation, message }) => {
            assert_eq!(operation, "HeadObject");
            assert!(message.contains("HTTP 403"), "{message}");
            assert!(message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
        }
        other => panic!("expected an S3 error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_gives_a_readable_s3_error() -> anyhow::Result<()> {
    // Port 9 (discard) is closed on the test machine: the connection is refused at once.
    let settings = bgjobs_test_support::s3::settings_with(&[
        ("BGJOBS_S3_BUCKET", "bgjobs-t-unreachable"),
        ("BGJOBS_S3_ENDPOINT", "http://127.0.0.1:9"),
    ]);
    let store = ObjectStore::connect(&settings).await?;

    let refused = store.ensure_bucket().await;

    match refused {
        Err(Error::S3 { operation, message }) => {
            assert_eq!(operation, "CreateBucket");
            assert!(message.starts_with("could not reach the server"), "{message}");
            assert!(message.contains("Connection refused"), "{message}");
        }
        other => panic!("expected an S3 error, got {other:?}"),
    }
    Ok(())
}

/// A server that accepts every connection and never answers: what a hung S3 endpoint
/// (or a proxy in front of it) looks like to the client.
async fn silent_server() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    Ok(format!("http://{address}"))
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_call_within_the_request_timeout()
-> anyhow::Result<()> {
    let endpoint = silent_server().await?;
    let settings = bgjobs_test_support::s3::settings_with(&[
        ("BGJOBS_S3_ENDPOINT", &endpoint),
        ("BGJOBS_S3_BUCKET", "bgjobs"),
        ("BGJOBS_S3_REQUEST_TIMEOUT_SECS", "1"),
    ]);
    let store = ObjectStore::connect(&settings).await?;
    let started = std::time::Instant::now();

    // Three tries of 1 s each, with the SDK's backoff between them; without a bound
    // the call would wait for ever.
    let bound = Duration::from_secs(30);
    let head = tokio::time::timeout(bound, store.head("uploads/acme/1/input.csv")).await;
    let waited = started.elapsed();
    let error = head.expect("the call still waits after 30 s").expect_err("a silent server");
    let metadata = csv_metadata(None);
    let put = store.put_bytes("x", Bytes::from_static(b"x"), &metadata);
    let put = tokio::time::timeout(bound, put).await.expect("the put still waits after 30 s");

    assert!(matches!(error, Error::S3 { operation: "HeadObject", .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer in time"), "{error}");
    assert!(put.expect_err("a silent server").to_string().contains("PutObject"));
    println!("a call to a silent server failed after {waited:?}: {error}");
    Ok(())
}
