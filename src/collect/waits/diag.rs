//! NETLINK_SOCK_DIAG in general form: one open socket, any dump request
//! (`inet_diag_req_v2` for TCP, `unix_diag_req` for unix sockets), and the
//! reply walked message by message, with each record's netlink attributes
//! (`struct rtattr`) found by type. What a record means is left to `inet`
//! and `unix`.
//!
//! Layouts are those of include/uapi/linux/netlink.h, rtnetlink.h and
//! sock_diag.h, in host byte order.

use anyhow::{Context, Result, bail, ensure};
use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use std::os::fd::{AsRawFd, OwnedFd};

/// `sizeof(struct nlmsghdr)`.
const HEADER_LEN: usize = 16;
/// `sizeof(struct rtattr)`.
const ATTR_HEADER_LEN: usize = 4;
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;

/// The kernel fills dump datagrams up to the reader's buffer, at most 32 KiB.
const BUF_LEN: usize = 32 * 1024;

/// A reply that never comes (a dying machine) must not hold the caller.
const REPLY_TIMEOUT_SECS: i64 = 2;

/// An open NETLINK_SOCK_DIAG socket and its receive buffer, kept between
/// dumps.
pub struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

/// Where a reply datagram leaves the dump.
#[derive(Debug, PartialEq)]
pub enum Progress {
    More,
    Done,
}

impl DiagSocket {
    pub fn open() -> Result<Self> {
        Self::open_with_buffer(BUF_LEN)
    }

    /// With a receive buffer of `len` bytes: a small one makes dumps fail,
    /// for tests of what follows a failure.
    pub fn open_with_buffer(len: usize) -> Result<Self> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )
        .context("opening a NETLINK_SOCK_DIAG socket")?;
        socket::setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::seconds(REPLY_TIMEOUT_SECS))
            .context("setting a receive timeout on the NETLINK_SOCK_DIAG socket")?;
        Ok(DiagSocket { fd, buf: vec![0; len], seq: 0 })
    }

    /// Sends a SOCK_DIAG_BY_FAMILY dump request with `body` (the
    /// family-specific request struct) and feeds every record of the reply
    /// to `each`, until the kernel says the dump is complete.
    pub fn dump(&mut self, body: &[u8], mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.dump_datagrams(body, |datagram, seq| walk(datagram, seq, &mut each))
    }

    /// The reply's datagrams as the kernel sent them, each padded to a
    /// multiple of 4 bytes so that they can be stored end to end.
    #[cfg(test)]
    pub fn capture(&mut self, body: &[u8]) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.dump_datagrams(body, |datagram, seq| {
            bytes.extend_from_slice(datagram);
            bytes.resize(bytes.len().next_multiple_of(4), 0);
            walk(datagram, seq, &mut |_| Ok(()))
        })?;
        Ok(bytes)
    }

    fn dump_datagrams(
        &mut self,
        body: &[u8],
        mut each: impl FnMut(&[u8], u32) -> Result<Progress>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let fd = self.fd.as_raw_fd();
        let request = request(body, self.seq);
        retry_interrupted(|| socket::sendto(fd, &request, &NetlinkAddr::new(0, 0), MsgFlags::empty()))
            .context("sending the dump request")?;
        loop {
            // With MSG_TRUNC recv gives a datagram's full length: one larger
            // than the buffer is an error, never sockets silently lost.
            let len = retry_interrupted(|| socket::recv(fd, &mut self.buf, MsgFlags::MSG_TRUNC))
                .context("receiving the reply")?;
            ensure!(
                len <= self.buf.len(),
                "a reply of {len} bytes overflowed the {}-byte buffer",
                self.buf.len()
            );
            if each(&self.buf[..len], self.seq)? == Progress::Done {
                return Ok(());
            }
        }
    }
}

