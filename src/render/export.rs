//! `flightrec export`: samples as rows for other tools, one field list per
//! kind (`--what`). Every row carries its time twice: RFC 3339 UTC and epoch
//! ms. Rates come from `rates` against the previous sample of the same run;
//! the first sample of a run has none (empty in CSV, null in JSON).

use super::fields::{Field, Format, RowWriter, Unit, Value};
use crate::rates::{self, CpuPercent, DiskRates, InterfaceRates, ProcessRates};
use crate::sample::{
    Filesystem, LogTemplate, NetTotals, PortSockets, ProbeResult, Process, Sample, WatchedDir, WatchedLog,
};
use crate::store::{Event, Store, Stored, Tables};
use crate::time::format_ms_rfc3339;
use anyhow::Result;
use std::collections::HashMap;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    System,
    Processes,
    Sockets,
    Filesystems,
    Disks,
    Net,
    Probes,
    Dirs,
    Logs,
    Events,
}

/// Exports what happened with `from_ms <= time <= to_ms`; `progress` is
/// told the number of rows written after each sample.
pub fn export(
    store: &Store,
    (from_ms, to_ms): (i64, i64),
    what: What,
    format: Format,
    out: Box<dyn Write + '_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    // An empty range still gives a valid export: the header alone.
    let ids = store.ids_between(from_ms, to_ms)?.unwrap_or((1, 0));
    let stream = Stream { store, ids, times: (from_ms, to_ms), format, out, progress };
    let ticks = rates::ticks_per_second();
    match what {
        What::Events => {
            let mut w = RowWriter::new(EVENTS, format, stream.out)?;
            for event in store.events_between(from_ms, to_ms)? {
                w.row(EVENTS, &event)?;
            }
            Ok(w.finish()?)
        }
        What::System => stream.rows(Tables::NONE, SYSTEM, |prev, cur| vec![SystemRow::new(prev, cur)]),
        What::Processes => stream.rows(Tables { processes: true, ..Tables::NONE }, PROCESSES, |prev, cur| {
            let time_ms = cur.sample.time_ms;
            let table = rates::process_table(prev, &cur.sample, ticks);
            table.into_iter().map(|(p, rates)| ProcessRow { time_ms, process: p.clone(), rates }).collect()
        }),
        What::Sockets => stream.rows(Tables { sockets: true, ..Tables::NONE }, SOCKETS, |_, cur| {
            stamped(cur, &cur.sample.sockets)
        }),
        What::Filesystems => {
            stream.rows(Tables { filesystems: true, ..Tables::NONE }, FILESYSTEMS, |_, cur| {
                stamped(cur, &cur.sample.filesystems)
            })
        }
        What::Probes => stream
            .rows(Tables { probes: true, ..Tables::NONE }, PROBES, |_, cur| stamped(cur, &cur.sample.probes)),
        What::Dirs => stream.rows(Tables { watched_dirs: true, ..Tables::NONE }, DIRS, |_, cur| {
            stamped(cur, &cur.sample.watched_dirs)
        }),
        What::Disks => stream.rows(Tables { disks: true, ..Tables::NONE }, DISKS, disk_rows),
        What::Net => stream.rows(Tables { interfaces: true, ..Tables::NONE }, NET, net_rows),
        What::Logs => {
            let mut last_seen = LastSeen::default();
            stream.rows(Tables { watched_logs: true, ..Tables::NONE }, LOGS, |_, cur| {
                log_rows(&mut last_seen, cur)
            })
        }
    }
}

/// Writes rows sample by sample, in constant memory.
struct Stream<'a, 'p> {
    store: &'a Store,
    ids: (i64, i64),
    /// Samples in `ids` outside these times (a clock set back) are skipped.
    times: (i64, i64),
    format: Format,
    out: Box<dyn Write + 'a>,
    progress: &'p mut dyn FnMut(u64),
}

impl Stream<'_, '_> {
    /// `rows_of(previous sample of the same run, sample)` gives a sample's rows.
    fn rows<T>(
        self,
        tables: Tables,
        fields: &[Field<T>],
        mut rows_of: impl FnMut(Option<&Sample>, &Stored) -> Vec<T>,
    ) -> Result<()> {
        let mut w = RowWriter::new(fields, self.format, self.out)?;
        let mut prev: Option<Stored> = None;
        let mut written = 0u64;
        let progress = self.progress;
        let times = self.times.0..=self.times.1;
        self.store.for_each_sample(self.ids.0, self.ids.1, tables, |cur| {
            if times.contains(&cur.sample.time_ms) {
                for row in rows_of(same_run(&prev, &cur), &cur) {
                    w.row(fields, &row)?;
                    written += 1;
                }
            }
            progress(written);
            prev = Some(cur);
            Ok(())
        })?;
        Ok(w.finish()?)
    }
}

