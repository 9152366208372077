//! Facts derived from one sample's rows, defined once: how full a
//! filesystem is, which sockets count as open connections.

use super::sample::{Direction, Filesystem, PortSockets};

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
}
