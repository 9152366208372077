//! The column catalogue: every column of every kind of row, defined once
//! with its name (CSV header, JSON key), unit, kind (label, gauge, counter
//! or rate, with the raw counter behind a rate), one line of help, and how
//! to get it from a row. A rate whose raw counter the row can give says so
//! (`Raw`): the metric formats export that counter in the rate's place. Every output format draws on these lists; a new
//! column is one line here and appears in all of them.

mod cgroups;
mod processes;
mod system;
mod tables;
mod timeline;
mod waits;

pub use cgroups::{CGROUPS, CgroupRow, cgroup_rows};
pub use processes::{PROCESSES, ProcessRow, process_units, serialize_report_processes};
pub use system::{SYSTEM, SystemRow};
pub use tables::{
    DIRS, DISKS, DiskRow, EVENTS, FILESYSTEMS, LOGS, LastSeen, LogRow, NET, NetRow, PROBES, SOCKETS,
    disk_rows, log_rows, net_rows, outcome_name, stamped,
};
pub use timeline::{Minute, TIMELINE};
pub use waits::WAITS;

use super::human::format_ms_rfc3339;
use super::{Event, StoredSample};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

impl Value {
    /// A JSON number, string or null.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Value::Int(v) => v.into(),
            Value::Real(v) => {
                serde_json::Number::from_f64(Value::round(v)).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Text(v) => v.into(),
            Value::Null => serde_json::Value::Null,
        }
    }

    /// Rates carry no meaning past three decimals; fewer digits, smaller files.
    pub fn round(v: f64) -> f64 {
        (v * 1000.0).round() / 1000.0
    }
}

impl From<Option<f64>> for Value {
    fn from(value: Option<f64>) -> Self {
        value.map_or(Value::Null, Value::Real)
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        value.map_or(Value::Null, Value::Int)
    }
}

impl From<Option<u64>> for Value {
    fn from(value: Option<u64>) -> Self {
        value.map_or(Value::Null, |v| Value::Int(v as i64))
    }
}

/// What a number counts: text tables show `1.2 GiB` or `40s` from it, the
/// metric formats derive their base unit (`_bytes`, `_seconds`) from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Text, identifiers, load averages: shown as they are.
    Plain,
    /// A number of things.
    Count,
    Bytes,
    Percent,
    Milliseconds,
    Microseconds,
    /// A point in time, ms since the epoch.
    Time,
}

/// How a column behaves over time: what the metric formats need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Names the row (time, pid, mount point): a label, not a metric.
    Label,
    /// A level that goes up and down.
    Gauge,
    /// A raw cumulative count that never decreases within a boot.
    Counter,
    /// Per second over the interval, derived from the named raw counter of
    /// the sample (`Sample` field path).
    Rate { counter: &'static str },
}

pub struct Field<T> {
    pub name: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    /// One line: man page, `# HELP`, tooltip.
    pub help: &'static str,
    pub get: fn(&T) -> Value,
    /// For a rate: the raw counter behind it, where the row has it.
    pub raw: Option<Raw<T>>,
}

/// The raw cumulative counter behind a rate column, as the kernel keeps
/// it (never decreasing within a boot), in `unit`: CPU ticks as
/// milliseconds, sectors as bytes. The metric formats export it as a
/// counter in base units, so that a time-series database's `rate()` over
/// it gives the column back (`cpu_pct` is 100 × `rate()` of the CPU
/// seconds). CSV and JSON keep the rate.
pub struct Raw<T> {
    pub unit: Unit,
    /// One line, for `# HELP`.
    pub help: &'static str,
    pub get: fn(&T) -> Value,
}

/// `rate` with the raw counter behind it.
pub const fn with_raw<T>(rate: Field<T>, raw: Raw<T>) -> Field<T> {
    Field { raw: Some(raw), ..rate }
}

/// A column that names the row.
pub const fn label<T>(name: &'static str, help: &'static str, get: fn(&T) -> Value) -> Field<T> {
    Field { name, unit: Unit::Plain, kind: Kind::Label, help, get, raw: None }
}

pub const fn gauge<T>(name: &'static str, unit: Unit, help: &'static str, get: fn(&T) -> Value) -> Field<T> {
    Field { name, unit, kind: Kind::Gauge, help, get, raw: None }
}

pub const fn counter<T>(
    name: &'static str,
    unit: Unit,
    help: &'static str,
    get: fn(&T) -> Value,
) -> Field<T> {
    Field { name, unit, kind: Kind::Counter, help, get, raw: None }
}

/// A per-second rate (or a share of the interval) of the raw `counter`;
/// `with_raw` adds the counter itself where the row has it.
pub const fn rate<T>(
    name: &'static str,
    unit: Unit,
    counter: &'static str,
    help: &'static str,
    get: fn(&T) -> Value,
) -> Field<T> {
    Field { name, unit, kind: Kind::Rate { counter }, help, get, raw: None }
}

/// CPU time in clock ticks (USER_HZ), as milliseconds.
pub fn ticks_ms(ticks: u64) -> Value {
    Value::Real(ticks as f64 * 1000.0 / crate::model::rates::ticks_per_second())
}

/// A row of one sample (or one event): it carries the time twice, as the
/// first two columns of its list.
pub trait Stamped {
    fn time_ms(&self) -> i64;
}

/// The row's time, RFC 3339 UTC: the first column of a stamped list.
pub const fn time<T: Stamped>() -> Field<T> {
    label("time", "time of the sample (of the event, for events), RFC 3339 UTC", |r| {
        Value::Text(format_ms_rfc3339(r.time_ms()))
    })
}

/// The row's time in ms since the epoch: the second column.
pub const fn time_ms<T: Stamped>() -> Field<T> {
    label("time_ms", "the same time, ms since the epoch", |r| Value::Int(r.time_ms()))
}

impl<T> Stamped for (i64, T) {
    fn time_ms(&self) -> i64 {
        self.0
    }
}

impl Stamped for Event {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}

/// The field of `fields` called `name`: for views that show a few columns.
pub fn find<'a, T>(fields: &'a [Field<T>], name: &str) -> Option<&'a Field<T>> {
    fields.iter().find(|f| f.name == name)
}

/// The kinds of rows, one column list each (`export --what`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RowKind {
    System,
    Processes,
    Cgroups,
    Sockets,
    Waits,
    Filesystems,
    Disks,
    Net,
    Probes,
    Dirs,
    Logs,
    Events,
}

/// Where rows come from: the store, over the range of time asked for.
pub trait Source {
    /// Calls `each(previous sample of the same run, sample)` for every
    /// sample, oldest first, with the tables that `what` needs.
    fn pairs(
        &self,
        what: RowKind,
        each: &mut dyn FnMut(Option<&StoredSample>, &StoredSample) -> Result<()>,
    ) -> Result<()>;

    fn events(&self) -> Result<Vec<Event>>;

    /// When the machine booted, for the samples of run `run_id`.
    fn boot_time_ms(&self, run_id: i64) -> Option<i64>;
}
