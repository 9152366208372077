//! Rows for tools and for people, drawn from the catalogue: CSV and JSON
//! lines carry raw numbers (JSON numbers, not strings; CSV text quoted),
//! text tables show values with their unit (`1.2 GiB`, `37.5%`).

use crate::model::catalogue::{Field, Unit, Value};
use crate::model::human::{bytes, format_duration_ms, format_ms_local};
use std::io::{self, Write};

/// Output formats for rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Writes rows one at a time, so exports stream in constant memory. Each
/// row is given with its field list (the one the header came from), so rows
/// may borrow from data that lives only while they are written.
pub struct RowWriter<'a> {
    csv: Option<csv::Writer<Box<dyn Write + 'a>>>,
    out: Option<Box<dyn Write + 'a>>,
}

impl<'a> RowWriter<'a> {
    /// Starts the output (the CSV header line).
    pub fn new<T>(fields: &[Field<T>], format: Format, out: Box<dyn Write + 'a>) -> io::Result<Self> {
        let mut writer = RowWriter { csv: None, out: None };
        match format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(fields.iter().map(|f| f.name)).map_err(csv_io)?;
                writer.csv = Some(csv);
            }
            Format::Jsonl => writer.out = Some(out),
        }
        Ok(writer)
    }

    pub fn row<T>(&mut self, fields: &[Field<T>], row: &T) -> io::Result<()> {
        if let Some(csv) = &mut self.csv {
            let cells = fields.iter().map(|f| csv_cell((f.get)(row)));
            return csv.write_record(cells).map_err(csv_io);
        }
        let out = self.out.as_mut().expect("jsonl output");
        let mut object = serde_json::Map::with_capacity(fields.len());
        for field in fields {
            object.insert(field.name.to_string(), (field.get)(row).to_json());
        }
        serde_json::to_writer(&mut *out, &object)?;
        out.write_all(b"\n")
    }

    pub fn finish(self) -> io::Result<()> {
        match (self.csv, self.out) {
            (Some(mut csv), _) => csv.flush(),
            (_, Some(mut out)) => out.flush(),
            _ => Ok(()),
        }
    }
}

/// The I/O error inside a CSV error, so that a closed pipe is seen as one
/// (`flightrec export | head` ends quietly).
fn csv_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn csv_cell(value: Value) -> String {
    match value {
        Value::Int(v) => v.to_string(),
        Value::Real(v) => Value::round(v).to_string(),
        Value::Text(v) => v,
        Value::Null => String::new(),
    }
}

