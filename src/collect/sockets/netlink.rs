//! NETLINK_SOCK_DIAG: the kernel's TCP socket table as binary records, the
//! way `ss` reads it, and much cheaper than /proc/net/tcp as sockets grow.
//! One SOCK_DIAG_BY_FAMILY dump request (`struct inet_diag_req_v2`) per
//! address family; the kernel answers with datagrams holding one
//! `struct inet_diag_msg` per socket, ended by NLMSG_DONE.
//!
//! Layouts are those of include/uapi/linux/netlink.h, sock_diag.h and
//! inet_diag.h: fields in host byte order, except ports (network order).

use super::Socket;
use anyhow::{Context, Result, bail, ensure};
use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use std::os::fd::{AsRawFd, OwnedFd};

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_V2_LEN: usize = 56;
const REQ_LEN: usize = NLMSG_HDRLEN + REQ_V2_LEN;
/// `sizeof(struct inet_diag_msg)`.
const DIAG_MSG_LEN: usize = 72;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;

/// TCP states 1 (ESTABLISHED) to 12 (NEW_SYN_RECV). Request sockets
/// (NEW_SYN_RECV) are dumped only when asked for. State 13
/// (BOUND_INACTIVE, bound but neither listening nor connecting) is left out
/// as `ss` and /proc/net/tcp leave it out.
const STATES: u32 = ((1 << 13) - 1) & !1;

/// The kernel sizes dump datagrams to the reader's buffer, up to 32 KiB.
const BUF_LEN: usize = 32 * 1024;

/// A dying machine must not stall the recorder on a reply that never comes.
const REPLY_TIMEOUT_SECS: i64 = 2;

/// An open NETLINK_SOCK_DIAG socket and its receive buffer, both kept for
/// the life of the recorder.
pub struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

impl DiagSocket {
    pub fn open() -> Result<Self> {
        Self::open_with_buffer(BUF_LEN)
    }

    /// With a receive buffer of `len` bytes: a small one makes dumps fail,
    /// for tests of what follows a failure.
    pub(super) fn open_with_buffer(len: usize) -> Result<Self> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )
        .context("opening a NETLINK_SOCK_DIAG socket")?;
        let timeout = TimeVal::seconds(REPLY_TIMEOUT_SECS);
        socket::setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)
            .context("setting a receive timeout on the NETLINK_SOCK_DIAG socket")?;
        Ok(DiagSocket { fd, buf: vec![0; len], seq: 0 })
    }

    /// Feeds every IPv4 and IPv6 TCP socket to `each`.
    pub fn dump(&mut self, mut each: impl FnMut(Socket)) -> Result<()> {
        for (family, name) in [(libc::AF_INET, "IPv4"), (libc::AF_INET6, "IPv6")] {
            self.dump_family(family as u8, &mut each)
                .with_context(|| format!("dumping {name} TCP sockets over NETLINK_SOCK_DIAG"))?;
        }
        Ok(())
    }

    fn dump_family(&mut self, family: u8, each: &mut impl FnMut(Socket)) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let fd = self.fd.as_raw_fd();
        let kernel = NetlinkAddr::new(0, 0);
        let req = request(family, self.seq);
        retry_interrupted(|| socket::sendto(fd, &req, &kernel, MsgFlags::empty()))
            .context("sending the request")?;
        loop {
            // MSG_TRUNC makes recv return the datagram's real length, so a
            // datagram larger than the buffer is an error, not lost sockets.
            let len = retry_interrupted(|| socket::recv(fd, &mut self.buf, MsgFlags::MSG_TRUNC))
                .context("receiving the reply")?;
            ensure!(
                len <= self.buf.len(),
                "a reply of {len} bytes overflowed the {}-byte buffer",
                self.buf.len()
            );
            if parse_reply(&self.buf[..len], self.seq, each)? == Reply::Done {
                return Ok(());
            }
        }
    }
}

