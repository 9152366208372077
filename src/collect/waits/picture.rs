//! The socket table turned into endpoints, in two steps around the
//! process lookup: `draft` groups sockets by endpoint and says which
//! inodes need an owner; `finish` names the server and the waiting
//! clients. No I/O: the clock is given.
//!
//! A TCP connection whose local address is a listener's is that
//! endpoint's server side; one whose remote address is a listener here is
//! its client side; any other is a client of the remote endpoint it
//! connects to. A unix connection's server side carries its listener's
//! path, and its peer is the client.
//!
//! A connection waits when its client sent bytes and nothing came back
//! since, seen from the server side for endpoints here (which covers
//! clients on other machines) and from the client side for remote ones.

use super::inet::{self, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_SENT, TcpInfo, TcpSocket};
use super::unix::{STATE_ESTABLISHED, STATE_LISTEN, UnixSocket};
pub use crate::model::waits::{Client, Endpoint, Identity, StateCount, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// A reply later than this makes a connection count as waiting.
const WAITING_AFTER_MS: u64 = 1_000;
/// Waiting this long (or trying to connect this long), a connection looks
/// stuck, and its client is worth a walk of /proc/PID/fd to name.
const STUCK_AFTER_MS: u64 = 3_000;
/// Pids listed per client name; the count says how many there are.
const PIDS_PER_CLIENT: usize = 8;
/// The kernel's ceiling on the retransmission timeout (TCP_RTO_MAX).
const RTO_MAX_MS: u64 = 120_000;

/// An endpoint before its processes are named.
pub struct Draft {
    endpoint: Endpoint,
    listener: u64,
    /// Inodes of the client sockets that look stuck.
    stuck_clients: Vec<u64>,
    /// Kernel states, counted; named in `finish`.
    states: HashMap<u8, u32>,
    state_name: fn(u8) -> &'static str,
}

impl Draft {
    fn new(transport: Transport, address: String, listening: bool) -> Self {
        Draft {
            endpoint: Endpoint {
                transport,
                address,
                listening,
                server: None,
                accept_queue: 0,
                backlog: 0,
                states: Vec::new(),
                server_rqueue: 0,
                server_wqueue: 0,
                client_rqueue: 0,
                client_wqueue: 0,
                waiting: 0,
                no_reply_ms: 0,
                syn_sent: 0,
                syn_retransmits: 0,
                trying_ms: 0,
                clients: Vec::new(),
            },
            listener: 0,
            stuck_clients: Vec::new(),
            states: HashMap::new(),
            state_name: if transport == Transport::Tcp { tcp_state_name } else { unix_state_name },
        }
    }

    /// The inodes whose holders the picture names.
    pub fn wanted(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.listener).chain(self.stuck_clients.iter().copied()).filter(|i| *i != 0)
    }

    fn count(&mut self, state: u8) {
        *self.states.entry(state).or_default() += 1;
    }

    fn waited(&mut self, silent_ms: u64, client_inode: Option<u64>) {
        if silent_ms < WAITING_AFTER_MS {
            return;
        }
        self.endpoint.waiting += 1;
        self.endpoint.no_reply_ms = self.endpoint.no_reply_ms.max(silent_ms);
        if silent_ms >= STUCK_AFTER_MS
            && let Some(inode) = client_inode
        {
            self.stuck_clients.push(inode);
        }
    }

    fn client_queues(&mut self, rqueue: u32, wqueue: u32) {
        self.endpoint.client_rqueue += u64::from(rqueue);
        self.endpoint.client_wqueue += u64::from(wqueue);
    }

    fn server_queues(&mut self, rqueue: u32, wqueue: u32) {
        self.endpoint.server_rqueue += u64::from(rqueue);
        self.endpoint.server_wqueue += u64::from(wqueue);
    }
}

/// How long a condition has held for each socket it holds for, from one
/// draft to the next; sockets no longer in it are forgotten.
#[derive(Default)]
pub struct Clocks {
    /// Key → (since, the queue length last seen, the draft that saw it).
    started: HashMap<(Transport, u64), (Instant, u32, u64)>,
    draft: u64,
}

