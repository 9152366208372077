//! `http:http://HOST[:PORT]/PATH`: one HTTP/1.0 GET, judged by its status
//! line (`HTTP/1.1 200 OK`). 2xx and 3xx are up; 4xx and 5xx are a server
//! that answers but cannot serve. Plain HTTP only: a local health endpoint
//! needs no TLS, and a TLS stack is more than a probe should carry.

use super::{Ended, Read, escape, first_line, read_until};
use crate::sample::ProbeOutcome;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub(super) async fn check<S>(stream: &mut S, authority: &str, path: &str, received: &mut Vec<u8>) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // HTTP/1.0 with Connection: close: no chunking, no keep-alive, and the
    // body, which is never read, ends with the connection.
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: flightrec\r\nConnection: close\r\n\r\n"
    );
    if let Err(err) = stream.write_all(request.as_bytes()).await {
        return Ended::io(err, received);
    }
    match read_until(stream, received, |got| first_line(got).is_some()).await {
        Err(err) => Ended::io(err, received),
        Ok(Read::Closed) => Ended::closed(received),
        Ok(Read::TooLong) => Ended::wrong(received),
        Ok(Read::Complete) => {
            let line = first_line(received).unwrap_or_default();
            match status(line) {
                Some(200..=399) => Ended::ok(escape(line)),
                Some(400..=599) => Ended::new(ProbeOutcome::ProtocolError, escape(line)),
                _ => Ended::wrong(received),
            }
        }
    }
}

/// The code of a status line `HTTP/x.y NNN reason`.
fn status(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/")?;
    let mut fields = rest.splitn(3, |&b| b == b' ');
    fields.next()?;
    let code = fields.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::testserver::{Script, Server, closed_port};
    use super::super::{parse, probe};
    use super::*;
    use crate::sample::ProbeResult;
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);

    async fn probe_path(server: &Server, path: &str) -> ProbeResult {
        let spec = parse(&format!("http:http://{}{path}", server.addr)).unwrap().with_timeout(SHORT);
        probe(&spec).await
    }

    /// Waits for the whole request head before answering.
    fn answering(reply: &[u8]) -> Script {
        Script::hang_up(60, reply)
    }

    #[test]
    fn reads_status_codes() {
        assert_eq!(status(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503"), Some(503));
        assert_eq!(status(b"HTTP/2 404 Not Found"), Some(404));
        assert_eq!(status(b"HTTP/1.1 20 OK"), None);
        assert_eq!(status(b"HTTP/1.1 2000 OK"), None);
        assert_eq!(status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(status(b""), None);
    }

    #[tokio::test]
    async fn success_is_ok_with_the_status() {
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut server = Server::tcp(Script::answer(60, reply));
        let result = probe_path(&server, "/health?full=1").await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert_eq!(result.detail, "HTTP/1.1 200 OK");
        let request = String::from_utf8(server.request().await).unwrap();
        assert!(request.starts_with("GET /health?full=1 HTTP/1.0\r\n"), "{request}");
        assert!(request.contains(&format!("\r\nHost: {}\r\n", server.addr)), "{request}");
        assert!(request.ends_with("\r\n\r\n"), "{request}");
    }

    #[tokio::test]
    async fn redirect_is_ok() {
        let server = Server::tcp(answering(b"HTTP/1.0 302 Found\r\nLocation: /login\r\n\r\n"));
        let result = probe_path(&server, "/").await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert_eq!(result.detail, "HTTP/1.0 302 Found");
    }

    #[tokio::test]
    async fn silent_server_is_a_timeout_after_connect() {
        let server = Server::tcp(Script::Silent);
        let result = probe_path(&server, "/").await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let spec = parse(&format!("http:http://127.0.0.1:{}/", closed_port())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
    }

    #[tokio::test]
    async fn server_error_is_a_protocol_error_with_the_status_line() {
        let server = Server::tcp(answering(b"HTTP/1.0 500 Internal Server Error\r\n\r\n"));
        let result = probe_path(&server, "/").await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "HTTP/1.0 500 Internal Server Error");
    }

    #[tokio::test]
    async fn not_http_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(answering(b"220 mail.example ESMTP\r\n"));
        let result = probe_path(&server, "/").await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "220 mail.example ESMTP\\r\\n");
    }
}
