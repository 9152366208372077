//! TCP sockets (IPv4 and IPv6) counted per port, direction and state, from
//! the kernel's socket table: read over NETLINK_SOCK_DIAG (`netlink`), in
//! the one dump per read that the wait-for picture is drawn from too, or
//! from `/proc/net/tcp` and `/proc/net/tcp6` (`proc_net`) where netlink
//! fails, for that read only. Both feed one `Tally`, so both give the same
//! rows, except that /proc/net/tcp does not show backlog limits (`backlog`
//! is 0 there); each read says which source it used.
//!
//! Listening sockets give one `Listen` row per port with their accept queues
//! and backlogs summed. A connection whose local port is a listening port is
//! `Incoming`, counted per (local port, state); every other one is
//! `Outgoing`, counted per (remote port, state). Rows come sorted by
//! (direction, port, state name) so consecutive samples encode as small
//! deltas.

mod netlink;
mod proc_net;

use crate::collect::waits::{WaitCollector, Waits, diag, inet};
use crate::sample::{Direction, PortSockets, SocketSource};
use crate::warn::Warnings;
use anyhow::Result;

/// The socket table, and the wait-for picture (`collect::waits`) when it is
/// drawn, from one NETLINK_SOCK_DIAG dump of the TCP sockets a read: the
/// picture adds their tcp_info to that dump, and a dump of unix sockets.
pub struct SocketReader {
    /// `None` after a failure: opened afresh on the next read.
    netlink: Option<diag::DiagSocket>,
    proc_net: proc_net::ProcNet,
    /// The source of the previous read, to say when it changes.
    last: Option<SocketSource>,
    /// Netlink failing on and off must not flood stderr.
    warnings: Warnings,
    tally: Tally,
    /// The TCP sockets of the last dump, cleared, not freed, between reads.
    tcp: Vec<inet::TcpSocket>,
    /// `None` when the picture is not drawn.
    picture: Option<WaitCollector>,
}

/// One read of the kernel's socket table.
pub struct SocketRead {
    pub rows: Vec<PortSockets>,
    pub source: SocketSource,
    /// `None` when the picture is not drawn; an error when netlink failed
    /// (the socket table then comes from /proc/net/tcp, the picture from
    /// nowhere).
    pub waits: Option<Result<Waits>>,
}

impl SocketReader {
    /// The socket table only.
    pub fn new() -> Self {
        SocketReader {
            netlink: None,
            proc_net: proc_net::ProcNet::new(),
            last: None,
            warnings: Warnings::new(),
            tally: Tally::default(),
            tcp: Vec::new(),
            picture: None,
        }
    }

    /// The socket table and the wait-for picture.
    pub fn with_picture() -> Self {
        SocketReader { picture: Some(WaitCollector::new()), ..Self::new() }
    }

    /// The current sockets as rows, where they came from, and the picture:
    /// netlink where it answers, else /proc/net/tcp for this read only (and
    /// no picture). Netlink is tried again at every read, on a fresh socket
    /// after a failure: a refusal at a bad moment (a timeout on a loaded
    /// machine) must not cost the backlogs, and so the finding of a full
    /// accept queue, for the rest of the run.
    pub fn read(&mut self) -> Result<SocketRead> {
        self.tally.clear();
        let dumped = self.dump_tcp();
        let source = match &dumped {
            Ok(_) => {
                self.tcp.iter().for_each(|s| self.tally.add(netlink::socket(s)));
                SocketSource::Netlink
            }
            Err(err) => {
                if self.last != Some(SocketSource::ProcNet) {
                    let detail = format!("{err:#}; reading /proc/net/tcp until netlink answers again");
                    self.warnings.warn("sockets", &detail);
                }
                self.proc_net.read(&mut self.tally)?;
                SocketSource::ProcNet
            }
        };
        if self.last == Some(SocketSource::ProcNet) && source == SocketSource::Netlink {
            self.warnings.warn("sockets recovered", "netlink answers again");
        }
        self.last = Some(source);
        let waits = match (&mut self.picture, dumped) {
            (None, dumped) => {
                self.netlink = dumped.ok();
                None
            }
            (Some(_), Err(err)) => Some(Err(err)),
            (Some(picture), Ok(mut diag)) => {
                let waits = picture.read(&mut diag, &self.tcp);
                // What is left of a failed dump must not be read as the next.
                if waits.is_ok() {
                    self.netlink = Some(diag);
                }
                Some(waits)
            }
        };
        Ok(SocketRead { rows: self.tally.rows(), source, waits })
    }