impl Clocks {
    /// Time since `key` entered the condition. A `queue` shorter than last
    /// time means the other side took some: the clock starts again.
    fn held(&mut self, key: (Transport, u64), queue: u32, now: Instant) -> Duration {
        let draft = self.draft;
        let entry = self.started.entry(key).or_insert((now, queue, draft));
        if queue < entry.1 {
            entry.0 = now;
        }
        entry.1 = queue;
        entry.2 = draft;
        now.saturating_duration_since(entry.0)
    }
}

/// Groups the sockets by endpoint. TCP sockets in states the picture
/// leaves out (TIME_WAIT, CLOSE: the socket table's dump has them) are
/// skipped.
pub fn draft(tcp: &[TcpSocket], unix: &[UnixSocket], clocks: &mut Clocks, now: Instant) -> Vec<Draft> {
    clocks.draft += 1;
    let mut drafts = Vec::new();
    draft_tcp(tcp, clocks, now, &mut drafts);
    draft_unix(unix, clocks, now, &mut drafts);
    let draft = clocks.draft;
    clocks.started.retain(|_, entry| entry.2 == draft);
    drafts
}

fn draft_tcp(sockets: &[TcpSocket], clocks: &mut Clocks, now: Instant, drafts: &mut Vec<Draft>) {
    let first = drafts.len();
    let mut listening: HashMap<SocketAddr, usize> = HashMap::new();
    for socket in sockets.iter().filter(|s| s.state == TCP_LISTEN) {
        let at = *listening.entry(socket.local).or_insert_with(|| {
            drafts.push(Draft::new(Transport::Tcp, socket.local.to_string(), true));
            drafts.len() - 1
        });
        let draft = &mut drafts[at];
        draft.endpoint.accept_queue += socket.rqueue;
        draft.endpoint.backlog += socket.wqueue;
        if draft.listener == 0 {
            draft.listener = socket.inode;
        }
    }
    let listener_for = |addr: &SocketAddr| {
        let any = |ip: IpAddr| listening.get(&SocketAddr::new(ip, addr.port())).copied();
        listening
            .get(addr)
            .copied()
            .or_else(|| any(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).filter(|_| addr.is_ipv4()))
            .or_else(|| any(IpAddr::V6(Ipv6Addr::UNSPECIFIED)))
    };
    let mut local_ips: Vec<IpAddr> = sockets.iter().map(|s| s.local.ip()).collect();
    local_ips.sort_unstable();
    local_ips.dedup();
    // Needed only to name the clients of stuck connections: built once the
    // first one is seen.
    let mut by_ends: Option<HashMap<(SocketAddr, SocketAddr), u64>> = None;
    let mut remote: HashMap<SocketAddr, usize> = HashMap::new();

    for socket in sockets.iter().filter(|s| s.state != TCP_LISTEN && inet::pictured(s.state)) {
        if socket.state != TCP_SYN_SENT
            && let Some(at) = listener_for(&socket.local)
        {
            let draft = &mut drafts[at];
            draft.count(socket.state);
            draft.server_queues(socket.rqueue, socket.wqueue);
            if let Some(silent) = socket.info.as_ref().and_then(|i| server_silence(socket, i)) {
                let client = (silent >= STUCK_AFTER_MS)
                    .then(|| {
                        let ends = by_ends.get_or_insert_with(|| {
                            sockets.iter().map(|s| ((s.local, s.remote), s.inode)).collect()
                        });
                        ends.get(&(socket.remote, socket.local)).copied()
                    })
                    .flatten();
                draft.waited(silent, client);
            }
            continue;
        }
        let here = socket.remote.ip().is_loopback() || local_ips.binary_search(&socket.remote.ip()).is_ok();
        let at = match here.then(|| listener_for(&socket.remote)).flatten() {
            Some(at) => {
                if socket.state == TCP_SYN_SENT {
                    drafts[at].count(socket.state);
                }
                at
            }
            None => {
                let at = *remote.entry(socket.remote).or_insert_with(|| {
                    drafts.push(Draft::new(Transport::Tcp, socket.remote.to_string(), false));
                    drafts.len() - 1
                });
                drafts[at].count(socket.state);
                if let Some(silent) = socket.info.as_ref().and_then(|i| client_silence(socket, i)) {
                    drafts[at].waited(silent, Some(socket.inode));
                }
                at
            }
        };
        let draft = &mut drafts[at];
        draft.client_queues(socket.rqueue, socket.wqueue);
        if socket.state == TCP_SYN_SENT {
            let info = socket.info.unwrap_or_default();
            let tracked = clocks.held((Transport::Tcp, socket.cookie), 0, now).as_millis() as u64;
            let trying = tracked.max(backoff_ms(&info, socket.retransmit_in_ms));
            let endpoint = &mut draft.endpoint;
            endpoint.syn_sent += 1;
            endpoint.syn_retransmits = endpoint.syn_retransmits.max(u32::from(info.retransmits));
            endpoint.trying_ms = endpoint.trying_ms.max(trying);
            if trying >= STUCK_AFTER_MS {
                draft.stuck_clients.push(socket.inode);
            }
        }
    }
    drafts[first..].sort_by(|a, b| order(&a.endpoint, &b.endpoint));
}

