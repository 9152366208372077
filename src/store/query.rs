//! What readers ask of the store, in their words: the samples of a window,
//! each sample with the one before it, the sample nearest a time. The
//! analysis and the export draw on these and never on SQL or sample ids.

use super::{Store, Tables};
use crate::model::catalogue::{RowKind, Source};
use crate::model::{Event, StoredSample};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::ops::RangeInclusive;

impl Store {
    /// Samples with `from_ms <= time <= to_ms`, oldest first.
    pub fn window(&self, from_ms: i64, to_ms: i64, tables: Tables) -> Result<Vec<StoredSample>> {
        let mut samples = Vec::new();
        self.pairs(from_ms, to_ms, tables, |_, cur| {
            samples.push(cur.clone());
            Ok(())
        })?;
        Ok(samples)
    }

    /// Calls `each(previous, current)` for every sample with `from_ms <= time
    /// <= to_ms`, oldest first, in constant memory. `previous` is the sample
    /// before in the same run: rates across a restart or a reboot would mean
    /// nothing.
    pub fn pairs(
        &self,
        from_ms: i64,
        to_ms: i64,
        tables: Tables,
        each: impl FnMut(Option<&StoredSample>, &StoredSample) -> Result<()>,
    ) -> Result<()> {
        self.pairs_of_ids(self.ids_between(from_ms, to_ms)?, from_ms..=to_ms, tables, each)
    }

    /// The samples with ids in `ids` whose times are in `times`: ids cover
    /// the range, and a clock set back puts samples of other times among
    /// them. `previous` is still the one before in recording order.
    fn pairs_of_ids(
        &self,
        ids: Option<(i64, i64)>,
        times: RangeInclusive<i64>,
        tables: Tables,
        mut each: impl FnMut(Option<&StoredSample>, &StoredSample) -> Result<()>,
    ) -> Result<()> {
        let Some((first, last)) = ids else {
            return Ok(());
        };
        let mut prev: Option<StoredSample> = None;
        self.for_each_sample(first, last, tables, |cur| {
            if times.contains(&cur.sample.time_ms) {
                each(prev.as_ref().filter(|p| p.run_id == cur.run_id), &cur)?;
            }
            prev = Some(cur);
            Ok(())
        })
    }

    /// The sample nearest `at_ms` (the newest without it), with every table,
    /// and the sample before it in the same run.
    pub fn sample_with_previous(&self, at_ms: Option<i64>) -> Result<(Option<StoredSample>, StoredSample)> {
        let id = match at_ms {
            Some(ms) => self.nearest_sample(ms)?,
            None => self.latest_sample()?,
        };
        let id = id.with_context(|| format!("{}: no samples recorded yet", self.path().display()))?;
        self.sample_by_id_with_previous(id, Tables::ALL)
    }

    /// Sample `id` (one a stream gave) and the sample before it in the same
    /// run, with `tables`.
    pub fn sample_by_id_with_previous(
        &self,
        id: i64,
        tables: Tables,
    ) -> Result<(Option<StoredSample>, StoredSample)> {
        let mut pair = Vec::with_capacity(2);
        self.for_each_sample(id - 1, id, tables, |s| {
            pair.push(s);
            Ok(())
        })?;
        let cur = pair.pop().context("the sample vanished while reading")?;
        Ok((pair.pop().filter(|p| p.run_id == cur.run_id), cur))
    }

    /// The oldest (or with `newest`, the newest) sample with `from_ms <=
    /// time <= to_ms` that `wanted` accepts, read a few at a time from
    /// that end: a look back after a stream, not a second stream.
    pub fn find_sample(
        &self,
        from_ms: i64,
        to_ms: i64,
        tables: Tables,
        newest: bool,
        wanted: impl Fn(&StoredSample) -> bool,
    ) -> Result<Option<StoredSample>> {
        const CHUNK: i64 = 16;
        let Some((first, last)) = self.ids_between(from_ms, to_ms)? else {
            return Ok(None);
        };
        let times = from_ms..=to_ms;
        let (mut low, mut high) = if newest {
            ((last - CHUNK + 1).max(first), last)
        } else {
            (first, (first + CHUNK - 1).min(last))
        };
        while low <= high {
            let mut hit = None;
            self.for_each_sample(low, high, tables, |s| {
                if times.contains(&s.sample.time_ms) && wanted(&s) && (newest || hit.is_none()) {
                    hit = Some(s);
                }
                Ok(())
            })?;
            if hit.is_some() {
                return Ok(hit);
            }
            (low, high) = if newest {
                ((low - CHUNK).max(first), low - 1)
            } else {
                (high + 1, (high + CHUNK).min(last))
            };
        }
        Ok(None)
    }
}

