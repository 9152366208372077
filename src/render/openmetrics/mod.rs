//! `flightrec export --format openmetrics`: the recorded history in the
//! OpenMetrics text format, for `promtool tsdb create-blocks-from
//! openmetrics` and VictoriaMetrics' `/api/v1/import/prometheus`. Every
//! column with a number becomes a family (`family` names it from the
//! catalogue; a rate becomes the raw counter behind it, where the
//! catalogue has it), every label column a label beside `host`; each sample line
//! carries its own timestamp. Processes are aggregated per identity, with
//! the heaviest few as series of their own (`processes`). Families are
//! spooled apart and written one after the other (`spool`).

mod family;
mod processes;
mod spool;

pub use family::{Dialect, Labels, Metric, is_label};

use family::Getter;

use crate::error::BadInput;
use crate::model::StoredSample;
use crate::model::catalogue::{self, Field, RowKind, Source, Stamped, SystemRow};
use crate::model::rates;
use crate::model::sample::Sample;
use anyhow::Result;
use clap::ValueEnum;
use spool::Spool;
use std::collections::HashMap;
use std::io::Write;

/// Exports `what` from `source`; `hosts` names the host of each run;
/// `progress` is told the number of sample lines written after each sample.
pub fn export(
    source: &dyn Source,
    what: RowKind,
    hosts: &HashMap<i64, String>,
    out: Box<dyn Write + '_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut stream = Stream { source, what, hosts, out, progress, lines: 0 };
    let group = group(what)?;
    match what {
        RowKind::Events => unreachable!("refused by group()"),
        RowKind::System => stream.rows(group, catalogue::SYSTEM, |prev, cur| vec![SystemRow::new(prev, cur)]),
        RowKind::Processes => processes::export(&mut stream),
        RowKind::Cgroups => {
            let mut seen = rates::CgroupDetailSeen::default();
            stream.rows(group, catalogue::CGROUPS, |prev, cur| catalogue::cgroup_rows(&mut seen, prev, cur))
        }
        RowKind::Sockets => {
            stream.rows(group, catalogue::SOCKETS, |_, cur| catalogue::stamped(cur, &cur.sample.sockets))
        }
        RowKind::Filesystems => stream
            .rows(group, catalogue::FILESYSTEMS, |_, cur| catalogue::stamped(cur, &cur.sample.filesystems)),
        RowKind::Probes => {
            stream.rows(group, catalogue::PROBES, |_, cur| catalogue::stamped(cur, &cur.sample.probes))
        }
        RowKind::Dirs => {
            stream.rows(group, catalogue::DIRS, |_, cur| catalogue::stamped(cur, &cur.sample.watched_dirs))
        }
        RowKind::Waits => {
            stream.rows(group, catalogue::WAITS, |_, cur| catalogue::stamped(cur, &cur.sample.waits))
        }
        RowKind::Disks => stream.rows(group, catalogue::DISKS, catalogue::disk_rows),
        RowKind::Net => stream.rows(group, catalogue::NET, catalogue::net_rows),
        RowKind::Logs => {
            let mut last_seen = catalogue::LastSeen::default();
            stream.rows(group, catalogue::LOGS, |_, cur| catalogue::log_rows(&mut last_seen, cur))
        }
    }?;
    stream.out.write_all(b"# EOF\n")?;
    Ok(stream.out.flush()?)
}

/// The word after `flightrec_` in the families of `what` (none for the
/// machine's own figures); bad input for a kind without numbers.
pub fn group(what: RowKind) -> Result<&'static str, BadInput> {
    Ok(match what {
        RowKind::System => "",
        RowKind::Processes => "processes",
        RowKind::Cgroups => "cgroups",
        RowKind::Sockets => "sockets",
        RowKind::Filesystems => "filesystems",
        RowKind::Disks => "disks",
        RowKind::Net => "net",
        RowKind::Probes => "probes",
        RowKind::Dirs => "dirs",
        RowKind::Logs => "logs",
        RowKind::Waits => "waits",
        RowKind::Events => {
            let kinds: Vec<String> = RowKind::value_variants()
                .iter()
                .filter(|kind| **kind != RowKind::Events)
                .filter_map(|kind| Some(kind.to_possible_value()?.get_name().to_string()))
                .collect();
            return Err(BadInput::BadValue {
                option: "--what",
                value: "events".into(),
                reason: format!(
                    "holds messages, not numbers: --format openmetrics exports {} (export events as csv or jsonl)",
                    kinds.join(", ")
                ),
            });
        }
    })
}