/// Seen from the server side: how long the client's last bytes have
/// gone unanswered, when they have. The kernel's clocks tick in jiffies,
/// so a request answered at once looks as old as its answer: bytes decide
/// first (received some, sent none), the clocks only between exchanges.
pub(super) fn server_silence(socket: &TcpSocket, info: &TcpInfo) -> Option<u64> {
    let received = info.bytes_received.map_or(socket.rqueue > 0, |bytes| bytes > 0);
    let never_answered = info.bytes_acked == Some(0) && socket.wqueue == 0;
    let client_spoke_last = info.last_data_recv_ms < info.last_data_sent_ms;
    (socket.state == TCP_ESTABLISHED && received && (never_answered || client_spoke_last))
        .then_some(u64::from(info.last_data_recv_ms))
}

/// Seen from the client side: how long its last bytes have gone
/// unanswered. The kernel counts the SYN as one byte acknowledged.
pub(super) fn client_silence(socket: &TcpSocket, info: &TcpInfo) -> Option<u64> {
    let sent = info.bytes_acked.is_some_and(|bytes| bytes > 1) || socket.wqueue > 0;
    let never_answered = info.bytes_received == Some(0);
    let spoke_last = info.last_data_sent_ms < info.last_data_recv_ms;
    (socket.state == TCP_ESTABLISHED && sent && (never_answered || spoke_last))
        .then_some(u64::from(info.last_data_sent_ms))
}

/// How long a SYN_SENT socket has been trying at least, from its backoff:
/// each retransmission doubles the timeout or (the first few SYNs since
/// Linux 6.5, `tcp_syn_linear_timeouts`) keeps it, so the ones before the
/// current add up to at least the current timeout halved each time back;
/// the current one has run for its length less what is left of it.
fn backoff_ms(info: &TcpInfo, retransmit_in_ms: Option<u32>) -> u64 {
    let rto = (u64::from(info.rto_us) / 1000).min(RTO_MAX_MS);
    let before: u64 = (1..=u32::from(info.retransmits)).map(|k| rto >> k.min(63)).sum();
    let current = rto.saturating_sub(retransmit_in_ms.map_or(rto, u64::from));
    before + current
}

