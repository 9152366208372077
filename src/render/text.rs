//! Text tables for people: the table style, and the process table that
//! `show` and `report` share, laid out from catalogue columns.

use super::rows::human;
use crate::model::catalogue::{self, Field, Minute, ProcessRow, Unit, Value};
use crate::model::human::{format_duration_ms, format_ms_clock};
use comfy_table::{CellAlignment, Table, presets};
use std::collections::HashMap;

pub fn table_with(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(header.to_vec());
    t
}

/// How a view shows a catalogue value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// With its unit: `1.2 GiB`, `40s`.
    Human,
    /// The number alone with this many decimals: the title says the unit.
    Decimals(usize),
    /// A time as `18:05`: rows that are minutes.
    Minute,
    /// A duration from this many ms on, nothing below it.
    DurationFrom(i64),
    /// A uid as its user name.
    User,
    /// The first column (a command line), shortened; where it is empty,
    /// the second in brackets (a kernel thread's name), as `ps` shows it.
    Command,
}

/// One column of a text view: its title and the catalogue columns it
/// shows, joined by `/` where there are several.
pub struct ViewColumn {
    pub title: &'static str,
    pub columns: &'static [&'static str],
    pub cell: Cell,
    pub align_right: bool,
}

const fn column(
    title: &'static str,
    columns: &'static [&'static str],
    cell: Cell,
    align_right: bool,
) -> ViewColumn {
    ViewColumn { title, columns, cell, align_right }
}

/// The process tables of `show` and `report`.
pub const PROCESS_VIEW: &[ViewColumn] = &[
    column("PID", &["pid"], Cell::Human, true),
    column("USER", &["uid"], Cell::User, false),
    column("S", &["state"], Cell::Human, false),
    column("CPU%", &["cpu_pct"], Cell::Decimals(1), true),
    column("RSS", &["rss"], Cell::Human, true),
    column("THR", &["threads"], Cell::Human, true),
    column("FDS", &["fds"], Cell::Human, true),
    column("STARTED", &["started_ms"], Cell::Human, false),
    column("COMMAND", &["cmdline", "comm"], Cell::Command, false),
];

/// The report's timeline.
pub const TIMELINE_VIEW: &[ViewColumn] = &[
    column("TIME", &["time_ms"], Cell::Minute, false),
    column("LOAD", &["load1"], Cell::Decimals(1), true),
    column("CPU%", &["cpu_busy_pct"], Cell::Decimals(0), true),
    column("MEM AVAIL", &["mem_available"], Cell::Human, true),
    column("SWAP", &["swap_used"], Cell::Human, true),
    column("PSI cpu/mem/io", &["psi_cpu", "psi_memory", "psi_io"], Cell::Decimals(0), true),
    column("PROCS", &["processes"], Cell::Human, true),
    column("D", &["d_state"], Cell::Human, true),
    column("FILES", &["open_files"], Cell::Human, true),
    column("CONNS", &["connections"], Cell::Human, true),
    column("FS%", &["fullest_fs_pct"], Cell::Decimals(0), true),
    column("LATE", &["lateness_ms"], Cell::DurationFrom(1000), true),
];

/// Longest command line shown in a table, in characters.
const COMMAND_WIDTH: usize = 80;

/// Rows shown as `view` lays out the catalogue columns `fields`.
pub fn view_table<T>(view: &[ViewColumn], fields: &[Field<T>], rows: &[T], users: &mut UserNames) -> Table {
    let titles: Vec<&str> = view.iter().map(|c| c.title).collect();
    let mut t = table_with(&titles);
    for row in rows {
        t.add_row(view_row(view, fields, row, users));
    }
    for (i, c) in view.iter().enumerate() {
        if let Some(column) = t.column_mut(i).filter(|_| c.align_right) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// One row's cells as `view` lays out the catalogue columns `fields`.
pub fn view_row<T>(view: &[ViewColumn], fields: &[Field<T>], row: &T, users: &mut UserNames) -> Vec<String> {
    view.iter()
        .map(|c| {
            let values = c.columns.iter().map(|name| {
                let field = catalogue::find(fields, name).expect("view columns are in the catalogue");
                ((field.get)(row), field.unit)
            });
            if c.cell == Cell::Command {
                return command(values.map(|(value, _)| value));
            }
            let parts: Vec<String> = values.map(|(value, unit)| cell(c.cell, value, unit, users)).collect();
            parts.join("/")
        })
        .collect()
}

pub fn process_table(rows: &[ProcessRow], users: &mut UserNames) -> Table {
    view_table(PROCESS_VIEW, catalogue::PROCESSES, rows, users)
}

pub fn timeline_table(minutes: &[Minute]) -> Table {
    view_table(TIMELINE_VIEW, catalogue::TIMELINE, minutes, &mut UserNames::default())
}

fn cell(how: Cell, value: Value, unit: Unit, users: &mut UserNames) -> String {
    match (how, &value) {
        (Cell::User, Value::Int(uid)) => users.name(*uid as u32),
        (Cell::Decimals(n), Value::Real(v)) => format!("{v:.n$}"),
        (Cell::Decimals(n), Value::Int(v)) => format!("{:.n$}", *v as f64),
        (Cell::Minute, Value::Int(ms)) => format_ms_clock(*ms).chars().take(5).collect(),
        (Cell::DurationFrom(least), Value::Int(ms)) if *ms < least => String::new(),
        (Cell::DurationFrom(_), Value::Int(ms)) => format_duration_ms(*ms),
        _ => human(&value, unit),
    }
}

fn command(mut values: impl Iterator<Item = Value>) -> String {
    let mut text = || match values.next() {
        Some(Value::Text(text)) => text,
        _ => String::new(),
    };
    let line = text();
    let shown = if line.is_empty() { format!("[{}]", text()) } else { line };
    truncate(&shown, COMMAND_WIDTH)
}

pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// uid → user name, looked up once each (through NSS, like `ps`).
#[derive(Default)]
pub struct UserNames(HashMap<u32, String>);

impl UserNames {
    pub fn name(&mut self, uid: u32) -> String {
        self.0
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(uid.into())
                    .ok()
                    .flatten()
                    .map_or_else(|| uid.to_string(), |u| u.name)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_catalogue<T>(view: &[ViewColumn], fields: &[Field<T>]) {
        for name in view.iter().flat_map(|c| c.columns) {
            assert!(catalogue::find(fields, name).is_some(), "{name} is not in the catalogue");
        }
    }

    #[test]
    fn every_view_column_is_in_the_catalogue() {
        in_catalogue(PROCESS_VIEW, catalogue::PROCESSES);
        in_catalogue(TIMELINE_VIEW, catalogue::TIMELINE);
    }
}
