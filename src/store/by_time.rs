//! Finding samples by time without an index on time: sample ids follow
//! time (one recorder appends them in order), so a binary search over ids
//! finds a time in about 20 primary-key lookups. An index would cost a page
//! write on every commit, for the few lookups that readers make. Should the
//! clock be stepped back, the search still lands next to the step.

use super::Store;
use anyhow::Result;
use rusqlite::OptionalExtension;

impl Store {
    /// The first sample with `time_ms >= at`.
    pub fn first_at_or_after(&self, at: i64) -> Result<Option<(i64, i64)>> {
        let Some((mut low, mut high)) = self.id_range()? else { return Ok(None) };
        if self.time_at_or_after(high)?.is_none_or(|(_, t)| t < at) {
            return Ok(None);
        }
        // Invariant: the answer is in low..=high.
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

    /// The last sample with `time_ms <= at`.
    pub fn last_at_or_before(&self, at: i64) -> Result<Option<(i64, i64)>> {
        let Some((first, last)) = self.id_range()? else { return Ok(None) };
        match self.first_at_or_after(at.saturating_add(1))? {
            Some((id, _)) if id > first => self.time_at_or_before(id - 1),
            Some(_) => Ok(None),
            None => self.time_at_or_before(last),
        }
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
        Ok(self
            .conn
            .query_row("SELECT id, time_ms FROM samples WHERE id >= ?1 ORDER BY id LIMIT 1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    fn time_at_or_before(&self, id: i64) -> Result<Option<(i64, i64)>> {
        Ok(self
            .conn
            .query_row("SELECT id, time_ms FROM samples WHERE id <= ?1 ORDER BY id DESC LIMIT 1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }
}
