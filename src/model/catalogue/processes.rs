//! One row per process per sample (`export --what processes`), and the
//! process tables of `show` and `report`.

use super::{Field, Kind, Raw, Stamped, Unit, Value, gauge, label, rate, ticks_ms, time, time_ms, with_raw};
use crate::model::rates::ProcessRates;
use crate::model::sample::{Process, Sample};
use std::collections::HashMap;

/// The unit of each cgroup of `sample`, by `CgroupStats::id`: what a
/// process's `cgroup` names.
pub fn process_units(sample: &Sample) -> HashMap<u32, String> {
    let list = sample.cgroups.iter().flatten();
    list.map(|c| (c.id, crate::model::unit_name(&c.path))).collect()
}

/// A process at one sample, with its rates over the interval before it
/// (none for a process new in this sample).
#[derive(Debug, Clone)]
pub struct ProcessRow {
    pub time_ms: i64,
    pub process: Process,
    pub rates: Option<ProcessRates>,
    /// When the process started, where the boot time is known.
    pub started_ms: Option<i64>,
    /// The service or container it runs in (`CgroupStats::unit`), where known.
    pub unit: Option<String>,
}

impl ProcessRow {
    /// `boot_time_ms` is the boot of the run the sample belongs to;
    /// `ticks_per_s` the unit of the process's start time.
    pub fn new(
        time_ms: i64,
        process: &Process,
        rates: Option<ProcessRates>,
        boot_time_ms: Option<i64>,
        ticks_per_s: f64,
    ) -> Self {
        let started_ms =
            boot_time_ms.map(|boot| boot + (process.start_ticks as f64 * 1000.0 / ticks_per_s) as i64);
        ProcessRow { time_ms, process: process.clone(), rates, started_ms, unit: None }
    }

    /// The row with the unit of its process, from `units`.
    pub fn with_unit(mut self, units: &HashMap<u32, String>) -> Self {
        self.unit = units.get(&self.process.cgroup).cloned();
        self
    }

    fn rate(&self, part: fn(&ProcessRates) -> f64) -> Value {
        self.rates.as_ref().map(part).into()
    }
}

use Unit::{Bytes, Count, Milliseconds, Percent};

