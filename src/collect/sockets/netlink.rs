//! NETLINK_SOCK_DIAG: the kernel's TCP socket table as binary records, the
//! way `ss` reads it, and much cheaper than /proc/net/tcp as sockets grow.
//! The dump (`waits::inet`) asks for every state and, only when the
//! wait-for picture is drawn from it too, for tcp_info; the table keeps
//! counts per port.

use super::Socket;
use crate::collect::waits::inet;

/// TCP states 1 (ESTABLISHED) to 12 (NEW_SYN_RECV). Request sockets
/// (NEW_SYN_RECV) are dumped only when asked for. State 13
/// (BOUND_INACTIVE, bound but neither listening nor connecting) is left out
/// as `ss` and /proc/net/tcp leave it out.
pub(super) const STATES: u32 = ((1 << 13) - 1) & !1;

/// What the socket table keeps of one socket.
pub(super) fn socket(s: &inet::TcpSocket) -> Socket {
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
    use nix::libc;

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
