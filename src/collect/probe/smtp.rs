//! `smtp:HOST:PORT`: waits for the greeting (`220 mail.example ESMTP`,
//! possibly continued over `220-` lines), reports how long it took (a slow
//! greeting is the classic sign of a Postfix at its process limit), then
//! says `QUIT` so the server logs a clean disconnect.

use super::{Ended, Read, format_duration, read_until};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The greeting of a server that accepts mail, unless configured otherwise.
pub(super) const READY: &str = "220";

pub(super) async fn check<S>(stream: &mut S, expect: &str, received: &mut Vec<u8>) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connected = Instant::now();
    let read = read_until(stream, received, |got| greeting_done(got, expect)).await;
    let delay = connected.elapsed();
    match read {
        Err(err) => return Ended::io(err, received),
        Ok(Read::Closed) => return Ended::closed(received),
        Ok(Read::TooLong) => return Ended::wrong(received),
        Ok(Read::Complete) if !received.starts_with(expect.as_bytes()) => {
            return Ended::wrong(received);
        }
        Ok(Read::Complete) => {}
    }
    // The answer is in; a server that cannot take the goodbye changes
    // nothing about it.
    let _ = stream.write_all(b"QUIT\r\n").await;
    let _ = stream.shutdown().await;
    Ended::ok(format!("greeting after {}", format_duration(delay)))
}

/// Whether the greeting can be judged: its first line is not the expected
/// one, or its last line (`220 ...`, not `220-...`) has come.
fn greeting_done(received: &[u8], expect: &str) -> bool {
    let mut lines = received.split_inclusive(|&b| b == b'\n').filter(|line| line.ends_with(b"\n")).peekable();
    match lines.peek() {
        None => false,
        Some(first) if !first.starts_with(expect.as_bytes()) => true,
        Some(_) => lines.any(|line| line.get(3) != Some(&b'-')),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testserver::{Script, Server, closed_port};
    use super::super::{parse, probe};
    use super::*;
    use crate::sample::ProbeOutcome;
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);

    #[test]
    fn greeting_ends_at_its_last_line() {
        assert!(!greeting_done(b"", "220"));
        assert!(!greeting_done(b"220 mail", "220"));
        assert!(greeting_done(b"220 mail ESMTP\r\n", "220"));
        assert!(greeting_done(b"220\r\n", "220"));
        assert!(!greeting_done(b"220-mail ESMTP\r\n", "220"));
        assert!(!greeting_done(b"220-mail ESMTP\r\n220 more", "220"));
        assert!(greeting_done(b"220-mail ESMTP\r\n220 ready\r\n", "220"));
        assert!(greeting_done(b"554 go away\r\n", "220"));
        assert!(greeting_done(b"554-go\r\n", "220"));
    }

    #[tokio::test]
    async fn greeting_is_ok_and_quit_follows() {
        let mut server = Server::tcp(Script::answer(0, b"220 mail.example ESMTP Postfix\r\n"));
        let result = probe(&parse(&format!("smtp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert!(result.detail.starts_with("greeting after "), "{result:?}");
        assert!(result.connect_us.is_some());
        assert_eq!(server.request().await, b"QUIT\r\n");
    }

    #[tokio::test]
    async fn multi_line_greeting_is_ok() {
        let server = Server::tcp(Script::answer(0, b"220-mail.example\r\n220 ESMTP\r\n"));
        let result = probe(&parse(&format!("smtp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
    }

    #[tokio::test]
    async fn silent_server_is_a_timeout_after_connect() {
        let server = Server::tcp(Script::Silent);
        let spec = parse(&format!("smtp:{}", server.addr)).unwrap().with_timeout(SHORT);
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn greeting_cut_short_is_a_timeout_quoting_it() {
        let server = Server::tcp(Script::answer(0, b"220-mail.example\r\n"));
        let spec = parse(&format!("smtp:{}", server.addr)).unwrap().with_timeout(SHORT);
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert_eq!(result.detail, "connected, answer incomplete within 300ms: 220-mail.example\\r\\n");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let spec = parse(&format!("smtp:127.0.0.1:{}", closed_port())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
    }

    #[tokio::test]
    async fn rejection_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(Script::answer(0, b"554 go away\r\n"));
        let result = probe(&parse(&format!("smtp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "554 go away\\r\\n");
    }

    #[tokio::test]
    async fn configured_expectation_replaces_220() {
        let server = Server::tcp(Script::answer(0, b"220 mail.example ESMTP\r\n"));
        let spec = parse(&format!("smtp:{}", server.addr)).unwrap().with_expect("220 relay".into());
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
    }

    #[tokio::test]
    async fn hang_up_mid_greeting_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(Script::hang_up(0, b"421 "));
        let result = probe(&parse(&format!("smtp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "connection closed after 4 bytes: 421 ");
    }
}