/// A table's rows, each with the sample's time.
fn stamped<T: Clone>(cur: &Stored, table: &Option<Vec<T>>) -> Vec<(i64, T)> {
    table.iter().flatten().map(|row| (cur.sample.time_ms, row.clone())).collect()
}

/// The entry of `cur`'s table that matches `row` in the previous sample,
/// with the seconds between the two: what a rate needs.
fn before<'a, T>(
    prev: Option<&'a Sample>,
    cur: &Sample,
    table: fn(&Sample) -> Option<&Vec<T>>,
    same: impl Fn(&T) -> bool,
) -> Option<(&'a T, f64)> {
    let prev = prev?;
    let old = table(prev)?.iter().find(|t| same(t))?;
    Some((old, rates::elapsed_s(prev, cur)?))
}

fn disk_rows(prev: Option<&Sample>, cur: &Stored) -> Vec<DiskRow> {
    let s = &cur.sample;
    s.disks
        .iter()
        .flatten()
        .map(|disk| {
            let old = before(prev, s, |s| s.disks.as_ref(), |d| d.name == disk.name);
            let rates = old.and_then(|(old, seconds)| rates::disk_rates(old, disk, seconds));
            DiskRow { time_ms: s.time_ms, name: disk.name.clone(), in_flight: disk.in_flight, rates }
        })
        .collect()
}

/// One row per interface, then the machine's totals with its TCP counters.
fn net_rows(prev: Option<&Sample>, cur: &Stored) -> Vec<NetRow> {
    let s = &cur.sample;
    let mut rows: Vec<NetRow> = s
        .interfaces
        .iter()
        .flatten()
        .map(|nic| {
            let old = before(prev, s, |s| s.interfaces.as_ref(), |i| i.name == nic.name);
            let rates = old.and_then(|(old, seconds)| rates::interface_rates(old, nic, seconds));
            NetRow { time_ms: s.time_ms, name: nic.name.clone(), rates, totals: None }
        })
        .collect();
    if let Some(totals) = &s.net {
        let old = prev.and_then(|p| p.net.as_ref()).zip(prev.and_then(|p| rates::elapsed_s(p, s)));
        let rates = old.and_then(|(old, seconds)| {
            rates::interface_rates(&old.as_interface(), &totals.as_interface(), seconds)
        });
        let tcp = old.map(|(old, seconds)| TcpRates::new(old, totals, seconds));
        rows.push(NetRow { time_ms: s.time_ms, name: "total".into(), rates, totals: Some((*totals, tcp)) });
    }
    rows
}

/// Each watched log as last seen in the run, with the time: a log can be
/// missing from samples (between a rotation's rename and the new file), and
/// its rate then spans the gap, so nothing written across it is lost.
#[derive(Default)]
struct LastSeen {
    run_id: i64,
    logs: HashMap<String, (i64, WatchedLog)>,
}

/// One row per template of each watched log, or one without when the log
/// was quiet.
fn log_rows(last_seen: &mut LastSeen, cur: &Stored) -> Vec<LogRow> {
    let s = &cur.sample;
    if last_seen.run_id != cur.run_id {
        *last_seen = LastSeen { run_id: cur.run_id, ..LastSeen::default() };
    }
    let mut rows = Vec::new();
    for log in s.watched_logs.iter().flatten() {
        let old =
            last_seen.logs.get(&log.path).map(|(time_ms, old)| (old, (s.time_ms - time_ms) as f64 / 1000.0));
        let rate = |get: fn(&WatchedLog) -> u64| {
            old.filter(|(_, seconds)| *seconds > 0.0)
                .and_then(|(old, seconds)| rates::per_second(get(old), get(log), seconds))
        };
        let row = LogRow {
            time_ms: s.time_ms,
            log: log.clone(),
            bytes_per_s: rate(|l| l.bytes_written),
            lines_per_s: rate(|l| l.lines_written),
            template: None,
        };
        if log.templates.is_empty() {
            rows.push(row.clone());
        }
        rows.extend(log.templates.iter().map(|t| LogRow { template: Some(t.clone()), ..row.clone() }));
        last_seen.logs.insert(log.path.clone(), (s.time_ms, log.clone()));
    }
    rows
}

