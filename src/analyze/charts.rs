//! The report's charts as plain data: for each chart, its lines, each a
//! catalogue column over time (per sample, or reduced to at most
//! `MAX_POINTS` keeping every bucket's minimum and maximum). The caller
//! streams the samples in (`Charts::push`), so a day of samples is never
//! held whole; drawing is left to the renderer.

use super::report::Report;
use super::{Finding, Severity};
use crate::model::StoredSample;
use crate::model::catalogue::{
    self, DIRS, FILESYSTEMS, Field, LOGS, LastSeen, PROBES, SOCKETS, SYSTEM, Stamped, SystemRow, Unit, Value,
    log_rows, outcome_name,
};
use crate::model::sample::{Direction, Sample};
use std::collections::BTreeMap;

/// Points per line at most: enough for a chart as wide as a page.
pub const MAX_POINTS: usize = 1500;

/// Lines per chart of entities (ports, filesystems, probes): the ones
/// that reached the highest values.
const MAX_LINES: usize = 5;

/// One chart per entry, top to bottom; `columns` are catalogue columns of
/// the system row, drawn as they are.
struct Spec {
    id: &'static str,
    title: &'static str,
    unit: Unit,
    columns: &'static [&'static str],
}

#[rustfmt::skip]
const SPECS: &[Spec] = &[
    Spec { id: "load", title: "Load average", unit: Unit::Plain, columns: &["load1", "load5", "load15"] },
    Spec { id: "cpu", title: "CPU, % of all CPUs", unit: Unit::Percent, columns: &["cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct"] },
    Spec { id: "memory", title: "Available memory and free swap", unit: Unit::Bytes, columns: &["mem_available", "swap_free"] },
    Spec { id: "pressure", title: "Pressure (PSI some, 10 s average), %", unit: Unit::Percent, columns: &["psi_cpu_some_avg10", "psi_memory_some_avg10", "psi_io_some_avg10"] },
    Spec { id: "processes", title: "Processes, and the names that piled up", unit: Unit::Count, columns: &["processes"] },
    Spec { id: "connections", title: "Open connections of the busiest ports", unit: Unit::Count, columns: &[] },
    Spec { id: "accept_queue", title: "Accept queues, % of the backlog", unit: Unit::Percent, columns: &[] },
    Spec { id: "filesystems", title: "Fullest filesystems, % used", unit: Unit::Percent, columns: &[] },
    Spec { id: "probes", title: "Probe latency (failures marked)", unit: Unit::Milliseconds, columns: &[] },
    Spec { id: "dirs", title: "Watched directories, files", unit: Unit::Count, columns: &[] },
    Spec { id: "logs", title: "Watched logs, lines per second", unit: Unit::Count, columns: &[] },
    Spec { id: "lateness", title: "The recorder's lateness", unit: Unit::Milliseconds, columns: &["lateness_ms"] },
];

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Stable anchor: findings link to it.
    pub id: &'static str,
    pub title: &'static str,
    pub unit: Unit,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    pub name: String,
    /// One line of help: the catalogue's.
    pub help: &'static str,
    /// `(time_ms, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
    /// Times the line's entity failed (a probe that did not answer).
    pub failures: Vec<i64>,
}

/// A finding placed on the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The finding's rank, from 1.
    pub number: usize,
    pub time_ms: i64,
    pub severity: Severity,
    /// The chart that shows it: the finding's own, else the first.
    pub chart: Option<&'static str>,
}

/// What the page draws: one time axis, the charts on it, those left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Charts {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Lines are broken where samples are further apart than this.
    pub gap_ms: i64,
    pub charts: Vec<Chart>,
    /// Titles of the charts not drawn, with why: "no data" or "flat".
    pub left_out: Vec<(&'static str, &'static str)>,
    pub marks: Vec<Mark>,
}

/// The samples' lines as they stream in.
pub struct Builder {
    from_ms: i64,
    to_ms: i64,
    interval_ms: i64,
    /// Command names a finding says piled up: each gets its line.
    piled_up: Vec<String>,
    /// The first sample's time: where recording began, if inside the window.
    first_ms: Option<i64>,
    /// Per chart id, lines by name.
    lines: BTreeMap<&'static str, BTreeMap<String, Line>>,
    logs_seen: LastSeen,
}

