//! The request body of an upload: its first bytes are inspected before anything is
//! stored, and what a refused upload did not read is drained so the client sees our answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::Error;

/// How many bytes are inspected before anything is stored: enough to see a binary
/// file's header (xlsx, zip, UTF-16) and a CSV header row.
pub(crate) const INSPECTED_BYTES: usize = 8 * 1024;

/// At most this much of a refused body is read and thrown away before answering.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// ...and for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The first bytes of a body.
#[derive(Debug)]
pub(crate) struct Prefix {
    /// At least [`INSPECTED_BYTES`] bytes, unless the body is shorter.
    pub bytes: Bytes,
    /// True when the body ended within the prefix.
    pub complete: bool,
}

/// Reads chunks until at least [`INSPECTED_BYTES`] bytes arrived or the body ended.
/// The prefix is then stored first, followed by the rest of the same stream.
pub(crate) async fn read_prefix<S, E>(body: &mut S) -> Result<Prefix, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut prefix = BytesMut::new();
    while prefix.len() < INSPECTED_BYTES {
        match body.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(error)) => return Err(Error::Interrupted(error.to_string())),
            None => return Ok(Prefix { bytes: prefix.freeze(), complete: true }),
        }
    }
    Ok(Prefix { bytes: prefix.freeze(), complete: false })
}

/// Reads and discards what is left of a refused body, up to a bound. Without this,
/// closing a connection with unread bytes makes the kernel reset it, and the client
/// may lose our answer (a 413 or 415) and see only "connection reset".
pub(crate) async fn drain<S, E>(body: &mut S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let discard = async {
        let mut discarded: u64 = 0;
        while let Some(Ok(chunk)) = body.next().await {
            discarded += chunk.len() as u64;
            if discarded > DRAIN_BYTES {
                break;
            }
        }
    };
    // Running out of time is fine: we answer anyway.
    let _timed_out = tokio::time::timeout(DRAIN_TIME, discard).await;
}

#[cfg(test)]
mod tests {
    use futures::stream;

    use super::*;

    type Chunk = Result<Bytes, std::io::Error>;

    fn chunks(parts: &[&[u8]]) -> impl Stream<Item = Chunk> + Unpin + use<> {
        stream::iter(parts.iter().map(|part| Ok(Bytes::copy_from_slice(part))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn the_prefix_gathers_small_chunks_and_leaves_the_rest_in_the_stream() {
        let big = vec![b'a'; INSPECTED_BYTES];
        let mut body = chunks(&[b"sku,", b"name\n", &big, b"tail"]);
        let prefix = read_prefix(&mut body).await.expect("readable");
        assert!(!prefix.complete);
        assert_eq!(prefix.bytes.len(), 9 + INSPECTED_BYTES);
        let rest = body.next().await.and_then(Result::ok);
        assert_eq!(rest.as_deref(), Some(&b"tail"[..]));
    }

    #[tokio::test]
    async fn a_short_body_is_complete_within_the_prefix() {
        let mut body = chunks(&[b"sku\n", b"A-1\n"]);
        let prefix = read_prefix(&mut body).await.expect("readable");
        assert!(prefix.complete);
        assert_eq!(&prefix.bytes[..], b"sku\nA-1\n");
    }
}
