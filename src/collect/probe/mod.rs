//! Dependency probes: a mail filter, a virus scanner, an SMTP or HTTP
//! server asked a question in its own protocol, because a dependency that
//! accepts connections but never answers looks healthy to a plain connect.
//! Input: parsed `--probe` specs; output: one `ProbeResult` per spec. This
//! module resolves, connects, keeps time and maps failures to outcomes; each
//! protocol's exchange lives in its own module. When to probe, and capping
//! the timeout at the sampling interval, is the recorder's business.

mod clamd;
mod http;
mod milter;
mod smtp;
mod spec;
mod tcp;
#[cfg(test)]
mod testserver;

pub use spec::{DEFAULT_TIMEOUT, Endpoint, Host, ProbeSpec, Protocol, parse};

use crate::sample::{ProbeOutcome, ProbeResult};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Most bytes read from any peer: more than a greeting, a status line or a
/// negotiation reply needs, little enough that a peer streaming garbage
/// costs nothing.
const READ_LIMIT: usize = 4096;

/// Longest escaped answer quoted in `detail`.
const DETAIL_MAX: usize = 80;

/// Probes every spec at once; results come back in spec order. All run in
/// the caller's task, so nothing is spawned and nothing outlives the call.
pub async fn probe_all(specs: &[ProbeSpec]) -> Vec<ProbeResult> {
    let mut pending: Vec<_> = specs.iter().map(|spec| Box::pin(probe(spec))).collect();
    let mut done: Vec<Option<ProbeResult>> = vec![None; specs.len()];
    std::future::poll_fn(|cx| {
        for (slot, future) in done.iter_mut().zip(&mut pending) {
            if slot.is_none()
                && let Poll::Ready(result) = future.as_mut().poll(cx)
            {
                *slot = Some(result);
            }
        }
        if done.iter().all(Option::is_some) { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// Probes one dependency. Never takes longer than the spec's timeout and
/// never fails: every way it can end is an outcome.
pub async fn probe(spec: &ProbeSpec) -> ProbeResult {
    let start = Instant::now();
    let mut progress = Progress { phase: Phase::Resolving, connect_us: None, received: Vec::new() };
    let ended = match tokio::time::timeout(spec.timeout(), run(spec, start, &mut progress)).await {
        Ok(ended) => ended,
        Err(_) => progress.timed_out(spec.timeout()),
    };
    ProbeResult {
        target: spec.target().to_string(),
        outcome: ended.outcome,
        latency_us: micros(start.elapsed()),
        connect_us: progress.connect_us,
        detail: ended.detail,
    }
}

/// How far a probe got: what a timeout is reported as depends on it.
struct Progress {
    phase: Phase,
    connect_us: Option<u64>,
    /// The answer so far, at most `READ_LIMIT` bytes.
    received: Vec<u8>,
}

enum Phase {
    Resolving,
    Connecting,
    Answering,
}

impl Progress {
    fn connected(&mut self, start: Instant) {
        self.phase = Phase::Answering;
        self.connect_us = Some(micros(start.elapsed()));
    }

    fn timed_out(&self, timeout: Duration) -> Ended {
        let within = format_duration(timeout);
        let detail = match self.phase {
            Phase::Resolving => format!("name not resolved within {within}"),
            Phase::Connecting => format!("connect not answered within {within}"),
            Phase::Answering if self.received.is_empty() => {
                format!("connected, no answer within {within}")
            }
            Phase::Answering => {
                format!("connected, answer incomplete within {within}: {}", escape(&self.received))
            }
        };
        Ended::new(ProbeOutcome::Timeout, detail)
    }
}

/// How a probe ended before its timeout.
struct Ended {
    outcome: ProbeOutcome,
    detail: String,
}

impl Ended {
    fn new(outcome: ProbeOutcome, detail: String) -> Self {
        Ended { outcome, detail }
    }

    fn ok(detail: String) -> Self {
        Ended::new(ProbeOutcome::Ok, detail)
    }

    /// An answer the protocol does not allow: what came, escaped.
    fn wrong(received: &[u8]) -> Self {
        Ended::new(ProbeOutcome::ProtocolError, escape(received))
    }

    /// A read or write failed after the connection was accepted. A peer
    /// that hangs up or resets instead of answering is up but refuses to
    /// speak the protocol: a protocol error, not a local failure.
    fn io(err: io::Error, received: &[u8]) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                Ended::new(ProbeOutcome::ProtocolError, format!("connection reset {}", after(received)))
            }
            _ => Ended::new(ProbeOutcome::Error, err.to_string()),
        }
    }

    fn closed(received: &[u8]) -> Self {
        Ended::new(ProbeOutcome::ProtocolError, format!("connection closed {}", after(received)))
    }
}

/// "after 3 bytes: ..." for a `detail` about a cut-short answer.
fn after(received: &[u8]) -> String {
    match received.len() {
        0 => "before any answer".into(),
        n => format!("after {n} bytes: {}", escape(received)),
    }
}

async fn run(spec: &ProbeSpec, start: Instant, progress: &mut Progress) -> Ended {
    match spec.endpoint() {
        Endpoint::Unix(path) => {
            progress.phase = Phase::Connecting;
            match UnixStream::connect(path).await {
                Ok(mut stream) => {
                    progress.connected(start);
                    exchange(spec, &mut stream, &mut progress.received).await
                }
                Err(err) => connect_failed(err),
            }
        }
        Endpoint::Inet { host, port } => {
            let addrs = match host {
                Host::Ip(ip) => vec![SocketAddr::new(*ip, *port)],
                Host::Name(name) => match tokio::net::lookup_host((name.as_str(), *port)).await {
                    Ok(addrs) => addrs.collect(),
                    Err(err) => {
                        return Ended::new(ProbeOutcome::NoRoute, format!("resolving {name}: {err}"));
                    }
                },
            };
            progress.phase = Phase::Connecting;
            // Like any client, try each address of a name until one takes
            // the connection.
            let mut failure = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(mut stream) => {
                        progress.connected(start);
                        return exchange(spec, &mut stream, &mut progress.received).await;
                    }
                    Err(err) => failure = Some(err),
                }
            }
            match failure {
                Some(err) => connect_failed(err),
                None => Ended::new(ProbeOutcome::NoRoute, "the name has no address".into()),
            }
        }
    }
}

