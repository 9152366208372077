//! Keeping the file within its limits, and room inside it for bad days.
//!
//! - Retention: samples older than `--retain`, and the oldest samples while
//!   the file holds more than `--max-size` less the reserve, are deleted a
//!   segment at a time (a key frame and the deltas after it), so every
//!   remaining frame chain still starts at its key frame.
//! - Events are bounded by size too: at most a quarter of the room, oldest
//!   first; and the size limit takes events older than the last hour
//!   before it takes any sample of the last hour. What is dropped is
//!   counted in an `events-dropped` event.
//! - Reserve: free pages inside the file (`--reserve`), written once so
//!   that they own their disk blocks. SQLite takes free pages before it
//!   grows the file, and a checkpoint, which cuts the file to its page
//!   count, keeps them (blocks allocated past the end of the file, as
//!   `fallocate` gives, are freed by that cut): when the filesystem is
//!   full, commits go on into space the file already has.
//! - Room on a full disk: when even the reserve is gone, the oldest process
//!   tables (the bulk of the file) are dropped before any system scalar.
//!
//! Each step is one short transaction, called by the writer between
//! commits: it never delays a tick.

use super::{Store, events};
use anyhow::Result;
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

/// Events are given at most this fraction of the room (1/n).
const EVENTS_SHARE: u64 = 4;

/// Events deleted at a time for the size limit.
const EVENTS_PER_STEP: i64 = 500;

/// Bytes an event takes besides its text: its row and index entry.
const EVENT_OVERHEAD: i64 = 64;

/// Bytes of zeros committed at a time to make the reserve: a WAL of this
/// size is reused from its start after each checkpoint.
const RESERVE_STEP: u64 = 4 << 20;

/// Steps of the reserve written per upkeep at most.
const RESERVE_STEPS_PER_CALL: u64 = 1;

