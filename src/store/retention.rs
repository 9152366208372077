//! Keeping the file within its limits, and room inside it for bad days.
//!
//! - Retention: samples older than `--retain`, and the oldest samples while
//!   the file holds more than `--max-size` less the reserve, are deleted a
//!   segment at a time (a key frame and the deltas after it), so every
//!   remaining frame chain still starts at its key frame.
//! - Reserve: disk blocks allocated for the file past its end (and the
//!   WAL's), plus free pages inside it (`--reserve`). When the filesystem is
//!   full, the file still grows into blocks that are already its own, and
//!   SQLite reuses free pages before it grows the file at all.
//! - Room on a full disk: when even the reserve is gone, the oldest process
//!   tables (the bulk of the file) are dropped before any system scalar.
//!
//! Each step is one short transaction, called by the writer between
//! commits: it never delays a tick.

use super::{Store, WAL_SIZE_LIMIT};
use anyhow::Result;
use nix::fcntl::{FallocateFlags, fallocate};
use rusqlite::OptionalExtension;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub retain: Duration,
    pub max_size: u64,
    pub reserve: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { retain: Duration::from_secs(14 * 86_400), max_size: 1 << 30, reserve: 64 << 20 }
    }
}

/// Segments deleted per call at most, so one call stays short.
const SEGMENTS_PER_CALL: usize = 8;

impl Store {
    /// Bytes in pages that hold data (the file less its free pages).
    pub fn used_bytes(&self) -> Result<u64> {
        let (pages, free, size) = self.page_counts()?;
        Ok(pages.saturating_sub(free) * size)
    }

    /// Bytes in free pages: the reserve as it stands.
    pub fn free_bytes(&self) -> Result<u64> {
        let (_, free, size) = self.page_counts()?;
        Ok(free * size)
    }

    fn page_counts(&self) -> Result<(u64, u64, u64)> {
        let get = |pragma: &str| -> Result<u64> {
            Ok(self.conn.pragma_query_value(None, pragma, |r| r.get::<_, i64>(0))? as u64)
        };
        Ok((get("page_count")?, get("freelist_count")?, get("page_size")?))
    }

    /// Deletes what is past the limits, oldest first; gives the number of
    /// samples deleted.
    pub fn prune(&mut self, now_ms: i64, limits: &Limits) -> Result<u64> {
        let cutoff_ms = now_ms - limits.retain.as_millis() as i64;
        let room = limits.max_size.saturating_sub(limits.reserve);
        let mut deleted = 0;
        for _ in 0..SEGMENTS_PER_CALL {
            let Some((first, next_key, next_key_ms)) = self.oldest_segment()? else { break };
            let too_old = next_key_ms <= cutoff_ms;
            if !too_old && self.used_bytes()? <= room {
                break;
            }
            let tx = self.conn.transaction()?;
            deleted +=
                tx.execute("DELETE FROM samples WHERE id >= ?1 AND id < ?2", [first, next_key])? as u64;
            tx.execute("DELETE FROM events WHERE time_ms < ?1", [next_key_ms.min(cutoff_ms)])?;
            // Runs no sample refers to any more, except the newest.
            tx.execute(
                "DELETE FROM runs WHERE id < (SELECT run_id FROM samples ORDER BY id LIMIT 1)
                 AND id < (SELECT max(id) FROM runs)",
                [],
            )?;
            tx.commit()?;
        }
        Ok(deleted)
    }

    /// The oldest segment: its first sample, the next key frame and that
    /// key frame's time. `None` when only one segment is left (the live one
    /// is never deleted).
    fn oldest_segment(&self) -> Result<Option<(i64, i64, i64)>> {
        let Some(first) =
            self.conn.query_row("SELECT min(id) FROM samples", [], |r| r.get::<_, Option<i64>>(0))?
        else {
            return Ok(None);
        };
        // Walks forward by id from `first` and stops at the first key frame.
        let next: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT id, time_ms FROM samples WHERE id > ?1 AND key_id = id ORDER BY id LIMIT 1",
                [first],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(next.map(|(id, time)| (first, id, time)))
    }

