//! One chart as inline SVG: the lines of an `analyze::charts::Chart` on the
//! page's shared time axis, the unresponsive period shaded and labelled,
//! findings marked at their first time, failures as bars along the bottom.
//! Plain SVG text: the charts are lines on one axis, and each point carries
//! its time and value for the hover script, which no charting crate writes.

use super::escape;
use crate::analyze::Severity;
use crate::analyze::charts::{Chart, Charts, Line, Mark};
use crate::model::catalogue::{Unit, Value};
use crate::model::human::format_ms_clock;
use crate::render::rows::human;
use std::fmt::Write;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 990.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 146.0;

/// The shaded stretch where the machine did not answer.
pub struct Band {
    pub from_ms: i64,
    pub to_ms: i64,
    pub label: String,
}

struct Scale {
    from_ms: i64,
    to_ms: i64,
    low: f64,
    high: f64,
}

impl Scale {
    fn x(&self, ms: i64) -> f64 {
        let span = (self.to_ms - self.from_ms).max(1) as f64;
        LEFT + (ms.clamp(self.from_ms, self.to_ms) - self.from_ms) as f64 / span * (RIGHT - LEFT)
    }

    fn y(&self, value: f64) -> f64 {
        BOTTOM - (value - self.low) / (self.high - self.low) * (BOTTOM - TOP)
    }
}

/// The chart's SVG, then its legend and the hover readout.
pub fn chart(out: &mut String, charts: &Charts, chart: &Chart, band: Option<&Band>) {
    let (low, high) = value_range(&chart.lines);
    let scale = Scale { from_ms: charts.from_ms, to_ms: charts.to_ms, low, high };
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" data-from="{}" data-to="{}" data-x0="{LEFT}" data-x1="{RIGHT}" data-gap="{}" data-unit="{}">"#,
        charts.from_ms,
        charts.to_ms,
        charts.gap_ms,
        unit_name(chart.unit),
        title = escape(chart.title),
    );
    y_grid(out, &scale, chart.unit);
    time_axis(out, &scale);
    if let Some(band) = band {
        let (x0, x1) = (scale.x(band.from_ms), scale.x(band.to_ms));
        let _ = write!(
            out,
            r#"<rect class="period" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{}"/><text class="period-label" x="{:.1}" y="{}" text-anchor="end">{}</text>"#,
            (x1 - x0).max(2.0),
            BOTTOM - TOP,
            x1.max(LEFT + 80.0) - 3.0,
            TOP + 11.0,
            escape(&band.label)
        );
    }
    for (i, line) in chart.lines.iter().enumerate() {
        draw_line(out, &scale, charts.gap_ms, i, line);
    }
    let on_axis = |m: &&Mark| (charts.from_ms..=charts.to_ms).contains(&m.time_ms);
    let mut label_right = f64::MIN;
    for mark in charts.marks.iter().filter(|m| m.chart == Some(chart.id)).filter(on_axis) {
        let x = scale.x(mark.time_ms);
        // Numbers of marks close together side by side, not on top.
        let label_x = x.max(label_right + 12.0);
        label_right = label_x;
        let _ = write!(
            out,
            r##"<g class="mark sev-{sev}" data-finding="{n}" data-time="{t}"><line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{BOTTOM}"/><a href="#finding-{n}"><text x="{label_x:.1}" y="{y}" text-anchor="middle">{n}</text></a><title>finding {n} at {clock}</title></g>"##,
            sev = severity_name(mark.severity),
            n = mark.number,
            t = mark.time_ms,
            y = TOP - 4.0,
            clock = format_ms_clock(mark.time_ms),
        );
    }
    let _ = write!(out, r#"<line class="cursor" x1="0" x2="0" y1="{TOP}" y2="{BOTTOM}"/></svg>"#);
    out.push_str(r#"<ul class="legend">"#);
    for (i, line) in chart.lines.iter().enumerate() {
        let _ = write!(
            out,
            r#"<li title="{help}"><span class="key s{i}"></span>{name} <span class="muted">{range}</span></li>"#,
            help = escape(line.help),
            name = escape(&line.name),
            range = escape(&line_range(line, chart.unit)),
        );
    }
    out.push_str("</ul><output></output>");
}

/// The line as polylines broken at gaps, in a group carrying its points'
/// times (s after the axis start) and values for the hover script.
fn draw_line(out: &mut String, scale: &Scale, gap_ms: i64, index: usize, line: &Line) {
    let mut times = String::new();
    let mut values = String::new();
    for (t, v) in &line.points {
        let _ = write!(times, "{} ", (t - scale.from_ms) / 1000);
        let _ = write!(values, "{} ", Value::round(*v));
    }
    let _ = write!(
        out,
        r#"<g class="line s{index}" data-name="{}" data-t="{}" data-v="{}">"#,
        escape(&line.name),
        times.trim_end(),
        values.trim_end()
    );
    for run in split_at_gaps(&line.points, gap_ms) {
        if let [(t, v)] = run {
            let _ = write!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="1.5"/>"#, scale.x(*t), scale.y(*v));
            continue;
        }
        out.push_str("<polyline points=\"");
        for (t, v) in run {
            let _ = write!(out, "{:.1},{:.1} ", scale.x(*t), scale.y(*v));
        }
        out.push_str("\"/>");
    }
    for (from, to) in failure_spans(&line.failures, gap_ms) {
        let (x0, x1) = (scale.x(from), scale.x(to));
        let _ = write!(
            out,
            r#"<rect class="failed" x="{x0:.1}" y="{}" width="{:.1}" height="4"><title>{} failed {} to {}</title></rect>"#,
            BOTTOM - 4.0,
            (x1 - x0).max(2.0),
            escape(&line.name),
            format_ms_clock(from),
            format_ms_clock(to)
        );
    }
    out.push_str("</g>");
}

/// Runs of points no further apart than `gap_ms`.
fn split_at_gaps(points: &[(i64, f64)], gap_ms: i64) -> impl Iterator<Item = &[(i64, f64)]> {
    points.chunk_by(move |a, b| b.0 - a.0 <= gap_ms)
}

/// Failures close together as one span.
fn failure_spans(failures: &[i64], gap_ms: i64) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for &t in failures {
        match spans.last_mut() {
            Some(span) if t - span.1 <= gap_ms => span.1 = t,
            _ => spans.push((t, t)),
        }
    }
    spans
}