/// A value for people: `1.2 GiB`, `37.5%`, `12`, `40s`; `-` where missing.
pub fn human(value: &Value, unit: Unit) -> String {
    match (value, unit) {
        (Value::Null, _) => "-".into(),
        (Value::Text(t), _) => t.clone(),
        (Value::Int(v), Unit::Bytes) => bytes(*v as f64),
        (Value::Real(v), Unit::Bytes) => bytes(*v),
        (Value::Int(v), Unit::Percent) => format!("{v}%"),
        (Value::Real(v), Unit::Percent) => format!("{v:.1}%"),
        (Value::Int(v), Unit::Milliseconds) => format_duration_ms(*v),
        (Value::Real(v), Unit::Milliseconds) => format_duration_ms(*v as i64),
        (Value::Int(v), Unit::Microseconds) => format_duration_ms(*v / 1000),
        (Value::Real(v), Unit::Microseconds) => format_duration_ms(*v as i64 / 1000),
        (Value::Int(v), Unit::Time) => format_ms_local(*v),
        (Value::Real(v), Unit::Time) => format_ms_local(*v as i64),
        (Value::Int(v), Unit::Plain | Unit::Count) => v.to_string(),
        (Value::Real(v), Unit::Plain | Unit::Count) => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalogue::{gauge, label};

    struct Row {
        name: &'static str,
        size: u64,
        pct: Option<f64>,
    }

    const FIELDS: &[Field<Row>] = &[
        label("name", "a name", |r| Value::Text(r.name.into())),
        gauge("size", Unit::Bytes, "a size", |r| Value::Int(r.size as i64)),
        gauge("pct", Unit::Percent, "a share", |r| r.pct.into()),
    ];

    fn render(format: Format) -> String {
        let mut buf = Vec::new();
        let mut w = RowWriter::new(FIELDS, format, Box::new(&mut buf)).unwrap();
        w.row(FIELDS, &Row { name: "a, \"quoted\"", size: 1536, pct: Some(12.34567) }).unwrap();
        w.row(FIELDS, &Row { name: "b", size: 0, pct: None }).unwrap();
        w.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn csv_quotes_text_and_leaves_nulls_empty() {
        assert_eq!(render(Format::Csv), "name,size,pct\n\"a, \"\"quoted\"\"\",1536,12.346\nb,0,\n");
    }

    #[test]
    fn jsonl_has_numbers_not_strings() {
        let text = render(Format::Jsonl);
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["size"], 1536);
        assert_eq!(lines[0]["pct"], 12.346);
        assert!(lines[1]["pct"].is_null());
    }

    #[test]
    fn human_units() {
        assert_eq!(human(&Value::Int(1536), Unit::Bytes), "1.5 KiB");
        assert_eq!(human(&Value::Real(37.54), Unit::Percent), "37.5%");
        assert_eq!(human(&Value::Null, Unit::Plain), "-");
        assert_eq!(human(&Value::Int(40_000), Unit::Milliseconds), "40s");
    }

    /// Writes one row of `fields` in every format and checks each carries
    /// every column, named as the catalogue names it.
    fn carries_every_column<T>(fields: &[Field<T>], row: &T) {
        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
        let mut seen = std::collections::HashSet::new();
        for field in fields {
            assert!(seen.insert(field.name), "{} is listed twice", field.name);
            assert!(!field.help.is_empty(), "{} has no help", field.name);
            if let crate::model::catalogue::Kind::Rate { counter } = field.kind {
                assert!(!counter.is_empty(), "{} names no counter", field.name);
            }
        }
        let write = |format| {
            let mut buf = Vec::new();
            let mut w = RowWriter::new(fields, format, Box::new(&mut buf)).unwrap();
            w.row(fields, row).unwrap();
            w.finish().unwrap();
            String::from_utf8(buf).unwrap()
        };
        let csv = write(Format::Csv);
        assert_eq!(csv.lines().next().unwrap().split(',').collect::<Vec<_>>(), names);
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(write(Format::Jsonl).trim_end()).unwrap();
        assert_eq!(
            json.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(),
            names.iter().copied().collect()
        );
        for field in fields {
            human(&(field.get)(row), field.unit);
        }
    }

    #[test]
    fn every_format_carries_every_column_of_the_catalogue() {
        use crate::model::catalogue::*;
        use crate::model::sample::*;
        use crate::model::{Event, StoredSample};
        let stored = StoredSample { id: 1, run_id: 1, sample: Sample::default(), missing: Vec::new() };
        carries_every_column(SYSTEM, &SystemRow::new(None, &stored));
        carries_every_column(PROCESSES, &ProcessRow::new(0, &Process::default(), None, Some(0), 100.0));
        carries_every_column(SOCKETS, &(0, PortSockets::default()));
        carries_every_column(FILESYSTEMS, &(0, Filesystem::default()));
        let disk = crate::model::sample::Disk { name: "sda".into(), ..Default::default() };
        carries_every_column(DISKS, &DiskRow { time_ms: 0, disk, rates: None });
        carries_every_column(
            NET,
            &NetRow { time_ms: 0, name: "total".into(), counters: None, rates: None, totals: None },
        );
        carries_every_column(PROBES, &(0, ProbeResult::default()));
        carries_every_column(DIRS, &(0, WatchedDir::default()));
        let log = LogRow { time_ms: 0, log: WatchedLog::default(), rates: None, template: None };
        carries_every_column(LOGS, &log);
        carries_every_column(EVENTS, &Event::note(0, "disk-full", String::new()));
    }
}
