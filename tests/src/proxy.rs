//! A TCP proxy on loopback that forwards every request and, while told to, throws the
//! answers away: what a caller sees when the network drops a response after the
//! server acted on the request, or when a server hangs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy; it stops accepting when dropped.
pub struct LossyProxy {
    addr: SocketAddr,
    scheme: &'static str,
    drop_answers: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl LossyProxy {
    /// A proxy to `upstream`, throwing answers away until [`Self::deliver_answers`].
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(upstream, Handshake::Dropped).await
    }

    /// A proxy to a TLS server at `upstream` that lets each connection's TLS handshake
    /// through and throws away what the server says after it, until
    /// [`Self::deliver_answers`]: the request reaches the server, its answer is lost.
    pub async fn start_tls(upstream: SocketAddr) -> anyhow::Result<Self> {
        Self::start_with(upstream, Handshake::Delivered).await
    }

    async fn start_with(upstream: SocketAddr, handshake: Handshake) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let drop_answers = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (dropping, opened) = (Arc::clone(&drop_answers), Arc::clone(&connections));
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let dropping = Arc::clone(&dropping);
                let connection = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, dropping, handshake).await;
                    }
                });
                opened.lock().expect("not poisoned").push(connection);
            }
        });
        let scheme = match handshake {
            Handshake::Dropped => "http",
            Handshake::Delivered => "https",
        };
        Ok(Self { addr, scheme, drop_answers, connections, accepting })
    }

    /// The URL of the proxy: `http://`, or `https://` for a TLS server.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// From now on, answers are thrown away again: the server acts, the caller hears
    /// nothing, as from a server that hangs.
    pub fn drop_answers(&self) {
        self.drop_answers.store(true, Ordering::SeqCst);
    }

    /// From now on, answers reach the caller. The connections that lost answers are
    /// cut (their protocol state is beyond repair), so the caller connects again.
    pub fn deliver_answers(&self) {
        self.drop_answers.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().expect("not poisoned").drain(..) {
            connection.abort();
        }
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        for connection in self.connections.lock().expect("not poisoned").drain(..) {
            connection.abort();
        }
    }
}

/// Whether a connection's first answers are thrown away like the rest.
#[derive(Debug, Clone, Copy)]
enum Handshake {
    /// Every answer is subject to dropping.
    Dropped,
    /// The server's first flight (a TLS server's hello, certificate and finish) always
    /// gets through; what it says after the client's next bytes is subject to dropping.
    Delivered,
}

/// Copies `client`'s bytes to `server`, and `server`'s back unless `dropping` says so
/// (and the handshake is over, with [`Handshake::Delivered`]).
async fn relay(
    client: TcpStream,
    server: TcpStream,
    dropping: Arc<AtomicBool>,
    handshake: Handshake,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // 0: the client opened; 1: the server answered; 2: the client spoke again, so the
    // handshake is over.
    let phase = std::sync::atomic::AtomicU8::new(match handshake {
        Handshake::Dropped => 2,
        Handshake::Delivered => 0,
    });
    let requests = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let _ = phase.compare_exchange(1, 2, Ordering::SeqCst, Ordering::SeqCst);
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    let answers = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let _ = phase.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
            let handshaking = phase.load(Ordering::SeqCst) < 2;
            if (handshaking || !dropping.load(Ordering::SeqCst))
                && client_write.write_all(&buffer[..read]).await.is_err()
            {
                break;
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = answers => {}
    }
}