#[rustfmt::skip]
pub const PROCESSES: &[Field<ProcessRow>] = &[
    time(),
    time_ms(),
    label("pid", "process id", |r| Value::Int(r.process.pid.into())),
    label("ppid", "parent's process id", |r| Value::Int(r.process.ppid.into())),
    label("uid", "effective user id of the main thread", |r| Value::Int(r.process.uid.into())),
    label("comm", "command name (at most 15 bytes)", |r| Value::Text(r.process.comm.to_string())),
    label("identity", "what a person calls the process: argv[0], or the script or jar of an interpreter, else comm", |r| Value::Text(r.process.identity().into_owned())),
    label("state", "R running, S sleeping, D uninterruptible, Z zombie, T stopped, ...", |r| Value::Text(r.process.state.to_string())),
    gauge("threads", Count, "threads of the process", |r| Value::Int(r.process.threads.into())),
    with_raw(rate("cpu_pct", Percent, "utime_ticks+stime_ticks", "CPU used over the interval, % of one CPU (from clock ticks: about ±1 point at 1 s, ±0.2 at 5 s)", |r| r.rate(ProcessRates::cpu)), Raw { unit: Milliseconds, help: "CPU time used since the process started", get: |r| ticks_ms(r.process.utime_ticks + r.process.stime_ticks) }),
    with_raw(rate("cpu_user_pct", Percent, "utime_ticks", "CPU used in user mode, % of one CPU", |r| r.rate(|p| p.cpu_user)), Raw { unit: Milliseconds, help: "CPU time used in user mode since the process started", get: |r| ticks_ms(r.process.utime_ticks) }),
    with_raw(rate("cpu_system_pct", Percent, "stime_ticks", "CPU used in the kernel, % of one CPU", |r| r.rate(|p| p.cpu_system)), Raw { unit: Milliseconds, help: "CPU time used in the kernel since the process started", get: |r| ticks_ms(r.process.stime_ticks) }),
    gauge("rss", Bytes, "resident memory: the kernel's counter in /proc/PID/stat, batched per CPU on 6.2+, within a few dozen pages of VmRSS", |r| Value::Int(r.process.rss_bytes as i64)),
    gauge("vsize", Bytes, "virtual memory", |r| Value::Int(r.process.vsize_bytes as i64)),
    gauge("swap", Bytes, "memory swapped out (VmSwap), read again when the process ran or its RSS changed", |r| Value::Int(r.process.swap_bytes as i64)),
    with_raw(rate("minor_faults_per_s", Count, "minor_faults", "page faults served from memory, per second", |r| r.rate(|p| p.minor_faults)), Raw { unit: Count, help: "page faults served from memory since the process started", get: |r| Value::Int(r.process.minor_faults as i64) }),
    with_raw(rate("major_faults_per_s", Count, "major_faults", "page faults that read from disk, per second", |r| r.rate(|p| p.major_faults)), Raw { unit: Count, help: "page faults that read from disk since the process started", get: |r| Value::Int(r.process.major_faults as i64) }),
    gauge("fds", Count, "open file descriptors as of the sample, counted again whenever a thread of the process may have run", |r| r.process.fds.map(u64::from).into()),
    with_raw(rate("read_bytes_per_s", Bytes, "read_bytes", "bytes read from storage per second, from /proc/PID/io between the previous sample and this one (tmpfs never counts; I/O of a process that exits between samples is lost)", |r| r.rates.and_then(|p| p.read_bytes).into()), Raw { unit: Bytes, help: "bytes read from storage since the process started (/proc/PID/io)", get: |r| r.process.read_bytes.into() }),
    with_raw(rate("write_bytes_per_s", Bytes, "write_bytes", "bytes written to storage per second: buffered writes when pages are first dirtied, O_DIRECT when submitted (tmpfs never counts; I/O of a process that exits between samples is lost)", |r| r.rates.and_then(|p| p.write_bytes).into()), Raw { unit: Bytes, help: "bytes written to storage since the process started (/proc/PID/io)", get: |r| r.process.write_bytes.into() }),
    label("start_ticks", "start time in clock ticks after boot: with pid, the process's identity", |r| Value::Int(r.process.start_ticks as i64)),
    label("cmdline", "arguments joined by spaces, secrets masked", |r| Value::Text(r.process.cmdline.to_string())),
    Field { name: "started_ms", unit: Unit::Time, kind: Kind::Label, help: "when the process started, ms since the epoch", get: |r| r.started_ms.into(), raw: None },
    label("unit", "the service or container it runs in (its cgroup), e.g. postfix.service; empty when not known", |r| Value::Text(r.unit.clone().unwrap_or_default())),
];

/// A process in the report's JSON, under the names its documented shape
/// gave them before the catalogue: (key, catalogue column).
const REPORT_JSON: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("uid", "uid"),
    ("comm", "comm"),
    ("state", "state"),
    ("cpu_pct", "cpu_pct"),
    ("rss_bytes", "rss"),
    ("threads", "threads"),
    ("fds", "fds"),
    ("cmdline", "cmdline"),
];

/// Serializes processes as the report's JSON shows them.
pub fn serialize_report_processes<S: serde::Serializer>(
    rows: &[ProcessRow],
    to: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = to.serialize_seq(Some(rows.len()))?;
    for row in rows {
        let object: serde_json::Map<String, serde_json::Value> = REPORT_JSON
            .iter()
            .map(|(key, column)| {
                let field = super::find(PROCESSES, column).expect("report columns are in the catalogue");
                (key.to_string(), (field.get)(row).to_json())
            })
            .collect();
        seq.serialize_element(&object)?;
    }
    seq.end()
}

impl Stamped for ProcessRow {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}