/// The samples and events of a stretch of time, for exports.
pub struct Range<'a> {
    store: &'a Store,
    from_ms: i64,
    to_ms: i64,
    ids: Option<(i64, i64)>,
    boot_times: HashMap<i64, i64>,
}

impl<'a> Range<'a> {
    /// Finds the range's samples now, so that a file too damaged to read
    /// fails before any output is written.
    pub fn new(store: &'a Store, from_ms: i64, to_ms: i64) -> Result<Self> {
        let ids = store.ids_between(from_ms, to_ms)?;
        let boot_times = store.runs()?.iter().map(|run| (run.id, run.boot_time_ms)).collect();
        Ok(Range { store, from_ms, to_ms, ids, boot_times })
    }
}

impl Source for Range<'_> {
    fn pairs(
        &self,
        what: RowKind,
        each: &mut dyn FnMut(Option<&StoredSample>, &StoredSample) -> Result<()>,
    ) -> Result<()> {
        self.store.pairs_of_ids(self.ids, self.from_ms..=self.to_ms, tables_for(what), each)
    }

    fn events(&self) -> Result<Vec<Event>> {
        self.store.events_between(self.from_ms, self.to_ms)
    }

    fn boot_time_ms(&self, run_id: i64) -> Option<i64> {
        self.boot_times.get(&run_id).copied()
    }
}

/// The tables an export of `what` reads: decoding is what costs.
pub fn tables_for(what: RowKind) -> Tables {
    let none = Tables::NONE;
    match what {
        RowKind::System | RowKind::Events => none,
        RowKind::Processes => Tables { processes: true, cgroups: true, ..none },
        RowKind::Cgroups => Tables { cgroups: true, ..none },
        RowKind::Sockets => Tables { sockets: true, ..none },
        RowKind::Waits => Tables { waits: true, ..none },
        RowKind::Filesystems => Tables { filesystems: true, ..none },
        RowKind::Disks => Tables { disks: true, ..none },
        RowKind::Net => Tables { interfaces: true, ..none },
        RowKind::Probes => Tables { probes: true, ..none },
        RowKind::Dirs => Tables { watched_dirs: true, ..none },
        RowKind::Logs => Tables { watched_logs: true, ..none },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Process, Sample};
    use std::time::Duration;

    /// Forty samples a second apart, with a process table only at every
    /// tenth: a look-up finds the nearest from its end, across chunks, and
    /// only inside its times.
    #[test]
    fn find_sample_reads_from_the_end_asked() {
        let dir = crate::scratch::Scratch::new("find-sample");
        let mut store = Store::open_for_recording(&dir.0.join("f.db")).unwrap();
        let run = crate::store::test_run(1000);
        let run_id = store.begin_run(&run).unwrap();
        for i in 0..40 {
            let processes = (i % 10 == 0).then(|| vec![Process { pid: 7, ..Process::default() }]);
            let sample = Sample { time_ms: i * 1000, processes, ..Sample::default() };
            store.commit(run_id, Duration::from_secs(1), &sample).unwrap();
        }
        let tables = Tables { processes: true, ..Tables::NONE };
        let with_table = |s: &StoredSample| s.sample.processes.is_some();
        let time = |found: Option<StoredSample>| found.map(|s| s.sample.time_ms);
        assert_eq!(time(store.find_sample(1000, 39_000, tables, false, with_table).unwrap()), Some(10_000));
        assert_eq!(time(store.find_sample(0, 29_999, tables, true, with_table).unwrap()), Some(20_000));
        assert_eq!(time(store.find_sample(0, 39_000, tables, true, with_table).unwrap()), Some(30_000));
        assert_eq!(time(store.find_sample(31_000, 39_000, tables, false, with_table).unwrap()), None);
        assert_eq!(time(store.find_sample(11_000, 19_000, tables, true, with_table).unwrap()), None);
    }
}
