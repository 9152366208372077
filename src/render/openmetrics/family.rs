//! Metric families from catalogue columns: the name (`flightrec_` prefix,
//! base unit suffix), the type, unit and help lines, and sample lines with
//! their values in base units (seconds, bytes, ratios 0–1). Two dialects:
//! OpenMetrics (timestamps, `# UNIT`, counters named without `_total`,
//! `# EOF`) for exports, and the Prometheus text format node_exporter's
//! textfile collector reads (no timestamps, every name as its samples).

use crate::model::catalogue::{Field, Kind, Unit, Value};
use std::fmt::Write as _;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenMetrics,
    Prometheus,
}

/// What a column becomes: its family's names and how to scale its values.
#[derive(Debug, Clone)]
pub struct Metric {
    /// The family (`# TYPE` line) name.
    pub family: String,
    /// The name on each sample line (`_total` added for counters).
    pub sample: String,
    pub counter: bool,
    /// The base unit the family name ends with, for `# UNIT`.
    pub unit: Option<&'static str>,
    pub help: String,
    /// Multiplier from the catalogue's unit to the base unit.
    scale: f64,
}

/// How a metric's value is read from a row.
pub type Getter<T> = fn(&T) -> Value;

/// Label columns that are never labels: the time (each sample has its
/// timestamp), the run (a restart would start new series), and free text
/// that can hold secrets or make a series per line.
const NOT_LABELS: &[&str] = &["time", "time_ms", "run", "cmdline", "detail", "example"];

/// Whether a label column becomes a label of the metric.
pub fn is_label<T>(field: &Field<T>) -> bool {
    field.kind == Kind::Label && field.unit != Unit::Time && !NOT_LABELS.contains(&field.name)
}

impl Metric {
    /// The metric of a column, with `group` (e.g. `sockets`) after the
    /// prefix, and how to get its value from a row; `None` for labels. A
    /// rate with its raw counter is exported as that counter (`rate()`
    /// gives the rate back), named as the rate without `_per_s`, `_pct` or
    /// `_ms`: `cpu_user_pct` is `flightrec_cpu_user_seconds_total`. Other
    /// rates stay gauges of the rate.
    pub fn of<T>(group: &str, field: &Field<T>) -> Option<(Metric, Getter<T>)> {
        match &field.raw {
            Some(raw) => {
                let name =
                    field.name.trim_end_matches("_per_s").trim_end_matches("_pct").trim_end_matches("_ms");
                Some((Metric::named(group, name, raw.unit, Kind::Counter, raw.help)?, raw.get))
            }
            None => Some((Metric::named(group, field.name, field.unit, field.kind, field.help)?, field.get)),
        }
    }

    pub fn named(group: &str, name: &str, unit: Unit, kind: Kind, help: &str) -> Option<Metric> {
        if kind == Kind::Label {
            return None;
        }
        let (base, per_second) = match name.strip_suffix("_per_s") {
            Some(base) => (base, true),
            None => (name.trim_end_matches("_pct").trim_end_matches("_ms").trim_end_matches("_us"), false),
        };
        let (suffix, scale) = match unit {
            Unit::Bytes => (Some("bytes"), 1.0),
            Unit::Percent => (Some("ratio"), 0.01),
            Unit::Milliseconds | Unit::Time => (Some("seconds"), 1e-3),
            Unit::Microseconds => (Some("seconds"), 1e-6),
            Unit::Plain | Unit::Count => (None, 1.0),
        };
        // `_count` ends a summary's samples: a column counting the rows
        // themselves is named by its group alone (`flightrec_sockets`).
        let base = if base == "count" && !group.is_empty() { "" } else { base };
        let mut words: Vec<&str> = base.split('_').filter(|w| !w.is_empty() && Some(*w) != suffix).collect();
        let unit = match (suffix, per_second) {
            // A rate of bytes is not a base unit: `read_bytes_per_second`.
            (Some(unit), true) => {
                words.push(unit);
                words.push("per_second");
                None
            }
            (None, true) => {
                words.push("per_second");
                None
            }
            (Some(unit), false) => {
                words.push(unit);
                Some(unit)
            }
            (None, false) => None,
        };
        let mut family = String::from("flightrec");
        for word in std::iter::once(group).chain(words).filter(|w| !w.is_empty()) {
            family.push('_');
            family.push_str(word);
        }
        let counter = kind == Kind::Counter;
        let sample = if counter { format!("{family}_total") } else { family.clone() };
        Some(Metric { family, sample, counter, unit, help: help.to_string(), scale })
    }

    /// The `# TYPE`, `# UNIT` and `# HELP` lines.
    pub fn header(&self, dialect: Dialect, out: &mut impl Write) -> io::Result<()> {
        let kind = if self.counter { "counter" } else { "gauge" };
        let name = match dialect {
            Dialect::OpenMetrics => &self.family,
            Dialect::Prometheus => &self.sample,
        };
        writeln!(out, "# TYPE {name} {kind}")?;
        if let (Some(unit), Dialect::OpenMetrics) = (self.unit, dialect) {
            writeln!(out, "# UNIT {name} {unit}")?;
        }
        writeln!(out, "# HELP {name} {}", escape_help(&self.help))
    }

