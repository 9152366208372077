//! Text tables for people: the table style, and the process table that
//! `show` and `report` share, laid out from catalogue columns.

use super::rows::human;
use crate::model::catalogue::{self, ProcessRow, Value};
use comfy_table::{CellAlignment, Table, presets};
use std::collections::HashMap;

pub fn table_with(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(header.to_vec());
    t
}

/// How a view shows a catalogue column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// With its unit: `1.2 GiB`, `40s`.
    Human,
    /// The number alone, one decimal: the title says the unit.
    Number,
    /// A uid as its user name.
    User,
    /// The command line, or `[comm]` for a kernel thread, shortened.
    Command,
}

/// One column of a text view: its title, the catalogue column it shows.
pub struct ViewColumn {
    pub title: &'static str,
    pub column: &'static str,
    pub cell: Cell,
    pub align_right: bool,
}

const fn column(title: &'static str, column: &'static str, cell: Cell, align_right: bool) -> ViewColumn {
    ViewColumn { title, column, cell, align_right }
}

/// The process tables of `show` and `report`.
pub const PROCESS_VIEW: &[ViewColumn] = &[
    column("PID", "pid", Cell::Human, true),
    column("USER", "uid", Cell::User, false),
    column("S", "state", Cell::Human, false),
    column("CPU%", "cpu_pct", Cell::Number, true),
    column("RSS", "rss", Cell::Human, true),
    column("THR", "threads", Cell::Human, true),
    column("FDS", "fds", Cell::Human, true),
    column("STARTED", "started_ms", Cell::Human, false),
    column("COMMAND", "cmdline", Cell::Command, false),
];

/// Longest command line shown in a table, in characters.
const COMMAND_WIDTH: usize = 80;

pub fn process_table(rows: &[ProcessRow], users: &mut UserNames) -> Table {
    let titles: Vec<&str> = PROCESS_VIEW.iter().map(|c| c.title).collect();
    let mut t = table_with(&titles);
    for row in rows {
        t.add_row(PROCESS_VIEW.iter().map(|c| process_cell(c, row, users)).collect::<Vec<_>>());
    }
    for (i, c) in PROCESS_VIEW.iter().enumerate() {
        if let Some(column) = t.column_mut(i).filter(|_| c.align_right) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

fn process_cell(view: &ViewColumn, row: &ProcessRow, users: &mut UserNames) -> String {
    let field =
        catalogue::find(catalogue::PROCESSES, view.column).expect("view columns are in the catalogue");
    let value = (field.get)(row);
    match (view.cell, &value) {
        (Cell::User, Value::Int(uid)) => users.name(*uid as u32),
        (Cell::Command, _) => truncate(&row.command(), COMMAND_WIDTH),
        (Cell::Number, Value::Real(v)) => format!("{v:.1}"),
        _ => human(&value, field.unit),
    }
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

    #[test]
    fn every_view_column_is_in_the_catalogue() {
        for view in PROCESS_VIEW {
            assert!(catalogue::find(catalogue::PROCESSES, view.column).is_some(), "{}", view.column);
        }
    }
}
