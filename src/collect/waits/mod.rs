//! Who waits on whom: per sample, for every endpoint listening here (a TCP
//! port over IPv4 or IPv6, a unix stream path) and every remote endpoint
//! this machine has connections open to, the connections by state, the
//! bytes queued on either side, how many wait for a reply and for how
//! long, and who they are: the process that should answer (for endpoints
//! here) and the processes waiting. The kernel's socket table comes over
//! NETLINK_SOCK_DIAG (`diag`, `inet`, `unix`); `picture` turns it into
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

/// The netlink socket, the process names found so far and the clocks of
/// unix sockets left unread, kept from one sample to the next.
pub struct WaitCollector {
    diag: diag::DiagSocket,
    owners: owners::Owners,
    clocks: picture::Clocks,
    tcp: Vec<inet::TcpSocket>,
    unix: Vec<unix::UnixSocket>,
    reads: u64,
}

/// Every this many reads the process lookup forgets closed sockets: their
/// inodes are never reused, so they only cost memory meanwhile.
const FORGET_EVERY: u64 = 32;

impl WaitCollector {
    /// Fails where the kernel refuses NETLINK_SOCK_DIAG.
    pub fn new() -> Result<Self> {
        Ok(WaitCollector {
            diag: diag::DiagSocket::open()?,
            owners: owners::Owners::new(),
            clocks: picture::Clocks::default(),
            tcp: Vec::new(),
            unix: Vec::new(),
            reads: 0,
        })
    }

    /// The picture now. A refused or failed dump fails the whole picture
    /// (half of the sockets would name the wrong waits); the next call
    /// tries again.
    pub fn read(&mut self) -> Result<Waits> {
        self.tcp.clear();
        self.unix.clear();
        inet::dump(&mut self.diag, &mut self.tcp).context("dumping TCP sockets over NETLINK_SOCK_DIAG")?;
        unix::dump(&mut self.diag, &mut self.unix).context("dumping unix sockets over NETLINK_SOCK_DIAG")?;
        let drafts = picture::draft(&self.tcp, &self.unix, &mut self.clocks, Instant::now());
        self.reads += 1;
        if self.reads.is_multiple_of(FORGET_EVERY) {
            let live: std::collections::HashSet<u64> =
                self.tcp.iter().map(|s| s.inode).chain(self.unix.iter().map(|s| s.inode)).collect();
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

#[cfg(test)]
mod tests;
