//! Drawing one screen: a title line (time, run, where the sample sits among
//! the incidents), `show`'s header lines, the open view's table, and a line
//! of keys, a prompt or a message at the bottom. 80×24 is the size it is
//! laid out for; colour only where allowed, reverse video otherwise.

use super::keys::{ORDERS, Prompt, State, VIEWS};
use super::tables::Grid;
use crate::analyze::replay::Shown;
use crate::model::human::{format_duration_ms, format_ms_local};
use crate::render::show::write_system;
use crate::render::text::wrap_lines;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table};

/// Everything one screen shows.
pub struct Screen<'a> {
    pub shown: &'a Shown,
    pub place: Option<String>,
    pub state: &'a State,
    pub colour: bool,
    pub live: bool,
    /// What the table shows, and the table from the first row scrolled to.
    pub caption: String,
    pub grid: Grid,
}

const KEYS_LINE: &str = "t/T step  b time  [/] incident  C M D F N order  / filter  ? keys  q quit";

pub fn draw(frame: &mut Frame, screen: &Screen) {
    // Lines longer than the screen wrap as `show` wraps them.
    let header = header(screen, usize::from(frame.area().width.max(1)));
    let header_height = header.lines.len();
    let [title, head, caption, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(header_height as u16),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let bar = if screen.colour {
        Style::new().fg(Color::White).bg(Color::Blue)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    frame.render_widget(Paragraph::new(title_line(screen)).style(bar), title);
    frame.render_widget(Paragraph::new(header), head);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    frame.render_widget(Paragraph::new(screen.caption.as_str()).style(bold), caption);
    draw_grid(frame, body, &screen.grid, screen.state.shift);
    frame.render_widget(Paragraph::new(bottom_line(screen.state)).style(bar), bottom);
    if screen.state.help {
        draw_help(frame, frame.area());
    }
}

fn title_line(screen: &Screen) -> String {
    let mut line = format_ms_local(screen.shown.time_ms());
    if let Shown::Sample { cur, .. } = screen.shown {
        line += &format!("  run {}", cur.run_id);
        // As the report's timeline: lateness under a second is the timer's noise.
        if cur.sample.lateness_ms >= 1000 {
            line += &format!("  {} late", format_duration_ms(cur.sample.lateness_ms));
        }
    }
    if let Some(place) = &screen.place {
        line += &format!("  {place}");
    }
    if screen.live {
        line += "  [live]";
    }
    line
}

/// `show`'s lines for the sample, and what of it is missing, wrapped to
/// `width`.
fn header(screen: &Screen, width: usize) -> Text<'static> {
    let (prev, cur, damage) = match screen.shown {
        Shown::Sample { prev, cur, damage } => (prev, cur, damage),
        Shown::Unreadable { error, .. } => {
            let said = format!("this sample could not be read ({error}); t/T step past it");
            return Text::from(wrap_lines(&said, width));
        }
    };
    let mut text = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_system(prev.as_ref().map(|p| &p.sample), cur, &mut text);
    let mut text = String::from_utf8_lossy(&text).into_owned();
    if !cur.missing.is_empty() {
        text += &format!("missing in this sample: {}", cur.missing.join(", "));
        if !damage.is_empty() {
            text += &format!(" (damaged: {})", damage.join("; "));
        }
    }
    let lines: Vec<Line> = wrap_lines(&text, width)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| Line::from(l.to_string()))
        .collect();
    Text::from(lines)
}

/// Columns as wide as their widest cell: the first (what names the row),
/// then from the one `shift` places on as many as fit, the last cut to
/// what is left.
fn draw_grid(frame: &mut Frame, area: Rect, grid: &Grid, shift: usize) {
    let count = grid.titles.len();
    let width_of = |i: usize| {
        let widest = grid.rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        widest.max(grid.titles[i].chars().count())
    };
    let mut shown = Vec::new();
    let mut used = 0;
    let rest = 1 + shift.min(count.saturating_sub(2));
    for i in (0..count.min(1)).chain(rest..count) {
        // A column cut short still shows its start: a command line does.
        let least = width_of(i).min(grid.titles[i].chars().count().max(12));
        if !shown.is_empty() && used + least > usize::from(area.width) {
            break;
        }
        used += width_of(i) + 1;
        shown.push(i);
    }
    let widths: Vec<Constraint> =
        shown
            .iter()
            .enumerate()
            .map(|(n, i)| {
                if n + 1 == shown.len() {
                    Constraint::Fill(1)
                } else {
                    Constraint::Length(width_of(*i) as u16)
                }
            })
            .collect();
    let cell = |text: &str, right: bool| {
        let line = Line::from(text.to_string());
        Cell::from(if right { line.alignment(Alignment::Right) } else { line })
    };
    let row = |cells: &[String]| Row::new(shown.iter().map(|i| cell(&cells[*i], grid.right[*i])));
    let table = Table::new(grid.rows.iter().map(|r| row(r)), widths)
        .header(row(&grid.titles).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1);
    frame.render_widget(table, area);
}

fn bottom_line(state: &State) -> String {
    match (&state.prompt, &state.message) {
        (Some(Prompt::Time(text)), _) => format!("b: go to TIME (18:05, -10m, @EPOCH): {text}_"),
        (Some(Prompt::Filter(text)), _) => format!("/: keep processes whose name or user contains: {text}_"),
        (None, Some(message)) => message.clone(),
        (None, None) => KEYS_LINE.into(),
    }
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let mut lines = vec![
        "t / T, → / ←   next / previous sample".to_string(),
        "Home / End     oldest / newest sample".into(),
        "b TIME Enter   the sample at or just before TIME".into(),
        "] / [          next / previous incident (in findings: finding)".into(),
        "/ TEXT Enter   keep processes of that name or user".into(),
        "↓ ↑ PgDn PgUp  scroll rows  > <  scroll columns  q, Esc  quit".into(),
    ];
    let keys = ORDERS.iter().map(|(k, _, name)| (k, name)).chain(VIEWS.iter().map(|(k, _, name)| (k, name)));
    let keys: Vec<String> = keys.map(|(k, name)| format!("{k} {name:<32}")).collect();
    lines.extend(keys.chunks(2).map(|pair| pair.join(" ")));
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect { height, ..area };
    frame.render_widget(Clear, popup);
    let block = ratatui::widgets::Block::bordered().title(" keys (any key closes) ");
    frame.render_widget(Paragraph::new(lines.join("\n")).block(block), popup);
}
