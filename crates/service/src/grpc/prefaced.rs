//! A gRPC connection whose client has sent the HTTP/2 connection preface. hyper reads
//! the preface with no timeout of its own, and its keep-alive pings start only after
//! it: a client that finishes its TLS handshake and then sends nothing would hold its
//! connection forever. The acceptor therefore reads the preface itself, within the
//! handshake timeout, and hands tonic the connection with the preface put back in front.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

/// What every HTTP/2 client sends first (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A TLS connection whose first bytes were the HTTP/2 preface; reading it yields the
/// preface again, then what follows.
pub struct Prefaced {
    inner: TlsStream<TcpStream>,
    /// How many bytes of [`PREFACE`] have been read back.
    replayed: usize,
}

impl std::fmt::Debug for Prefaced {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Prefaced").field("replayed", &self.replayed).finish_non_exhaustive()
    }
}

impl Prefaced {
    /// Reads the preface from `inner`; an error when the client sends something else
    /// or closes first. The caller bounds how long this may take.
    pub(super) async fn read(mut inner: TlsStream<TcpStream>) -> io::Result<Self> {
        let mut preface = [0_u8; PREFACE.len()];
        inner.read_exact(&mut preface).await?;
        if &preface != PREFACE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the client did not start with the HTTP/2 preface",
            ));
        }
        Ok(Self { inner, replayed: 0 })
    }

    /// The TLS connection, for its peer's certificates.
    pub fn get_ref(&self) -> &TlsStream<TcpStream> {
        &self.inner
    }
}

impl Connected for Prefaced {
    type ConnectInfo = <TlsStream<TcpStream> as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Prefaced {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < PREFACE.len() {
            let rest = &PREFACE[this.replayed..];
            let taken = rest.len().min(buffer.remaining());
            buffer.put_slice(&rest[..taken]);
            this.replayed += taken;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(context, buffer)
    }
}

impl AsyncWrite for Prefaced {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, bytes)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}