async fn exchange<S>(spec: &ProbeSpec, stream: &mut S, received: &mut Vec<u8>) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match spec.protocol() {
        Protocol::Tcp => tcp::check(stream, spec.expect(), received).await,
        Protocol::Smtp => smtp::check(stream, spec.expect().unwrap_or(smtp::READY), received).await,
        Protocol::Milter => milter::check(stream, received).await,
        Protocol::Clamd => clamd::check(stream, received).await,
        Protocol::Http { authority, path } => http::check(stream, authority, path, received).await,
    }
}

fn connect_failed(err: io::Error) -> Ended {
    use io::ErrorKind::*;
    let outcome = match err.kind() {
        // A Unix socket path with nothing there is the Unix form of a
        // closed port.
        ConnectionRefused | NotFound => ProbeOutcome::Refused,
        HostUnreachable | NetworkUnreachable | AddrNotAvailable => ProbeOutcome::NoRoute,
        _ => ProbeOutcome::Error,
    };
    Ended::new(outcome, err.to_string())
}

/// How a bounded read stopped.
enum Read {
    Complete,
    Closed,
    TooLong,
}

/// Reads into `received` until `complete` holds for what came, the peer
/// closes, or `READ_LIMIT` bytes have come.
async fn read_until<S: AsyncRead + Unpin>(
    stream: &mut S,
    received: &mut Vec<u8>,
    complete: impl Fn(&[u8]) -> bool,
) -> io::Result<Read> {
    let mut chunk = [0u8; 512];
    loop {
        if complete(received) {
            return Ok(Read::Complete);
        }
        let room = READ_LIMIT.saturating_sub(received.len()).min(chunk.len());
        if room == 0 {
            return Ok(Read::TooLong);
        }
        let n = stream.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// The first line, without its line ending, once it is complete.
fn first_line(received: &[u8]) -> Option<&[u8]> {
    let end = received.iter().position(|&b| b == b'\n')?;
    let line = &received[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Bytes from the network as one line of text: printable ASCII as is,
/// `\r`, `\n`, `\t`, `\0` and `\\` escaped, any other byte as `\xNN`; cut
/// at `DETAIL_MAX` characters, marked with `...`.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        let piece = match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\t' => "\\t".to_string(),
            b'\0' => "\\0".to_string(),
            b'\\' => "\\\\".to_string(),
            b' '..=b'~' => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        if out.len() + piece.len() > DETAIL_MAX {
            out.push_str("...");
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// `300ms`, `2s`, `1.5s`.
fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::testserver::{Script, Server, closed_port};
    use super::*;

    const SHORT: Duration = Duration::from_millis(300);

    #[test]
    fn escape_shows_control_bytes_and_cuts_long_answers() {
        assert_eq!(escape(b"554 go away\r\n"), "554 go away\\r\\n");
        assert_eq!(escape(b"\0\x01\xff\\"), "\\0\\x01\\xff\\\\");
        let long = escape(&[b'x'; 200]);
        assert_eq!(long.len(), DETAIL_MAX + 3);
        assert!(long.ends_with("..."));
        let hex = escape(&[0xfe; 50]);
        assert!(hex.len() <= DETAIL_MAX + 3, "{hex}");
    }

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
    }

    #[test]
    fn maps_connect_errors_to_outcomes() {
        let cases = [
            (os_error(111), ProbeOutcome::Refused),
            (os_error(2), ProbeOutcome::Refused),
            (os_error(113), ProbeOutcome::NoRoute),
            (os_error(101), ProbeOutcome::NoRoute),
            (os_error(13), ProbeOutcome::Error),
        ];
        for (err, outcome) in cases {
            let text = err.to_string();
            let ended = connect_failed(err);
            assert_eq!(ended.outcome, outcome, "{text}");
            assert_eq!(ended.detail, text);
        }
    }

    fn os_error(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[tokio::test]
    async fn probes_run_concurrently_and_come_back_in_order() {
        let servers: Vec<Server> = (0..5).map(|_| Server::tcp(Script::Silent)).collect();
        let specs: Vec<ProbeSpec> = servers
            .iter()
            .map(|server| parse(&format!("smtp:{}", server.addr)).unwrap().with_timeout(SHORT))
            .collect();
        let results = probe_all(&specs).await;
        assert_eq!(results.len(), 5);
        for (result, spec) in results.iter().zip(&specs) {
            assert_eq!(result.target, spec.target());
            assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
            assert!(result.connect_us.is_some(), "{result:?}");
        }
    }

    /// The recorder may hand probes to another task.
    #[test]
    fn probe_futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        let spec = parse("tcp:127.0.0.1:1").unwrap();
        is_send(&probe(&spec));
        is_send(&probe_all(std::slice::from_ref(&spec)));
    }

    #[tokio::test]
    async fn probe_all_of_nothing_is_nothing() {
        assert!(probe_all(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn resolves_names() {
        let server = Server::tcp(Script::Silent);
        let port = server.addr.rsplit_once(':').unwrap().1;
        let result = probe(&parse(&format!("tcp:localhost:{port}")).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
    }

    #[tokio::test]
    async fn speaks_ipv6() {
        let Some(server) = Server::tcp_on("[::1]:0", Script::Silent) else {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        };
        let result = probe(&parse(&format!("tcp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
    }

    #[tokio::test]
    async fn closed_port_is_refused_fast() {
        let result = probe(&parse(&format!("tcp:127.0.0.1:{}", closed_port())).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
        assert_eq!(result.connect_us, None);
    }
}
