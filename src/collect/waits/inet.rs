//! TCP sockets over IPv4 and IPv6 from sock_diag, each with its `tcp_info`
//! (INET_DIAG_INFO): a `struct inet_diag_msg` followed by attributes
//! (include/uapi/linux/inet_diag.h, tcp.h). Ports and addresses are in
//! network order, everything else in host order.

use super::diag::{self, u32_at, u64_at};
use anyhow::{Context, Result, ensure};
use nix::libc;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `sizeof(struct inet_diag_req_v2)`.
const REQUEST_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
const MSG_LEN: usize = 72;
const INET_DIAG_INFO: u16 = 2;
/// The kernel's retransmit timer (`idiag_timer` 1): `idiag_expires` is
/// then the time to the next retransmission.
const TIMER_RETRANSMIT: u8 = 1;

pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_LISTEN: u8 = 10;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
/// States 1 to 12 but TIME_WAIT and CLOSE: nobody waits on a socket in
/// them, and on a busy server TIME_WAIT ones can outnumber all others (the
/// socket table counts them per port, from the same dump). 13,
/// BOUND_INACTIVE, is neither listening nor connecting.
const STATES: u32 = ((1 << 13) - 1) & !1 & !(1 << TCP_TIME_WAIT) & !(1 << TCP_CLOSE);

/// Whether the picture looks at a socket in `state`.
pub fn pictured(state: u8) -> bool {
    state < 32 && STATES & 1 << state != 0
}

/// One TCP socket, as much of it as the picture needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpSocket {
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// For a listener: the accept queue and the backlog limit; otherwise
    /// bytes received and not read, and bytes sent and not acknowledged
    /// (an unanswered SYN counts one).
    pub rqueue: u32,
    pub wqueue: u32,
    /// 0 for sockets no file refers to (TIME_WAIT, request sockets).
    pub inode: u64,
    /// Unique per socket for the life of the kernel.
    pub cookie: u64,
    /// Milliseconds to the next retransmission, when one is pending.
    pub retransmit_in_ms: Option<u32>,
    pub info: Option<TcpInfo>,
}

/// The fields of `struct tcp_info` the picture uses. Times are
/// milliseconds ago; the kernel starts both "last data" clocks when the
/// connection is established, so with nothing exchanged they give its age.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TcpInfo {
    /// Retransmissions of the current unanswered segment (or SYN).
    pub retransmits: u8,
    /// The current retransmission timeout, backoff included, in µs.
    pub rto_us: u32,
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub total_retrans: u32,
    /// Since Linux 4.1 (RHEL 8 has them); `None` on older kernels.
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
}

/// The `inet_diag_req_v2` asking for every TCP socket of `family` the
/// picture looks at, with its tcp_info.
#[cfg(test)]
pub fn request(family: u8) -> [u8; REQUEST_LEN] {
    request_for(family, STATES, true)
}

/// The `inet_diag_req_v2` asking for the TCP sockets of `family` in
/// `states` (a bit per state), with their tcp_info if `info`.
pub fn request_for(family: u8, states: u32, info: bool) -> [u8; REQUEST_LEN] {
    let mut body = [0; REQUEST_LEN];
    body[0] = family;
    body[1] = libc::IPPROTO_TCP as u8;
    if info {
        body[2] = 1 << (INET_DIAG_INFO - 1);
    }
    body[4..8].copy_from_slice(&states.to_ne_bytes());
    body
}

/// Every TCP socket of both families in `states` (a bit per state), with
/// its tcp_info if `info`, in dump order.
pub fn dump(
    socket: &mut diag::DiagSocket,
    states: u32,
    info: bool,
    sockets: &mut Vec<TcpSocket>,
) -> Result<()> {
    for (family, name) in [(libc::AF_INET, "IPv4"), (libc::AF_INET6, "IPv6")] {
        socket
            .dump(&request_for(family as u8, states, info), |record| {
                sockets.push(parse(record)?);
                Ok(())
            })
            .with_context(|| format!("dumping {name} TCP sockets over NETLINK_SOCK_DIAG"))?;
    }
    Ok(())
}

/// One `inet_diag_msg` and its attributes.
pub fn parse(record: &[u8]) -> Result<TcpSocket> {
    ensure!(record.len() >= MSG_LEN, "TCP socket record of {} bytes, expected {MSG_LEN}", record.len());
    let family = i32::from(record[0]);
    ensure!(
        family == libc::AF_INET || family == libc::AF_INET6,
        "TCP socket record of address family {family}"
    );
    let address = |at: usize, port_at: usize| {
        let port = u16::from_be_bytes([record[port_at], record[port_at + 1]]);
        let ip = if family == libc::AF_INET {
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&record[at..at + 4]).expect("four bytes")))
        } else {
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&record[at..at + 16]).expect("16 bytes")))
        };
        SocketAddr::new(ip.to_canonical(), port)
    };
    let mut socket = TcpSocket {
        state: record[1],
        local: address(8, 4),
        remote: address(24, 6),
        rqueue: u32_at(record, 56),
        wqueue: u32_at(record, 60),
        inode: u64::from(u32_at(record, 68)),
        cookie: u64::from(u32_at(record, 44)) | u64::from(u32_at(record, 48)) << 32,
        retransmit_in_ms: (record[2] == TIMER_RETRANSMIT).then(|| u32_at(record, 52)),
        info: None,
    };
    for attribute in diag::attributes(&record[MSG_LEN..]) {
        let (kind, value) = attribute?;
        if kind == INET_DIAG_INFO {
            socket.info = Some(parse_info(value)?);
        }
    }
    Ok(socket)
}

/// `struct tcp_info`: as long as the running kernel's version of it.
fn parse_info(info: &[u8]) -> Result<TcpInfo> {
    // Up to tcpi_total_retrans, in every kernel since 2.6.
    ensure!(info.len() >= 104, "tcp_info of {} bytes, expected at least 104", info.len());
    let u64_if_present = |at: usize| (info.len() >= at + 8).then(|| u64_at(info, at));
    Ok(TcpInfo {
        retransmits: info[2],
        rto_us: u32_at(info, 8),
        last_data_sent_ms: u32_at(info, 44),
        last_data_recv_ms: u32_at(info, 52),
        total_retrans: u32_at(info, 100),
        bytes_acked: u64_if_present(120),
        bytes_received: u64_if_present(128),
    })
}
