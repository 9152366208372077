//! The per-entity tables of a sample as rows (sockets, filesystems, disks,
//! interfaces, probes, watched directories and logs) and the events table.
//! Each row carries the time of its sample.

use super::{Field, Raw, Stamped, Unit, Value, counter, gauge, label, rate, time, time_ms, with_raw};
use crate::model::rates::{self, DiskRates, InterfaceRates, TcpRates};
use crate::model::sample::{
    Disk, Filesystem, Interface, LogTemplate, NetTotals, PortSockets, ProbeResult, Sample, WatchedDir,
    WatchedLog,
};
use crate::model::{Event, StoredSample};
use std::collections::HashMap;

use Unit::{Bytes, Count, Milliseconds, Percent, Plain};

/// A table's rows, each with the sample's time.
pub fn stamped<T: Clone>(cur: &StoredSample, table: &Option<Vec<T>>) -> Vec<(i64, T)> {
    table.iter().flatten().map(|row| (cur.sample.time_ms, row.clone())).collect()
}

/// The row of `prev`'s table that is the same entity as one of `cur`'s,
/// with the seconds between the two samples: what a rate needs.
fn same_in_previous<'a, T>(
    prev: Option<&'a Sample>,
    cur: &Sample,
    table: fn(&Sample) -> Option<&Vec<T>>,
    same: impl Fn(&T) -> bool,
) -> Option<(&'a T, f64)> {
    let prev = prev?;
    let old = table(prev)?.iter().find(|t| same(t))?;
    Some((old, rates::elapsed_s(prev, cur)?))
}

#[rustfmt::skip]
pub const SOCKETS: &[Field<(i64, PortSockets)>] = &[
    time(),
    time_ms(),
    label("direction", "listen, incoming (by local port) or outgoing (by remote port)", |r| Value::Text(format!("{:?}", r.1.direction).to_lowercase())),
    label("port", "the local port of listeners and incoming connections, the remote port of outgoing ones", |r| Value::Int(r.1.port.into())),
    label("state", "TCP state: ESTABLISHED, SYN_RECV, CLOSE_WAIT, LISTEN, ...", |r| Value::Text(r.1.state.clone())),
    gauge("count", Count, "sockets of this port, direction and state", |r| Value::Int(r.1.count.into())),
    gauge("accept_queue", Count, "connections waiting to be accepted (listeners)", |r| Value::Int(r.1.queued.into())),
    gauge("backlog", Count, "the accept queue's limit (listeners; 0 when unknown)", |r| Value::Int(r.1.backlog.into())),
];

#[rustfmt::skip]
pub const FILESYSTEMS: &[Field<(i64, Filesystem)>] = &[
    time(),
    time_ms(),
    label("mount_point", "where the filesystem is mounted", |r| Value::Text(r.1.mount_point.clone())),
    label("device", "the mounted device", |r| Value::Text(r.1.device.clone())),
    label("type", "filesystem type", |r| Value::Text(r.1.fs_type.clone())),
    gauge("size", Bytes, "size of the filesystem", |r| Value::Int(r.1.size_bytes as i64)),
    gauge("used", Bytes, "space used", |r| Value::Int(r.1.used_bytes as i64)),
    gauge("available", Bytes, "space available to unprivileged users", |r| Value::Int(r.1.avail_bytes as i64)),
    gauge("used_pct", Percent, "space used, % of the space usable without root's reserve (as df)", |r| Value::Real(r.1.used_pct())),
    gauge("inodes_total", Count, "inodes of the filesystem", |r| Value::Int(r.1.inodes_total as i64)),
    gauge("inodes_used", Count, "inodes in use", |r| Value::Int(r.1.inodes_used as i64)),
];

/// One disk at one sample (its counters since boot), with its rates over
/// the interval before it.
pub struct DiskRow {
    pub time_ms: i64,
    pub disk: Disk,
    pub rates: Option<DiskRates>,
}

impl DiskRow {
    fn rate(&self, part: fn(&DiskRates) -> f64) -> Value {
        self.rates.as_ref().map(part).into()
    }
}

pub fn disk_rows(prev: Option<&Sample>, cur: &StoredSample) -> Vec<DiskRow> {
    let s = &cur.sample;
    s.disks
        .iter()
        .flatten()
        .map(|disk| {
            let old = same_in_previous(prev, s, |s| s.disks.as_ref(), |d| d.name == disk.name);
            let rates = old.and_then(|(old, seconds)| rates::disk_rates(old, disk, seconds));
            DiskRow { time_ms: s.time_ms, disk: disk.clone(), rates }
        })
        .collect()
}