    /// Processes whose fds the picture walked since this reader started.
    pub fn processes_walked(&self) -> u64 {
        self.picture.as_ref().map_or(0, WaitCollector::processes_walked)
    }

    /// Every TCP socket into `tcp`, with its tcp_info when the picture is
    /// drawn. The netlink socket is the caller's to keep, on success only:
    /// what is left of a failed dump must not be read as the next.
    fn dump_tcp(&mut self) -> Result<diag::DiagSocket> {
        self.tcp.clear();
        let mut diag = match self.netlink.take() {
            Some(diag) => diag,
            None => diag::DiagSocket::open()?,
        };
        inet::dump(&mut diag, netlink::STATES, self.picture.is_some(), &mut self.tcp)?;
        Ok(diag)
    }
}

impl Default for SocketReader {
    fn default() -> Self {
        Self::new()
    }
}

/// One socket, as every source describes it. Numbers are the kernel's:
/// `state` is its TCP state enum, and for a listening socket `rqueue` is
/// the accept-queue length and `wqueue` the backlog limit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Socket {
    state: u8,
    local_port: u16,
    remote_port: u16,
    rqueue: u32,
    wqueue: u32,
}

const TCP_LISTEN: u8 = 10;

/// The kernel's name of a TCP state (include/net/tcp_states.h).
/// NEW_SYN_RECV is the request-socket form of SYN_RECV: /proc/net/tcp
/// already prints it as SYN_RECV, and netlink must agree.
fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 | 12 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        TCP_LISTEN => "LISTEN",
        11 => "CLOSING",
        13 => "BOUND_INACTIVE",
        _ => "UNKNOWN",
    }
}

/// Sockets gathered during one read, turned into rows at its end. A
/// connection's direction depends on every listener, which may come after
/// it, so connections are kept as compact records until then. The vectors
/// are cleared, not freed, between reads: a steady socket count allocates
/// nothing.
#[derive(Default)]
struct Tally {
    /// Listening sockets: (port, accept queue, backlog).
    listeners: Vec<(u16, u32, u32)>,
    /// Other sockets: (local port, remote port, kernel state).
    connections: Vec<(u16, u16, u8)>,
    /// Scratch for `rows`: (direction, port, kernel state) per connection.
    keys: Vec<(Direction, u16, u8)>,
}

impl Tally {
    fn clear(&mut self) {
        self.listeners.clear();
        self.connections.clear();
    }

    fn add(&mut self, socket: Socket) {
        if socket.state == TCP_LISTEN {
            self.listeners.push((socket.local_port, socket.rqueue, socket.wqueue));
        } else {
            self.connections.push((socket.local_port, socket.remote_port, socket.state));
        }
    }

    fn rows(&mut self) -> Vec<PortSockets> {
        self.listeners.sort_unstable();
        let mut rows: Vec<PortSockets> = self
            .listeners
            .chunk_by(|a, b| a.0 == b.0)
            .map(|same_port| PortSockets {
                direction: Direction::Listen,
                port: same_port[0].0,
                state: state_name(TCP_LISTEN).to_string(),
                count: count(same_port.len()),
                queued: same_port.iter().fold(0, |sum, l| sum.saturating_add(l.1)),
                backlog: same_port.iter().fold(0, |sum, l| sum.saturating_add(l.2)),
            })
            .collect();
        let listening = rows.len();

        self.keys.clear();
        for &(local_port, remote_port, state) in &self.connections {
            let incoming = rows[..listening].binary_search_by_key(&local_port, |row| row.port).is_ok();
            self.keys.push(if incoming {
                (Direction::Incoming, local_port, state)
            } else {
                (Direction::Outgoing, remote_port, state)
            });
        }
        self.keys.sort_unstable();
        rows.extend(self.keys.chunk_by(|a, b| a == b).map(|same| PortSockets {
            direction: same[0].0,
            port: same[0].1,
            state: state_name(same[0].2).to_string(),
            count: count(same.len()),
            queued: 0,
            backlog: 0,
        }));
        // Keys sort by state number, rows by state name; and states sharing
        // a name (SYN_RECV and NEW_SYN_RECV) become one row.
        rows[listening..]
            .sort_unstable_by(|a, b| (a.direction, a.port, &a.state).cmp(&(b.direction, b.port, &b.state)));
        rows.dedup_by(|next, kept| {
            let same = (next.direction, next.port, &next.state) == (kept.direction, kept.port, &kept.state);
            if same {
                kept.count = kept.count.saturating_add(next.count);
            }
            same
        });
        rows
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Incoming, Listen, Outgoing};
    use std::net::{TcpListener, TcpStream};
    use std::thread::sleep;
    use std::time::Duration;

