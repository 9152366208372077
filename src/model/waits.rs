//! The wait-for picture of one sample: for every endpoint listening here
//! and every remote endpoint this machine has connections open to, how
//! many connections, how long they have waited for a reply, the bytes
//! queued on either side, who should answer and who waits. Filled by
//! `collect::waits` from socket diagnostics; one `Endpoint` is one row of
//! the stored wait table.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Unix,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
        }
    }
}

/// One endpoint and the connections to it seen on this machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub transport: Transport,
    /// `127.0.0.1:8891`, `[::]:25`, `/run/clamav/clamd.ctl`, `@abstract`.
    pub address: String,
    /// Listening here (`server`, queues of both sides), or remote (only
    /// the clients' side is seen).
    pub listening: bool,
    /// The process holding the listening socket: who should answer.
    pub server: Option<Identity>,
    /// Connections waiting to be accepted, and the backlog limit.
    pub accept_queue: u32,
    pub backlog: u32,
    /// Connections by state: their server side here for an endpoint
    /// listening here, plus clients still in SYN_SENT; their client side
    /// for a remote one. TIME_WAIT is not read.
    pub states: Vec<StateCount>,
    /// Bytes received and not read, and sent and not taken, on the server
    /// side (listening endpoints) and on the clients' side here.
    pub server_rqueue: u64,
    pub server_wqueue: u64,
    pub client_rqueue: u64,
    pub client_wqueue: u64,
    /// Connections whose client's last bytes have gone unanswered for at
    /// least a second, and the longest such silence. Unix sockets have no
    /// clocks: theirs is how long requests have lain unread, timed from
    /// the first picture that showed them.
    pub waiting: u32,
    pub no_reply_ms: u64,
    /// Connections from here still in SYN_SENT, the most retransmissions
    /// of one SYN, and the longest time one has been trying (a lower
    /// bound).
    pub syn_sent: u32,
    pub syn_retransmits: u32,
    pub trying_ms: u64,
    /// Who waits, where known: clients stuck for a few seconds, by name.
    pub clients: Vec<Client>,
}

impl Endpoint {
    /// Connections in all states.
    pub fn connections(&self) -> u32 {
        self.states.iter().filter(|s| s.state != "LISTEN").map(|s| s.count).sum()
    }

    /// `tcp 127.0.0.1:8891`, the key of its row.
    pub fn key(&self) -> (Transport, String) {
        (self.transport, self.address.clone())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCount {
    pub state: String,
    pub count: u32,
}

/// Processes of one name waiting on an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub comm: String,
    /// Their stuck connections, and how many processes hold them.
    pub connections: u32,
    pub processes: u32,
    /// The lowest pids among them.
    pub pids: Vec<u32>,
}

/// A process as the picture names it: by pid and the kernel's command
/// name (at most 15 bytes), not by its command line, which can block
/// behind a stuck process; the process table has that by pid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub pid: u32,
    pub comm: String,
}