/// Runs a socket call again when a signal interrupted it: with a receive
/// timeout set, the kernel never restarts socket calls by itself, and a
/// signal must not count as netlink failing.
fn retry_interrupted<T>(mut call: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// A `SOCK_DIAG_BY_FAMILY` dump request for every TCP socket of `family`.
fn request(family: u8, seq: u32) -> [u8; REQ_LEN] {
    let mut req = [0; REQ_LEN];
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[0..4].copy_from_slice(&(REQ_LEN as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: addressed to the kernel.
    let body = &mut req[NLMSG_HDRLEN..];
    body[0] = family;
    body[1] = libc::IPPROTO_TCP as u8;
    // idiag_ext 0 (no extensions) and pad 0.
    body[4..8].copy_from_slice(&STATES.to_ne_bytes());
    // The socket id stays zero: a dump matches every socket.
    req
}

#[derive(Debug, PartialEq)]
pub enum Reply {
    More,
    Done,
}

/// Feeds each socket in one datagram of the reply to request `seq` to
/// `each`; says whether the dump is complete. Messages of other requests
/// are skipped.
pub fn parse_reply(mut buf: &[u8], seq: u32, each: &mut impl FnMut(Socket)) -> Result<Reply> {
    while !buf.is_empty() {
        ensure!(buf.len() >= NLMSG_HDRLEN, "{} stray bytes after the last netlink message", buf.len());
        let len = u32_at(buf, 0) as usize;
        ensure!(
            (NLMSG_HDRLEN..=buf.len()).contains(&len),
            "netlink message length {len} outside the {} bytes left",
            buf.len()
        );
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let message_seq = u32_at(buf, 8);
        let payload = &buf[NLMSG_HDRLEN..len];
        // Messages start on 4-byte boundaries; the last one may lack padding.
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
        if message_seq != seq {
            continue;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => each(diag_msg(payload)?),
            NLMSG_DONE => {
                // The kernel ends a dump that failed midway with its error.
                if let Some(errno) = payload.get(..4).map(|b| i32_at(b, 0))
                    && errno < 0
                {
                    bail!("the kernel ended the dump with {}", Errno::from_raw(-errno));
                }
                return Ok(Reply::Done);
            }
            NLMSG_ERROR => {
                ensure!(payload.len() >= 4, "truncated NLMSG_ERROR message");
                let errno = i32_at(payload, 0);
                // Error 0 is an acknowledgement, which a dump does not need.
                if errno == 0 {
                    continue;
                }
                bail!("the kernel refused the request: {}", Errno::from_raw(-errno));
            }
            _ => {}
        }
    }
    Ok(Reply::More)
}

/// One `struct inet_diag_msg`. Extensions after it (none are asked for)
/// would be ignored.
fn diag_msg(payload: &[u8]) -> Result<Socket> {
    ensure!(
        payload.len() >= DIAG_MSG_LEN,
        "socket record of {} bytes, expected at least {DIAG_MSG_LEN}",
        payload.len()
    );
    Ok(Socket {
        state: payload[1],
        local_port: u16::from_be_bytes([payload[4], payload[5]]),
        remote_port: u16::from_be_bytes([payload[6], payload[7]]),
        rqueue: u32_at(payload, 56),
        wqueue: u32_at(payload, 60),
    })
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("four bytes"))
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(buf[at..at + 4].try_into().expect("four bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A reply is kernel memory, but a damaged one must be an error.
        #[test]
        fn any_reply_bytes_are_a_value_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_reply(&bytes, 1, &mut |_| {});
        }
    }

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut msg = Vec::new();
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLM_F_MULTI as u16).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&4321u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize(len.next_multiple_of(4), 0);
        msg
    }

    fn diag(state: u8, local_port: u16, remote_port: u16, rqueue: u32, wqueue: u32) -> Vec<u8> {
        let mut msg = vec![0; DIAG_MSG_LEN];
        msg[0] = libc::AF_INET6 as u8;
        msg[1] = state;
        msg[4..6].copy_from_slice(&local_port.to_be_bytes());
        msg[6..8].copy_from_slice(&remote_port.to_be_bytes());
        msg[56..60].copy_from_slice(&rqueue.to_ne_bytes());
        msg[60..64].copy_from_slice(&wqueue.to_ne_bytes());
        msg[68..72].copy_from_slice(&99u32.to_ne_bytes());
        msg
    }

    fn parse(buf: &[u8], seq: u32) -> (Result<Reply>, Vec<Socket>) {
        let mut sockets = Vec::new();
        let reply = parse_reply(buf, seq, &mut |socket| sockets.push(socket));
        (reply, sockets)
    }

    #[test]
    fn request_is_an_inet_diag_req_v2_dump() {
        let req = request(libc::AF_INET6 as u8, 7);
        assert_eq!(req.len(), 72);
        assert_eq!(u32_at(&req, 0), 72);
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), 20);
        assert_eq!(u16::from_ne_bytes([req[6], req[7]]), 0x301);
        assert_eq!(u32_at(&req, 8), 7);
        assert_eq!(&req[16..20], &[libc::AF_INET6 as u8, 6, 0, 0]);
        assert_eq!(u32_at(&req, 20), 0x1ffe);
        assert!(req[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn reads_sockets_across_datagrams_until_done() {
        let mut first = message(SOCK_DIAG_BY_FAMILY, 3, &diag(10, 25, 0, 100, 128));
        first.extend(message(SOCK_DIAG_BY_FAMILY, 3, &diag(12, 25, 40001, 0, 0)));
        let (reply, sockets) = parse(&first, 3);
        assert_eq!(reply.unwrap(), Reply::More);
        let listener = Socket { state: 10, local_port: 25, remote_port: 0, rqueue: 100, wqueue: 128 };
        let request = Socket { state: 12, local_port: 25, remote_port: 40001, rqueue: 0, wqueue: 0 };
        assert_eq!(sockets, vec![listener, request]);

        let mut last = message(SOCK_DIAG_BY_FAMILY, 3, &diag(1, 40002, 8891, 0, 5));
        last.extend(message(NLMSG_DONE, 3, &0i32.to_ne_bytes()));
        let (reply, sockets) = parse(&last, 3);
        assert_eq!(reply.unwrap(), Reply::Done);
        assert_eq!((sockets[0].local_port, sockets[0].remote_port), (40002, 8891));
    }

    #[test]
    fn skips_messages_of_other_requests_and_unknown_types() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, 2, &diag(1, 1, 2, 0, 0));
        buf.extend(message(libc::NLMSG_NOOP as u16, 3, &[]));
        buf.extend(message(SOCK_DIAG_BY_FAMILY, 3, &diag(1, 3, 4, 0, 0)));
        let (reply, sockets) = parse(&buf, 3);
        assert_eq!(reply.unwrap(), Reply::More);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].local_port, 3);
    }

    #[test]
    fn reports_the_kernel_error() {
        let mut payload = (-libc::ENOENT).to_ne_bytes().to_vec();
        payload.extend(&request(libc::AF_INET as u8, 5)[..NLMSG_HDRLEN]);
        let (reply, _) = parse(&message(NLMSG_ERROR, 5, &payload), 5);
        let message = format!("{:#}", reply.unwrap_err());
        assert!(message.contains("ENOENT"), "{message}");
    }

    #[test]
    fn reports_a_dump_that_failed_midway() {
        let done = message(NLMSG_DONE, 5, &(-libc::EINTR).to_ne_bytes());
        let message = format!("{:#}", parse(&done, 5).0.unwrap_err());
        assert!(message.contains("EINTR"), "{message}");
    }

    #[test]
    fn rejects_lengths_that_do_not_fit() {
        let mut long = message(SOCK_DIAG_BY_FAMILY, 1, &diag(1, 1, 2, 0, 0));
        long[0..4].copy_from_slice(&200u32.to_ne_bytes());
        assert!(parse(&long, 1).0.is_err());

        let mut short = message(SOCK_DIAG_BY_FAMILY, 1, &diag(1, 1, 2, 0, 0));
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(parse(&short, 1).0.is_err());

        let record = message(SOCK_DIAG_BY_FAMILY, 1, &diag(1, 1, 2, 0, 0)[..40]);
        assert!(parse(&record, 1).0.is_err());

        let stray = message(NLMSG_DONE, 1, &0i32.to_ne_bytes());
        assert!(parse(&stray[..10], 1).0.is_err());
    }
}
