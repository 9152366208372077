//! `tcp:HOST:PORT`: the connection being accepted is the answer. With an
//! expected banner prefix (from the configuration, e.g. `SSH-` or `220`),
//! the first line the server sends must start with it.

use super::{Ended, Read, first_line, format_duration, read_until};
use std::time::Instant;
use tokio::io::AsyncRead;

pub(super) async fn check<S: AsyncRead + Unpin>(
    stream: &mut S,
    expect: Option<&str>,
    received: &mut Vec<u8>,
) -> Ended {
    let Some(expect) = expect else {
        return Ended::ok(String::new());
    };
    let connected = Instant::now();
    match read_until(stream, received, |got| first_line(got).is_some()).await {
        Err(err) => Ended::io(err, received),
        Ok(Read::Closed) => Ended::closed(received),
        Ok(Read::TooLong) => Ended::wrong(received),
        Ok(Read::Complete) if received.starts_with(expect.as_bytes()) => {
            Ended::ok(format!("banner after {}", format_duration(connected.elapsed())))
        }
        Ok(Read::Complete) => Ended::wrong(received),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testserver::{Script, Server, closed_port};
    use super::super::{parse, probe};
    use crate::sample::ProbeOutcome;
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn accepted_connection_is_ok() {
        let server = Server::tcp(Script::Silent);
        let result = probe(&parse(&format!("tcp:{}", server.addr)).unwrap()).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert!(result.connect_us.is_some());
        assert_eq!(result.detail, "");
    }

    #[tokio::test]
    async fn expected_banner_is_ok() {
        let server = Server::tcp(Script::answer(0, b"SSH-2.0-OpenSSH_9.6\r\n"));
        let spec = parse(&format!("tcp:{}", server.addr)).unwrap().with_expect("SSH-".into());
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert!(result.detail.starts_with("banner after "), "{result:?}");
    }

    #[tokio::test]
    async fn silence_when_a_banner_is_expected_is_a_timeout_after_connect() {
        let server = Server::tcp(Script::Silent);
        let spec =
            parse(&format!("tcp:{}", server.addr)).unwrap().with_timeout(SHORT).with_expect("220".into());
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
        assert_eq!(result.detail, "connected, no answer within 300ms");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let spec = parse(&format!("tcp:127.0.0.1:{}", closed_port())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
        assert_eq!(result.connect_us, None);
    }

    #[tokio::test]
    async fn wrong_banner_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(Script::answer(0, b"554 go away\r\n"));
        let spec = parse(&format!("tcp:{}", server.addr)).unwrap().with_expect("220".into());
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "554 go away\\r\\n");
    }

    #[tokio::test]
    async fn endless_line_is_cut_at_the_read_limit() {
        let server = Server::tcp(Script::answer(0, &[b'x'; 10_000]));
        let spec = parse(&format!("tcp:{}", server.addr)).unwrap().with_expect("220".into());
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert!(result.detail.ends_with("..."), "{result:?}");
    }
}