impl Builder {
    /// A builder for the axis `from_ms..=to_ms`; `findings` name the
    /// processes that piled up.
    pub fn new(from_ms: i64, to_ms: i64, interval_ms: i64, findings: &[Finding]) -> Builder {
        let piled_up =
            findings.iter().filter(|f| f.kind == "process_pileup").map(|f| f.subject.clone()).collect();
        Builder {
            from_ms,
            to_ms,
            interval_ms: interval_ms.max(1),
            piled_up,
            first_ms: None,
            lines: BTreeMap::new(),
            logs_seen: LastSeen::default(),
        }
    }

    /// Whether the process table is needed: only to count piled-up names.
    pub fn needs_processes(&self) -> bool {
        !self.piled_up.is_empty()
    }

    pub fn push(&mut self, prev: Option<&StoredSample>, cur: &StoredSample) {
        let time = cur.sample.time_ms;
        self.first_ms.get_or_insert(time);
        let row = SystemRow::new(prev.map(|p| p.sample.scalars()).as_ref(), &scalars_of(cur));
        for spec in SPECS {
            for &column in spec.columns {
                let field = catalogue::find(SYSTEM, column).expect("chart columns are in the catalogue");
                self.add(spec.id, column, field.help, time, number((field.get)(&row)));
            }
        }
        self.add_processes(&cur.sample);
        self.add_sockets(&cur.sample);
        for fs in cur.sample.filesystems.iter().flatten() {
            let row = (time, fs.clone());
            self.add_field("filesystems", &fs.mount_point, FILESYSTEMS, "used_pct", &row);
        }
        for probe in cur.sample.probes.iter().flatten() {
            let row = (time, probe.clone());
            self.add_field("probes", &probe.target, PROBES, "latency_ms", &row);
            if outcome_name(probe) != "ok" {
                self.line("probes", &probe.target, "").failures.push(time);
            }
        }
        for dir in cur.sample.watched_dirs.iter().flatten() {
            self.add_field("dirs", &dir.path, DIRS, "files", &(time, dir.clone()));
        }
        let mut logged = Vec::new();
        for row in log_rows(&mut self.logs_seen, cur) {
            // One row per template: the log's rate is on each.
            if !logged.contains(&row.log.path) {
                self.add_field("logs", &row.log.path, LOGS, "lines_per_s", &row);
                logged.push(row.log.path.clone());
            }
        }
    }

    fn add_processes(&mut self, sample: &Sample) {
        let Some(table) = &sample.processes else { return };
        for name in self.piled_up.clone() {
            let count = table.iter().filter(|p| *p.comm == *name).count();
            self.add("processes", &name, "processes of this name", sample.time_ms, Some(count as f64));
        }
    }

    /// Open connections per port and side, and listeners' accept-queue fill.
    fn add_sockets(&mut self, sample: &Sample) {
        let Some(table) = &sample.sockets else { return };
        let mut open: BTreeMap<String, f64> = BTreeMap::new();
        let mut fill: BTreeMap<String, f64> = BTreeMap::new();
        for row in table {
            let count = number((find(SOCKETS, "count").get)(&(sample.time_ms, row.clone()))).unwrap_or(0.0);
            if row.is_open_connection() {
                let side = if row.direction == Direction::Incoming { "to" } else { "from" };
                let name = format!("{side} port {}", row.port);
                *open.entry(name).or_default() += count;
            } else if row.direction == Direction::Listen && row.backlog > 0 {
                let percent = f64::from(row.queued) * 100.0 / f64::from(row.backlog);
                let slot = fill.entry(format!("port {}", row.port)).or_default();
                *slot = slot.max(percent);
            }
        }
        // A port whose connections all closed has no row: it is at zero.
        for (name, line) in self.lines.get_mut("connections").into_iter().flatten() {
            if !open.contains_key(name) {
                line.points.push((sample.time_ms, 0.0));
            }
        }
        let help = find(SOCKETS, "count").help;
        for (name, value) in open {
            self.add("connections", &name, help, sample.time_ms, Some(value));
        }
        let help = find(SOCKETS, "accept_queue").help;
        for (name, value) in fill {
            self.add("accept_queue", &name, help, sample.time_ms, Some(value));
        }
    }

    fn add_field<T: Stamped>(
        &mut self,
        chart: &'static str,
        name: &str,
        fields: &[Field<T>],
        column: &str,
        row: &T,
    ) {
        let field = find(fields, column);
        self.add(chart, name, field.help, row.time_ms(), number((field.get)(row)));
    }