/// The previous sample, if it belongs to the same run (rates across a
/// restart or a reboot would be meaningless).
fn same_run<'a>(prev: &'a Option<Stored>, cur: &Stored) -> Option<&'a Sample> {
    prev.as_ref().filter(|p| p.run_id == cur.run_id).map(|p| &p.sample)
}

/// One sample's scalars with the sample before it (system tables are not
/// decoded for this export, so the copies are small).
pub struct SystemRow {
    pub sample: Sample,
    pub run_id: i64,
    pub cpu: Option<CpuPercent>,
    pub seconds: Option<f64>,
    pub prev: Option<Sample>,
}

impl SystemRow {
    pub fn new(prev: Option<&Sample>, cur: &Stored) -> Self {
        let cpu = prev.and_then(|p| rates::cpu_percent(p.cpu.as_ref()?, cur.sample.cpu.as_ref()?));
        let seconds = prev.and_then(|p| rates::elapsed_s(p, &cur.sample));
        SystemRow { sample: cur.sample.clone(), run_id: cur.run_id, cpu, seconds, prev: prev.cloned() }
    }

    /// A per-second rate of one counter.
    fn rate(&self, counter: fn(&Sample) -> Option<u64>) -> Value {
        let (Some(prev), Some(seconds)) = (&self.prev, self.seconds) else {
            return Value::Null;
        };
        counter(prev).zip(counter(&self.sample)).and_then(|(p, c)| rates::per_second(p, c, seconds)).into()
    }

    fn cpu(&self, part: fn(&CpuPercent) -> f64) -> Value {
        self.cpu.as_ref().map(part).into()
    }

    fn stall(&self, psi: fn(&Sample) -> Option<&crate::sample::Psi>, full: bool) -> Value {
        let (Some(prev), Some(seconds)) = (&self.prev, self.seconds) else {
            return Value::Null;
        };
        let Some((p, c)) = psi(prev).zip(psi(&self.sample)) else {
            return Value::Null;
        };
        let (some, all) = rates::stall_percent(p, c, seconds);
        if full { all.into() } else { some.into() }
    }
}

fn int(v: Option<u64>) -> Value {
    v.into()
}