    /// Keeps `reserve` bytes of disk ready for the file to grow into: free
    /// pages inside it, plus blocks allocated past its end (fallocate with
    /// KEEP_SIZE: reserved on disk, nothing written, the size unchanged).
    /// Also makes sure the WAL can grow to its limit. On a full disk this
    /// quietly does nothing: that is what the reserve is for.
    pub fn top_up_reserve(&mut self, reserve: u64) -> Result<()> {
        let Some(files) = &self.reserve_files else { return Ok(()) };
        let (size, ahead) = allocated_ahead(&files.db)?;
        let free = self.free_bytes()?;
        let missing = reserve.saturating_sub(free + ahead);
        // Small shortfalls are not worth a call: top up in large steps.
        if missing == 0 || missing < reserve / 4 {
            return Ok(());
        }
        allocate(&files.db, size, reserve.saturating_sub(free))?;
        allocate(&files.wal, 0, WAL_SIZE_LIMIT as u64)
    }

    /// Space left on the filesystem holding the database.
    pub fn disk_available(&self) -> Result<u64> {
        let st = nix::sys::statvfs::statvfs(&self.path)?;
        Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
    }

    /// The room the file can still fill without new disk space: its free
    /// pages and the blocks allocated past its end.
    pub fn reserve_left(&self) -> Result<u64> {
        let ahead = match &self.reserve_files {
            Some(files) => allocated_ahead(&files.db)?.1,
            None => 0,
        };
        Ok(self.free_bytes()? + ahead)
    }

    /// Makes room when the disk is full and the reserve is spent: drops the
    /// process tables of the oldest segment that still has them, never the
    /// live one. Gives false when there is nothing left to drop.
    pub fn drop_oldest_detail(&mut self) -> Result<bool> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM samples WHERE process_table IS NOT NULL ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let Some(first) = found else { return Ok(false) };
        let end: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM samples WHERE id > ?1 AND key_id = id ORDER BY id LIMIT 1",
                [first],
                |r| r.get(0),
            )
            .optional()?;
        // The live segment (no key frame after it) is never touched: the
        // recorder's next deltas chain from its key frame.
        let Some(end) = end else { return Ok(false) };
        // A whole segment at once: a chain missing its key frame would not
        // decode, a chain missing all its frames is simply absent.
        let key: i64 =
            self.conn.query_row("SELECT key_id FROM samples WHERE id = ?1", [first], |r| r.get(0))?;
        self.conn.execute(
            "UPDATE samples SET process_table = NULL WHERE id >= ?1 AND id < ?2",
            [key.min(first), end],
        )?;
        Ok(true)
    }
}

/// A file's size and the bytes allocated to it past that size.
fn allocated_ahead(file: &std::fs::File) -> Result<(u64, u64)> {
    let st = nix::sys::stat::fstat(file)?;
    let size = st.st_size as u64;
    Ok((size, (st.st_blocks as u64 * 512).saturating_sub(size)))
}

/// Reserves `len` bytes from `offset` without changing the file's size.
fn allocate(file: &std::fs::File, offset: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    match fallocate(file, FallocateFlags::FALLOC_FL_KEEP_SIZE, offset as i64, len as i64) {
        Ok(()) | Err(nix::Error::ENOSPC) => Ok(()),
        Err(err) => Err(anyhow::anyhow!("reserving disk space with fallocate: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Process, Sample};
    use crate::store::{Run, Tables};

    #[test]
    fn dropping_detail_never_breaks_the_live_chain() {
        let dir = crate::scratch::Scratch::new("retention");
        let path = dir.0.join("drop.db");
        let mut store = Store::open_for_recording(&path).unwrap();
        let run = Run {
            id: 0,
            boot_id: "b".into(),
            boot_time_ms: 0,
            hostname: "h".into(),
            kernel: "k".into(),
            version: "v".into(),
            pid: 1,
            interval_ms: 100_000,
            start_ms: 0,
            stop_ms: None,
            stop_reason: None,
            recording: true,
        };
        let run_id = store.begin_run(&run).unwrap();
        // A 100 s interval makes a key frame every 3 samples: two segments.
        for i in 0..5u64 {
            let process = Process { pid: 7, utime_ticks: i, ..Process::default() };
            let sample =
                Sample { time_ms: i as i64 * 100_000, processes: Some(vec![process]), ..Sample::default() };
            store.commit(run_id, Duration::from_secs(100), &sample).unwrap();
        }
        assert!(store.drop_oldest_detail().unwrap(), "the first segment goes");
        assert!(!store.drop_oldest_detail().unwrap(), "the live segment stays");
        let mut tables = Vec::new();
        store
            .for_each_sample(1, 5, Tables::ALL, |s| {
                tables.push(s.sample.processes.map(|p| p[0].utime_ticks));
                Ok(())
            })
            .unwrap();
        assert_eq!(tables, [None, None, None, Some(3), Some(4)]);
    }
}
