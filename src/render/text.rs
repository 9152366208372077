//! Text for people: the table style, the process table that `show` and
//! `report` share (laid out from catalogue columns), and fitting it all to
//! the width of the screen: tables cut their widest columns, other lines
//! wrap.

use super::rows::human;
use crate::model::catalogue::{self, Field, Minute, ProcessRow, Unit, Value};
use crate::model::human::{escape_control, format_duration_ms, format_ms_clock, format_ms_local};
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, presets};
use std::collections::HashMap;

/// The width text is fitted to when the output is not a terminal.
pub const DEFAULT_WIDTH: u16 = 80;

/// A table at most `width` columns wide: where its cells do not fit, the
/// widest columns are narrowed first and their cells cut with `…` (call
/// `one_line` once the rows are in).
pub fn table_with(header: &[&str], width: u16) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_width(width);
    t.set_truncation_indicator("…");
    t.set_header(header.to_vec());
    // Two spaces between columns, none around the table: room for content.
    let last = header.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    t
}

/// Every row of `t` on one line: where the table is too wide, its widest
/// column is narrowed and its cells cut, the others keep their width.
pub fn one_line(t: &mut Table) {
    for row in t.row_iter_mut() {
        row.max_height(1);
    }
    let widths = t.column_max_content_widths();
    let widest = (0..widths.len()).max_by_key(|&i| widths[i]);
    for (i, column) in t.column_iter_mut().enumerate() {
        if Some(i) != widest {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

/// `text` without trailing spaces, and with every line wider than `width`
/// wrapped at spaces (a word
/// longer than a line is cut into pieces). A continuation is indented to
/// where the line's text begins: after a list marker like `  3. HIGH   `,
/// else two more than the line's own indent.
pub fn wrap_lines(text: &str, width: usize) -> String {
    let mut wrapped = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (line, end) = line.strip_suffix('\n').map_or((line, ""), |l| (l, "\n"));
        // A table pads its last column: nothing to show at the end of a line.
        let line = line.trim_end_matches(' ');
        if line.chars().count() <= width {
            wrapped.push_str(line);
            wrapped.push_str(end);
            continue;
        }
        let indent = continuation_indent(line).min(width / 2);
        let own = line.len() - line.trim_start_matches(' ').len();
        wrapped.push_str(&line[..own]);
        let mut room = width - own.min(width / 2);
        let mut used = 0;
        for word in line[own..].split(' ') {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let gap = usize::from(used > 0);
                if used + gap + word.len() <= room || (used == 0 && word.len() <= room) {
                    if gap == 1 {
                        wrapped.push(' ');
                    }
                    wrapped.extend(word.iter());
                    used += gap + word.len();
                    break;
                }
                if used == 0 {
                    // Longer than a whole line: the part that fits, then on.
                    let rest = word.split_off(room);
                    wrapped.extend(word.iter());
                    word = rest;
                }
                wrapped.push('\n');
                wrapped.push_str(&" ".repeat(indent));
                room = width - indent;
                used = 0;
            }
        }
        wrapped.push_str(end);
    }
    wrapped
}

fn continuation_indent(line: &str) -> usize {
    let own = line.len() - line.trim_start().len();
    let rest = line.trim_start();
    let marker =
        rest.split_once(". ").filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    match marker {
        Some((number, after)) => {
            let label = after.split_once(' ').map_or(0, |(l, _)| l.len());
            let spaces = after[label..].len() - after[label..].trim_start().len();
            own + number.len() + 2 + label + spaces
        }
        None => own + 2,
    }
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
    /// A time as `11-22 18:05`: a start time, short.
    DayMinute,
    /// A duration from this many ms on, nothing below it.
    DurationFrom(i64),
    /// A uid as its user name.
    User,
    /// Text cut to this many characters, the last one `…`: a column that
    /// must leave room for the command line.
    Cut(usize),
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

pub const fn column(
    title: &'static str,
    columns: &'static [&'static str],
    cell: Cell,
    align_right: bool,
) -> ViewColumn {
    ViewColumn { title, columns, cell, align_right }
}

/// The most a unit name takes in a process table: `postfix.service`
/// whole, a container's id cut as `docker ps` cuts it.
pub const UNIT_WIDTH: usize = 16;

/// The process tables of `show` and `report`.
pub const PROCESS_VIEW: &[ViewColumn] = &[
    column("PID", &["pid"], Cell::Human, true),
    column("USER", &["uid"], Cell::User, false),
    column("S", &["state"], Cell::Human, false),
    column("CPU%", &["cpu_pct"], Cell::Decimals(1), true),
    column("RSS", &["rss"], Cell::Human, true),
    column("THR", &["threads"], Cell::Human, true),
    column("FDS", &["fds"], Cell::Human, true),
    column("STARTED", &["started_ms"], Cell::DayMinute, false),
    column("UNIT", &["unit"], Cell::Cut(UNIT_WIDTH), false),
    column("COMMAND", &["cmdline", "comm"], Cell::Command, false),
];

/// The report's timeline.
pub const TIMELINE_VIEW: &[ViewColumn] = &[
    column("TIME", &["time_ms"], Cell::Minute, false),
    column("LOAD", &["load1"], Cell::Decimals(1), true),
    column("CPU%", &["cpu_busy_pct"], Cell::Decimals(0), true),
    column("AVAIL", &["mem_available"], Cell::Human, true),
    column("SWAP", &["swap_used"], Cell::Human, true),
    column("PSI c/m/io", &["psi_cpu", "psi_memory", "psi_io"], Cell::Decimals(0), true),
    column("PROCS", &["processes"], Cell::Human, true),
    column("D", &["d_state"], Cell::Human, true),
    column("FILES", &["open_files"], Cell::Human, true),
    column("CONNS", &["connections"], Cell::Human, true),
    column("FS%", &["fullest_fs_pct"], Cell::Decimals(0), true),
    column("LATE", &["lateness_ms"], Cell::DurationFrom(1000), true),
];

/// Rows shown as `view` lays out the catalogue columns `fields`, at most
/// `width` wide. The cut columns (`Cell::Cut`, such as a process's unit)
/// yield to the widest one: they are left out where no row has a value for
/// them, or where keeping them would leave the widest column fewer than
/// `WIDEST_KEEPS` characters.
pub fn view_table<T>(
    view: &[ViewColumn],
    fields: &[Field<T>],
    rows: &[T],
    users: &mut UserNames,
    width: u16,
) -> Table {
    let cells: Vec<Vec<String>> = rows.iter().map(|row| view_row(view, fields, row, users)).collect();
    let kept = kept_columns(view, &cells, width);
    let titles: Vec<&str> = kept.iter().map(|&i| view[i].title).collect();
    let mut t = table_with(&titles, width);
    for row in cells {
        t.add_row(kept.iter().map(|&i| row[i].clone()).collect::<Vec<_>>());
    }
    one_line(&mut t);
    for (at, &i) in kept.iter().enumerate() {
        if let Some(column) = t.column_mut(at).filter(|_| view[i].align_right) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// Characters the widest column (a command line) keeps at least, where
/// columns can be left out for it.
const WIDEST_KEEPS: usize = 24;

/// The indexes of the columns of `view` worth showing for `cells`.
fn kept_columns(view: &[ViewColumn], cells: &[Vec<String>], width: u16) -> Vec<usize> {
    let natural = |i: usize| {
        let widest_cell = cells.iter().map(|row| row[i].chars().count()).max().unwrap_or(0);
        widest_cell.max(view[i].title.chars().count())
    };
    let cut = |i: usize| matches!(view[i].cell, Cell::Cut(_));
    let shown = |i: &usize| !cut(*i) || cells.iter().any(|row| !row[*i].is_empty());
    let mut kept: Vec<usize> = (0..view.len()).filter(shown).collect();
    let Some(&widest) = kept.iter().max_by_key(|&&i| natural(i)) else { return kept };
    // Two spaces between columns, as `table_with` lays them out.
    let others: usize = kept.iter().filter(|&&i| i != widest).map(|&i| natural(i) + 2).sum();
    if others + WIDEST_KEEPS.min(natural(widest)) > usize::from(width) {
        kept.retain(|&i| !cut(i));
    }
    kept
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

pub fn process_table(rows: &[ProcessRow], users: &mut UserNames, width: u16) -> Table {
    view_table(PROCESS_VIEW, catalogue::PROCESSES, rows, users, width)
}

pub fn timeline_table(minutes: &[Minute], width: u16) -> Table {
    view_table(TIMELINE_VIEW, catalogue::TIMELINE, minutes, &mut UserNames::default(), width)
}

fn cell(how: Cell, value: Value, unit: Unit, users: &mut UserNames) -> String {
    match (how, &value) {
        (Cell::User, Value::Int(uid)) => users.name(*uid as u32),
        (Cell::Cut(most), Value::Text(text)) => {
            let shown = if text.chars().count() > most {
                let kept: String = text.chars().take(most.saturating_sub(1)).collect();
                format!("{kept}…")
            } else {
                text.clone()
            };
            escape_control(&shown).into_owned()
        }
        (Cell::Decimals(n), Value::Real(v)) => format!("{v:.n$}"),
        (Cell::Decimals(n), Value::Int(v)) => format!("{:.n$}", *v as f64),
        (Cell::Minute, Value::Int(ms)) => format_ms_clock(*ms).chars().take(5).collect(),
        (Cell::DayMinute, Value::Int(ms)) => format_ms_local(*ms).chars().skip(5).take(11).collect(),
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
    escape_control(&shown).into_owned()
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
    fn a_cut_column_yields_to_the_command_line_and_is_left_out_when_empty() {
        let view = [
            column("PID", &["pid"], Cell::Human, true),
            column("UNIT", &["unit"], Cell::Cut(16), false),
            column("COMMAND", &["cmdline"], Cell::Command, false),
        ];
        let row = |unit: &str| vec!["4242".to_string(), unit.to_string(), "x".repeat(60)];
        assert_eq!(kept_columns(&view, &[row("postfix.service")], 200), [0, 1, 2]);
        assert_eq!(kept_columns(&view, &[row("postfix.service")], 40), [0, 2], "narrow: the unit goes");
        assert_eq!(kept_columns(&view, &[row(""), row("")], 200), [0, 2], "no unit known: no column");
    }

    #[test]
    fn long_lines_wrap_under_their_text() {
        let finding = format!("  1. HIGH   {}", "word ".repeat(30));
        let wrapped = wrap_lines(&finding, 40);
        assert!(wrapped.lines().all(|l| l.chars().count() <= 40), "{wrapped}");
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("            word")), "{wrapped}");
        assert!(wrapped.starts_with("  1. HIGH   word"), "{wrapped}");
        let long_word = wrap_lines(&"x".repeat(100), 40);
        assert_eq!(long_word.lines().map(|l| l.trim().len()).collect::<Vec<_>>(), [40, 38, 22]);
        assert_eq!(wrap_lines("short\n", 40), "short\n");
    }

    #[test]
    fn a_table_fits_its_width_cutting_the_widest_column() {
        let mut t = table_with(&["PID", "COMMAND"], 40);
        t.add_row(vec!["1".to_string(), "x".repeat(200)]);
        one_line(&mut t);
        let shown = t.to_string();
        assert!(shown.lines().all(|l| l.chars().count() <= 40), "{shown}");
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(shown.contains('…'), "{shown}");
    }

    #[test]
    fn every_view_column_is_in_the_catalogue() {
        in_catalogue(PROCESS_VIEW, catalogue::PROCESSES);
        in_catalogue(TIMELINE_VIEW, catalogue::TIMELINE);
    }
}
