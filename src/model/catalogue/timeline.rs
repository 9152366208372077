//! The report's timeline: one row per minute of the window with the worst
//! value of each headline number in that minute (`analyze::timeline`
//! computes them).

use super::{Field, Unit, Value, gauge, label};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Minute {
    /// Start of the minute, ms since the epoch.
    pub time_ms: i64,
    /// Time of the first sample in the minute.
    pub first_sample_ms: i64,
    pub samples: usize,
    pub load1: Option<f64>,
    pub cpu_busy_pct: Option<f64>,
    pub mem_available: Option<u64>,
    pub swap_used: Option<u64>,
    pub psi_cpu: Option<f64>,
    pub psi_memory: Option<f64>,
    pub psi_io: Option<f64>,
    pub processes: Option<u64>,
    pub d_state: Option<u64>,
    pub open_files: Option<u64>,
    pub connections: Option<u64>,
    pub fullest_fs_pct: Option<f64>,
    /// The recorder's worst lateness in the minute.
    pub lateness_ms: i64,
}

use Unit::{Bytes, Count, Milliseconds, Percent, Plain};

#[rustfmt::skip]
pub const TIMELINE: &[Field<Minute>] = &[
    label("time_ms", "start of the minute, ms since the epoch", |m| Value::Int(m.time_ms)),
    label("first_sample_ms", "time of the minute's first sample", |m| Value::Int(m.first_sample_ms)),
    gauge("samples", Count, "samples in the minute", |m| Value::Int(m.samples as i64)),
    gauge("load1", Plain, "highest 1-minute load average", |m| m.load1.into()),
    gauge("cpu_busy_pct", Percent, "highest CPU busy, % of all CPUs", |m| m.cpu_busy_pct.into()),
    gauge("mem_available", Bytes, "lowest available memory", |m| m.mem_available.into()),
    gauge("swap_used", Bytes, "most swap in use", |m| m.swap_used.into()),
    gauge("psi_cpu", Percent, "highest CPU pressure (some, avg10)", |m| m.psi_cpu.into()),
    gauge("psi_memory", Percent, "highest memory pressure (some, avg10)", |m| m.psi_memory.into()),
    gauge("psi_io", Percent, "highest I/O pressure (some, avg10)", |m| m.psi_io.into()),
    gauge("processes", Count, "most processes", |m| m.processes.into()),
    gauge("d_state", Count, "most processes in D state", |m| m.d_state.into()),
    gauge("open_files", Count, "most open file handles", |m| m.open_files.into()),
    gauge("connections", Count, "most open TCP connections", |m| m.connections.into()),
    gauge("fullest_fs_pct", Percent, "the fullest filesystem's use, %", |m| m.fullest_fs_pct.into()),
    gauge("lateness_ms", Milliseconds, "the recorder's worst lateness", |m| Value::Int(m.lateness_ms)),
];
