//! The tables of replay's views, as titles and cells, laid out from the
//! column catalogue: the process table from chosen columns (as `show` and
//! `report` do), every other view from all of its kind's columns under
//! their catalogue names.

use super::keys::{ORDERS, Order, State, VIEWS, View};
use crate::analyze::replay::Shown;
use crate::analyze::{Finding, Severity};
use crate::model::catalogue::{self, Field, Kind, LastSeen, ProcessRow, Value};
use crate::model::human::format_ms_clock;
use crate::model::sample::Sample;
use crate::model::{Event, StoredSample, rates};
use crate::render::rows::human;
use crate::render::text::{Cell, UNIT_WIDTH, UserNames, ViewColumn, column, view_row};
use std::collections::HashMap;
use std::ops::Range;

/// What the views show besides the sample: its process rows with their
/// rates (made once per sample), and what is read when its view opens.
pub struct Extras<'a> {
    pub processes: &'a [ProcessRow],
    pub findings: Option<&'a [Finding]>,
    pub events: Option<&'a [Event]>,
}

/// The caption and the `visible` rows of the open view.
pub fn view(
    shown: &Shown,
    state: &State,
    extras: &Extras,
    users: &mut UserNames,
    visible: Range<usize>,
) -> (String, Grid) {
    let Shown::Sample { prev, cur, .. } = shown else {
        return (String::new(), Grid::default());
    };
    let prev_sample = prev.as_ref().map(|p| &p.sample);
    let s = &cur.sample;
    let name = VIEWS.iter().find(|(_, v, _)| *v == state.view).map_or("", |(_, _, name)| name);
    let caption = |count: Option<usize>| match count {
        Some(n) => format!("{} ({n})", capitalised(name)),
        None => format!("{}: not in this sample", capitalised(name)),
    };
    match state.view {
        View::Processes => {
            let Some(list) = &s.processes else {
                return (caption(None), Grid::default());
            };
            let (matched, grid) = process_grid(extras.processes, &state.filter, state.order, users, visible);
            let order = ORDERS.iter().find(|(_, o, _)| *o == state.order).map_or("", |(_, _, name)| name);
            let mut said = format!("Processes {order}: {matched} of {}", list.len());
            if !state.filter.is_empty() {
                said += &format!(", matching {:?}", state.filter);
            }
            (said, grid)
        }
        View::Filesystems => {
            let rows = catalogue::stamped(cur, &s.filesystems);
            (
                caption(s.filesystems.as_ref().map(Vec::len)),
                catalogue_grid(catalogue::FILESYSTEMS, &rows, visible),
            )
        }
        View::Sockets => {
            let rows = catalogue::stamped(cur, &s.sockets);
            (caption(s.sockets.as_ref().map(Vec::len)), catalogue_grid(catalogue::SOCKETS, &rows, visible))
        }
        View::Probes => {
            let rows = catalogue::stamped(cur, &s.probes);
            (caption(s.probes.as_ref().map(Vec::len)), catalogue_grid(catalogue::PROBES, &rows, visible))
        }
        View::Dirs => {
            let rows = catalogue::stamped(cur, &s.watched_dirs);
            (caption(s.watched_dirs.as_ref().map(Vec::len)), catalogue_grid(catalogue::DIRS, &rows, visible))
        }
        View::Disks => {
            let rows = catalogue::disk_rows(prev_sample, cur);
            (caption(s.disks.as_ref().map(|_| rows.len())), catalogue_grid(catalogue::DISKS, &rows, visible))
        }
        View::Logs => {
            // The sample before first, so that the rates span the interval.
            let mut seen = LastSeen::default();
            if let Some(prev) = prev {
                catalogue::log_rows(&mut seen, prev);
            }
            let rows = catalogue::log_rows(&mut seen, cur);
            (
                caption(s.watched_logs.as_ref().map(|_| rows.len())),
                catalogue_grid(catalogue::LOGS, &rows, visible),
            )
        }
        View::Kernel => {
            let events = extras.events.unwrap_or_default();
            (caption(Some(events.len())), catalogue_grid(catalogue::EVENTS, events, visible))
        }
        View::Findings => {
            let findings = extras.findings.unwrap_or_default();
            let said = format!("{} ({}; * begun by this sample)", capitalised(name), findings.len());
            (said, findings_grid(findings, s.time_ms, visible))
        }
    }
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Titles, cells of the rows shown and which columns hold numbers (set
/// right).
#[derive(Debug, Default)]
pub struct Grid {
    pub titles: Vec<String>,
    pub right: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    /// Rows in the whole table.
    pub total: usize,
}

/// The process table: `show`'s columns, with disk reads/writes for `D`,
/// and last the unit (cgroup) of each process where it is known: on a
/// narrow screen it is one scroll (`>`) away and the command stays.
pub const PROCESS_VIEW: &[ViewColumn] = &[
    column("PID", &["pid"], Cell::Human, true),
    column("USER", &["uid"], Cell::User, false),
    column("S", &["state"], Cell::Human, false),
    column("CPU%", &["cpu_pct"], Cell::Decimals(1), true),
    column("RSS", &["rss"], Cell::Human, true),
    column("DISK R/W", &["read_bytes_per_s", "write_bytes_per_s"], Cell::Human, true),
    column("FDS", &["fds"], Cell::Human, true),
    column("THR", &["threads"], Cell::Human, true),
    column("COMMAND", &["cmdline", "comm"], Cell::Command, false),
    column("UNIT", &["unit"], Cell::Cut(UNIT_WIDTH), false),
];

/// The catalogue columns each order sorts by (their sum, highest first).
fn order_columns(order: Order) -> &'static [&'static str] {
    match order {
        Order::Cpu | Order::Count => &["cpu_pct"],
        Order::Memory => &["rss"],
        Order::Disk => &["read_bytes_per_s", "write_bytes_per_s"],
        Order::Fds => &["fds"],
    }
}

fn number(value: Value) -> f64 {
    match value {
        Value::Int(v) => v as f64,
        Value::Real(v) => v,
        _ => 0.0,
    }
}

fn sum<T>(fields: &[Field<T>], names: &[&str], row: &T) -> f64 {
    names.iter().filter_map(|name| catalogue::find(fields, name)).map(|f| number((f.get)(row))).sum()
}

/// The process rows of `cur`, with rates against `prev`.
pub fn process_rows(prev: Option<&Sample>, cur: &StoredSample, boot_time_ms: Option<i64>) -> Vec<ProcessRow> {
    let ticks = rates::ticks_per_second();
    let time_ms = cur.sample.time_ms;
    let units = catalogue::process_units(&cur.sample);
    rates::process_table(prev, &cur.sample, ticks)
        .into_iter()
        .map(|(p, r)| ProcessRow::new(time_ms, p, r, boot_time_ms, ticks).with_unit(&units))
        .collect()
}

/// The process table: rows whose command name, command line or user
/// contains `filter`, in `order`; cells only for the `visible` rows. Gives
/// how many rows matched.
pub fn process_grid(
    rows: &[ProcessRow],
    filter: &str,
    order: Order,
    users: &mut UserNames,
    visible: Range<usize>,
) -> (usize, Grid) {
    let mut kept: Vec<&ProcessRow> = rows
        .iter()
        .filter(|r| {
            let p = &r.process;
            filter.is_empty()
                || p.comm.contains(filter)
                || p.cmdline.contains(filter)
                || users.name(p.uid).contains(filter)
        })
        .collect();
    if order == Order::Count {
        return (kept.len(), count_grid(&kept, visible));
    }
    let fields = catalogue::PROCESSES;
    let by = order_columns(order);
    kept.sort_by(|a, b| {
        sum(fields, by, *b).total_cmp(&sum(fields, by, *a)).then(a.process.pid.cmp(&b.process.pid))
    });
    let grid = Grid {
        titles: PROCESS_VIEW.iter().map(|c| c.title.to_string()).collect(),
        right: PROCESS_VIEW.iter().map(|c| c.align_right).collect(),
        rows: shown(&kept, visible).iter().map(|row| view_row(PROCESS_VIEW, fields, *row, users)).collect(),
        total: kept.len(),
    };
    (kept.len(), grid)
}

/// The part of `rows` in `visible`, at least the last row.
fn shown<T>(rows: &[T], visible: Range<usize>) -> &[T] {
    let start = visible.start.min(rows.len().saturating_sub(1));
    &rows[start..visible.end.clamp(start, rows.len())]
}

/// One row per command name: how many run, and their CPU and memory
/// together.
fn count_grid(rows: &[&ProcessRow], visible: Range<usize>) -> Grid {
    let fields = catalogue::PROCESSES;
    let totals = ["cpu_pct", "rss"];
    let mut groups: HashMap<&str, (usize, [f64; 2])> = HashMap::new();
    for row in rows {
        let group = groups.entry(&row.process.comm).or_default();
        group.0 += 1;
        for (total, name) in group.1.iter_mut().zip(totals) {
            *total += sum(fields, &[name], *row);
        }
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(b.1.1[0].total_cmp(&a.1.1[0])).then(a.0.cmp(b.0)));
    let unit = |name| catalogue::find(fields, name).expect("totals are catalogue columns").unit;
    Grid {
        titles: ["COUNT", "CPU%", "RSS", "COMMAND"].map(String::from).to_vec(),
        right: vec![true, true, true, false],
        rows: shown(&groups, visible)
            .iter()
            .map(|(comm, (count, [cpu, rss]))| {
                vec![
                    count.to_string(),
                    format!("{cpu:.1}"),
                    human(&Value::Real(*rss), unit("rss")),
                    comm.to_string(),
                ]
            })
            .collect(),
        total: groups.len(),
    }
}

/// Every column of a kind of row but the two times (the header says when).
pub fn catalogue_grid<T>(fields: &[Field<T>], rows: &[T], visible: Range<usize>) -> Grid {
    let shown: Vec<&Field<T>> = fields.iter().filter(|f| !matches!(f.name, "time" | "time_ms")).collect();
    Grid {
        titles: shown.iter().map(|f| f.name.to_string()).collect(),
        right: shown.iter().map(|f| f.kind != Kind::Label).collect(),
        rows: self::shown(rows, visible)
            .iter()
            .map(|row| shown.iter().map(|f| human(&(f.get)(row), f.unit)).collect())
            .collect(),
        total: rows.len(),
    }
}

/// Findings as the report ranks them; `*` marks those begun by `time_ms`.
pub fn findings_grid(findings: &[Finding], time_ms: i64, visible: Range<usize>) -> Grid {
    Grid {
        titles: ["", "#", "SEVERITY", "SINCE", "FINDING"].map(String::from).to_vec(),
        right: vec![false, true, false, false, false],
        rows: findings
            .iter()
            .enumerate()
            .skip(visible.start.min(findings.len().saturating_sub(1)))
            .take(visible.len())
            .map(|(i, f)| {
                let begun = f.first_seen_ms.is_some_and(|t| t <= time_ms);
                let severity = match f.severity {
                    Severity::High => "HIGH",
                    Severity::Medium => "MEDIUM",
                    Severity::Info => "info",
                };
                vec![
                    if begun { "*" } else { "" }.into(),
                    (i + 1).to_string(),
                    severity.into(),
                    f.first_seen_ms.map(format_ms_clock).unwrap_or_default(),
                    f.summary.clone(),
                ]
            })
            .collect(),
        total: findings.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::Process;

    fn row(pid: u32, comm: &str, rss_bytes: u64, fds: u32) -> ProcessRow {
        let process = Process { pid, comm: comm.into(), rss_bytes, fds: Some(fds), ..Process::default() };
        ProcessRow::new(0, &process, None, None, 100.0)
    }

    #[test]
    fn every_process_column_and_order_is_in_the_catalogue() {
        let names = PROCESS_VIEW.iter().flat_map(|c| c.columns.iter());
        let orders = [Order::Cpu, Order::Memory, Order::Disk, Order::Fds].into_iter().flat_map(order_columns);
        for name in names.chain(orders) {
            assert!(catalogue::find(catalogue::PROCESSES, name).is_some(), "{name} is not in the catalogue");
        }
    }

    #[test]
    fn m_orders_by_memory_and_n_counts_per_name() {
        let rows = vec![row(1, "small", 10, 50), row(2, "big", 5000, 1), row(3, "small", 20, 3)];
        let mut users = UserNames::default();
        let (_, by_memory) = process_grid(&rows, "", Order::Memory, &mut users, 0..10);
        let pids: Vec<&str> = by_memory.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(pids, ["2", "3", "1"]);
        let (_, by_fds) = process_grid(&rows, "", Order::Fds, &mut users, 0..10);
        assert_eq!(by_fds.rows[0][0], "1");
        let (_, counted) = process_grid(&rows, "", Order::Count, &mut users, 0..10);
        assert_eq!(counted.rows[0], ["2", "0.0", "30 B", "small"]);
        let (matched, small) = process_grid(&rows, "small", Order::Memory, &mut users, 1..10);
        assert_eq!(matched, 2);
        assert_eq!(small.rows.len(), 1, "only the rows scrolled to are made");
        assert_eq!(small.rows[0][0], "1");
    }
}
