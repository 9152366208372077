//! `milter:HOST:PORT` and `milter:unix:/PATH`: the option negotiation an MTA
//! opens every mail-filter session with, so that a filter that accepts
//! connections but is hung inside shows as a timeout, not as up.
//!
//! Every packet is a 4-byte big-endian length (counting the command byte
//! and the data), a command byte, then the data. We send SMFIC_OPTNEG
//! (`'O'`) with three big-endian u32s: protocol version, the actions the
//! filter may take, the protocol steps it may skip or not reply to. The
//! filter answers with its own `'O'` packet carrying the same three fields,
//! optionally followed by macro lists. Then we send SMFIC_QUIT (`'Q'`).
//! Sources: sendmail's libmilter (`include/libmilter/mfdef.h` for the
//! constants, `libmilter/engine.c` `st_optionneg` for what a filter checks)
//! and Postfix's `src/milter/milter8.c` (`milter8_connect`, what an MTA
//! offers and checks).

use super::{Ended, Read, read_until};
use crate::sample::ProbeOutcome;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// SMFIC_OPTNEG, and the command byte of the filter's reply to it.
const OPTNEG: u8 = b'O';
/// SMFIC_QUIT: ends the session before any connection data.
const QUIT: [u8; 5] = [0, 0, 0, 1, b'Q'];

/// The newest protocol version (sendmail 8.14, Postfix `milter_protocol = 6`).
const VERSION: u32 = 6;
/// Every SMFIF_* action (add headers ... set macro list). libmilter drops
/// the session without a reply when a filter's required actions are not all
/// offered, which would make a healthy filter look broken.
const ACTIONS: u32 = 0x0000_01ff;
/// Every SMFIP_* step flag of version 6 (no-connect ... header leading
/// space), as Postfix offers them, for the same reason.
const PROTOCOL: u32 = 0x001f_ffff;

/// Length byte, command byte, three u32s.
const REPLY_HEADER: usize = 4 + 1 + 12;
/// libmilter's MILTER_MAX_DATA_SIZE; an option reply with macro lists is
/// far below it, so a larger length means the peer is not a milter.
const MAX_PACKET: u32 = 65_535;

pub(super) async fn check<S>(stream: &mut S, received: &mut Vec<u8>) -> Ended
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(err) = stream.write_all(&request()).await {
        return Ended::io(err, received);
    }
    let read = read_until(stream, received, |got| judge(got) != Reply::Partial).await;
    let ended = match read {
        Err(err) => return Ended::io(err, received),
        Ok(Read::Closed) => return Ended::closed(received),
        Ok(Read::TooLong) => return Ended::wrong(received),
        Ok(Read::Complete) => match judge(received) {
            Reply::Negotiated(version) => Ended::ok(format!("milter protocol version {version}")),
            Reply::Incompatible(reason) => Ended::new(ProbeOutcome::ProtocolError, reason),
            Reply::NotOptneg | Reply::Partial => return Ended::wrong(received),
        },
    };
    // The filter answered; it may still find the goodbye rude, which
    // changes nothing about the answer.
    let _ = stream.write_all(&QUIT).await;
    let _ = stream.shutdown().await;
    ended
}

fn request() -> [u8; REPLY_HEADER] {
    let mut packet = [0u8; REPLY_HEADER];
    packet[..4].copy_from_slice(&13u32.to_be_bytes());
    packet[4] = OPTNEG;
    packet[5..9].copy_from_slice(&VERSION.to_be_bytes());
    packet[9..13].copy_from_slice(&ACTIONS.to_be_bytes());
    packet[13..17].copy_from_slice(&PROTOCOL.to_be_bytes());
    packet
}

/// What the filter's reply says so far.
#[derive(Debug, PartialEq)]
enum Reply {
    /// More bytes are needed to tell.
    Partial,
    /// An option reply from a filter speaking this protocol version.
    Negotiated(u32),
    /// Not an option reply: the bytes themselves tell what it is.
    NotOptneg,
    /// An option reply an MTA would not work with, and why.
    Incompatible(String),
}