pub const SYSTEM: &[Field<SystemRow>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.sample.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.sample.time_ms) },
    Field { name: "run", unit: Unit::Plain, get: |r| Value::Int(r.run_id) },
    Field { name: "lateness_ms", unit: Unit::Plain, get: |r| Value::Int(r.sample.lateness_ms) },
    Field { name: "suspended_ms", unit: Unit::Plain, get: |r| Value::Int(r.sample.suspended_ms) },
    Field { name: "collect_us", unit: Unit::Plain, get: |r| Value::Int(r.sample.collect_us) },
    Field { name: "load1", unit: Unit::Plain, get: |r| r.sample.load.map(|l| l.load1).into() },
    Field { name: "load5", unit: Unit::Plain, get: |r| r.sample.load.map(|l| l.load5).into() },
    Field { name: "load15", unit: Unit::Plain, get: |r| r.sample.load.map(|l| l.load15).into() },
    Field { name: "cpu_busy_pct", unit: Unit::Percent, get: |r| r.cpu(CpuPercent::busy) },
    Field { name: "cpu_user_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.user) },
    Field { name: "cpu_nice_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.nice) },
    Field { name: "cpu_system_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.system) },
    Field { name: "cpu_idle_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.idle) },
    Field { name: "cpu_iowait_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.iowait) },
    Field { name: "cpu_irq_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.irq) },
    Field { name: "cpu_softirq_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.softirq) },
    Field { name: "cpu_steal_pct", unit: Unit::Percent, get: |r| r.cpu(|c| c.steal) },
    Field { name: "context_switches_per_s", unit: Unit::Plain, get: |r| r.rate(|s| Some(s.cpu?.ctxt)) },
    Field { name: "forks_per_s", unit: Unit::Plain, get: |r| r.rate(|s| Some(s.cpu?.forks)) },
    Field { name: "procs_running", unit: Unit::Plain, get: |r| int(r.sample.cpu.map(|c| c.procs_running)) },
    Field { name: "procs_blocked", unit: Unit::Plain, get: |r| int(r.sample.cpu.map(|c| c.procs_blocked)) },
    Field { name: "mem_total", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.total)) },
    Field { name: "mem_available", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.available)) },
    Field { name: "mem_free", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.free)) },
    Field { name: "mem_buffers", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.buffers)) },
    Field { name: "mem_cached", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.cached)) },
    Field { name: "mem_dirty", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.dirty)) },
    Field { name: "mem_writeback", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.writeback)) },
    Field { name: "mem_shmem", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.shmem)) },
    Field { name: "mem_slab", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.slab)) },
    Field { name: "mem_committed", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.committed)) },
    Field { name: "swap_total", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.swap_total)) },
    Field { name: "swap_free", unit: Unit::Bytes, get: |r| int(r.sample.memory.map(|m| m.swap_free)) },
    Field { name: "major_faults_per_s", unit: Unit::Plain, get: |r| r.rate(|s| Some(s.vm?.major_faults)) },
    Field { name: "swap_in_per_s", unit: Unit::Plain, get: |r| r.rate(|s| Some(s.vm?.swap_in)) },
    Field { name: "swap_out_per_s", unit: Unit::Plain, get: |r| r.rate(|s| Some(s.vm?.swap_out)) },
    Field { name: "oom_kills", unit: Unit::Plain, get: |r| int(r.sample.vm.map(|v| v.oom_kills)) },
    Field {
        name: "psi_cpu_some_avg10",
        unit: Unit::Percent,
        get: |r| r.sample.pressure.cpu.map(|p| p.some_avg10).into(),
    },
    Field {
        name: "psi_cpu_some_pct",
        unit: Unit::Percent,
        get: |r| r.stall(|s| s.pressure.cpu.as_ref(), false),
    },
    Field {
        name: "psi_memory_some_avg10",
        unit: Unit::Percent,
        get: |r| r.sample.pressure.memory.map(|p| p.some_avg10).into(),
    },
    Field {
        name: "psi_memory_some_pct",
        unit: Unit::Percent,
        get: |r| r.stall(|s| s.pressure.memory.as_ref(), false),
    },
    Field {
        name: "psi_memory_full_pct",
        unit: Unit::Percent,
        get: |r| r.stall(|s| s.pressure.memory.as_ref(), true),
    },
    Field {
        name: "psi_io_some_avg10",
        unit: Unit::Percent,
        get: |r| r.sample.pressure.io.map(|p| p.some_avg10).into(),
    },
    Field {
        name: "psi_io_some_pct",
        unit: Unit::Percent,
        get: |r| r.stall(|s| s.pressure.io.as_ref(), false),
    },
    Field {
        name: "psi_io_full_pct",
        unit: Unit::Percent,
        get: |r| r.stall(|s| s.pressure.io.as_ref(), true),
    },
    Field { name: "files_allocated", unit: Unit::Plain, get: |r| int(r.sample.files.map(|f| f.allocated)) },
    Field { name: "files_max", unit: Unit::Plain, get: |r| int(r.sample.files.map(|f| f.max)) },
    Field { name: "processes", unit: Unit::Plain, get: |r| int(r.sample.tasks.map(|t| t.processes)) },
    Field { name: "threads", unit: Unit::Plain, get: |r| int(r.sample.tasks.map(|t| t.threads)) },
    Field { name: "pid_max", unit: Unit::Plain, get: |r| int(r.sample.tasks.map(|t| t.pid_max)) },
    Field { name: "threads_max", unit: Unit::Plain, get: |r| int(r.sample.tasks.map(|t| t.threads_max)) },
];

struct ProcessRow {
    time_ms: i64,
    process: Process,
    rates: Option<ProcessRates>,
}

impl ProcessRow {
    fn rate(&self, part: fn(&ProcessRates) -> f64) -> Value {
        self.rates.as_ref().map(part).into()
    }
}

