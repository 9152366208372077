//! Facts derived from one sample's rows, defined once: how full a
//! filesystem is, which sockets count as open connections, the name a
//! person knows a cgroup by.

use super::sample::{CgroupStats, Direction, Filesystem, PortSockets};

impl Filesystem {
    /// Used space as `df` shows it: of the space usable without root's reserve.
    pub fn used_pct(&self) -> f64 {
        percent(self.used_bytes, self.used_bytes + self.avail_bytes)
    }

    /// Inodes in use, of all; 0 where the filesystem has no inode count.
    pub fn inodes_used_pct(&self) -> f64 {
        percent(self.inodes_used, self.inodes_total)
    }
}

impl PortSockets {
    /// A connection that holds a socket now: not a listener, and not the
    /// TIME_WAIT that a closed connection leaves behind.
    pub fn is_open_connection(&self) -> bool {
        self.direction != Direction::Listen && self.state != "TIME_WAIT"
    }
}

impl CgroupStats {
    /// `postfix.service`, `docker-4f3a9c01b2d7`: see `unit_name`.
    pub fn unit(&self) -> String {
        unit_name(&self.path)
    }

    /// Memory in use, % of the limit it is held to (`memory.high` where
    /// set, else its maximum); `None` without a limit.
    pub fn memory_limit_pct(&self) -> Option<f64> {
        let limit = self.memory_high_bytes.or(self.memory_max_bytes).filter(|&l| l > 0)?;
        Some(percent(self.memory_bytes?, limit))
    }

    /// Its CPU quota in % of one CPU: 50000 µs per 100000 µs is 50.
    pub fn cpu_quota_pct(&self) -> Option<f64> {
        let (quota, period) = self.cpu_quota.filter(|&(_, period)| period > 0)?;
        Some(percent(quota, period))
    }
}

/// The name a person knows a cgroup by: its last component, with a
/// container id cut to 12 characters as `docker ps` shows it
/// (`docker-4f3a…64 hex….scope` is `docker-4f3a9c01b2d7`).
pub fn unit_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or(path);
    for prefix in ["docker-", "libpod-", "cri-containerd-", "crio-"] {
        let id = last.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(".scope"));
        if let Some(id) = id.filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
            return format!("{prefix}{}", &id[..12]);
        }
    }
    last.to_string()
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_space_is_of_the_usable_space() {
        let fs = Filesystem { used_bytes: 75, avail_bytes: 25, size_bytes: 110, ..Filesystem::default() };
        assert_eq!(fs.used_pct(), 75.0);
        assert_eq!(Filesystem::default().used_pct(), 0.0);
        let inodes = Filesystem { inodes_used: 1, inodes_total: 4, ..Filesystem::default() };
        assert_eq!(inodes.inodes_used_pct(), 25.0);
    }

    #[test]
    fn open_connections_exclude_listeners_and_time_wait() {
        let socket =
            |direction, state: &str| PortSockets { direction, state: state.into(), ..PortSockets::default() };
        assert!(socket(Direction::Incoming, "ESTABLISHED").is_open_connection());
        assert!(socket(Direction::Outgoing, "SYN_SENT").is_open_connection());
        assert!(!socket(Direction::Outgoing, "TIME_WAIT").is_open_connection());
        assert!(!socket(Direction::Listen, "LISTEN").is_open_connection());
    }

    #[test]
    fn container_ids_are_shortened_as_docker_shows_them() {
        let id = "4f3a9c01b2d7e8f90123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(unit_name(&format!("/system.slice/docker-{id}.scope")), "docker-4f3a9c01b2d7");
        assert_eq!(unit_name("/system.slice/postfix.service"), "postfix.service");
        assert_eq!(unit_name("/system.slice/docker-short.scope"), "docker-short.scope");
    }
}
