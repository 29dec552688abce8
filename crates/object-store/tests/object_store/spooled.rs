//! Streaming uploads whose part waits in a temporary file instead of memory, once it
//! is more than a few lines long.

use std::path::Path;

use super::*;

/// The files in `dir`, with their sizes.
fn spool_files(dir: &Path) -> anyhow::Result<Vec<u64>> {
    std::fs::read_dir(dir)?
        .map(|entry| Ok(entry?.metadata()?.len()))
        .collect::<Result<Vec<u64>, io::Error>>()
        .map_err(Into::into)
}

#[tokio::test]
async fn a_spooled_body_is_stored_in_parts_and_its_file_is_removed() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let spool = tempfile::tempdir()?;
    let size = 20 * MIB;

    let stored = store
        .put_stream_spooled(
            "big.csv",
            generated_body(size),
            &csv_metadata(None),
            u64::MAX,
            spool.path(),
        )
        .await?;

    assert_eq!(stored, size as u64);
    assert!(etag(&store, "big.csv").await?.ends_with("-3"), "not stored in 3 parts");
    assert_eq!(streamed_checksum(&store, "big.csv").await?, checksum_of_generated_body(size));
    assert_eq!(spool_files(spool.path())?, Vec::<u64>::new(), "the spool file was left behind");
    Ok(())
}

#[tokio::test]
async fn a_small_spooled_body_is_stored_in_a_single_request() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let spool = tempfile::tempdir()?;
    let size = MIB + 17;

    let stored = store
        .put_stream_spooled(
            "small.csv",
            generated_body(size),
            &csv_metadata(None),
            u64::MAX,
            spool.path(),
        )
        .await?;

    assert_eq!(stored, size as u64);
    assert!(!etag(&store, "small.csv").await?.contains('-'), "a multipart ETag for one part");
    assert_eq!(streamed_checksum(&store, "small.csv").await?, checksum_of_generated_body(size));
    assert_eq!(spool_files(spool.path())?, Vec::<u64>::new(), "the spool file was left behind");
    Ok(())
}

#[tokio::test]
async fn a_spooled_upload_keeps_one_part_on_disk_and_removes_it_when_cancelled()
-> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let spool = tempfile::tempdir()?;
    // One full part and one more MiB, then a writer that never sends the rest.
    let body = stream::iter(
        (0..(PART_SIZE + MIB) / CHUNK_SIZE)
            .map(|index| Ok::<_, io::Error>(chunk(index, CHUNK_SIZE))),
    )
    .chain(stream::pending());
    let uploading = {
        let (store, dir) = (store.clone(), spool.path().to_owned());
        tokio::spawn(async move {
            store.put_stream_spooled("cancelled", body, &csv_metadata(None), u64::MAX, &dir).await
        })
    };
    wait::until(
        "the first part sent and the next MiB spooled",
        Duration::from_secs(30),
        || async {
            let sent = multipart_uploads_in_progress(&store).await? == 1;
            Ok((sent && spool_files(spool.path())? == [MIB as u64]).then_some(()))
        },
    )
    .await?;

    uploading.abort();

    wait::until("the spool file to be removed", Duration::from_secs(30), || async {
        Ok(spool_files(spool.path())?.is_empty().then_some(()))
    })
    .await?;
    wait::until("the cancelled upload to be aborted", Duration::from_secs(30), || async {
        Ok((multipart_uploads_in_progress(&store).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(store.head("cancelled").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_failing_spooled_body_aborts_the_upload_and_removes_its_file() -> anyhow::Result<()> {
    let store = fresh_bucket().await?;
    let spool = tempfile::tempdir()?;
    let body = stream::iter(
        (0..(9 * MIB / CHUNK_SIZE)).map(|index| Ok::<_, io::Error>(chunk(index, CHUNK_SIZE))),
    )
    .chain(stream::iter([Err(io::Error::new(io::ErrorKind::ConnectionReset, "writer failed"))]));

    let failed =
        store.put_stream_spooled("broken", body, &csv_metadata(None), u64::MAX, spool.path()).await;

    match failed {
        Err(Error::Body(cause)) => assert!(cause.to_string().contains("writer failed")),
        other => panic!("expected a body error, got {other:?}"),
    }
    assert_eq!(store.head("broken").await?, None);
    assert_eq!(multipart_uploads_in_progress(&store).await?, 0, "not aborted");
    assert_eq!(spool_files(spool.path())?, Vec::<u64>::new(), "the spool file was left behind");
    Ok(())
}

#[tokio::test]
async fn an_unwritable_spool_directory_is_a_readable_error_and_stores_nothing() -> anyhow::Result<()>
{
    let store = fresh_bucket().await?;
    let missing = tempfile::tempdir()?.path().join("gone");

    let failed = store
        .put_stream_spooled("nowhere", generated_body(MIB), &csv_metadata(None), u64::MAX, &missing)
        .await;

    match failed {
        Err(error @ Error::Spool(_)) => {
            assert!(error.to_string().contains("temporary file"), "{error}");
        }
        other => panic!("expected a spool error, got {other:?}"),
    }
    assert_eq!(store.head("nowhere").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_body_of_a_few_lines_is_stored_without_touching_the_spool_directory() -> anyhow::Result<()>
{
    let store = fresh_bucket().await?;
    // Any file in it would fail: the directory does not exist.
    let missing = tempfile::tempdir()?.path().join("gone");
    let size = 200 * 1024;

    let stored = store
        .put_stream_spooled(
            "short.csv",
            generated_body(size),
            &csv_metadata(None),
            u64::MAX,
            &missing,
        )
        .await?;

    assert_eq!(stored, size as u64);
    assert_eq!(streamed_checksum(&store, "short.csv").await?, checksum_of_generated_body(size));
    Ok(())
}