const PROCESSES: &[Field<ProcessRow>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.time_ms) },
    Field { name: "pid", unit: Unit::Plain, get: |r| Value::Int(r.process.pid.into()) },
    Field { name: "ppid", unit: Unit::Plain, get: |r| Value::Int(r.process.ppid.into()) },
    Field { name: "uid", unit: Unit::Plain, get: |r| Value::Int(r.process.uid.into()) },
    Field { name: "comm", unit: Unit::Plain, get: |r| Value::Text(r.process.comm.to_string()) },
    Field { name: "state", unit: Unit::Plain, get: |r| Value::Text(r.process.state.to_string()) },
    Field { name: "threads", unit: Unit::Plain, get: |r| Value::Int(r.process.threads.into()) },
    Field { name: "cpu_pct", unit: Unit::Percent, get: |r| r.rate(ProcessRates::cpu) },
    Field { name: "cpu_user_pct", unit: Unit::Percent, get: |r| r.rate(|p| p.cpu_user) },
    Field { name: "cpu_system_pct", unit: Unit::Percent, get: |r| r.rate(|p| p.cpu_system) },
    Field { name: "rss", unit: Unit::Bytes, get: |r| Value::Int(r.process.rss_bytes as i64) },
    Field { name: "vsize", unit: Unit::Bytes, get: |r| Value::Int(r.process.vsize_bytes as i64) },
    Field { name: "swap", unit: Unit::Bytes, get: |r| Value::Int(r.process.swap_bytes as i64) },
    Field { name: "minor_faults_per_s", unit: Unit::Plain, get: |r| r.rate(|p| p.minor_faults) },
    Field { name: "major_faults_per_s", unit: Unit::Plain, get: |r| r.rate(|p| p.major_faults) },
    Field { name: "fds", unit: Unit::Plain, get: |r| r.process.fds.map(u64::from).into() },
    Field { name: "read_bytes_per_s", unit: Unit::Bytes, get: |r| r.rates.and_then(|p| p.read_bytes).into() },
    Field {
        name: "write_bytes_per_s",
        unit: Unit::Bytes,
        get: |r| r.rates.and_then(|p| p.write_bytes).into(),
    },
    Field { name: "start_ticks", unit: Unit::Plain, get: |r| Value::Int(r.process.start_ticks as i64) },
    Field { name: "cmdline", unit: Unit::Plain, get: |r| Value::Text(r.process.cmdline.to_string()) },
];

const SOCKETS: &[Field<(i64, PortSockets)>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.0)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.0) },
    Field {
        name: "direction",
        unit: Unit::Plain,
        get: |r| Value::Text(format!("{:?}", r.1.direction).to_lowercase()),
    },
    Field { name: "port", unit: Unit::Plain, get: |r| Value::Int(r.1.port.into()) },
    Field { name: "state", unit: Unit::Plain, get: |r| Value::Text(r.1.state.clone()) },
    Field { name: "count", unit: Unit::Plain, get: |r| Value::Int(r.1.count.into()) },
    Field { name: "accept_queue", unit: Unit::Plain, get: |r| Value::Int(r.1.queued.into()) },
    Field { name: "backlog", unit: Unit::Plain, get: |r| Value::Int(r.1.backlog.into()) },
];

const FILESYSTEMS: &[Field<(i64, Filesystem)>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.0)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.0) },
    Field { name: "mount_point", unit: Unit::Plain, get: |r| Value::Text(r.1.mount_point.clone()) },
    Field { name: "device", unit: Unit::Plain, get: |r| Value::Text(r.1.device.clone()) },
    Field { name: "type", unit: Unit::Plain, get: |r| Value::Text(r.1.fs_type.clone()) },
    Field { name: "size", unit: Unit::Bytes, get: |r| Value::Int(r.1.size_bytes as i64) },
    Field { name: "used", unit: Unit::Bytes, get: |r| Value::Int(r.1.used_bytes as i64) },
    Field { name: "available", unit: Unit::Bytes, get: |r| Value::Int(r.1.avail_bytes as i64) },
    Field { name: "used_pct", unit: Unit::Percent, get: |r| Value::Real(used_pct(&r.1)) },
    Field { name: "inodes_total", unit: Unit::Plain, get: |r| Value::Int(r.1.inodes_total as i64) },
    Field { name: "inodes_used", unit: Unit::Plain, get: |r| Value::Int(r.1.inodes_used as i64) },
];

/// Used space as `df` shows it: of the space usable without root's reserve.
pub fn used_pct(fs: &Filesystem) -> f64 {
    let usable = fs.used_bytes + fs.avail_bytes;
    if usable == 0 { 0.0 } else { fs.used_bytes as f64 * 100.0 / usable as f64 }
}

struct DiskRow {
    time_ms: i64,
    name: String,
    in_flight: u64,
    rates: Option<DiskRates>,
}

impl DiskRow {
    fn rate(&self, part: fn(&DiskRates) -> f64) -> Value {
        self.rates.as_ref().map(part).into()
    }
}

