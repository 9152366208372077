//! `report` and `gaps` for people (text) and for tools (JSON). The JSON is
//! the serialized `Report` / `Period` list: its shape is documented in the
//! README and kept stable.

use super::text::{UserNames, process_table, table_with, timeline_table};
use crate::analyze::Severity;
use crate::analyze::periods::Period;
use crate::analyze::report::Report;
use crate::model::human::{format_duration_ms, format_ms_clock, format_ms_local};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// One self-contained page with charts, to open in a browser
    Html,
}

pub fn report(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        return writeln!(out);
    }
    writeln!(out, "{}", report.headline)?;
    let window = &report.window;
    let coverage = if window.expected_samples == 0 {
        0.0
    } else {
        window.samples as f64 * 100.0 / window.expected_samples as f64
    };
    writeln!(
        out,
        "window {} → {}: {} samples ({coverage:.0}% of the expected {}); baseline: {} samples in the hour before",
        format_ms_local(window.from_ms),
        format_ms_clock(window.to_ms),
        window.samples,
        window.expected_samples,
        window.baseline_samples
    )?;
    if let Some(first) = report.timeline.first().map(|m| m.first_sample_ms)
        && first > window.from_ms + 60_000
    {
        writeln!(out, "(recording began {}: nothing is known before that)", format_ms_clock(first))?;
    }
    writeln!(out)?;
    if report.findings.iter().all(|f| f.severity == Severity::Info) {
        writeln!(out, "Nothing abnormal found in the window.")?;
    }
    if !report.findings.is_empty() {
        writeln!(out, "Findings, most important first:")?;
        for (i, f) in report.findings.iter().enumerate() {
            let severity = match f.severity {
                Severity::High => "HIGH",
                Severity::Medium => "MEDIUM",
                Severity::Info => "info",
            };
            writeln!(out, "{:>3}. {severity:<6} {}", i + 1, f.summary)?;
        }
    }
    if !report.timeline.is_empty() {
        writeln!(out, "\nTimeline, per minute (worst value in each minute):")?;
        let t = timeline_table(&report.timeline);
        writeln!(out, "{t}")?;
        if let Some(p) = &report.period {
            writeln!(
                out,
                "── {} last sample before the period; then: {} ──",
                format_ms_clock(p.start_ms),
                p.kind.describe()
            )?;
        }
    }
    if let Some(last) = &report.last_sample {
        let mut users = UserNames::default();
        writeln!(out, "\nLast sample ({}), top by CPU:", format_ms_clock(last.time_ms))?;
        writeln!(out, "{}", process_table(&last.top_cpu, &mut users))?;
        writeln!(out, "Top by memory (RSS):")?;
        writeln!(out, "{}", process_table(&last.top_memory, &mut users))?;
    }
    Ok(())
}

pub fn gaps(periods: &[Period], now_ms: i64, format: Format, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, periods)?;
        return writeln!(out);
    }
    if periods.is_empty() {
        return writeln!(out, "No unresponsive periods: every run stopped cleanly and no tick was late.");
    }
    let mut t = table_with(&["#", "KIND", "LAST SAMPLE", "BACK", "LENGTH", "BOOT", "SAMPLES BEFORE"]);
    for p in periods {
        let boot = match &p.next_boot_id {
            Some(next) => format!("{} → {}", short(&p.boot_id), short(next)),
            None => short(&p.boot_id).to_string(),
        };
        t.add_row(vec![
            p.number.to_string(),
            p.kind.name().to_string(),
            format_ms_local(p.start_ms),
            p.end_ms.map_or("(still silent)".into(), format_ms_local),
            format_duration_ms(p.length_ms(now_ms)),
            boot,
            p.samples_before.to_string(),
        ]);
    }
    writeln!(out, "{t}")?;
    writeln!(out, "`flightrec report --period N` explains one.")
}

fn short(boot_id: &str) -> &str {
    boot_id.get(..8).unwrap_or(boot_id)
}