/// From zero (or the lowest value below it) to a round number above the
/// highest.
fn value_range(lines: &[Line]) -> (f64, f64) {
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (low, high) = values.fold((0.0_f64, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let high = if high <= low { low + 1.0 } else { round_up(high) };
    (low, high)
}

/// 1, 2 or 5 times a power of ten, at or above `v`.
fn round_up(v: f64) -> f64 {
    let power = 10_f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|c| *c >= v).unwrap_or(v)
}

fn y_grid(out: &mut String, scale: &Scale, unit: Unit) {
    for step in 0..=2 {
        let value = scale.low + (scale.high - scale.low) * f64::from(step) / 2.0;
        let y = scale.y(value);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{RIGHT}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            y + 4.0,
            escape(&tick_label(value, unit))
        );
    }
}

/// Ticks at round local times, at most about eight.
fn time_axis(out: &mut String, scale: &Scale) {
    const STEPS_S: [i64; 15] =
        [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
    let span = scale.to_ms - scale.from_ms;
    let step = STEPS_S.iter().map(|s| s * 1000).find(|s| span / s <= 8).unwrap_or(86_400_000);
    // Seconds only where the ticks fall between minutes.
    let chars = if step < 60_000 { 8 } else { 5 };
    let offset = local_offset_ms(scale.from_ms);
    let mut t = (scale.from_ms + offset).div_euclid(step) * step - offset;
    while t <= scale.to_ms {
        if t >= scale.from_ms {
            let x = scale.x(t);
            let clock: String = format_ms_clock(t).chars().take(chars).collect();
            let _ = write!(
                out,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{BOTTOM}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{clock}</text>"#,
                BOTTOM + 14.0
            );
        }
        t += step;
    }
}

/// The local time zone's offset from UTC at `ms`.
fn local_offset_ms(ms: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    chrono::Local
        .timestamp_millis_opt(ms)
        .single()
        .map_or(0, |t| t.offset().fix().local_minus_utc() as i64 * 1000)
}

fn tick_label(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{value:.0}%"),
        Unit::Milliseconds if value < 10.0 => format!("{value:.1}ms"),
        Unit::Milliseconds if value < 1000.0 => format!("{value:.0}ms"),
        Unit::Plain | Unit::Count if value.fract() != 0.0 => format!("{value:.1}"),
        Unit::Plain | Unit::Count => format!("{value:.0}"),
        _ => human(&Value::Real(value), unit),
    }
}

/// "0.4 – 38": the line's lowest and highest, for the legend.
fn line_range(line: &Line, unit: Unit) -> String {
    let values = line.points.iter().map(|p| p.1);
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let say = |v: f64| human(&Value::Real(Value::round(v)), unit);
    let failed =
        if line.failures.is_empty() { String::new() } else { format!(", {} failed", line.failures.len()) };
    format!("{} – {}{failed}", say(low), say(high))
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Bytes => "bytes",
        Unit::Percent => "percent",
        Unit::Milliseconds => "ms",
        _ => "number",
    }
}

pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_where_samples_are_missing() {
        let points = [(0, 1.0), (1000, 2.0), (30_000, 3.0), (31_000, 4.0)];
        let runs: Vec<_> = split_at_gaps(&points, 3000).collect();
        assert_eq!(runs, [&points[..2], &points[2..]]);
        assert_eq!(failure_spans(&[0, 1000, 2000, 60_000], 3000), [(0, 2000), (60_000, 60_000)]);
    }

    #[test]
    fn value_axis_ends_at_a_round_number() {
        assert_eq!(round_up(38.0), 50.0);
        assert_eq!(round_up(0.4), 0.5);
        assert_eq!(round_up(100.0), 100.0);
    }
}