const DISKS: &[Field<DiskRow>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.time_ms) },
    Field { name: "disk", unit: Unit::Plain, get: |r| Value::Text(r.name.clone()) },
    Field { name: "reads_per_s", unit: Unit::Plain, get: |r| r.rate(|d| d.reads) },
    Field { name: "writes_per_s", unit: Unit::Plain, get: |r| r.rate(|d| d.writes) },
    Field { name: "read_bytes_per_s", unit: Unit::Bytes, get: |r| r.rate(|d| d.read_bytes) },
    Field { name: "write_bytes_per_s", unit: Unit::Bytes, get: |r| r.rate(|d| d.write_bytes) },
    Field { name: "busy_pct", unit: Unit::Percent, get: |r| r.rate(|d| d.busy) },
    Field { name: "wait_ms", unit: Unit::Plain, get: |r| r.rate(|d| d.wait_ms) },
    Field { name: "in_flight", unit: Unit::Plain, get: |r| Value::Int(r.in_flight as i64) },
];

/// TCP counters of the whole machine over the interval, per second.
struct TcpRates {
    active_opens: Option<f64>,
    passive_opens: Option<f64>,
    attempt_fails: Option<f64>,
    resets: Option<f64>,
    retransmits: Option<f64>,
    listen_overflows: Option<f64>,
}

impl TcpRates {
    fn new(prev: &NetTotals, cur: &NetTotals, seconds: f64) -> Self {
        let r = |p: u64, c: u64| rates::per_second(p, c, seconds);
        TcpRates {
            active_opens: r(prev.tcp_active_opens, cur.tcp_active_opens),
            passive_opens: r(prev.tcp_passive_opens, cur.tcp_passive_opens),
            attempt_fails: r(prev.tcp_attempt_fails, cur.tcp_attempt_fails),
            resets: r(prev.tcp_estab_resets + prev.tcp_out_resets, cur.tcp_estab_resets + cur.tcp_out_resets),
            retransmits: r(prev.tcp_retrans_segs, cur.tcp_retrans_segs),
            listen_overflows: r(prev.listen_overflows, cur.listen_overflows),
        }
    }
}

/// One interface, or the machine's totals (`total`, loopback excluded) with
/// its TCP counters.
struct NetRow {
    time_ms: i64,
    name: String,
    rates: Option<InterfaceRates>,
    totals: Option<(NetTotals, Option<TcpRates>)>,
}

impl NetRow {
    fn rate(&self, part: fn(&InterfaceRates) -> f64) -> Value {
        self.rates.as_ref().map(part).into()
    }

    fn tcp(&self, part: fn(&TcpRates) -> Option<f64>) -> Value {
        self.totals.as_ref().and_then(|(_, tcp)| tcp.as_ref()).and_then(part).into()
    }

    fn count(&self, part: fn(&NetTotals) -> u64) -> Value {
        self.totals.as_ref().map(|(totals, _)| part(totals)).into()
    }
}

