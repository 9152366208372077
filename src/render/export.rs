//! `flightrec export`: samples as rows for other tools, one column list of
//! the catalogue per kind (`--what`). Every row carries its time twice: RFC
//! 3339 UTC and epoch ms. Rates are against the previous sample of the same
//! run; the first sample of a run has none (empty in CSV, null in JSON).

use super::rows::{Format, RowWriter};
use crate::model::StoredSample;
use crate::model::catalogue::{self, Field, ProcessRow, RowKind, Source, SystemRow};
use crate::model::rates;
use crate::model::sample::Sample;
use anyhow::Result;
use std::io::Write;

/// Exports the rows of `what` that `source` holds; `progress` is told the
/// number of rows written after each sample.
pub fn export(
    source: &dyn Source,
    what: RowKind,
    format: Format,
    out: Box<dyn Write + '_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let stream = Stream { source, what, format, out, progress };
    let ticks = rates::ticks_per_second();
    match what {
        RowKind::Events => {
            let mut w = RowWriter::new(catalogue::EVENTS, format, stream.out)?;
            for event in source.events()? {
                w.row(catalogue::EVENTS, &event)?;
            }
            Ok(w.finish()?)
        }
        RowKind::System => stream.rows(catalogue::SYSTEM, |prev, cur| vec![SystemRow::new(prev, cur)]),
        RowKind::Processes => stream.rows(catalogue::PROCESSES, |prev, cur| {
            let boot_time_ms = source.boot_time_ms(cur.run_id);
            let table = rates::process_table(prev, &cur.sample, ticks);
            let units = catalogue::process_units(&cur.sample);
            let row = |(p, rates)| {
                ProcessRow::new(cur.sample.time_ms, p, rates, boot_time_ms, ticks).with_unit(&units)
            };
            table.into_iter().map(row).collect()
        }),
        RowKind::Cgroups => {
            let mut seen = rates::CgroupDetailSeen::default();
            stream.rows(catalogue::CGROUPS, |prev, cur| catalogue::cgroup_rows(&mut seen, prev, cur))
        }
        RowKind::Sockets => {
            stream.rows(catalogue::SOCKETS, |_, cur| catalogue::stamped(cur, &cur.sample.sockets))
        }
        RowKind::Waits => stream.rows(catalogue::WAITS, |_, cur| catalogue::stamped(cur, &cur.sample.waits)),
        RowKind::Filesystems => {
            stream.rows(catalogue::FILESYSTEMS, |_, cur| catalogue::stamped(cur, &cur.sample.filesystems))
        }
        RowKind::Probes => {
            stream.rows(catalogue::PROBES, |_, cur| catalogue::stamped(cur, &cur.sample.probes))
        }
        RowKind::Dirs => {
            stream.rows(catalogue::DIRS, |_, cur| catalogue::stamped(cur, &cur.sample.watched_dirs))
        }
        RowKind::Disks => stream.rows(catalogue::DISKS, catalogue::disk_rows),
        RowKind::Net => stream.rows(catalogue::NET, catalogue::net_rows),
        RowKind::Logs => {
            let mut last_seen = catalogue::LastSeen::default();
            stream.rows(catalogue::LOGS, |_, cur| catalogue::log_rows(&mut last_seen, cur))
        }
    }
}

/// Writes rows sample by sample, in constant memory.
struct Stream<'a, 'p> {
    source: &'a dyn Source,
    what: RowKind,
    format: Format,
    out: Box<dyn Write + 'a>,
    progress: &'p mut dyn FnMut(u64),
}

impl Stream<'_, '_> {
    /// `rows_of(previous sample of the same run, sample)` gives a sample's rows.
    fn rows<T>(
        self,
        fields: &[Field<T>],
        mut rows_of: impl FnMut(Option<&Sample>, &StoredSample) -> Vec<T>,
    ) -> Result<()> {
        let mut w = RowWriter::new(fields, self.format, self.out)?;
        let mut written = 0u64;
        let progress = self.progress;
        self.source.pairs(self.what, &mut |prev, cur| {
            for row in rows_of(prev.map(|p| &p.sample), cur) {
                w.row(fields, &row)?;
                written += 1;
            }
            progress(written);
            Ok(())
        })?;
        Ok(w.finish()?)
    }
}
