//! Which process holds a socket: sock_diag gives a socket's inode, and only
//! /proc/PID/fd links (`socket:[INODE]`) lead from there to a process.
//! Reading every link of every process costs far more than the rest of the
//! picture, so `Owners` remembers what it read: the socket inodes of every
//! process it walked and that process's fd count. A lookup of an unknown
//! inode walks again only the processes whose fd count changed since (or
//! that are new), and an inode no walk found is not searched for again.
//!
//! Since Linux 6.2 `stat` of /proc/PID/fd gives the fd count; before, it
//! gives 0, and every process is walked when something new is searched for.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

/// A process as the picture names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub pid: u32,
    /// The kernel's command name, at most 15 bytes.
    pub comm: String,
    /// The program it was started as: the command line's first word.
    pub argv0: String,
}

#[derive(Default)]
pub struct Owners {
    /// Socket inode → the lowest pid holding it (of a master and the
    /// workers it forked, the master).
    by_inode: HashMap<u64, u32>,
    /// Pid → its fd count when last walked (0: the kernel does not say).
    fd_counts: HashMap<u32, u64>,
    identities: HashMap<u32, Identity>,
    /// Inodes a walk did not find (held by a process out of sight, or by
    /// none): found again only when a walk meets them anyway.
    not_found: HashSet<u64>,
    /// Processes walked in all, for the benchmark and the tests.
    pub walks: u64,
}

impl Owners {
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds the holders of the `wanted` inodes not yet known.
    pub fn resolve(&mut self, wanted: &[u64]) {
        let new =
            wanted.iter().any(|i| *i != 0 && !self.by_inode.contains_key(i) && !self.not_found.contains(i));
        if !new {
            return;
        }
        self.scan();
        for inode in wanted {
            if *inode != 0 && !self.by_inode.contains_key(inode) {
                self.not_found.insert(*inode);
            }
        }
    }

    /// The process holding `inode`, when known and still there.
    pub fn owner(&self, inode: u64) -> Option<&Identity> {
        self.by_inode.get(&inode).and_then(|pid| self.identities.get(pid))
    }

    /// Forgets sockets that no longer exist.
    pub fn retain(&mut self, live: impl Fn(u64) -> bool) {
        self.by_inode.retain(|inode, _| live(*inode));
        self.not_found.retain(|inode| live(*inode));
    }

    /// Walks the processes that are new or whose fd count changed; forgets
    /// those that exited. A process exiting midway is skipped.
    fn scan(&mut self) {
        let Ok(dir) = fs::read_dir("/proc") else { return };
        let mut alive = HashSet::new();
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            alive.insert(pid);
            let Ok(meta) = fs::metadata(format!("/proc/{pid}/fd")) else { continue };
            let count = meta.size();
            if count != 0 && self.fd_counts.get(&pid) == Some(&count) {
                continue;
            }
            self.walk(pid);
            self.fd_counts.insert(pid, count);
        }
        self.fd_counts.retain(|pid, _| alive.contains(pid));
        self.identities.retain(|pid, _| alive.contains(pid));
        self.by_inode.retain(|_, pid| alive.contains(pid));
    }

    fn walk(&mut self, pid: u32) {
        self.walks += 1;
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return };
        let mut holds_a_socket = false;
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) else { continue };
            holds_a_socket = true;
            self.not_found.remove(&inode);
            let holder = self.by_inode.entry(inode).or_insert(pid);
            // The pid may be a reused one: the walk says who holds it now.
            if !self.identities.contains_key(holder) || pid < *holder {
                *holder = pid;
            }
        }
        // A pid walked again is maybe another process now.
        self.identities.remove(&pid);
        if holds_a_socket && let Some(identity) = identity(pid) {
            self.identities.insert(pid, identity);
        }
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn identity(pid: u32) -> Option<Identity> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    Some(Identity {
        pid,
        comm: comm.trim_end_matches('\n').to_string(),
        argv0: String::from_utf8_lossy(argv0).into_owned(),
    })
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

        // Known inodes cost nothing more.
        let walks = owners.walks;
        owners.resolve(&[inode]);
        assert_eq!(owners.walks, walks);

        // An inode nobody holds is searched for once.
        owners.resolve(&[u64::from(u32::MAX)]);
        let walks = owners.walks;
        owners.resolve(&[u64::from(u32::MAX)]);
        assert_eq!(owners.walks, walks);
    }
}