const NET: &[Field<NetRow>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.time_ms) },
    Field { name: "interface", unit: Unit::Plain, get: |r| Value::Text(r.name.clone()) },
    Field { name: "rx_bytes_per_s", unit: Unit::Bytes, get: |r| r.rate(|i| i.rx_bytes) },
    Field { name: "tx_bytes_per_s", unit: Unit::Bytes, get: |r| r.rate(|i| i.tx_bytes) },
    Field { name: "rx_packets_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.rx_packets) },
    Field { name: "tx_packets_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.tx_packets) },
    Field { name: "rx_errors_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.rx_errors) },
    Field { name: "tx_errors_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.tx_errors) },
    Field { name: "rx_drops_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.rx_drops) },
    Field { name: "tx_drops_per_s", unit: Unit::Plain, get: |r| r.rate(|i| i.tx_drops) },
    Field { name: "tcp_active_opens_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.active_opens) },
    Field { name: "tcp_passive_opens_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.passive_opens) },
    Field { name: "tcp_attempt_fails_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.attempt_fails) },
    Field { name: "tcp_resets_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.resets) },
    Field { name: "tcp_retransmits_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.retransmits) },
    Field { name: "listen_overflows_per_s", unit: Unit::Plain, get: |r| r.tcp(|t| t.listen_overflows) },
    Field { name: "tcp_established", unit: Unit::Plain, get: |r| r.count(|t| t.tcp_curr_estab) },
    Field { name: "tcp_time_wait", unit: Unit::Plain, get: |r| r.count(|t| t.tcp_time_wait) },
    Field { name: "tcp_orphans", unit: Unit::Plain, get: |r| r.count(|t| t.tcp_orphan) },
    Field { name: "sockets_used", unit: Unit::Plain, get: |r| r.count(|t| t.sockets_used) },
];

const PROBES: &[Field<(i64, ProbeResult)>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.0)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.0) },
    Field { name: "target", unit: Unit::Plain, get: |r| Value::Text(r.1.target.clone()) },
    Field { name: "outcome", unit: Unit::Plain, get: |r| Value::Text(outcome_name(&r.1)) },
    Field { name: "latency_ms", unit: Unit::Plain, get: |r| Value::Real(r.1.latency_us as f64 / 1000.0) },
    Field {
        name: "connect_ms",
        unit: Unit::Plain,
        get: |r| r.1.connect_us.map(|us| us as f64 / 1000.0).into(),
    },
    Field { name: "detail", unit: Unit::Plain, get: |r| Value::Text(r.1.detail.clone()) },
];

/// `ok`, `refused`, `timeout`, ...: the names the JSON report uses too.
pub fn outcome_name(probe: &ProbeResult) -> String {
    serde_json::to_value(probe.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

const EVENTS: &[Field<Event>] = &[
    Field { name: "time", unit: Unit::Plain, get: |e| Value::Text(format_ms_rfc3339(e.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |e| Value::Int(e.time_ms) },
    Field { name: "kind", unit: Unit::Plain, get: |e| Value::Text(e.kind.clone()) },
    Field { name: "priority", unit: Unit::Plain, get: |e| e.priority.map(u64::from).into() },
    Field { name: "repeats", unit: Unit::Plain, get: |e| Value::Int(e.repeats.into()) },
    Field { name: "detail", unit: Unit::Plain, get: |e| Value::Text(e.detail.clone()) },
];

const DIRS: &[Field<(i64, WatchedDir)>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.0)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.0) },
    Field { name: "path", unit: Unit::Plain, get: |r| Value::Text(r.1.path.clone()) },
    Field { name: "files", unit: Unit::Plain, get: |r| Value::Int(r.1.files as i64) },
    Field { name: "bytes", unit: Unit::Bytes, get: |r| Value::Int(r.1.bytes as i64) },
    Field { name: "complete", unit: Unit::Plain, get: |r| Value::Int(r.1.complete.into()) },
];

/// One watched log at one sample, with one of its templates.
#[derive(Clone)]
struct LogRow {
    time_ms: i64,
    log: WatchedLog,
    bytes_per_s: Option<f64>,
    lines_per_s: Option<f64>,
    template: Option<LogTemplate>,
}

const LOGS: &[Field<LogRow>] = &[
    Field { name: "time", unit: Unit::Plain, get: |r| Value::Text(format_ms_rfc3339(r.time_ms)) },
    Field { name: "time_ms", unit: Unit::Plain, get: |r| Value::Int(r.time_ms) },
    Field { name: "path", unit: Unit::Plain, get: |r| Value::Text(r.log.path.clone()) },
    Field { name: "bytes_per_s", unit: Unit::Bytes, get: |r| r.bytes_per_s.into() },
    Field { name: "lines_per_s", unit: Unit::Plain, get: |r| r.lines_per_s.into() },
    Field { name: "size", unit: Unit::Bytes, get: |r| Value::Int(r.log.size as i64) },
    Field { name: "bytes_written", unit: Unit::Bytes, get: |r| Value::Int(r.log.bytes_written as i64) },
    Field { name: "lines_written", unit: Unit::Plain, get: |r| Value::Int(r.log.lines_written as i64) },
    Field { name: "sampled", unit: Unit::Plain, get: |r| Value::Int(r.log.sampled.into()) },
    Field {
        name: "template",
        unit: Unit::Plain,
        get: |r| Value::Text(r.template.as_ref().map(|t| t.template.clone()).unwrap_or_default()),
    },
    Field { name: "count", unit: Unit::Plain, get: |r| r.template.as_ref().map(|t| t.count).into() },
    Field {
        name: "example",
        unit: Unit::Plain,
        get: |r| Value::Text(r.template.as_ref().map(|t| t.example.clone()).unwrap_or_default()),
    },
];
