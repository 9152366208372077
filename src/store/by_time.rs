//! Finding samples by time without an index on time: sample ids follow
//! time (one recorder appends them in order), so a binary search over ids
//! finds a time in about 20 primary-key lookups. An index would cost a page
//! write on every commit, for the few lookups that readers make.
//!
//! Where the wall clock was set back, times fall once and rise again: the
//! recorder notes each such sample in `time_steps`, and each piece between
//! two steps, where times do rise, is searched on its own. A time range can
//! then match samples of several pieces: `ids_between` gives ids that cover
//! them all, and readers keep the samples whose time is in the range.

use super::Store;
use anyhow::Result;
use rusqlite::OptionalExtension;

impl Store {
    /// The first sample (by id) with `time_ms >= at`.
    pub fn first_at_or_after(&self, at: i64) -> Result<Option<(i64, i64)>> {
        for (low, high) in self.rising_pieces()? {
            if let Some(found) = self.first_in(low, high, at)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The last sample (by id) with `time_ms <= at`.
    pub fn last_at_or_before(&self, at: i64) -> Result<Option<(i64, i64)>> {
        for (low, high) in self.rising_pieces()?.into_iter().rev() {
            if let Some(found) = self.last_in(low, high, at)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Id ranges in which times rise: all ids, cut at the samples where
    /// the clock was set back.
    fn rising_pieces(&self) -> Result<Vec<(i64, i64)>> {
        let Some((first, last)) = self.id_range()? else { return Ok(Vec::new()) };
        let mut pieces = Vec::new();
        let mut start = first;
        for step in self.time_steps(first, last)? {
            pieces.push((start, step - 1));
            start = step;
        }
        pieces.push((start, last));
        Ok(pieces)
    }

    /// Samples after `first` up to `last` whose time fell, in order; none
    /// in a file from before they were noted.
    fn time_steps(&self, first: i64, last: i64) -> Result<Vec<i64>> {
        if !self.has("time_steps", None)? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT sample_id FROM time_steps WHERE sample_id > ?1 AND sample_id <= ?2 ORDER BY sample_id",
        )?;
        let steps = stmt.query_map([first, last], |r| r.get(0))?;
        Ok(steps.collect::<rusqlite::Result<_>>()?)
    }

    /// The first sample of ids `low..=high` with `time_ms >= at`, times
    /// rising there.
    fn first_in(&self, low: i64, high: i64, at: i64) -> Result<Option<(i64, i64)>> {
        let Some((end, end_ms)) = self.time_at_or_before(high)?.filter(|(id, _)| *id >= low) else {
            return Ok(None);
        };
        if end_ms < at {
            return Ok(None);
        }
        // Invariant: the answer is in low..=high.
        let (mut low, mut high) = (low, end);
        while low < high {
            let mid = low + (high - low) / 2;
            match self.time_at_or_after(mid)? {
                Some((id, t)) if t >= at => high = id,
                Some((id, _)) => low = id + 1,
                None => break,
            }
        }
        self.time_at_or_after(low)
    }

    /// The last sample of ids `low..=high` with `time_ms <= at`, times
    /// rising there.
    fn last_in(&self, low: i64, high: i64, at: i64) -> Result<Option<(i64, i64)>> {
        let found = match self.first_in(low, high, at.saturating_add(1))? {
            Some((id, _)) => self.time_at_or_before(id - 1)?,
            None => self.time_at_or_before(high)?,
        };
        Ok(found.filter(|(id, t)| *id >= low && *t <= at))
    }

    /// The first and last ids. Two queries: SQLite answers a lone min() or
    /// max() from the end of the table, but both in one query scan it all.
    fn id_range(&self) -> Result<Option<(i64, i64)>> {
        let first: Option<i64> = self.conn.query_row("SELECT min(id) FROM samples", [], |r| r.get(0))?;
        let last: Option<i64> = self.conn.query_row("SELECT max(id) FROM samples", [], |r| r.get(0))?;
        Ok(first.zip(last))
    }

    /// The sample at `id`, or the next one where ids have gaps.
    fn time_at_or_after(&self, id: i64) -> Result<Option<(i64, i64)>> {
        self.id_and_time("SELECT id, time_ms FROM samples WHERE id >= ?1 ORDER BY id LIMIT 1", id)
    }

    fn time_at_or_before(&self, id: i64) -> Result<Option<(i64, i64)>> {
        self.id_and_time("SELECT id, time_ms FROM samples WHERE id <= ?1 ORDER BY id DESC LIMIT 1", id)
    }

    /// One probe of a search: a search makes a few dozen, so the statement
    /// is compiled once per connection, not once per probe.
    fn id_and_time(&self, sql: &str, id: i64) -> Result<Option<(i64, i64)>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;
    use std::time::Duration;

    /// Ten samples a second apart, then the clock set back 5.5 s and ten
    /// more: times 0..=9000, then 3500..=12500.
    #[test]
    fn a_clock_set_back_still_finds_every_time() {
        let dir = crate::scratch::Scratch::new("stepped-back");
        let mut store = Store::open_for_recording(&dir.0.join("back.db")).unwrap();
        let run = crate::store::test_run(1000);
        let run_id = store.begin_run(&run).unwrap();
        let times = (0..10).map(|i| i * 1000).chain((0..10).map(|i| 3500 + i * 1000));
        for time_ms in times {
            store.commit(run_id, Duration::from_secs(1), &Sample { time_ms, ..Sample::default() }).unwrap();
        }
        assert_eq!(store.first_at_or_after(9500).unwrap(), Some((17, 9500)));
        assert_eq!(store.last_at_or_before(9999).unwrap(), Some((17, 9500)));
        assert_eq!(store.last_at_or_before(12_000).unwrap(), Some((19, 11_500)));
        let (first, last) = store.ids_between(4000, 5000).unwrap().unwrap();
        assert!(first <= 5 && last >= 12, "ids {first}..={last} cover 5, 6 and 12");
        assert_eq!(store.count_between(4000, 5000).unwrap(), 3);
        assert_eq!(store.count_between(10_000, 20_000).unwrap(), 3);
    }
}
