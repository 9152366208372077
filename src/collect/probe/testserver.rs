//! Loopback servers for the probe tests: each accepts on 127.0.0.1 (or a
//! Unix socket in its own temporary directory), plays a `Script`, and hands
//! back what each client sent. Dropping a `Server` stops it, closes its
//! connections and removes its directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// What the server does with each connection.
#[derive(Clone)]
pub enum Script {
    /// Accepts and never says a word, like a hung mail filter.
    Silent,
    /// Waits for `wait_for` bytes of request and writes `reply`; then
    /// hangs up, or reads until the client closes.
    Answer { wait_for: usize, reply: Vec<u8>, hang_up: bool },
}

impl Script {
    pub fn answer(wait_for: usize, reply: &[u8]) -> Self {
        Script::Answer { wait_for, reply: reply.to_vec(), hang_up: false }
    }

    pub fn hang_up(wait_for: usize, reply: &[u8]) -> Self {
        Script::Answer { wait_for, reply: reply.to_vec(), hang_up: true }
    }
}

pub struct Server {
    /// `127.0.0.1:PORT`, or `unix:/PATH`: what follows the protocol in a spec.
    pub addr: String,
    requests: mpsc::UnboundedReceiver<Vec<u8>>,
    task: JoinHandle<()>,
    _dir: Option<TempDir>,
}

impl Server {
    pub fn tcp(script: Script) -> Self {
        Server::tcp_on("127.0.0.1:0", script).expect("binding a loopback port")
    }

    /// `None` where `addr` cannot be bound, e.g. no IPv6 here.
    pub fn tcp_on(addr: &str, script: Script) -> Option<Self> {
        let std_listener = std::net::TcpListener::bind(addr).ok()?;
        std_listener.set_nonblocking(true).unwrap();
        let local = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let (tx, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(play(stream, script.clone(), tx.clone()));
            }
        });
        Some(Server { addr: local.to_string(), requests, task, _dir: None })
    }

    pub fn unix(script: Script) -> Self {
        let dir = TempDir::create();
        let path = dir.0.join("probe.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, requests) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(play(stream, script.clone(), tx.clone()));
            }
        });
        Server { addr: format!("unix:{}", path.display()), requests, task, _dir: Some(dir) }
    }

    /// Everything the next client sent, once it closed.
    pub async fn request(&mut self) -> Vec<u8> {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("the client never closed its connection")
            .expect("the server stopped")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn play<S>(mut stream: S, script: Script, tx: mpsc::UnboundedSender<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Script::Answer { wait_for, reply, hang_up } = script else {
        std::future::pending::<()>().await;
        return;
    };
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while request.len() < wait_for {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    if stream.write_all(&reply).await.is_ok() && !hang_up {
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            request.extend_from_slice(&chunk[..n]);
        }
    }
    // The test may have stopped listening; then nobody wants the request.
    let _ = tx.send(request);
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn create() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("flightrec-probe-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
