//! `report --format html`: one self-contained page, made to be mailed and
//! opened years later with no network. Top to bottom: the header (host,
//! boot, run, period, window, time zone), the findings linking to their
//! charts, the charts on one time axis (`svg`), the top processes at the
//! last sample and the timeline table. Styles and the hover script are
//! inline; a Content-Security-Policy forbids any request, so a page that
//! tried one would show it in the browser's console. Everything taken from
//! the machine (command names and lines, paths, log lines) is escaped.

mod svg;

use super::text::{UserNames, process_table, timeline_table};
use crate::analyze::charts::Charts;
use crate::analyze::periods::Period;
use crate::analyze::report::Report;
use crate::model::Run;
use crate::model::human::{format_duration_ms, format_ms_clock, format_ms_local};
use std::fmt::Write as _;
use std::io::{self, Write};
use svg::{Band, severity_name};

/// Columns of the text tables the page shows in `<pre>`: wider than a
/// console, as a page scrolls sideways where a terminal would cut.
const TABLE_WIDTH: u16 = 160;

const STYLE: &str = include_str!("page.css");
const HOVER: &str = include_str!("hover.js");

/// What the page needs besides the report: the charts' data and the run
/// the window belongs to (host, kernel, boot).
pub struct Page<'a> {
    pub report: &'a Report,
    pub charts: &'a Charts,
    pub run: Option<&'a Run>,
    pub now_ms: i64,
}

pub fn page(page: &Page, out: &mut dyn Write) -> io::Result<()> {
    let mut html = String::with_capacity(256 * 1024);
    let host = page.run.map_or("unknown host", |r| r.hostname.as_str());
    let tz_offset_min = chrono::Local::now().offset().local_minus_utc() / 60;
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>flightrec report: {}</title><style>{STYLE}</style></head>\n<body data-tz-offset-min=\"{tz_offset_min}\">\n",
        escape(host)
    );
    header(&mut html, page, host);
    findings(&mut html, page.report);
    charts(&mut html, page);
    tables(&mut html, page.report);
    let _ = write!(html, "<script>{HOVER}</script>\n</body></html>\n");
    out.write_all(html.as_bytes())
}

fn header(html: &mut String, page: &Page, host: &str) {
    let report = page.report;
    let _ = write!(
        html,
        "<header><h1>flightrec report: {}</h1><p class=\"headline\">{}</p><dl class=\"facts\">",
        escape(host),
        escape(&report.headline)
    );
    let mut fact = |name: &str, value: String| {
        let _ = write!(html, "<dt>{name}</dt><dd>{}</dd>", escape(&value));
    };
    if let Some(run) = page.run {
        fact("kernel", run.kernel.clone());
        fact("boot", format!("{} (booted {})", run.boot_id, format_ms_local(run.boot_time_ms)));
        fact(
            "run",
            format!(
                "{} (flightrec {}, every {}, since {})",
                run.id,
                run.version,
                format_duration_ms(run.interval_ms),
                format_ms_local(run.start_ms)
            ),
        );
    }
    if let Some(p) = &report.period {
        let (kind, start, end, length) = period_facts(p, page.now_ms);
        fact("period", format!("{kind}: {start} → {end} ({length})"));
    }
    let w = &report.window;
    fact(
        "window",
        format!(
            "{} → {} ({}), {} samples of the {} expected",
            format_ms_local(w.from_ms),
            format_ms_clock(w.to_ms),
            format_duration_ms(w.to_ms - w.from_ms),
            w.samples,
            w.expected_samples
        ),
    );
    fact("time zone", chrono::Local::now().format("%Z (UTC%:z)").to_string());
    html.push_str("</dl></header>\n");
}

/// The period as the page says it: kind, last sample, when it answered
/// again, length. The one place the page reads a period's fields.
fn period_facts(p: &Period, now_ms: i64) -> (&'static str, String, String, String) {
    let end = p.end_ms.map_or("(still silent)".to_string(), format_ms_local);
    (p.kind.describe(), format_ms_local(p.start_ms), end, format_duration_ms(p.length_ms(now_ms)))
}