    fn add(&mut self, chart: &'static str, name: &str, help: &'static str, time: i64, value: Option<f64>) {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            self.line(chart, name, help).points.push((time, value));
        }
    }

    fn line(&mut self, chart: &'static str, name: &str, help: &'static str) -> &mut Line {
        let line = self.lines.entry(chart).or_default().entry(name.to_string()).or_insert_with(|| Line {
            name: name.to_string(),
            help,
            ..Line::default()
        });
        if line.help.is_empty() {
            line.help = help;
        }
        line
    }

    /// The charts, in page order; `findings` ranked, as the report lists them.
    pub fn finish(mut self, findings: &[Finding]) -> Charts {
        // Nothing is known before recording began: the axis starts there.
        self.from_ms = self.first_ms.map_or(self.from_ms, |first| first.max(self.from_ms));
        let mut charts = Vec::new();
        let mut left_out = Vec::new();
        for spec in SPECS {
            let mut lines: Vec<Line> = self.lines.remove(spec.id).unwrap_or_default().into_values().collect();
            lines.retain(|l| !l.points.is_empty());
            if spec.columns.is_empty() {
                // Entities: those a finding names, then the few that
                // reached the highest values.
                let named = |l: &Line| findings.iter().any(|f| l.name.ends_with(f.subject.as_str()));
                lines.sort_by(|a, b| named(b).cmp(&named(a)).then(highest(b).total_cmp(&highest(a))));
                lines.truncate(MAX_LINES);
            } else {
                // Catalogue order, then the named entities.
                lines.sort_by_key(|l| spec.columns.iter().position(|c| *c == l.name).unwrap_or(usize::MAX));
            }
            if lines.is_empty() {
                left_out.push((spec.title, "no data"));
                continue;
            }
            if lines.iter().all(is_flat) {
                left_out.push((spec.title, "flat"));
                continue;
            }
            for line in &mut lines {
                line.points = reduce(&line.points, MAX_POINTS, self.from_ms, self.to_ms);
            }
            charts.push(Chart { id: spec.id, title: spec.title, unit: spec.unit, lines });
        }
        let drawn: Vec<&'static str> = charts.iter().map(|c| c.id).collect();
        let marks = findings
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let time_ms = f.first_seen_ms?;
                // On its own chart; one without goes on the first.
                let chart = chart_of(f).filter(|id| drawn.contains(id)).or(drawn.first().copied());
                Some(Mark { number: i + 1, time_ms, severity: f.severity, chart })
            })
            .collect();
        // A bucket of the reduction spans this much, and a sample that late
        // is a gap worth showing.
        let bucket_ms = (self.to_ms - self.from_ms) / (MAX_POINTS as i64 / 2);
        let gap_ms = (3 * self.interval_ms).max(2 * bucket_ms);
        Charts { from_ms: self.from_ms, to_ms: self.to_ms, gap_ms, charts, left_out, marks }
    }
}

/// The charts' time axis: the window, and past its end the period and
/// the samples after it, up to a quarter of the window further (a reboot
/// hours later would squeeze the window into a corner).
pub fn axis(report: &Report, now_ms: i64) -> (i64, i64) {
    let window = &report.window;
    let Some(period) = &report.period else {
        return (window.from_ms, window.to_ms);
    };
    let span = window.to_ms - window.from_ms;
    let back = period.end_ms.unwrap_or(now_ms);
    let to = (back + span / 20).min(period.start_ms + span / 4).max(window.to_ms);
    (window.from_ms, to)
}

/// The chart where a finding shows, by what it is about.
pub fn chart_of(finding: &Finding) -> Option<&'static str> {
    use super::Category::*;
    Some(match (finding.kind, finding.category) {
        ("load_high", _) => "load",
        ("accept_queue_full", _) => "accept_queue",
        ("directory_growth", _) => "dirs",
        ("log_flood", _) => "logs",
        (_, Dependency) => "probes",
        (_, Sockets) => "connections",
        (_, Processes | Limits | FileDescriptors) => "processes",
        (_, Filesystem) => "filesystems",
        (_, Memory) => "memory",
        (_, Disk | Pressure) => "pressure",
        (_, Cpu) => "cpu",
        (_, Recorder) => "lateness",
        (_, Kernel) => return None,
    })
}

