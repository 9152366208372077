//! One row per cgroup per sample (`export --what cgroups`): a service or
//! container with its usage, its limits and how it fares against them.
//! Rates of what is read every tick are against the previous sample; the
//! I/O and the v1 user/system split, read every few ticks, are rates
//! between two reads of them and empty in the samples between.

use super::{Field, Stamped, Unit, Value, counter, gauge, label, rate, time, time_ms};
use crate::model::StoredSample;
use crate::model::rates::{self, CgroupDetailRates, CgroupDetailSeen, CgroupRates};
use crate::model::sample::{CgroupStats, Psi, Sample};

/// A cgroup at one sample, with its rates.
pub struct CgroupRow {
    pub time_ms: i64,
    pub cgroup: CgroupStats,
    pub rates: Option<CgroupRates>,
    pub detail: Option<CgroupDetailRates>,
}

impl CgroupRow {
    fn rate(&self, part: fn(&CgroupRates) -> Option<f64>) -> Value {
        self.rates.as_ref().and_then(part).into()
    }

    fn detail(&self, part: fn(&CgroupDetailRates) -> Option<f64>) -> Value {
        self.detail.as_ref().and_then(part).into()
    }

    fn psi(&self, which: fn(&CgroupStats) -> &Option<Psi>) -> Value {
        which(&self.cgroup).map(|p| p.some_avg10).into()
    }
}

/// The cgroups of `cur`; `seen` carries the last detail read of each
/// across the samples of an export, oldest first.
pub fn cgroup_rows(seen: &mut CgroupDetailSeen, prev: Option<&Sample>, cur: &StoredSample) -> Vec<CgroupRow> {
    let time_ms = cur.sample.time_ms;
    rates::cgroup_table(prev, &cur.sample)
        .into_iter()
        .map(|(cgroup, rates)| CgroupRow {
            time_ms,
            detail: seen.rates(cgroup),
            cgroup: cgroup.clone(),
            rates,
        })
        .collect()
}

impl Stamped for CgroupRow {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
}

use Unit::{Bytes, Count, Percent, Plain};