/// A socket call again after a signal: with a receive timeout set the
/// kernel does not restart it, and a signal is not netlink failing.
fn retry_interrupted<T>(mut call: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// `body` behind a netlink header asking for a dump.
fn request(body: &[u8], seq: u32) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut request = Vec::with_capacity(len);
    request.extend_from_slice(&(len as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&flags.to_ne_bytes());
    request.extend_from_slice(&seq.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
    request.extend_from_slice(body);
    request
}

/// Feeds each SOCK_DIAG_BY_FAMILY record of request `seq` in `buf` (one
/// datagram, or captured datagrams end to end) to `each`; says whether the
/// dump ended. Messages of other requests and of other types are skipped.
pub fn walk(mut buf: &[u8], seq: u32, each: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<Progress> {
    while !buf.is_empty() {
        ensure!(buf.len() >= HEADER_LEN, "{} stray bytes after the last netlink message", buf.len());
        let len = u32_at(buf, 0) as usize;
        ensure!(
            (HEADER_LEN..=buf.len()).contains(&len),
            "netlink message length {len} outside the {} bytes left",
            buf.len()
        );
        let kind = u16_at(buf, 4);
        let message_seq = u32_at(buf, 8);
        let payload = &buf[HEADER_LEN..len];
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
        if message_seq != seq {
            continue;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => each(payload)?,
            NLMSG_DONE => {
                // A dump that failed midway ends with the kernel's error.
                if payload.len() >= 4 && i32_at(payload, 0) < 0 {
                    bail!("the kernel ended the dump with {}", Errno::from_raw(-i32_at(payload, 0)));
                }
                return Ok(Progress::Done);
            }
            NLMSG_ERROR => {
                ensure!(payload.len() >= 4, "truncated NLMSG_ERROR message");
                match i32_at(payload, 0) {
                    0 => {} // an acknowledgement
                    errno => bail!("the kernel refused the request: {}", Errno::from_raw(-errno)),
                }
            }
            _ => {}
        }
    }
    Ok(Progress::More)
}

/// The netlink attributes after a record's fixed part, as (type, value).
/// A damaged attribute ends the list with an error.
pub fn attributes(mut buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8])>> {
    std::iter::from_fn(move || {
        if buf.len() < ATTR_HEADER_LEN {
            return None;
        }
        let len = usize::from(u16_at(buf, 0));
        if !(ATTR_HEADER_LEN..=buf.len()).contains(&len) {
            let left = buf.len();
            buf = &[];
            return Some(Err(anyhow::anyhow!("attribute length {len} outside the {left} bytes left")));
        }
        let item = (u16_at(buf, 2), &buf[ATTR_HEADER_LEN..len]);
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
        Some(Ok(item))
    })
}

pub fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

pub fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("four bytes"))
}

pub fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(buf[at..at + 8].try_into().expect("eight bytes"))
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(buf[at..at + 4].try_into().expect("four bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut msg = request(payload, seq);
        msg[4..6].copy_from_slice(&kind.to_ne_bytes());
        msg.resize(msg.len().next_multiple_of(4), 0);
        msg
    }

    fn records(buf: &[u8], seq: u32) -> (Result<Progress>, Vec<Vec<u8>>) {
        let mut seen = Vec::new();
        let progress = walk(buf, seq, &mut |record| {
            seen.push(record.to_vec());
            Ok(())
        });
        (progress, seen)
    }

    proptest::proptest! {
        /// Replies are kernel memory, but damaged bytes must be an error.
        #[test]
        fn any_bytes_are_records_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = walk(&bytes, 1, &mut |record| attributes(record).try_for_each(|a| a.map(drop)));
        }
    }

    #[test]
    fn walks_records_of_its_request_until_done() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, 4, &[1, 2, 3]);
        buf.extend(message(SOCK_DIAG_BY_FAMILY, 3, &[9; 4]));
        buf.extend(message(libc::NLMSG_NOOP as u16, 4, &[]));
        buf.extend(message(SOCK_DIAG_BY_FAMILY, 4, &[4; 8]));
        let (progress, seen) = records(&buf, 4);
        assert_eq!(progress.unwrap(), Progress::More);
        assert_eq!(seen, vec![vec![1, 2, 3], vec![4; 8]]);

        let done = message(NLMSG_DONE, 4, &0i32.to_ne_bytes());
        assert_eq!(records(&done, 4).0.unwrap(), Progress::Done);
    }

    #[test]
    fn says_what_the_kernel_refused() {
        let refused = message(NLMSG_ERROR, 2, &(-libc::EPERM).to_ne_bytes());
        let error = format!("{:#}", records(&refused, 2).0.unwrap_err());
        assert!(error.contains("EPERM"), "{error}");
        let failed = message(NLMSG_DONE, 2, &(-libc::EINTR).to_ne_bytes());
        let error = format!("{:#}", records(&failed, 2).0.unwrap_err());
        assert!(error.contains("EINTR"), "{error}");
    }

    #[test]
    fn finds_attributes_and_rejects_overlong_ones() {
        let mut buf = vec![6, 0, 4, 0, 0xaa, 0xbb, 0, 0];
        buf.extend([8, 0, 2, 0, 1, 2, 3, 4]);
        let found: Vec<(u16, Vec<u8>)> =
            attributes(&buf).map(|a| a.map(|(t, v)| (t, v.to_vec())).unwrap()).collect();
        assert_eq!(found, vec![(4, vec![0xaa, 0xbb]), (2, vec![1, 2, 3, 4])]);
        let overlong = [40, 0, 1, 0, 0, 0];
        assert!(attributes(&overlong).next().unwrap().is_err());
    }
}