#[rustfmt::skip]
pub const DISKS: &[Field<DiskRow>] = &[
    time(),
    time_ms(),
    label("disk", "the block device", |r| Value::Text(r.disk.name.clone())),
    with_raw(rate("reads_per_s", Count, "reads", "reads completed per second", |r| r.rate(|d| d.reads)), Raw { unit: Count, help: "reads completed since boot", get: |r| Value::Int(r.disk.reads as i64) }),
    with_raw(rate("writes_per_s", Count, "writes", "writes completed per second", |r| r.rate(|d| d.writes)), Raw { unit: Count, help: "writes completed since boot", get: |r| Value::Int(r.disk.writes as i64) }),
    with_raw(rate("read_bytes_per_s", Bytes, "read_sectors", "bytes read per second", |r| r.rate(|d| d.read_bytes)), Raw { unit: Bytes, help: "bytes read since boot", get: |r| Value::Int(r.disk.read_sectors as i64 * 512) }),
    with_raw(rate("write_bytes_per_s", Bytes, "write_sectors", "bytes written per second", |r| r.rate(|d| d.write_bytes)), Raw { unit: Bytes, help: "bytes written since boot", get: |r| Value::Int(r.disk.write_sectors as i64 * 512) }),
    with_raw(rate("busy_pct", Percent, "io_ms", "time with I/O in flight, % of the interval", |r| r.rate(|d| d.busy)), Raw { unit: Milliseconds, help: "time with I/O in flight since boot", get: |r| Value::Int(r.disk.io_ms as i64) }),
    with_raw(rate("wait_ms", Milliseconds, "read_ms+write_ms", "average time per completed I/O", |r| r.rate(|d| d.wait_ms)), Raw { unit: Milliseconds, help: "time completed I/Os waited since boot, summed over the I/Os (its rate() over that of reads and writes is the average wait)", get: |r| Value::Int((r.disk.read_ms + r.disk.write_ms) as i64) }),
    gauge("in_flight", Count, "I/Os in flight now", |r| Value::Int(r.disk.in_flight as i64)),
];

/// One interface, or the machine's totals (`total`, loopback excluded) with
/// its TCP counters.
pub struct NetRow {
    pub time_ms: i64,
    pub name: String,
    /// The interface's counters since boot (the totals' for `total`).
    pub counters: Option<Interface>,
    pub rates: Option<InterfaceRates>,
    pub totals: Option<(NetTotals, Option<TcpRates>)>,
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

    fn counter(&self, part: fn(&Interface) -> u64) -> Value {
        self.counters.as_ref().map(part).into()
    }
}

/// One row per interface, then the machine's totals with its TCP counters.
pub fn net_rows(prev: Option<&Sample>, cur: &StoredSample) -> Vec<NetRow> {
    let s = &cur.sample;
    let mut rows: Vec<NetRow> = s
        .interfaces
        .iter()
        .flatten()
        .map(|nic| {
            let old = same_in_previous(prev, s, |s| s.interfaces.as_ref(), |i| i.name == nic.name);
            let rates = old.and_then(|(old, seconds)| rates::interface_rates(old, nic, seconds));
            NetRow {
                time_ms: s.time_ms,
                name: nic.name.clone(),
                counters: Some(nic.clone()),
                rates,
                totals: None,
            }
        })
        .collect();
    if let Some(totals) = &s.net {
        let old = prev.and_then(|p| p.net.as_ref()).zip(prev.and_then(|p| rates::elapsed_s(p, s)));
        let rates = old.and_then(|(old, seconds)| {
            rates::interface_rates(&old.as_interface(), &totals.as_interface(), seconds)
        });
        let tcp = old.map(|(old, seconds)| rates::tcp_rates(old, totals, seconds));
        rows.push(NetRow {
            time_ms: s.time_ms,
            name: "total".into(),
            counters: Some(totals.as_interface()),
            rates,
            totals: Some((*totals, tcp)),
        });
    }
    rows
}