#[rustfmt::skip]
pub const CGROUPS: &[Field<CgroupRow>] = &[
    time(),
    time_ms(),
    label("cgroup", "the cgroup's path below the hierarchy's root, e.g. /system.slice/postfix.service", |r| Value::Text(r.cgroup.path.clone())),
    label("unit", "the name a person knows it by: postfix.service, docker-4f3a9c01b2d7", |r| Value::Text(r.cgroup.unit())),
    rate("cpu_pct", Percent, "cgroups.cpu_usage_us", "CPU used over the interval, % of one CPU", |r| r.rate(|c| c.cpu)),
    rate("cpu_user_pct", Percent, "cgroups.cpu_user_us", "CPU used in user mode since the last read of the split, % of one CPU", |r| r.detail(|d| d.cpu_user)),
    rate("cpu_system_pct", Percent, "cgroups.cpu_system_us", "CPU used in the kernel since the last read of the split, % of one CPU", |r| r.detail(|d| d.cpu_system)),
    gauge("cpu_quota_pct", Percent, "its CPU quota (CPUQuota=), % of one CPU; empty when unlimited", |r| r.cgroup.cpu_quota_pct().into()),
    rate("throttled_pct", Percent, "cgroups.cpu_throttled_us", "time its tasks were held back by the quota, % of the interval", |r| r.rate(|c| c.throttled)),
    rate("throttled_periods_pct", Percent, "cgroups.cpu_throttled_periods", "quota periods in which it was throttled, % of its periods", |r| r.rate(|c| c.throttled_periods)),
    gauge("memory", Bytes, "memory charged to it now", |r| r.cgroup.memory_bytes.into()),
    gauge("memory_peak", Bytes, "the most memory charged to it, where the kernel keeps it", |r| r.cgroup.memory_peak_bytes.into()),
    gauge("memory_max", Bytes, "its memory limit (MemoryMax=); empty when unlimited", |r| r.cgroup.memory_max_bytes.into()),
    gauge("memory_high", Bytes, "where it is throttled and reclaimed (MemoryHigh=, v2); empty when unset", |r| r.cgroup.memory_high_bytes.into()),
    gauge("swap", Bytes, "its memory in swap", |r| r.cgroup.swap_bytes.into()),
    counter("memory_max_events", Count, "times it hit its memory limit (v2 memory.events max, v1 failcnt)", |r| r.cgroup.memory_max_events.into()),
    counter("memory_high_events", Count, "times it was throttled at memory.high (v2)", |r| r.cgroup.memory_high_events.into()),
    counter("oom_kills", Count, "processes the OOM killer killed in it", |r| r.cgroup.oom_kills.into()),
    gauge("tasks", Count, "tasks (processes and threads) in it", |r| r.cgroup.tasks.into()),
    gauge("tasks_max", Count, "its task limit (TasksMax=, pids.max); empty when unlimited", |r| r.cgroup.tasks_max.into()),
    counter("forks_refused", Count, "forks refused at its task limit (pids.events max)", |r| r.cgroup.forks_refused.into()),
    rate("forks_refused_per_s", Count, "cgroups.forks_refused", "forks refused at its task limit, per second", |r| r.rate(|c| c.forks_refused)),
    rate("read_bytes_per_s", Bytes, "cgroups.io.read_bytes", "bytes it read from block devices per second, since the last read of its I/O", |r| r.detail(|d| Some(d.read_bytes))),
    rate("write_bytes_per_s", Bytes, "cgroups.io.write_bytes", "bytes it wrote to block devices per second, since the last read of its I/O", |r| r.detail(|d| Some(d.write_bytes))),
    rate("read_ops_per_s", Count, "cgroups.io.read_ops", "reads it did per second, since the last read of its I/O", |r| r.detail(|d| Some(d.read_ops))),
    rate("write_ops_per_s", Count, "cgroups.io.write_ops", "writes it did per second, since the last read of its I/O", |r| r.detail(|d| Some(d.write_ops))),
    rate("cpu_stall_pct", Percent, "cgroups.psi_cpu.some_total_us", "time some of its tasks waited for a CPU, % of the interval", |r| r.rate(|c| c.stall_cpu)),
    rate("memory_stall_pct", Percent, "cgroups.psi_memory.some_total_us", "time some of its tasks stalled on memory, % of the interval", |r| r.rate(|c| c.stall_memory)),
    rate("io_stall_pct", Percent, "cgroups.psi_io.some_total_us", "time some of its tasks stalled on I/O, % of the interval", |r| r.rate(|c| c.stall_io)),
    gauge("psi_cpu_some_avg10", Percent, "its CPU pressure, some, 10 s average, where read", |r| r.psi(|c| &c.psi_cpu)),
    gauge("psi_memory_some_avg10", Percent, "its memory pressure, some, 10 s average, where read", |r| r.psi(|c| &c.psi_memory)),
    gauge("psi_io_some_avg10", Percent, "its I/O pressure, some, 10 s average, where read", |r| r.psi(|c| &c.psi_io)),
    Field { name: "detail_read_ms", unit: Plain, kind: super::Kind::Gauge, help: "when limits, swap, peak and I/O were last read, ms since the epoch: they are carried between reads", get: |r| Value::Int(r.cgroup.detail_read_ms), raw: None },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(time_ms: i64, usage_us: u64) -> StoredSample {
        let postfix = CgroupStats {
            path: "/system.slice/postfix.service".into(),
            cpu_usage_us: Some(usage_us),
            cpu_quota: Some((50_000, 100_000)),
            tasks: Some(4_915),
            detail_read_ms: time_ms,
            ..CgroupStats::default()
        };
        let sample = Sample { time_ms, cgroups: Some(vec![postfix]), ..Sample::default() };
        StoredSample { id: 1, run_id: 1, sample, missing: Vec::new() }
    }

    #[test]
    fn a_row_has_the_unit_its_limits_and_rates() {
        let mut seen = CgroupDetailSeen::default();
        let first = stored(0, 1_000_000);
        let second = stored(5_000, 3_500_000);
        assert!(cgroup_rows(&mut seen, None, &first)[0].rates.is_none());
        let rows = cgroup_rows(&mut seen, Some(&first.sample), &second);
        let get = |name| (super::super::find(CGROUPS, name).unwrap().get)(&rows[0]);
        assert_eq!(get("unit"), Value::Text("postfix.service".into()));
        assert_eq!(get("cpu_pct"), Value::Real(50.0));
        assert_eq!(get("cpu_quota_pct"), Value::Real(50.0));
        assert_eq!(get("tasks"), Value::Int(4_915));
        assert_eq!(get("tasks_max"), Value::Null);
    }
}
