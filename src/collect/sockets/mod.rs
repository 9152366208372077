//! TCP sockets (IPv4 and IPv6) counted per port, direction and state, from
//! the kernel's socket table in `/proc/net/tcp` and `/proc/net/tcp6`
//! (`proc_net`).
//!
//! Listening sockets give one `Listen` row per port with their accept queues
//! and backlogs summed. A connection whose local port is a listening port is
//! `Incoming`, counted per (local port, state); every other one is
//! `Outgoing`, counted per (remote port, state). Rows come sorted by
//! (direction, port, state name) so consecutive samples encode as small
//! deltas.

mod proc_net;

use crate::sample::{Direction, PortSockets};
use anyhow::Result;

pub struct SocketReader {
    proc_net: proc_net::ProcNet,
    tally: Tally,
}

impl SocketReader {
    pub fn new() -> Self {
        SocketReader {
            proc_net: proc_net::ProcNet::new(),
            tally: Tally::default(),
        }
    }

    /// The current sockets as rows.
    pub fn read(&mut self) -> Result<Vec<PortSockets>> {
        self.tally.clear();
        self.proc_net.read(&mut self.tally)?;
        Ok(self.tally.rows())
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
            self.listeners
                .push((socket.local_port, socket.rqueue, socket.wqueue));
        } else {
            self.connections
                .push((socket.local_port, socket.remote_port, socket.state));
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
            let incoming = rows[..listening]
                .binary_search_by_key(&local_port, |row| row.port)
                .is_ok();
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
        rows[listening..].sort_unstable_by(|a, b| {
            (a.direction, a.port, &a.state).cmp(&(b.direction, b.port, &b.state))
        });
        rows.dedup_by(|next, kept| {
            let same = (next.direction, next.port, &next.state)
                == (kept.direction, kept.port, &kept.state);
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

    fn row(direction: Direction, port: u16, state: &str, count: u32) -> PortSockets {
        PortSockets {
            direction,
            port,
            state: state.to_string(),
            count,
            queued: 0,
            backlog: 0,
        }
    }

    fn listen(port: u16, queued: u32) -> PortSockets {
        PortSockets {
            queued,
            ..row(Listen, port, "LISTEN", 1)
        }
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
            tally.add(Socket {
                state: TCP_LISTEN,
                local_port: 25,
                remote_port: 0,
                rqueue,
                wqueue,
            });
        }
        let expected = PortSockets {
            count: 2,
            queued: 107,
            backlog: 228,
            ..row(Listen, 25, "LISTEN", 0)
        };
        assert_eq!(tally.rows(), vec![expected]);
    }

    #[test]
    fn folds_new_syn_recv_into_syn_recv_and_sorts_states_by_name() {
        let mut tally = Tally::default();
        for state in [12, 3, 1, 99] {
            tally.add(Socket {
                state,
                local_port: 40000,
                remote_port: 8891,
                rqueue: 0,
                wqueue: 0,
            });
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
        let socket = Socket {
            state: 1,
            local_port: 40000,
            remote_port: 443,
            rqueue: 0,
            wqueue: 0,
        };
        tally.add(socket);
        assert_eq!(tally.rows().len(), 1);
        tally.clear();
        assert!(tally.rows().is_empty());
    }
}
