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
    drop_answers: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl LossyProxy {
    /// A proxy to `upstream`, throwing answers away until [`Self::deliver_answers`].
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
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
                        relay(client, server, dropping).await;
                    }
                });
                opened.lock().expect("not poisoned").push(connection);
            }
        });
        Ok(Self { addr, drop_answers, connections, accepting })
    }

    /// The `http://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// Copies `client`'s bytes to `server`, and `server`'s back unless `dropping` says so.
async fn relay(client: TcpStream, server: TcpStream, dropping: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut server_write);
    let answers = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            if !dropping.load(Ordering::SeqCst)
                && client_write.write_all(&buffer[..read]).await.is_err()
            {
                break;
            }
        }
    };
    tokio::select! {
        _ = requests => {}
        () = answers => {}
    }
}