    fn row(direction: Direction, port: u16, state: &str, count: u32) -> PortSockets {
        PortSockets { direction, port, state: state.to_string(), count, queued: 0, backlog: 0 }
    }

    fn listen(port: u16, queued: u32) -> PortSockets {
        PortSockets { queued, ..row(Listen, port, "LISTEN", 1) }
    }

    /// Captured in a fresh network namespace (kernel 6.18) holding: on
    /// 0.0.0.0:2500, 3 connections waiting to be accepted, one accepted and
    /// closed by the client, one closed by the server first, and 4 SYNs from
    /// an unreachable address; on 127.0.0.1:2501, listen(0) with one
    /// connection queued and 4 more clients stuck in SYN_SENT; on [::1]:2600
    /// 2 connections; on dual-stack [::]:2601, one IPv4 and one IPv6 client.
    #[test]
    fn counts_captured_proc_net_tcp() {
        let mut tally = Tally::default();
        for text in [
            include_str!("../../../tests/fixtures/proc/net-tcp"),
            include_str!("../../../tests/fixtures/proc/net-tcp6"),
        ] {
            proc_net::parse(text, |socket| tally.add(socket)).unwrap();
        }
        let expected = vec![
            listen(2500, 3),
            listen(2501, 1),
            listen(2600, 2),
            listen(2601, 2),
            row(Incoming, 2500, "CLOSE_WAIT", 1),
            row(Incoming, 2500, "ESTABLISHED", 3),
            row(Incoming, 2500, "SYN_RECV", 4),
            row(Incoming, 2500, "TIME_WAIT", 1),
            row(Incoming, 2501, "ESTABLISHED", 1),
            row(Incoming, 2600, "ESTABLISHED", 2),
            row(Incoming, 2601, "ESTABLISHED", 2),
            row(Outgoing, 2500, "ESTABLISHED", 3),
            row(Outgoing, 2500, "FIN_WAIT2", 1),
            row(Outgoing, 2501, "ESTABLISHED", 1),
            row(Outgoing, 2501, "SYN_SENT", 4),
            row(Outgoing, 2600, "ESTABLISHED", 2),
            row(Outgoing, 2601, "ESTABLISHED", 2),
        ];
        assert_eq!(tally.rows(), expected);
    }

    #[test]
    fn sums_listeners_sharing_a_port() {
        let mut tally = Tally::default();
        for (rqueue, wqueue) in [(100, 100), (7, 128)] {
            tally.add(Socket { state: TCP_LISTEN, local_port: 25, remote_port: 0, rqueue, wqueue });
        }
        let expected = PortSockets { count: 2, queued: 107, backlog: 228, ..row(Listen, 25, "LISTEN", 0) };
        assert_eq!(tally.rows(), vec![expected]);
    }

    #[test]
    fn folds_new_syn_recv_into_syn_recv_and_sorts_states_by_name() {
        let mut tally = Tally::default();
        for state in [12, 3, 1, 99] {
            tally.add(Socket { state, local_port: 40000, remote_port: 8891, rqueue: 0, wqueue: 0 });
        }
        let expected = vec![
            row(Outgoing, 8891, "ESTABLISHED", 1),
            row(Outgoing, 8891, "SYN_RECV", 2),
            row(Outgoing, 8891, "UNKNOWN", 1),
        ];
        assert_eq!(tally.rows(), expected);
    }