/// The band the charts shade: the period, cut at the axis's end.
fn band(page: &Page) -> Option<Band> {
    let p = page.report.period.as_ref()?;
    let to_ms = p.end_ms.unwrap_or(page.now_ms).min(page.charts.to_ms);
    let label =
        format!("{} {}", p.kind.name().replace('_', " "), format_duration_ms(p.length_ms(page.now_ms)));
    Some(Band { from_ms: p.start_ms, to_ms, label })
}

fn findings(html: &mut String, report: &Report) {
    html.push_str("<section id=\"findings\"><h2>Findings, most important first</h2>");
    if report.findings.is_empty() {
        html.push_str("<p>Nothing abnormal found in the window.</p></section>\n");
        return;
    }
    html.push_str("<ol class=\"findings\">");
    for (i, f) in report.findings.iter().enumerate() {
        let number = i + 1;
        let severity = severity_name(f.severity);
        let summary = escape(&f.summary);
        let text = match crate::analyze::charts::chart_of(f) {
            Some(chart) => format!("<a href=\"#chart-{chart}\">{summary}</a>"),
            None => summary,
        };
        let time =
            f.first_seen_ms.map_or(String::new(), |t| format!("<time>since {}</time>", format_ms_clock(t)));
        let _ = write!(
            html,
            "<li id=\"finding-{number}\" data-kind=\"{}\" data-subject=\"{}\"><span class=\"sev sev-{severity}\">{}</span> {text}{time}</li>",
            escape(f.kind),
            escape(&f.subject),
            severity.to_uppercase()
        );
    }
    html.push_str("</ol></section>\n");
}

fn charts(html: &mut String, page: &Page) {
    let charts = page.charts;
    html.push_str("<section id=\"charts\"><h2>Charts</h2>");
    if page.report.period.is_some() {
        html.push_str(
            "<p class=\"muted\">The shaded band is the unresponsive period; numbered marks are the findings above, at their first time.</p>",
        );
    }
    let band = band(page);
    for chart in &charts.charts {
        let _ = write!(
            html,
            "<figure id=\"chart-{}\"><figcaption>{}</figcaption>",
            chart.id,
            escape(chart.title)
        );
        svg::chart(html, charts, chart, band.as_ref());
        html.push_str("</figure>\n");
    }
    if !charts.left_out.is_empty() {
        let said: Vec<String> =
            charts.left_out.iter().map(|(title, why)| format!("{} ({why})", escape(title))).collect();
        let _ = write!(html, "<p class=\"muted\" id=\"left-out\">Not drawn: {}.</p>", said.join(", "));
    }
    html.push_str("</section>\n");
}

fn tables(html: &mut String, report: &Report) {
    if let Some(last) = &report.last_sample {
        let mut users = UserNames::default();
        let _ = writeln!(
            html,
            "<section id=\"processes\"><h2>Top processes at the last sample ({})</h2><h3>By CPU</h3><pre>{}</pre><h3>By memory (RSS)</h3><pre>{}</pre></section>",
            format_ms_clock(last.time_ms),
            escape(&process_table(&last.top_cpu, &mut users, TABLE_WIDTH).to_string()),
            escape(&process_table(&last.top_memory, &mut users, TABLE_WIDTH).to_string()),
        );
    }
    if !report.timeline.is_empty() {
        let _ = writeln!(
            html,
            "<section id=\"timeline\"><h2>Timeline, per minute (worst value in each minute)</h2><pre>{}</pre></section>",
            escape(&timeline_table(&report.timeline, TABLE_WIDTH).to_string())
        );
    }
}

/// Text as HTML text or attribute value: nothing in it can open a tag or
/// end an attribute.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_text() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("a \"b\" & </svg>"), "a &quot;b&quot; &amp; &lt;/svg&gt;");
    }
}