/// Samples this recent are deleted for size only once no older event is left.
const LAST_HOUR_MS: i64 = 3_600_000;

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
        let last_hour_ms = self.latest_sample_time()?.unwrap_or(now_ms) - LAST_HOUR_MS;
        let mut deleted = 0;
        self.bound_events(room / EVENTS_SHARE, now_ms)?;
        for _ in 0..SEGMENTS_PER_CALL {
            let Some((first, next_key, next_key_ms)) = self.oldest_segment()? else { break };
            let too_old = next_key_ms <= cutoff_ms;
            if !too_old && self.used_bytes()? <= room {
                break;
            }
            // Too big: the last hour of samples is worth more than any
            // older event.
            if !too_old && next_key_ms > last_hour_ms && self.drop_oldest_events(last_hour_ms, now_ms)? > 0 {
                continue;
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

    /// Deletes the oldest events while they take more than `limit` bytes
    /// (the counts of dropped events stay: they are few and small).
    fn bound_events(&mut self, limit: u64, now_ms: i64) -> Result<()> {
        for _ in 0..SEGMENTS_PER_CALL {
            let size: i64 = self.conn.query_row(
                "SELECT coalesce(sum(length(detail)) + count(*) * ?1, 0) FROM events",
                [EVENT_OVERHEAD],
                |r| r.get(0),
            )?;
            if size as u64 <= limit || self.drop_oldest_events(i64::MAX, now_ms)? == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Deletes the oldest events from before `before_ms`, a step at a
    /// time, and counts them; gives how many went.
    fn drop_oldest_events(&mut self, before_ms: i64, now_ms: i64) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let gone = tx.execute(
            "DELETE FROM events WHERE id IN
               (SELECT id FROM events WHERE time_ms < ?1 AND kind != 'events-dropped'
                ORDER BY time_ms, id LIMIT ?2)",
            [before_ms, EVENTS_PER_STEP],
        )? as i64;
        if gone > 0 {
            let run_id: Option<i64> = tx.query_row("SELECT max(id) FROM runs", [], |r| r.get(0))?;
            let run_id = run_id.unwrap_or_default();
            events::count_dropped(
                &tx,
                run_id,
                now_ms,
                gone,
                "oldest events dropped to keep within --max-size",
            )?;
        }
        tx.commit()?;
        Ok(gone)
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

    /// Keeps `reserve` bytes of free pages in the file. They are made by
    /// committing rows of zeros (written through the WAL and synced like
    /// any commit, then copied into the file by checkpoints), a step at a
    /// time so the WAL stays small, and deleting them all at the end: the
    /// pages of a row deleted in the transaction that wrote it might never
    /// be written, and then would own no disk block. On a full disk this
    /// stops quietly: that is what the reserve is for.
    pub fn top_up_reserve(&mut self, reserve: u64) -> Result<()> {
        if self.writer_lock.is_none() {
            return Ok(());
        }
        let missing = reserve.saturating_sub(self.free_bytes()?);
        // Small shortfalls are not worth the writing: top up in large steps.
        if missing == 0 || missing < reserve / 4 {
            return Ok(());
        }
        // One step per call: a new file gets its reserve over its first
        // minutes, and no commit waits long behind the writing.
        let goal = missing.min(RESERVE_STEP * RESERVE_STEPS_PER_CALL);
        let mut written = 0;
        let mut result = Ok(());
        while written < goal {
            let step = (goal - written).min(RESERVE_STEP);
            match self.conn.execute("INSERT INTO reserve_space (space) VALUES (zeroblob(?1))", [step as i64])
            {
                Ok(_) => written += step,
                Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => break,
                Err(err) => {
                    result = Err(err.into());
                    break;
                }
            }
        }
        self.conn.execute("DELETE FROM reserve_space", [])?;
        result
    }

    /// Space left on the filesystem holding the database.
    pub fn disk_available(&self) -> Result<u64> {
        let st = nix::sys::statvfs::statvfs(&self.path)?;
        Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
    }

    /// The room the file can still fill without new disk space: its free
    /// pages.
    pub fn reserve_left(&self) -> Result<u64> {
        self.free_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Process, Sample};
    use crate::store::{Tables, test_run};

    #[test]
    fn dropping_detail_never_breaks_the_live_chain() {
        let dir = crate::scratch::Scratch::new("retention");
        let path = dir.0.join("drop.db");
        let mut store = Store::open_for_recording(&path).unwrap();
        let run_id = store.begin_run(&test_run(100_000)).unwrap();
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

    fn message(time_ms: i64, n: usize) -> crate::sample::KernelMessage {
        crate::sample::KernelMessage {
            time_ms,
            priority: 4,
            repeats: 0,
            text: format!(
                "IN=eth0 OUT= SRC=192.0.2.{} DST=198.51.100.7 LEN=60 PROTO=TCP SPT={n} DPT=25 SYN",
                n % 250
            ),
        }
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// A firewall rule logging every packet: 20,000 messages in an hour.
    #[test]
    fn a_flood_of_kernel_messages_is_bounded_per_hour_and_counted() {
        let dir = crate::scratch::Scratch::new("flood");
        let mut store = Store::open_for_recording(&dir.0.join("flood.db")).unwrap();
        let run_id = store.begin_run(&test_run(100_000)).unwrap();
        for i in 0..400 {
            let time_ms = i * 5000;
            let messages = (0..50).map(|n| message(time_ms, (i * 50 + n) as usize)).collect();
            let sample = Sample { time_ms, kernel_messages: Some(messages), ..Sample::default() };
            store.commit(run_id, Duration::from_secs(5), &sample).unwrap();
        }
        let kept = count(&store, "SELECT count(*) FROM events WHERE kind = 'kernel'");
        assert_eq!(kept, events::KERNEL_PER_HOUR);
        let dropped = count(&store, "SELECT sum(repeats) FROM events WHERE kind = 'events-dropped'");
        assert_eq!(dropped, 20_000 - kept);
        let first = count(&store, "SELECT count(*) FROM events WHERE detail LIKE '%SPT=0 %'");
        let newest = count(&store, "SELECT count(*) FROM events WHERE detail LIKE '%SPT=19999 %'");
        assert_eq!((first, newest), (1, 1), "the first and the newest messages are kept");
    }

    /// Twelve hours of messages under the hourly bound, then --max-size:
    /// events give way, not the last hour of samples.
    #[test]
    fn the_size_limit_takes_old_events_before_the_last_hour_of_samples() {
        let dir = crate::scratch::Scratch::new("events-size");
        let mut store = Store::open_for_recording(&dir.0.join("events.db")).unwrap();
        let run_id = store.begin_run(&test_run(100_000)).unwrap();
        let samples = 720;
        for i in 0..samples {
            let time_ms = i * 60_000;
            let messages = (0..25).map(|n| message(time_ms, (i * 25 + n) as usize)).collect();
            let sample = Sample { time_ms, kernel_messages: Some(messages), ..Sample::default() };
            store.commit(run_id, Duration::from_secs(60), &sample).unwrap();
        }
        let limits = Limits { retain: Duration::from_secs(14 * 86_400), max_size: 2 << 20, reserve: 0 };
        let now_ms = (samples - 1) * 60_000;
        for _ in 0..100 {
            store.prune(now_ms, &limits).unwrap();
        }
        let last_hour =
            count(&store, &format!("SELECT count(*) FROM samples WHERE time_ms >= {}", now_ms - 3_600_000));
        assert_eq!(last_hour, 61, "every sample of the last hour stays");
        assert!(store.used_bytes().unwrap() <= limits.max_size, "{} bytes", store.used_bytes().unwrap());
        let size = count(&store, "SELECT sum(length(detail)) + count(*) * 64 FROM events");
        assert!(size as u64 <= limits.max_size / EVENTS_SHARE, "events take {size} bytes");
        let dropped = count(&store, "SELECT sum(repeats) FROM events WHERE kind = 'events-dropped'");
        let kept = count(&store, "SELECT count(*) FROM events WHERE kind = 'kernel'");
        assert_eq!(kept + dropped, samples * 25, "every message is kept or counted");
    }
}