#[rustfmt::skip]
pub const NET: &[Field<NetRow>] = &[
    time(),
    time_ms(),
    label("interface", "the interface, or total (loopback excluded)", |r| Value::Text(r.name.clone())),
    with_raw(rate("rx_bytes_per_s", Bytes, "rx_bytes", "bytes received per second", |r| r.rate(|i| i.rx_bytes)), Raw { unit: Bytes, help: "bytes received since boot", get: |r| r.counter(|i| i.rx_bytes) }),
    with_raw(rate("tx_bytes_per_s", Bytes, "tx_bytes", "bytes sent per second", |r| r.rate(|i| i.tx_bytes)), Raw { unit: Bytes, help: "bytes sent since boot", get: |r| r.counter(|i| i.tx_bytes) }),
    with_raw(rate("rx_packets_per_s", Count, "rx_packets", "packets received per second", |r| r.rate(|i| i.rx_packets)), Raw { unit: Count, help: "packets received since boot", get: |r| r.counter(|i| i.rx_packets) }),
    with_raw(rate("tx_packets_per_s", Count, "tx_packets", "packets sent per second", |r| r.rate(|i| i.tx_packets)), Raw { unit: Count, help: "packets sent since boot", get: |r| r.counter(|i| i.tx_packets) }),
    with_raw(rate("rx_errors_per_s", Count, "rx_errors", "receive errors per second", |r| r.rate(|i| i.rx_errors)), Raw { unit: Count, help: "receive errors since boot", get: |r| r.counter(|i| i.rx_errors) }),
    with_raw(rate("tx_errors_per_s", Count, "tx_errors", "send errors per second", |r| r.rate(|i| i.tx_errors)), Raw { unit: Count, help: "send errors since boot", get: |r| r.counter(|i| i.tx_errors) }),
    with_raw(rate("rx_drops_per_s", Count, "rx_drops", "received packets dropped per second", |r| r.rate(|i| i.rx_drops)), Raw { unit: Count, help: "received packets dropped since boot", get: |r| r.counter(|i| i.rx_drops) }),
    with_raw(rate("tx_drops_per_s", Count, "tx_drops", "packets to send dropped per second", |r| r.rate(|i| i.tx_drops)), Raw { unit: Count, help: "packets to send dropped since boot", get: |r| r.counter(|i| i.tx_drops) }),
    with_raw(rate("tcp_active_opens_per_s", Count, "net.tcp_active_opens", "TCP connections opened by this machine per second", |r| r.tcp(|t| t.active_opens)), Raw { unit: Count, help: "TCP connections opened by this machine since boot", get: |r| r.count(|t| t.tcp_active_opens) }),
    with_raw(rate("tcp_passive_opens_per_s", Count, "net.tcp_passive_opens", "TCP connections accepted per second", |r| r.tcp(|t| t.passive_opens)), Raw { unit: Count, help: "TCP connections accepted since boot", get: |r| r.count(|t| t.tcp_passive_opens) }),
    with_raw(rate("tcp_attempt_fails_per_s", Count, "net.tcp_attempt_fails", "TCP connection attempts failed per second", |r| r.tcp(|t| t.attempt_fails)), Raw { unit: Count, help: "TCP connection attempts failed since boot", get: |r| r.count(|t| t.tcp_attempt_fails) }),
    with_raw(rate("tcp_resets_per_s", Count, "net.tcp_estab_resets+net.tcp_out_resets", "TCP resets per second", |r| r.tcp(|t| t.resets)), Raw { unit: Count, help: "TCP resets since boot", get: |r| r.count(|t| t.tcp_estab_resets + t.tcp_out_resets) }),
    with_raw(rate("tcp_retransmits_per_s", Count, "net.tcp_retrans_segs", "TCP segments retransmitted per second", |r| r.tcp(|t| t.retransmits)), Raw { unit: Count, help: "TCP segments retransmitted since boot", get: |r| r.count(|t| t.tcp_retrans_segs) }),
    with_raw(rate("listen_overflows_per_s", Count, "net.listen_overflows", "connections dropped by full accept queues per second", |r| r.tcp(|t| t.listen_overflows)), Raw { unit: Count, help: "connections dropped by full accept queues since boot", get: |r| r.count(|t| t.listen_overflows) }),
    gauge("tcp_established", Count, "TCP connections established now", |r| r.count(|t| t.tcp_curr_estab)),
    gauge("tcp_time_wait", Count, "TCP sockets in TIME_WAIT", |r| r.count(|t| t.tcp_time_wait)),
    gauge("tcp_orphans", Count, "TCP sockets no process holds", |r| r.count(|t| t.tcp_orphan)),
    gauge("sockets_used", Count, "sockets of every kind", |r| r.count(|t| t.sockets_used)),
];

#[rustfmt::skip]
pub const PROBES: &[Field<(i64, ProbeResult)>] = &[
    time(),
    time_ms(),
    label("target", "the probe as configured, e.g. milter:127.0.0.1:8891", |r| Value::Text(r.1.target.clone())),
    label("outcome", "ok, refused, timeout, protocol_error, no_route or error", |r| Value::Text(outcome_name(&r.1))),
    gauge("latency_ms", Milliseconds, "from the start of the probe until its outcome was known", |r| Value::Real(r.1.latency_us as f64 / 1000.0)),
    gauge("connect_ms", Milliseconds, "time to connect, where the connection was accepted", |r| r.1.connect_us.map(|us| us as f64 / 1000.0).into()),
    label("detail", "what came back, where there is something to add", |r| Value::Text(r.1.detail.clone())),
];

