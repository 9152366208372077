//! NETLINK_SOCK_DIAG: the kernel's TCP socket table as binary records, the
//! way `ss` reads it, and much cheaper than /proc/net/tcp as sockets grow.
//! One SOCK_DIAG_BY_FAMILY dump request per address family, through the
//! plumbing and the record parser the wait-for picture uses
//! (`waits::diag`, `waits::inet`); here every state is asked for, and no
//! tcp_info, as only counts per port are kept.

use super::Socket;
use crate::collect::waits::{diag, inet};
use anyhow::{Context, Result};
use nix::libc;

/// TCP states 1 (ESTABLISHED) to 12 (NEW_SYN_RECV). Request sockets
/// (NEW_SYN_RECV) are dumped only when asked for. State 13
/// (BOUND_INACTIVE, bound but neither listening nor connecting) is left out
/// as `ss` and /proc/net/tcp leave it out.
const STATES: u32 = ((1 << 13) - 1) & !1;

/// An open NETLINK_SOCK_DIAG socket, kept for the life of the recorder.
pub struct DiagSocket(diag::DiagSocket);

impl DiagSocket {
    pub fn open() -> Result<Self> {
        Ok(DiagSocket(diag::DiagSocket::open()?))
    }

    /// With a receive buffer of `len` bytes: a small one makes dumps fail,
    /// for tests of what follows a failure.
    #[cfg(test)]
    pub(super) fn open_with_buffer(len: usize) -> Result<Self> {
        Ok(DiagSocket(diag::DiagSocket::open_with_buffer(len)?))
    }

    /// Feeds every IPv4 and IPv6 TCP socket to `each`.
    pub fn dump(&mut self, mut each: impl FnMut(Socket)) -> Result<()> {
        for (family, name) in [(libc::AF_INET, "IPv4"), (libc::AF_INET6, "IPv6")] {
            let request = inet::request_for(family as u8, STATES, false);
            self.0
                .dump(&request, |record| {
                    each(socket(&inet::parse(record)?));
                    Ok(())
                })
                .with_context(|| format!("dumping {name} TCP sockets over NETLINK_SOCK_DIAG"))?;
        }
        Ok(())
    }
}

/// What the socket table keeps of one socket.
fn socket(s: &inet::TcpSocket) -> Socket {
    Socket {
        state: s.state,
        local_port: s.local.port(),
        remote_port: s.remote.port(),
        rqueue: s.rqueue,
        wqueue: s.wqueue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_every_state_but_bound_inactive_and_no_tcp_info() {
        let request = inet::request_for(libc::AF_INET6 as u8, STATES, false);
        assert_eq!(&request[..4], &[libc::AF_INET6 as u8, 6, 0, 0]);
        assert_eq!(u32::from_ne_bytes(request[4..8].try_into().unwrap()), 0x1ffe);
        assert!(request[8..].iter().all(|&b| b == 0));
    }

    #[test]
    fn keeps_the_state_ports_and_queues_of_a_record() {
        let mut record = vec![0; 72];
        record[0] = libc::AF_INET as u8;
        record[1] = 10;
        record[4..6].copy_from_slice(&25u16.to_be_bytes());
        record[56..60].copy_from_slice(&100u32.to_ne_bytes());
        record[60..64].copy_from_slice(&128u32.to_ne_bytes());
        let kept = socket(&inet::parse(&record).unwrap());
        assert_eq!(kept, Socket { state: 10, local_port: 25, remote_port: 0, rqueue: 100, wqueue: 128 });
    }
}
