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
        let mut pair = Vec::with_capacity(2);
        self.for_each_sample(id - 1, id, Tables::ALL, |s| {
            pair.push(s);
            Ok(())
        })?;
        let cur = pair.pop().context("the sample vanished while reading")?;
        Ok((pair.pop().filter(|p| p.run_id == cur.run_id), cur))
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
