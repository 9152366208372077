//! `report` and `gaps` for people (text) and for tools (JSON). The JSON is
//! the serialized `Report` / `Period` list: its shape is documented in the
//! README and kept stable.

use super::text::{UserNames, one_line, process_table, table_with, timeline_table, wrap_lines};
use crate::analyze::incidents::{Incident, default_choice};
use crate::analyze::periods::Period;
use crate::analyze::report::Report;
use crate::analyze::report::WindowInfo;
use crate::analyze::{Finding, Severity};
use crate::model::human::{count, escape_control, format_duration_ms, format_ms_clock, format_ms_local};
use serde::Serialize;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// One self-contained page with charts, to open in a browser
    Html,
}

/// Findings listed in text: the first screen is for the cause.
const FINDINGS_LISTED: usize = 10;

/// `width`: what text is fitted to (JSON is not).
pub fn report(report: &Report, format: Format, width: u16, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        return writeln!(out);
    }
    let mut text = Vec::new();
    report_text(report, width, &mut text)?;
    out.write_all(wrap_lines(&String::from_utf8_lossy(&text), width.into()).as_bytes())
}

fn report_text(report: &Report, width: u16, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", report.headline)?;
    let window = &report.window;
    let coverage = if window.expected_samples == 0 {
        0.0
    } else {
        window.samples as f64 * 100.0 / window.expected_samples as f64
    };
    writeln!(
        out,
        "window {} → {}: {} ({coverage:.0}% of the expected {}); baseline: {} in the hour before",
        format_ms_local(window.from_ms),
        format_ms_clock(window.to_ms),
        count(window.samples as u64, "sample", "samples"),
        window.expected_samples,
        count(window.baseline_samples as u64, "sample", "samples")
    )?;
    if window.samples == 0 {
        return no_samples(window, out);
    }
    if let Some(first) = report.timeline.first().map(|m| m.first_sample_ms)
        && first > window.from_ms + 60_000
    {
        writeln!(out, "(recording began {}: nothing is known before that)", format_ms_clock(first))?;
    }
    writeln!(out)?;
    let (shown, info): (Vec<&Finding>, Vec<&Finding>) =
        report.findings.iter().partition(|f| f.severity > Severity::Info);
    if shown.is_empty() {
        writeln!(out, "Nothing abnormal found in the window.")?;
    } else {
        writeln!(out, "Findings, most important first:")?;
        for (i, f) in shown.iter().take(FINDINGS_LISTED).enumerate() {
            let severity = if f.severity == Severity::High { "HIGH" } else { "MEDIUM" };
            writeln!(out, "{:>3}. {severity:<6} {}", i + 1, escape_control(&f.summary))?;
        }
    }
    let more = shown.len().saturating_sub(FINDINGS_LISTED);
    let rest = match (more, info.len()) {
        (0, 0) => None,
        (0, n) => Some(format!("{n} more at info level")),
        (m, 0) => Some(format!("{m} more")),
        (m, n) => Some(format!("{m} more, and {n} at info level")),
    };
    if let Some(rest) = rest {
        writeln!(out, "{rest} (`--format json` lists every finding).")?;
    }
    if !report.timeline.is_empty() {
        writeln!(out, "\nTimeline, per minute (worst value in each minute):")?;
        let t = timeline_table(&report.timeline, width);
        writeln!(out, "{t}")?;
        if let Some(incident) = &report.incident {
            writeln!(
                out,
                "── {} last sample before the incident; then: {} ──",
                format_ms_clock(incident.first().start_ms),
                incident.first().kind.describe()
            )?;
        }
    }
    if let Some(last) = &report.last_sample {
        let mut users = UserNames::default();
        writeln!(out, "\nLast sample ({}), top by CPU:", format_ms_clock(last.time_ms))?;
        writeln!(out, "{}", process_table(&last.top_cpu, &mut users, width))?;
        writeln!(out, "Top by memory (RSS):")?;
        writeln!(out, "{}", process_table(&last.top_memory, &mut users, width))?;
    }
    Ok(())
}

/// A period as `gaps --format json` writes it: the period, and whether its
/// incident is the one `report` explains by default.
#[derive(Serialize)]
struct GapRow<'a> {
    #[serde(flatten)]
    period: &'a Period,
    explained: bool,
}

/// A window with no sample says so, and what is known instead.
fn no_samples(window: &WindowInfo, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "No samples between {} and {}: nothing is known of that time.",
        format_ms_local(window.from_ms),
        format_ms_local(window.to_ms)
    )?;
    match (window.recording_began_ms, window.last_recorded_ms) {
        (Some(first), Some(last)) => writeln!(
            out,
            "Recording began {} and the last sample is from {}; `flightrec gaps` lists what went wrong.",
            format_ms_local(first),
            format_ms_local(last)
        ),
        _ => writeln!(out, "Nothing has been recorded yet."),
    }
}

pub fn gaps(
    incidents: &[Incident],
    now_ms: i64,
    format: Format,
    width: u16,
    out: &mut dyn Write,
) -> io::Result<()> {
    let explained = default_choice(incidents).map(|i| i.number);
    let rows = incidents.iter().flat_map(|i| {
        let marked = Some(i.number) == explained;
        i.periods.iter().rev().map(move |period| GapRow { period, explained: marked })
    });
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &rows.collect::<Vec<_>>())?;
        return writeln!(out);
    }
    if incidents.is_empty() {
        return writeln!(out, "No unresponsive periods: every run stopped cleanly and no tick was late.");
    }
    let mut t = table_with(&["#", "KIND", "LAST SAMPLE", "BACK", "LENGTH", "BOOT", "SAMPLES"], width);
    let mut numbered = None;
    for GapRow { period: p, explained } in rows {
        let boot = match &p.next_boot_id {
            Some(next) => format!("{} → {}", short(&p.boot_id), short(next)),
            None => short(&p.boot_id).to_string(),
        };
        // An incident's number once, on its newest period; `*` marks the
        // one `report` explains.
        let number = if numbered == Some(p.number) {
            String::new()
        } else {
            format!("{}{}", if explained { "*" } else { "" }, p.number)
        };
        numbered = Some(p.number);
        t.add_row(vec![
            number,
            p.kind.name().to_string(),
            format_ms_local(p.start_ms),
            p.end_ms.map_or("(still silent)".into(), |end| same_day_short(p.start_ms, end)),
            format_duration_ms(p.length_ms(now_ms)),
            boot,
            p.samples_before.to_string(),
        ]);
    }
    one_line(&mut t);
    writeln!(out, "{t}")?;
    let note = "Periods close together are one incident, under one number; * marks the one \
                `flightrec report` explains, `--period N` another.\n";
    out.write_all(wrap_lines(note, width.into()).as_bytes())
}

/// `end` as a time of day when it is the day of `start`, else in full.
fn same_day_short(start: i64, end: i64) -> String {
    let (start_text, end_text) = (format_ms_local(start), format_ms_local(end));
    if start_text.get(..10) == end_text.get(..10) { format_ms_clock(end) } else { end_text }
}

fn short(boot_id: &str) -> &str {
    boot_id.get(..8).unwrap_or(boot_id)
}