/// Judges the reply as far as it has come, checking what Postfix checks.
fn judge(reply: &[u8]) -> Reply {
    let field = |at: usize| {
        let bytes = reply.get(at..at + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let Some(length) = field(0) else {
        return Reply::Partial;
    };
    if !(1..=MAX_PACKET).contains(&length) {
        return Reply::NotOptneg;
    }
    let Some(&command) = reply.get(4) else {
        return Reply::Partial;
    };
    if command != OPTNEG || length < 13 {
        return Reply::NotOptneg;
    }
    let (Some(version), Some(actions), Some(_)) = (field(5), field(9), field(13)) else {
        return Reply::Partial;
    };
    if version > VERSION {
        return Reply::Incompatible(format!(
            "filter wants milter protocol version {version}, newer than {VERSION}"
        ));
    }
    if actions & !ACTIONS != 0 {
        return Reply::Incompatible(format!(
            "filter asks for actions {actions:#x}, beyond the {ACTIONS:#x} offered"
        ));
    }
    Reply::Negotiated(version)
}

#[cfg(test)]
mod tests {
    use super::super::testserver::{Script, Server, TempDir, closed_port};
    use super::super::{parse, probe};
    use super::*;
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);

    /// What libmilter sends back for a filter built against version 6 that
    /// adds headers and skips nothing.
    const LIBMILTER_REPLY: [u8; 17] = [0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];

    #[test]
    fn request_is_an_optneg_packet() {
        assert_eq!(request(), [0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff]);
    }

    #[test]
    fn judges_replies() {
        assert_eq!(judge(b""), Reply::Partial);
        assert_eq!(judge(&LIBMILTER_REPLY[..16]), Reply::Partial);
        assert_eq!(judge(&LIBMILTER_REPLY), Reply::Negotiated(6));
        let mut with_macros = LIBMILTER_REPLY.to_vec();
        with_macros[3] = 13 + 8;
        with_macros.extend_from_slice(b"\0\0\0\x01j\0\0\0");
        assert_eq!(judge(&with_macros), Reply::Negotiated(6));
        let mut older = LIBMILTER_REPLY;
        older[8] = 2;
        assert_eq!(judge(&older), Reply::Negotiated(2));

        assert_eq!(judge(b"HTTP/1.1 400 Bad Request\r\n"), Reply::NotOptneg);
        assert_eq!(judge(&[0, 0, 0, 0]), Reply::NotOptneg);
        assert_eq!(judge(&[0, 0, 0, 1, b'c']), Reply::NotOptneg, "SMFIR_CONTINUE");
        assert_eq!(judge(&[0, 0, 0, 5, b'O', 0, 0, 0, 6]), Reply::NotOptneg);

        let mut newer = LIBMILTER_REPLY;
        newer[8] = 7;
        assert!(matches!(judge(&newer), Reply::Incompatible(reason) if reason.contains("version 7")));
        let mut greedy = LIBMILTER_REPLY;
        greedy[10] = 0x80;
        assert!(matches!(judge(&greedy), Reply::Incompatible(reason) if reason.contains("0x800001")));
    }

    async fn probe_server(server: &Server) -> crate::sample::ProbeResult {
        let spec = parse(&format!("milter:{}", server.addr)).unwrap().with_timeout(SHORT);
        probe(&spec).await
    }

    #[tokio::test]
    async fn negotiating_filter_is_ok_and_gets_a_quit() {
        let mut server = Server::tcp(Script::answer(17, &LIBMILTER_REPLY));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert_eq!(result.detail, "milter protocol version 6");
        let mut sent = request().to_vec();
        sent.extend_from_slice(&QUIT);
        assert_eq!(server.request().await, sent);
    }

    #[tokio::test]
    async fn negotiating_filter_on_a_unix_socket_is_ok() {
        let server = Server::unix(Script::answer(17, &LIBMILTER_REPLY));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Ok, "{result:?}");
        assert!(result.connect_us.is_some());
    }

    #[tokio::test]
    async fn hung_filter_is_a_timeout_after_connect() {
        let server = Server::tcp(Script::Silent);
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn hung_filter_on_a_unix_socket_is_a_timeout_after_connect() {
        let server = Server::unix(Script::Silent);
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::Timeout, "{result:?}");
        assert!(result.connect_us.is_some(), "{result:?}");
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let spec = parse(&format!("milter:127.0.0.1:{}", closed_port())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
        assert_eq!(result.connect_us, None);
    }

    #[tokio::test]
    async fn missing_unix_socket_is_refused() {
        let dir = TempDir::create();
        let spec = parse(&format!("milter:unix:{}", dir.0.join("clamav-milter.ctl").display())).unwrap();
        let result = probe(&spec).await;
        assert_eq!(result.outcome, ProbeOutcome::Refused, "{result:?}");
        assert_eq!(result.connect_us, None);
    }

    #[tokio::test]
    async fn garbage_is_a_protocol_error_quoting_it() {
        let server = Server::tcp(Script::answer(17, b"HTTP/1.1 400 Bad Request\r\n\r\n"));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert!(result.detail.starts_with("HTTP/1.1 400 Bad Request\\r\\n"), "{result:?}");
    }

    #[tokio::test]
    async fn binary_garbage_is_shown_in_hex() {
        let server = Server::unix(Script::answer(17, &[0, 0, 0, 1, b'r']));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert_eq!(result.detail, "\\0\\0\\0\\x01r");
    }

    #[tokio::test]
    async fn filter_hanging_up_is_a_protocol_error() {
        let server = Server::tcp(Script::hang_up(17, b""));
        let result = probe_server(&server).await;
        assert_eq!(result.outcome, ProbeOutcome::ProtocolError, "{result:?}");
        assert!(result.detail.starts_with("connection "), "{result:?}");
    }
}