fn draft_unix(sockets: &[UnixSocket], clocks: &mut Clocks, now: Instant, drafts: &mut Vec<Draft>) {
    let first = drafts.len();
    let mut listening: HashMap<&str, usize> = HashMap::new();
    // A client whose connection is not accepted yet → its listener's draft.
    let mut pending: HashMap<u64, usize> = HashMap::new();
    for socket in sockets.iter().filter(|s| s.state == STATE_LISTEN) {
        let Some(path) = socket.path.as_deref() else { continue };
        let at = *listening.entry(path).or_insert_with(|| {
            drafts.push(Draft::new(Transport::Unix, path.to_string(), true));
            drafts.len() - 1
        });
        pending.extend(socket.pending.iter().map(|&inode| (inode, at)));
        let draft = &mut drafts[at];
        draft.endpoint.accept_queue += socket.rqueue;
        draft.endpoint.backlog += socket.wqueue;
        if draft.listener == 0 {
            draft.listener = socket.inode;
        }
    }
    let by_inode: HashMap<u64, &UnixSocket> = sockets.iter().map(|s| (s.inode, s)).collect();
    for socket in sockets.iter().filter(|s| s.state == STATE_ESTABLISHED) {
        // A client waiting to be accepted waits for as long as it has been
        // seen so; what it sent lies in its own send queue.
        if let Some(&at) = pending.get(&socket.inode) {
            let draft = &mut drafts[at];
            draft.client_queues(socket.rqueue, socket.wqueue);
            let silent = clocks.held((Transport::Unix, socket.inode), 0, now).as_millis() as u64;
            draft.waited(silent, Some(socket.inode));
            continue;
        }
        // Accepted sockets carry their listener's path; clients are
        // unbound.
        let Some(&at) = socket.path.as_deref().and_then(|path| listening.get(path)) else { continue };
        let draft = &mut drafts[at];
        draft.count(socket.state);
        draft.server_queues(socket.rqueue, socket.wqueue);
        let client = socket.peer.and_then(|peer| by_inode.get(&peer));
        if let Some(client) = client {
            draft.client_queues(client.rqueue, client.wqueue);
        }
        if socket.rqueue > 0 {
            let silent = clocks.held((Transport::Unix, socket.inode), socket.rqueue, now).as_millis() as u64;
            draft.waited(silent, client.map(|c| c.inode));
        }
    }
    drafts[first..].sort_by(|a, b| order(&a.endpoint, &b.endpoint));
}

fn order(a: &Endpoint, b: &Endpoint) -> std::cmp::Ordering {
    (!a.listening, &a.address).cmp(&(!b.listening, &b.address))
}

/// Names the servers and the waiting clients; sorts and names states.
pub fn finish<'a>(drafts: Vec<Draft>, owner: impl Fn(u64) -> Option<&'a Identity>) -> Vec<Endpoint> {
    drafts
        .into_iter()
        .map(|mut draft| {
            let mut endpoint = draft.endpoint;
            endpoint.server = owner(draft.listener).cloned();
            let mut states: Vec<StateCount> = draft
                .states
                .iter()
                .map(|(&state, &count)| StateCount { state: (draft.state_name)(state).to_string(), count })
                .collect();
            states.sort_by(|a, b| a.state.cmp(&b.state));
            states.dedup_by(|next, kept| {
                let same = next.state == kept.state;
                if same {
                    kept.count += next.count;
                }
                same
            });
            endpoint.states = states;
            draft.stuck_clients.sort_unstable();
            draft.stuck_clients.dedup();
            endpoint.clients = clients(draft.stuck_clients.iter().filter_map(|&inode| owner(inode)));
            endpoint
        })
        .collect()
}

/// Owners of stuck connections (one per connection) grouped by name, the
/// most connections first.
fn clients<'a>(owners: impl Iterator<Item = &'a Identity>) -> Vec<Client> {
    let mut by_name: HashMap<&str, Vec<u32>> = HashMap::new();
    for identity in owners {
        by_name.entry(&identity.comm).or_default().push(identity.pid);
    }
    let mut clients: Vec<Client> = by_name
        .into_iter()
        .map(|(comm, mut pids)| {
            let connections = pids.len() as u32;
            pids.sort_unstable();
            pids.dedup();
            let processes = pids.len() as u32;
            pids.truncate(PIDS_PER_CLIENT);
            Client { comm: comm.to_string(), connections, processes, pids }
        })
        .collect();
    clients.sort_by(|a, b| b.connections.cmp(&a.connections).then_with(|| a.comm.cmp(&b.comm)));
    clients
}

/// The kernel's TCP state names (include/net/tcp_states.h); NEW_SYN_RECV,
/// a request socket, is SYN_RECV as /proc/net/tcp shows it.
fn tcp_state_name(state: u8) -> &'static str {
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
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

fn unix_state_name(state: u8) -> &'static str {
    match state {
        STATE_ESTABLISHED => "ESTABLISHED",
        STATE_LISTEN => "LISTEN",
        _ => "UNKNOWN",
    }
}
