//! `clamd:HOST:PORT` and `clamd:unix:/PATH`: ClamAV's documented health
//! check. clamd(8): a command prefixed with `z` ends at a NUL and the reply
//! ends the same way, so `zPING\0` is answered `PONG\0`; a daemon still
//! loading its signature database, or stuck, does not answer.

use super::{Ended, Read, read_until};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const PING: &[u8] = b"zPING\0";
const PONG: &[u8] = b"PONG";

pub(super) async fn check<S>(stream: &mut S, received: &mut Vec<u8>) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(err) = stream.write_all(PING).await {
        return Ended::io(err, received);
    }
    let read = read_until(stream, received, |got| got.contains(&0) || got.contains(&b'\n')).await;
    match read {
        Err(err) => Ended::io(err, received),
        Ok(Read::TooLong) => Ended::wrong(received),
        // A daemon that says PONG and hangs up has answered.
        Ok(Read::Closed) if received == PONG => Ended::ok(String::new()),
        Ok(Read::Closed) => Ended::closed(received),
        Ok(Read::Complete) => match received.split(|&b| b == 0 || b == b'\n').next() {
            Some(reply) if reply == PONG => Ended::ok(String::new()),
            _ => Ended::wrong(received),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::testserver::{Script, Server, TempDir, closed_port};
    use super::super::{parse, probe};
    use crate::sample::{ProbeOutcome, ProbeResult};
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);

    async fn probe_server(server: &Server) -> ProbeResult {
        let spec = parse(&format!("clamd:{}", server.addr)).unwrap().with_timeout(SHORT);
        probe(&spec).await
    }

    #[tokio::test]
    async fn pong_is_ok() {
        let mut server = Server::tcp(Script::answer(6, b"PONG\0"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert_eq!(server.request().await, b"zPING\0");
    }

    #[tokio::test]
    async fn pong_on_a_unix_socket_is_ok() {
        let server = Server::unix(Script::answer(6, b"PONG\0"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert!(result.connect_us.is_some());
    }

    #[tokio::test]
    async fn pong_then_hang_up_is_ok() {
        let server = Server::tcp(Script::hang_up(6, b"PONG"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
    }

    #[tokio::test]
    async fn silent_daemon_is_a_timeout_after_connect() {
        let server = Server::tcp(Script::Silent);
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn silent_daemon_on_a_unix_socket_is_a_timeout_after_connect() {
        let server = Server::unix(Script::Silent);
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let spec = parse(&format!("clamd:127.0.0.1:{}", closed_port())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
    }

    #[tokio::test]
    async fn missing_unix_socket_is_refused() {
        let dir = TempDir::create();
        let spec = parse(&format!("clamd:unix:{}", dir.0.join("clamd.ctl").display())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
        assert_eq!(result.connect_us, None);
    }

    #[tokio::test]
    async fn stale_unix_socket_is_refused() {
        let dir = TempDir::create();
        let path = dir.0.join("clamd.ctl");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let spec = parse(&format!("clamd:unix:{}", path.display())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
    }

    #[tokio::test]
    async fn garbage_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(Script::answer(6, b"UNKNOWN COMMAND\0"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "UNKNOWN COMMAND\\0");
    }

    #[tokio::test]
    async fn garbage_on_a_unix_socket_is_a_protocol_error() {
        let server = Server::unix(Script::answer(6, b"\xff\xfe\n"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "\\xff\\xfe\\n");
    }
}