    /// One sample line; nothing (and `false`) for a missing or non-numeric
    /// value.
    /// `labels` is `{...}` as `Labels` builds it; `time_ms` is written (as
    /// seconds) where given.
    pub fn line(
        &self,
        labels: &str,
        value: &Value,
        time_ms: Option<i64>,
        out: &mut impl Write,
    ) -> io::Result<bool> {
        let number = match *value {
            Value::Int(v) if self.scale == 1.0 => Number::Int(v),
            Value::Int(v) => Number::Real(v as f64 * self.scale),
            Value::Real(v) => Number::Real(v * self.scale),
            Value::Text(_) | Value::Null => return Ok(false),
        };
        out.write_all(self.sample.as_bytes())?;
        out.write_all(labels.as_bytes())?;
        out.write_all(b" ")?;
        match number {
            Number::Int(v) => write!(out, "{v}")?,
            Number::Real(v) if v.is_nan() => out.write_all(b"NaN")?,
            Number::Real(v) if v.is_infinite() => out.write_all(if v > 0.0 { b"+Inf" } else { b"-Inf" })?,
            // Rounded as the other formats round, in the base unit.
            Number::Real(v) => write!(out, "{}", (v * 1e6).round() / 1e6)?,
        }
        match time_ms {
            Some(ms) => writeln!(out, " {}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))?,
            None => out.write_all(b"\n")?,
        }
        Ok(true)
    }
}

enum Number {
    Int(i64),
    Real(f64),
}

/// A label set, `{host="mail",port="25"}`, with values escaped.
#[derive(Default)]
pub struct Labels(String);

impl Labels {
    pub fn new() -> Self {
        Labels(String::new())
    }

    pub fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "{name}=\"{}\"", escape_label(value));
        self
    }

    /// A label from a column's value, as text; none for an empty value,
    /// which Prometheus takes as no label.
    pub fn add_value(&mut self, name: &str, value: &Value) -> &mut Self {
        let text = match value {
            Value::Int(v) => v.to_string(),
            Value::Real(v) => v.to_string(),
            Value::Text(t) => t.clone(),
            Value::Null => String::new(),
        };
        if text.is_empty() {
            return self;
        }
        self.add(name, &text)
    }

    pub fn finish(mut self) -> String {
        if !self.0.is_empty() {
            self.0.push('}');
        }
        self.0
    }
}

/// Backslash, double quote and line feed are the characters a label value
/// must escape; anything else (a command name can hold anything) stays.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(field: &str, unit: Unit, kind: Kind) -> String {
        Metric::named("g", field, unit, kind, "h").unwrap().sample
    }

    #[test]
    fn names_end_in_base_units() {
        assert_eq!(name("mem_available", Unit::Bytes, Kind::Gauge), "flightrec_g_mem_available_bytes");
        assert_eq!(name("lateness_ms", Unit::Milliseconds, Kind::Gauge), "flightrec_g_lateness_seconds");
        assert_eq!(name("used_pct", Unit::Percent, Kind::Gauge), "flightrec_g_used_ratio");
        assert_eq!(name("bytes", Unit::Bytes, Kind::Gauge), "flightrec_g_bytes");
        assert_eq!(name("bytes_written", Unit::Bytes, Kind::Counter), "flightrec_g_written_bytes_total");
        let rate = Kind::Rate { counter: "x" };
        assert_eq!(name("read_bytes_per_s", Unit::Bytes, rate), "flightrec_g_read_bytes_per_second");
        assert_eq!(name("cpu_busy_pct", Unit::Percent, rate), "flightrec_g_cpu_busy_ratio");
        assert_eq!(name("count", Unit::Count, Kind::Gauge), "flightrec_g");
    }

    #[test]
    fn a_rate_with_its_raw_counter_goes_out_as_that_counter_in_base_units() {
        use crate::model::catalogue::{SYSTEM, find};
        let (user, _) = Metric::of("", find(SYSTEM, "cpu_user_pct").unwrap()).unwrap();
        assert_eq!(
            (user.family.as_str(), user.sample.as_str()),
            ("flightrec_cpu_user_seconds", "flightrec_cpu_user_seconds_total")
        );
        assert_eq!((user.counter, user.unit), (true, Some("seconds")));
        let (switches, _) = Metric::of("", find(SYSTEM, "context_switches_per_s").unwrap()).unwrap();
        assert_eq!(switches.sample, "flightrec_context_switches_total");
        assert!(switches.counter);
        let mut out = Vec::new();
        user.line("", &Value::Real(1250.0), Some(0), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "flightrec_cpu_user_seconds_total 1.25 0.000\n");
        let (load, _) = Metric::of("", find(SYSTEM, "load1").unwrap()).unwrap();
        assert!(!load.counter, "gauges stay gauges");
    }

    #[test]
    fn values_are_scaled_and_stamped_in_seconds() {
        let metric = Metric::named("", "lateness_ms", Unit::Milliseconds, Kind::Gauge, "h").unwrap();
        let mut out = Vec::new();
        metric.line("", &Value::Int(1500), Some(1_795_370_700_123), &mut out).unwrap();
        metric.line("", &Value::Null, Some(1), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "flightrec_lateness_seconds 1.5 1795370700.123\n");
    }

    #[test]
    fn label_values_escape_quotes_backslashes_and_newlines() {
        let mut labels = Labels::new();
        labels.add("host", "mail").add("identity", "a\"b\\c\nd");
        assert_eq!(labels.finish(), r#"{host="mail",identity="a\"b\\c\nd"}"#);
    }
}
