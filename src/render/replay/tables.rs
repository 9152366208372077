//! The tables of replay's views, as titles and cells, laid out from the
//! column catalogue: the process table from chosen columns (as `show` and
//! `report` do), every other view from all of its kind's columns under
//! their catalogue names.

use super::keys::Order;
use crate::analyze::{Finding, Severity};
use crate::model::StoredSample;
use crate::model::catalogue::{self, Field, Kind, ProcessRow, Value};
use crate::model::human::format_ms_clock;
use crate::model::rates;
use crate::model::sample::Sample;
use crate::render::rows::human;
use crate::render::text::{Cell, UserNames, ViewColumn, view_row};
use std::collections::HashMap;

/// Titles, cells and which columns hold numbers (set right).
#[derive(Debug, Default)]
pub struct Grid {
    pub titles: Vec<String>,
    pub right: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

const fn column(
    title: &'static str,
    columns: &'static [&'static str],
    cell: Cell,
    align_right: bool,
) -> ViewColumn {
    ViewColumn { title, columns, cell, align_right }
}

/// The process table: `show`'s columns, with disk reads/writes for `D`.
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
    rates::process_table(prev, &cur.sample, ticks)
        .into_iter()
        .map(|(p, r)| ProcessRow::new(time_ms, p, r, boot_time_ms, ticks))
        .collect()
}

/// Keeps the processes whose command name, command line or user contains
/// `filter`.
pub fn filter_processes(rows: Vec<ProcessRow>, filter: &str, users: &mut UserNames) -> Vec<ProcessRow> {
    if filter.is_empty() {
        return rows;
    }
    rows.into_iter()
        .filter(|r| {
            let p = &r.process;
            p.comm.contains(filter) || p.cmdline.contains(filter) || users.name(p.uid).contains(filter)
        })
        .collect()
}

pub fn process_grid(mut rows: Vec<ProcessRow>, order: Order, users: &mut UserNames) -> Grid {
    let fields = catalogue::PROCESSES;
    if order == Order::Count {
        return count_grid(&rows);
    }
    let by = order_columns(order);
    rows.sort_by(|a, b| sum(fields, by, b).total_cmp(&sum(fields, by, a)).then(a.process.pid.cmp(&b.process.pid)));
    Grid {
        titles: PROCESS_VIEW.iter().map(|c| c.title.to_string()).collect(),
        right: PROCESS_VIEW.iter().map(|c| c.align_right).collect(),
        rows: rows.iter().map(|row| view_row(PROCESS_VIEW, fields, row, users)).collect(),
    }
}

/// One row per command name: how many run, and their CPU and memory
/// together.
fn count_grid(rows: &[ProcessRow]) -> Grid {
    let fields = catalogue::PROCESSES;
    let totals = ["cpu_pct", "rss"];
    let mut groups: HashMap<&str, (usize, [f64; 2])> = HashMap::new();
    for row in rows {
        let group = groups.entry(&row.process.comm).or_default();
        group.0 += 1;
        for (total, name) in group.1.iter_mut().zip(totals) {
            *total += sum(fields, &[name], row);
        }
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(b.1.1[0].total_cmp(&a.1.1[0])).then(a.0.cmp(b.0)));
    let unit = |name| catalogue::find(fields, name).expect("totals are catalogue columns").unit;
    Grid {
        titles: ["COUNT", "CPU%", "RSS", "COMMAND"].map(String::from).to_vec(),
        right: vec![true, true, true, false],
        rows: groups
            .into_iter()
            .map(|(comm, (count, [cpu, rss]))| {
                vec![count.to_string(), format!("{cpu:.1}"), human(&Value::Real(rss), unit("rss")), comm.into()]
            })
            .collect(),
    }
}

/// Every column of a kind of row but the two times (the header says when).
pub fn catalogue_grid<T>(fields: &[Field<T>], rows: &[T]) -> Grid {
    let shown: Vec<&Field<T>> = fields.iter().filter(|f| !matches!(f.name, "time" | "time_ms")).collect();
    Grid {
        titles: shown.iter().map(|f| f.name.to_string()).collect(),
        right: shown.iter().map(|f| f.kind != Kind::Label).collect(),
        rows: rows.iter().map(|row| shown.iter().map(|f| human(&(f.get)(row), f.unit)).collect()).collect(),
    }
}

/// Findings as the report ranks them; `*` marks those begun by `time_ms`.
pub fn findings_grid(findings: &[Finding], time_ms: i64) -> Grid {
    Grid {
        titles: ["", "#", "SEVERITY", "SINCE", "FINDING"].map(String::from).to_vec(),
        right: vec![false, true, false, false, false],
        rows: findings
            .iter()
            .enumerate()
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
        let by_memory = process_grid(rows.clone(), Order::Memory, &mut users);
        let pids: Vec<&str> = by_memory.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(pids, ["2", "3", "1"]);
        let by_fds = process_grid(rows.clone(), Order::Fds, &mut users);
        assert_eq!(by_fds.rows[0][0], "1");
        let counted = process_grid(rows, Order::Count, &mut users);
        assert_eq!(counted.rows[0], ["2", "0.0", "30 B", "small"]);
    }
}