/// The families of one kind of rows in the Prometheus text format (no
/// timestamps: the reader stamps them), one per numeric column of
/// `fields`. Names and headers are made once, for a writer that renders
/// the rows of every sample.
pub struct Latest<T> {
    labels: Vec<(&'static str, Getter<T>)>,
    families: Vec<Family<T>>,
}

struct Family<T> {
    /// The `# TYPE` and `# HELP` lines.
    header: Vec<u8>,
    metric: Metric,
    get: Getter<T>,
}

impl<T> Latest<T> {
    /// The families of `fields`, with `group` after the prefix.
    pub fn new(group: &str, fields: &[Field<T>]) -> Self {
        let labels = fields.iter().filter(|f| is_label(f)).map(|f| (f.name, f.get)).collect();
        let families = fields
            .iter()
            .filter_map(|field| Metric::of(group, field))
            .map(|(metric, get)| {
                let mut header = Vec::new();
                metric.header(Dialect::Prometheus, &mut header).expect("writing to memory");
                Family { header, metric, get }
            })
            .collect();
        Latest { labels, families }
    }

    /// Appends the families of `rows` (the rows of one sample) to `out`,
    /// each family with a number in at least one row.
    pub fn write(&self, rows: &[T], host: &str, out: &mut Vec<u8>) {
        let sets: Vec<String> = rows
            .iter()
            .map(|row| {
                let mut set = Labels::new();
                set.add("host", host);
                for (name, get) in &self.labels {
                    set.add_value(name, &get(row));
                }
                set.finish()
            })
            .collect();
        for family in &self.families {
            let start = out.len();
            out.extend_from_slice(&family.header);
            let mut written = false;
            for (row, set) in rows.iter().zip(&sets) {
                written |= family.metric.line(set, &(family.get)(row), None, out).expect("writing to memory");
            }
            if !written {
                out.truncate(start);
            }
        }
    }
}

/// One pass over the store for one kind of rows.
pub struct Stream<'a, 'p> {
    source: &'a dyn Source,
    what: RowKind,
    hosts: &'a HashMap<i64, String>,
    out: Box<dyn Write + 'a>,
    progress: &'p mut dyn FnMut(u64),
    lines: u64,
}

impl Stream<'_, '_> {
    /// The `host` label of a sample's run.
    fn host(&self, cur: &StoredSample) -> &str {
        self.hosts.get(&cur.run_id).map_or("", String::as_str)
    }

    /// Writes one family per numeric column of `fields`, from the rows
    /// `rows_of(previous sample of the run, sample)` gives.
    fn rows<T: Stamped>(
        &mut self,
        group: &str,
        fields: &[Field<T>],
        mut rows_of: impl FnMut(Option<&Sample>, &StoredSample) -> Vec<T>,
    ) -> Result<()> {
        let mut spools = fields
            .iter()
            .filter_map(|field| Metric::of(group, field))
            .map(|(metric, get)| Ok((Spool::new(metric)?, get)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let labels: Vec<&Field<T>> = fields.iter().filter(|f| is_label(f)).collect();
        let (source, what) = (self.source, self.what);
        source.pairs(what, &mut |prev, cur| {
            for row in rows_of(prev.map(|p| &p.sample), cur) {
                let mut set = Labels::new();
                set.add("host", self.host(cur));
                for field in &labels {
                    set.add_value(field.name, &(field.get)(&row));
                }
                let set = set.finish();
                for (spool, get) in &mut spools {
                    self.lines += u64::from(spool.line(&set, &get(&row), row.time_ms())?);
                }
            }
            (self.progress)(self.lines);
            Ok(())
        })?;
        self.finish(spools.into_iter().map(|(spool, _)| spool))
    }

    /// Writes the spooled families, in order.
    fn finish(&mut self, spools: impl IntoIterator<Item = Spool>) -> Result<()> {
        for spool in spools {
            spool.finish(&mut self.out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::ProbeResult;

    #[test]
    fn latest_leaves_out_a_family_no_row_has_a_number_for() {
        let families = Latest::new("probes", catalogue::PROBES);
        let probe = |connect_us| ProbeResult {
            target: "tcp:127.0.0.1:1".into(),
            latency_us: 1500,
            connect_us,
            ..ProbeResult::default()
        };
        let text = |rows: &[(i64, ProbeResult)]| {
            let mut out = b"before\n".to_vec();
            families.write(rows, "mail", &mut out);
            String::from_utf8(out).unwrap()
        };

        let unanswered = text(&[(0, probe(None))]);
        assert!(
            unanswered.starts_with("before\n# TYPE flightrec_probes_latency_seconds gauge\n"),
            "{unanswered}"
        );
        assert!(unanswered.contains("{host=\"mail\",target=\"tcp:127.0.0.1:1\","), "{unanswered}");
        assert!(unanswered.ends_with(" 0.0015\n"), "{unanswered}");
        assert!(!unanswered.contains("connect"), "{unanswered}");

        let connected = text(&[(0, probe(None)), (0, probe(Some(250)))]);
        assert!(connected.contains("# TYPE flightrec_probes_connect_seconds gauge\n"), "{connected}");
        assert_eq!(connected.matches("flightrec_probes_connect_seconds{").count(), 1, "{connected}");
    }
}