/// At most about `max_points` points: where there are more, the span
/// `from_ms..=to_ms` is cut into `max_points / 2` buckets and each keeps
/// its lowest and highest point, in time order, so that a spike of one
/// sample is still drawn.
pub fn reduce(points: &[(i64, f64)], max_points: usize, from_ms: i64, to_ms: i64) -> Vec<(i64, f64)> {
    if points.len() <= max_points {
        return points.to_vec();
    }
    let buckets = (max_points / 2).max(1) as i64;
    let span = (to_ms - from_ms).max(1) + 1;
    let bucket_of =
        |time: i64| ((time - from_ms).clamp(0, span - 1) as i128 * buckets as i128 / span as i128) as i64;
    let mut reduced = Vec::with_capacity(max_points);
    let mut rest = points;
    while let Some(&(first_time, _)) = rest.first() {
        let bucket = bucket_of(first_time);
        let len = rest.iter().position(|&(t, _)| bucket_of(t) != bucket).unwrap_or(rest.len());
        let (these, after) = rest.split_at(len);
        let low = these.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("a bucket has a point");
        let high = these.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("a bucket has a point");
        match low.0.cmp(&high.0) {
            std::cmp::Ordering::Less => reduced.extend([*low, *high]),
            std::cmp::Ordering::Greater => reduced.extend([*high, *low]),
            std::cmp::Ordering::Equal => reduced.push(*low),
        }
        rest = after;
    }
    reduced
}

fn highest(line: &Line) -> f64 {
    line.points.iter().map(|p| p.1).fold(f64::MIN, f64::max)
}

fn is_flat(line: &Line) -> bool {
    line.failures.is_empty() && line.points.iter().all(|p| p.1 == line.points[0].1)
}

fn find<'a, T>(fields: &'a [Field<T>], column: &str) -> &'a Field<T> {
    catalogue::find(fields, column).expect("chart columns are in the catalogue")
}

fn number(value: Value) -> Option<f64> {
    match value {
        Value::Int(v) => Some(v as f64),
        Value::Real(v) => Some(v),
        Value::Text(_) | Value::Null => None,
    }
}

fn scalars_of(stored: &StoredSample) -> StoredSample {
    StoredSample {
        id: stored.id,
        run_id: stored.run_id,
        sample: stored.sample.scalars(),
        missing: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_a_one_sample_spike_and_the_bounds() {
        // A day at 5 s: 17,280 points, flat but for one sample.
        let points: Vec<(i64, f64)> =
            (0..17_280).map(|i| (i * 5000, if i == 9_999 { 40.0 } else { 1.0 })).collect();
        let last = points.last().unwrap().0;
        let reduced = reduce(&points, MAX_POINTS, 0, last);
        assert!(reduced.len() <= MAX_POINTS, "{} points", reduced.len());
        assert!(reduced.len() >= MAX_POINTS / 2, "every bucket keeps a point: {}", reduced.len());
        assert!(reduced.contains(&(9_999 * 5000, 40.0)), "the spike survives");
        assert_eq!(reduced.first(), points.first(), "the first point is kept");
        assert_eq!(reduced.last().unwrap().0 / 5000, 17_279, "the last point is kept");
        assert!(reduced.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");
        let dip = (0..17_280).map(|i| (i * 5000, if i == 5 { -3.0 } else { 1.0 })).collect::<Vec<_>>();
        assert!(reduce(&dip, MAX_POINTS, 0, last).contains(&(25_000, -3.0)), "a dip survives too");
    }

    #[test]
    fn few_points_are_left_as_they_are() {
        let points = [(0, 1.0), (10, 5.0), (20, 2.0)];
        assert_eq!(reduce(&points, MAX_POINTS, 0, 20), points);
    }

    fn stored(time_ms: i64, processes: u64, load1: f64) -> StoredSample {
        use crate::model::sample::{LoadAvg, Tasks};
        let sample = Sample {
            time_ms,
            load: Some(LoadAvg { load1, ..LoadAvg::default() }),
            tasks: Some(Tasks { processes, ..Tasks::default() }),
            ..Sample::default()
        };
        StoredSample { id: time_ms, run_id: 1, sample, missing: Vec::new() }
    }

    #[test]
    fn flat_and_absent_charts_are_left_out_and_said() {
        let mut builder = Builder::new(0, 10_000, 1000, &[]);
        let samples: Vec<StoredSample> = (0..10).map(|i| stored(i * 1000, 100 + i as u64, 0.5)).collect();
        for (i, cur) in samples.iter().enumerate() {
            builder.push(i.checked_sub(1).map(|p| &samples[p]), cur);
        }
        let charts = builder.finish(&[]);
        let drawn: Vec<&str> = charts.charts.iter().map(|c| c.id).collect();
        assert_eq!(drawn, ["processes"], "the rest is flat or absent");
        assert!(charts.left_out.contains(&("Load average", "flat")), "{:?}", charts.left_out);
        assert!(
            charts.left_out.contains(&("Fullest filesystems, % used", "no data")),
            "{:?}",
            charts.left_out
        );
        assert_eq!(charts.charts[0].lines[0].points.len(), 10);
    }
}