    #[test]
    fn clear_forgets_the_previous_read() {
        let mut tally = Tally::default();
        let socket = Socket { state: 1, local_port: 40000, remote_port: 443, rqueue: 0, wqueue: 0 };
        tally.add(socket);
        assert_eq!(tally.rows().len(), 1);
        tally.clear();
        assert!(tally.rows().is_empty());
    }

    /// A loopback listener that never accepts, with `n` clients connected
    /// to it. The sockets close when the returned values are dropped.
    fn unaccepted_connections(n: usize) -> (TcpListener, Vec<TcpStream>, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let clients = (0..n).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
        (listener, clients, port)
    }

    fn find(rows: &[PortSockets], direction: Direction, port: u16, state: &str) -> PortSockets {
        rows.iter()
            .find(|r| (r.direction, r.port, r.state.as_str()) == (direction, port, state))
            .unwrap_or_else(|| panic!("no {direction:?} {port} {state} row in {rows:#?}"))
            .clone()
    }

    #[test]
    fn counts_loopback_connections_waiting_to_be_accepted() {
        let (_listener, _clients, port) = unaccepted_connections(20);
        let mut reader = SocketReader::new();
        // connect() returns once the client has the SYN-ACK; the server side
        // joins the accept queue when the kernel has handled the last ACK,
        // which can be a moment later.
        let SocketRead { mut rows, mut source, .. } = reader.read().unwrap();
        for _ in 0..100 {
            if find(&rows, Listen, port, "LISTEN").queued == 20 {
                break;
            }
            sleep(Duration::from_millis(10));
            SocketRead { rows, source, .. } = reader.read().unwrap();
        }
        assert_eq!(source, SocketSource::Netlink, "fell back");
        let listen = find(&rows, Listen, port, "LISTEN");
        assert_eq!((listen.count, listen.queued), (1, 20), "{listen:?}");
        assert!(listen.backlog > 0, "{listen:?}");
        // Exactly 20: the backlog (at least 128) did not truncate.
        assert_eq!(find(&rows, Incoming, port, "ESTABLISHED").count, 20);
        assert_eq!(find(&rows, Outgoing, port, "ESTABLISHED").count, 20);
    }

    fn read_proc_net() -> Vec<PortSockets> {
        let mut tally = Tally::default();
        proc_net::ProcNet::new().read(&mut tally).unwrap();
        tally.rows()
    }

    #[test]
    fn netlink_and_proc_net_give_the_same_rows() {
        let (_listener, _clients, port) = unaccepted_connections(5);
        let mut netlink = SocketReader::new();
        // /proc/net/tcp does not show backlog limits.
        let mut read_netlink = || -> Vec<PortSockets> {
            let SocketRead { mut rows, source, .. } = netlink.read().unwrap();
            assert_eq!(source, SocketSource::Netlink, "fell back");
            rows.iter_mut().for_each(|row| row.backlog = 0);
            rows
        };
        // Other tests and processes open and close sockets meanwhile: compare
        // only when netlink saw the same table just before and just after.
        for _ in 0..50 {
            let before = read_netlink();
            let fallback = read_proc_net();
            let after = read_netlink();
            if before == after {
                assert_eq!(fallback, before);
                assert_eq!(find(&fallback, Listen, port, "LISTEN").count, 1);
                return;
            }
            sleep(Duration::from_millis(20));
        }
        panic!("the socket table never held still across three reads");
    }

    #[test]
    fn a_netlink_failure_falls_back_for_that_read_only() {
        let (_listener, _clients, port) = unaccepted_connections(3);
        let mut reader = SocketReader::new();
        // A receive buffer too small for any reply: the dump fails for real.
        reader.netlink = Some(diag::DiagSocket::open_with_buffer(16).unwrap());
        let SocketRead { rows, source, .. } = reader.read().unwrap();
        assert_eq!(source, SocketSource::ProcNet);
        assert_eq!(find(&rows, Listen, port, "LISTEN").backlog, 0, "/proc/net/tcp has no backlog");
        let SocketRead { rows, source, .. } = reader.read().unwrap();
        assert_eq!(source, SocketSource::Netlink, "netlink is tried again on the next read");
        assert!(find(&rows, Listen, port, "LISTEN").backlog > 0);
    }
}
