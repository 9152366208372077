//! Which process holds a socket: sock_diag gives a socket's inode, and only
//! /proc/PID/fd links (`socket:[INODE]`) lead from there to a process.
//! Reading every link of every process costs far more than the rest of the
//! picture, so `Owners` remembers what it read: the socket inodes of every
//! process it walked and that process's fd count. A lookup of an unknown
//! inode walks again only the processes whose fd count changed since (or
//! that are new), and an inode no walk found is not searched for again. A
//! known holder is walked again when its fd count changes. A process can
//! close one socket and open another between two walks, its count the
//! same: what such a walk misses, a walk of every process finds, made at
//! most every five minutes (about 0.1 ms per process).
//!
//! Since Linux 6.2 `stat` of /proc/PID/fd gives the fd count; before, it
//! gives 0, and every process is walked when something new is searched for.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// The least time between two walks of every process.
const FULL_WALK_EVERY: Duration = Duration::from_secs(300);

pub use crate::model::waits::Identity;

#[derive(Default)]
pub struct Owners {
    /// Socket inode → the pids holding it, as last walked.
    by_inode: HashMap<u64, Vec<u32>>,
    /// Pid → the socket inodes it held and its fd count (0: the kernel
    /// does not say) when last walked.
    walked: HashMap<u32, (Vec<u64>, u64)>,
    identities: HashMap<u32, Identity>,
    /// Inodes a walk did not find (held by a process out of sight, or by
    /// none): found again only when a walk meets them anyway.
    not_found: HashSet<u64>,
    last_full_walk: Option<Instant>,
    /// Processes walked in all, for the benchmark and the tests.
    pub walks: u64,
}

impl Owners {
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds the holders of the `wanted` inodes. A known holder whose fd
    /// count changed is walked again first: it may have passed the socket
    /// on (a master to a worker) or closed it.
    pub fn resolve(&mut self, wanted: &[u64]) {
        let mut holders: Vec<u32> =
            wanted.iter().filter_map(|i| self.by_inode.get(i)).flatten().copied().collect();
        holders.sort_unstable();
        holders.dedup();
        for pid in holders {
            match fd_count(pid) {
                None => self.forget(pid),
                Some(count) if count != 0 && self.walked.get(&pid).is_some_and(|w| w.1 != count) => {
                    self.walk(pid, count)
                }
                Some(_) => {}
            }
        }
        if !wanted.iter().any(|&inode| self.unknown(inode)) {
            return;
        }
        // The first scan walks every process: all are new to it.
        let first = self.last_full_walk.is_none();
        self.scan(false);
        if first {
            self.last_full_walk = Some(Instant::now());
        }
        let full_walk_due = self.last_full_walk.is_none_or(|at| at.elapsed() >= FULL_WALK_EVERY);
        if full_walk_due && wanted.iter().any(|&inode| self.unknown(inode)) {
            self.scan(true);
            self.last_full_walk = Some(Instant::now());
        }
        for inode in wanted {
            if *inode != 0 && !self.by_inode.contains_key(inode) {
                self.not_found.insert(*inode);
            }
        }
    }

    /// Neither found nor searched for in vain.
    fn unknown(&self, inode: u64) -> bool {
        inode != 0 && !self.by_inode.contains_key(&inode) && !self.not_found.contains(&inode)
    }

    /// The process holding `inode` when last looked (of a master and the
    /// workers it forked, the master: the lowest pid).
    pub fn owner(&self, inode: u64) -> Option<&Identity> {
        let pids = self.by_inode.get(&inode)?;
        pids.iter().filter_map(|pid| self.identities.get(pid)).min_by_key(|identity| identity.pid)
    }

    /// Forgets sockets that no longer exist.
    pub fn retain(&mut self, live: impl Fn(u64) -> bool) {
        self.by_inode.retain(|inode, _| live(*inode));
        self.not_found.retain(|inode| live(*inode));
    }

    /// Walks the processes that are new or whose fd count changed, or
    /// every one (`all`); forgets those that exited. A process exiting
    /// midway is skipped.
    fn scan(&mut self, all: bool) {
        let Ok(dir) = fs::read_dir("/proc") else { return };
        let mut alive = HashSet::new();
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            let Some(count) = fd_count(pid) else { continue };
            alive.insert(pid);
            if all || count == 0 || self.walked.get(&pid).is_none_or(|w| w.1 != count) {
                self.walk(pid, count);
            }
        }
        let gone: Vec<u32> = self.walked.keys().filter(|pid| !alive.contains(pid)).copied().collect();
        for pid in gone {
            self.forget(pid);
        }
    }

    fn walk(&mut self, pid: u32, count: u64) {
        self.walks += 1;
        self.forget(pid);
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return };
        let mut inodes = Vec::new();
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            if let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) {
                inodes.push(inode);
            }
        }
        if !inodes.is_empty()
            && let Some(identity) = identity(pid)
        {
            self.identities.insert(pid, identity);
        }
        for &inode in &inodes {
            self.not_found.remove(&inode);
            self.by_inode.entry(inode).or_default().push(pid);
        }
        self.walked.insert(pid, (inodes, count));
    }

    /// Drops what a walk of `pid` found: it exited, or is walked again.
    fn forget(&mut self, pid: u32) {
        self.identities.remove(&pid);
        let Some((inodes, _)) = self.walked.remove(&pid) else { return };
        for inode in inodes {
            if let Some(pids) = self.by_inode.get_mut(&inode) {
                pids.retain(|p| *p != pid);
                if pids.is_empty() {
                    self.by_inode.remove(&inode);
                }
            }
        }
    }
}

/// The number of open fds, 0 where the kernel does not say (before 6.2);
/// `None` once the process is gone.
fn fd_count(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/fd")).ok().map(|meta| meta.size())
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn identity(pid: u32) -> Option<Identity> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(Identity { pid, comm: comm.trim_end_matches('\n').to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn reads_socket_links() {
        assert_eq!(socket_inode(b"socket:[4026]"), Some(4026));
        assert_eq!(socket_inode(b"pipe:[4026]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn finds_this_process_and_walks_only_what_changed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&listener)))
            .unwrap()
            .ino();
        let mut owners = Owners::new();
        owners.resolve(&[inode]);
        let me = owners.owner(inode).expect("the owner of our own listener");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.comm.is_empty());

        // A known inode costs at most a walk of its holder, when that
        // holder's fd count changed (other tests run in this process).
        let walks = owners.walks;
        owners.resolve(&[inode]);
        assert!(owners.walks <= walks + 1, "{} walks", owners.walks - walks);

        // An inode nobody holds is searched for once.
        owners.resolve(&[u64::from(u32::MAX)]);
        let walks = owners.walks;
        owners.resolve(&[u64::from(u32::MAX)]);
        assert_eq!(owners.walks, walks);
    }

    #[test]
    fn skips_a_process_that_exited_before_its_walk() {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        let mut owners = Owners::new();
        owners.walk(pid, 3);
        assert!(owners.identities.is_empty() && owners.by_inode.is_empty());
        assert_eq!(identity(pid), None);
        assert_eq!(fd_count(pid), None);
    }
}