/// `ok`, `refused`, `timeout`, ...: the names the JSON report uses too.
pub fn outcome_name(probe: &ProbeResult) -> String {
    serde_json::to_value(probe.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[rustfmt::skip]
pub const EVENTS: &[Field<Event>] = &[
    time(),
    time_ms(),
    label("kind", "kernel, pstore, samples-dropped, disk-full, disk-recovered", |e| Value::Text(e.kind.clone())),
    label("priority", "syslog priority of a kernel message: 0 emergency ... 7 debug", |e| e.priority.map(u64::from).into()),
    gauge("repeats", Count, "how many more times the same message came at once", |e| Value::Int(e.repeats.into())),
    label("detail", "the message", |e| Value::Text(e.detail.clone())),
];

#[rustfmt::skip]
pub const DIRS: &[Field<(i64, WatchedDir)>] = &[
    time(),
    time_ms(),
    label("path", "the watched directory", |r| Value::Text(r.1.path.clone())),
    gauge("files", Count, "regular files below the directory", |r| Value::Int(r.1.files as i64)),
    gauge("bytes", Bytes, "bytes in those files", |r| Value::Int(r.1.bytes as i64)),
    gauge("complete", Plain, "1 when the walk was not cut short (else the counts are lower bounds)", |r| Value::Int(r.1.complete.into())),
];

/// One watched log at one sample, with one of its templates.
#[derive(Clone)]
pub struct LogRow {
    pub time_ms: i64,
    pub log: WatchedLog,
    pub rates: Option<rates::LogRates>,
    pub template: Option<LogTemplate>,
}

/// Each watched log as last seen in the run, with the time: a log can be
/// missing from samples (between a rotation's rename and the new file), and
/// its rate then spans the gap, so nothing written across it is lost.
#[derive(Default)]
pub struct LastSeen {
    run_id: i64,
    logs: HashMap<String, (i64, WatchedLog)>,
}

/// One row per template of each watched log, or one without when the log
/// was quiet.
pub fn log_rows(last_seen: &mut LastSeen, cur: &StoredSample) -> Vec<LogRow> {
    let s = &cur.sample;
    if last_seen.run_id != cur.run_id {
        *last_seen = LastSeen { run_id: cur.run_id, ..LastSeen::default() };
    }
    let mut rows = Vec::new();
    for log in s.watched_logs.iter().flatten() {
        let rates = last_seen.logs.get(&log.path).and_then(|(time_ms, old)| {
            let seconds = (s.time_ms - time_ms) as f64 / 1000.0;
            (seconds > 0.0).then(|| rates::log_rates(old, log, seconds))
        });
        let row = LogRow { time_ms: s.time_ms, log: log.clone(), rates, template: None };
        if log.templates.is_empty() {
            rows.push(row.clone());
        }
        rows.extend(log.templates.iter().map(|t| LogRow { template: Some(t.clone()), ..row.clone() }));
        last_seen.logs.insert(log.path.clone(), (s.time_ms, log.clone()));
    }
    rows
}

#[rustfmt::skip]
pub const LOGS: &[Field<LogRow>] = &[
    time(),
    time_ms(),
    label("path", "the watched log", |r| Value::Text(r.log.path.clone())),
    rate("bytes_per_s", Bytes, "bytes_written", "bytes appended per second", |r| r.rates.and_then(|l| l.bytes).into()),
    rate("lines_per_s", Count, "lines_written", "lines appended per second", |r| r.rates.and_then(|l| l.lines).into()),
    gauge("size", Bytes, "current size of the file", |r| Value::Int(r.log.size as i64)),
    counter("bytes_written", Bytes, "bytes appended since watching began, across rotations", |r| Value::Int(r.log.bytes_written as i64)),
    counter("lines_written", Count, "lines appended since watching began, across rotations", |r| Value::Int(r.log.lines_written as i64)),
    gauge("sampled", Plain, "1 when not every new byte was read (a flood): template counts are a sample", |r| Value::Int(r.log.sampled.into())),
    label("template", "a message shape: numbers, ids, addresses masked", |r| Value::Text(r.template.as_ref().map(|t| t.template.clone()).unwrap_or_default())),
    gauge("count", Count, "lines of the template since the previous sample", |r| r.template.as_ref().map(|t| t.count).into()),
    label("example", "one real line of the template", |r| Value::Text(r.template.as_ref().map(|t| t.example.clone()).unwrap_or_default())),
];

impl Stamped for DiskRow {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}

impl Stamped for NetRow {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}

impl Stamped for LogRow {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}
