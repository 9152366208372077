//! Who waits on whom: per sample, for every endpoint listening here (a TCP
//! port over IPv4 or IPv6, a unix stream path) and every remote endpoint
//! this machine has connections open to, the connections by state, the
//! bytes queued on either side, how many wait for a reply and for how
//! long, and who they are: the process that should answer (for endpoints
//! here) and the processes waiting. The kernel's socket table comes over
//! NETLINK_SOCK_DIAG (`diag`, `inet`, `unix`), its TCP part in the dump
//! the socket table reads too (`collect::sockets`); `picture` turns it into
//! endpoints; `owners` names processes, walking /proc/PID/fd only where it
//! pays (listeners once, clients of endpoints that look stuck).
//!
//! What the kernel says about a TCP connection's silence: `tcp_info` gives
//! the milliseconds since data was last sent and received. Unix sockets
//! have no clocks: a server that leaves a request unread is seen by its
//! receive queue, and how long it has been so is timed here, from sample
//! to sample; one that read the request and hangs leaves no trace there.
//!
//! Socket diagnostics see the caller's network namespace only.

pub(crate) mod diag;
pub(crate) mod inet;
mod owners;
mod picture;
mod unix;

pub use owners::Identity;
pub use picture::{Client, Endpoint, StateCount, Transport};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The wait-for picture of one sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Waits {
    /// TCP endpoints, then unix ones; of each, those listening here first,
    /// then by address.
    pub endpoints: Vec<Endpoint>,
}

/// The process names found so far and the clocks of unix sockets left
/// unread, kept from one sample to the next. The TCP sockets come from the
/// socket table's dump (`collect::sockets`), which asks for their tcp_info
/// when the picture is drawn: one dump a sample serves both.
pub struct WaitCollector {
    owners: owners::Owners,
    clocks: picture::Clocks,
    unix: Vec<unix::UnixSocket>,
    reads: u64,
}

/// Every this many reads the process lookup forgets closed sockets: their
/// inodes are never reused, so they only cost memory meanwhile.
const FORGET_EVERY: u64 = 32;

impl WaitCollector {
    pub fn new() -> Self {
        WaitCollector {
            owners: owners::Owners::new(),
            clocks: picture::Clocks::default(),
            unix: Vec::new(),
            reads: 0,
        }
    }

    /// The picture now, from `tcp` (this sample's TCP sockets, dumped with
    /// their tcp_info) and the unix sockets dumped over `diag`. A failed
    /// dump fails the whole picture (half of the sockets would name the
    /// wrong waits), and leaves `diag` to be opened afresh.
    pub fn read(&mut self, diag: &mut diag::DiagSocket, tcp: &[inet::TcpSocket]) -> Result<Waits> {
        self.unix.clear();
        unix::dump(diag, &mut self.unix).context("dumping unix sockets over NETLINK_SOCK_DIAG")?;
        let drafts = picture::draft(tcp, &self.unix, &mut self.clocks, Instant::now());
        self.reads += 1;
        if self.reads.is_multiple_of(FORGET_EVERY) {
            let live: std::collections::HashSet<u64> =
                tcp.iter().map(|s| s.inode).chain(self.unix.iter().map(|s| s.inode)).collect();
            self.owners.retain(|inode| live.contains(&inode));
        }
        let wanted: Vec<u64> = drafts.iter().flat_map(picture::Draft::wanted).collect();
        self.owners.resolve(&wanted);
        Ok(Waits { endpoints: picture::finish(drafts, |inode| self.owners.owner(inode)) })
    }

    /// Processes whose fds were walked since this collector started.
    pub fn processes_walked(&self) -> u64 {
        self.owners.walks
    }
}

impl Default for WaitCollector {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
