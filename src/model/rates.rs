//! Rates and percentages from two samples: the one place where cumulative
//! counters become "per second" and "% of the interval". Any two samples of
//! the same boot give a rate, so a missing sample loses nothing.

use crate::model::sample::{
    CgroupStats, CpuTimes, Disk, Interface, NetTotals, Process, Psi, Sample, WatchedLog,
};
use std::collections::HashMap;

/// Clock ticks per second of /proc times (USER_HZ).
pub fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |t| t as f64)
}

/// Seconds between two samples; `None` when not positive (a clock step).
pub fn elapsed_s(prev: &Sample, cur: &Sample) -> Option<f64> {
    let seconds = (cur.time_ms - prev.time_ms) as f64 / 1000.0;
    (seconds > 0.0).then_some(seconds)
}

/// `(cur - prev) / seconds`; `None` when a counter went backwards (reboot,
/// wrap) or either side is missing.
pub fn per_second(prev: u64, cur: u64, seconds: f64) -> Option<f64> {
    cur.checked_sub(prev).map(|d| d as f64 / seconds)
}

/// CPU time split, in % of all CPUs' time over the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuPercent {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
}

impl CpuPercent {
    pub fn busy(&self) -> f64 {
        100.0 - self.idle - self.iowait
    }
}

pub fn cpu_percent(prev: &CpuTimes, cur: &CpuTimes) -> Option<CpuPercent> {
    let fields = |c: &CpuTimes| [c.user, c.nice, c.system, c.idle, c.iowait, c.irq, c.softirq, c.steal];
    let deltas: Vec<u64> =
        fields(cur).iter().zip(fields(prev)).map(|(c, p)| c.checked_sub(p)).collect::<Option<_>>()?;
    let total: u64 = deltas.iter().sum();
    if total == 0 {
        return None;
    }
    let pct = |i: usize| deltas[i] as f64 * 100.0 / total as f64;
    Some(CpuPercent {
        user: pct(0),
        nice: pct(1),
        system: pct(2),
        idle: pct(3),
        iowait: pct(4),
        irq: pct(5),
        softirq: pct(6),
        steal: pct(7),
    })
}

/// Share of the interval in which some (or all) tasks stalled, in %.
pub fn stall_percent(prev: &Psi, cur: &Psi, seconds: f64) -> (Option<f64>, Option<f64>) {
    let pct = |p: u64, c: u64| c.checked_sub(p).map(|d| d as f64 / (seconds * 1e4));
    let some = pct(prev.some_total_us, cur.some_total_us);
    let full = prev.full_total_us.zip(cur.full_total_us).and_then(|(p, c)| pct(p, c));
    (some, full)
}

/// One process over the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessRates {
    /// % of one CPU, like top: a process busy on two cores shows 200.
    pub cpu_user: f64,
    pub cpu_system: f64,
    pub minor_faults: f64,
    pub major_faults: f64,
    pub read_bytes: Option<f64>,
    pub write_bytes: Option<f64>,
}

impl ProcessRates {
    pub fn cpu(&self) -> f64 {
        self.cpu_user + self.cpu_system
    }
}

/// `ticks` of CPU time used in `seconds`, in % of one CPU.
pub fn cpu_share(ticks: u64, seconds: f64, ticks_per_s: f64) -> f64 {
    ticks as f64 * 100.0 / (seconds * ticks_per_s)
}

/// Rates of `cur` against the same process (pid and start time) in `prev`.
pub fn process_rates(prev: &Process, cur: &Process, seconds: f64, ticks_per_s: f64) -> ProcessRates {
    let cpu = |p: u64, c: u64| cpu_share(c.saturating_sub(p), seconds, ticks_per_s);
    let io = |p: Option<u64>, c: Option<u64>| p.zip(c).and_then(|(p, c)| per_second(p, c, seconds));
    ProcessRates {
        cpu_user: cpu(prev.utime_ticks, cur.utime_ticks),
        cpu_system: cpu(prev.stime_ticks, cur.stime_ticks),
        minor_faults: per_second(prev.minor_faults, cur.minor_faults, seconds).unwrap_or(0.0),
        major_faults: per_second(prev.major_faults, cur.major_faults, seconds).unwrap_or(0.0),
        read_bytes: io(prev.read_bytes, cur.read_bytes),
        write_bytes: io(prev.write_bytes, cur.write_bytes),
    }
}

/// Every process of `cur` with its rates against `prev`, where it existed.
pub fn process_table<'a>(
    prev: Option<&Sample>,
    cur: &'a Sample,
    ticks_per_s: f64,
) -> Vec<(&'a Process, Option<ProcessRates>)> {
    let Some(list) = cur.processes.as_deref() else {
        return Vec::new();
    };
    let seconds = prev.and_then(|p| elapsed_s(p, cur));
    let before: HashMap<(u32, u64), &Process> = prev
        .and_then(|p| p.processes.as_deref())
        .map(|old| old.iter().map(|p| (p.key(), p)).collect())
        .unwrap_or_default();
    list.iter()
        .map(|p| {
            let rates = seconds
                .zip(before.get(&p.key()))
                .map(|(seconds, old)| process_rates(old, p, seconds, ticks_per_s));
            (p, rates)
        })
        .collect()
}

/// Busiest first (CPU over the interval; RSS breaks ties and ranks new
/// processes, which have no rate yet).
pub fn rank_by_cpu(table: &mut [(&Process, Option<ProcessRates>)]) {
    let cpu = |row: &(&Process, Option<ProcessRates>)| row.1.map_or(0.0, |r| r.cpu());
    table.sort_by(|a, b| cpu(b).total_cmp(&cpu(a)).then(b.0.rss_bytes.cmp(&a.0.rss_bytes)));
}

/// Largest resident memory first.
pub fn rank_by_memory(table: &mut [(&Process, Option<ProcessRates>)]) {
    table.sort_by_key(|row| std::cmp::Reverse(row.0.rss_bytes));
}

/// One disk over the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiskRates {
    pub reads: f64,
    pub writes: f64,
    pub read_bytes: f64,
    pub write_bytes: f64,
    /// % of the interval with I/O in flight.
    pub busy: f64,
    /// Average time per completed I/O, ms.
    pub wait_ms: f64,
}

pub fn disk_rates(prev: &Disk, cur: &Disk, seconds: f64) -> Option<DiskRates> {
    let d = |p: u64, c: u64| c.checked_sub(p);
    let (reads, writes) = (d(prev.reads, cur.reads)?, d(prev.writes, cur.writes)?);
    let waited = d(prev.read_ms, cur.read_ms)? + d(prev.write_ms, cur.write_ms)?;
    let done = reads + writes;
    Some(DiskRates {
        reads: reads as f64 / seconds,
        writes: writes as f64 / seconds,
        read_bytes: d(prev.read_sectors, cur.read_sectors)? as f64 * 512.0 / seconds,
        write_bytes: d(prev.write_sectors, cur.write_sectors)? as f64 * 512.0 / seconds,
        busy: (d(prev.io_ms, cur.io_ms)? as f64 / (seconds * 10.0)).min(100.0),
        wait_ms: if done == 0 { 0.0 } else { waited as f64 / done as f64 },
    })
}

/// One interface over the interval, per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InterfaceRates {
    pub rx_bytes: f64,
    pub tx_bytes: f64,
    pub rx_packets: f64,
    pub tx_packets: f64,
    pub rx_errors: f64,
    pub tx_errors: f64,
    pub rx_drops: f64,
    pub tx_drops: f64,
}

pub fn interface_rates(prev: &Interface, cur: &Interface, seconds: f64) -> Option<InterfaceRates> {
    let r = |p: u64, c: u64| per_second(p, c, seconds);
    Some(InterfaceRates {
        rx_bytes: r(prev.rx_bytes, cur.rx_bytes)?,
        tx_bytes: r(prev.tx_bytes, cur.tx_bytes)?,
        rx_packets: r(prev.rx_packets, cur.rx_packets)?,
        tx_packets: r(prev.tx_packets, cur.tx_packets)?,
        rx_errors: r(prev.rx_errors, cur.rx_errors)?,
        tx_errors: r(prev.tx_errors, cur.tx_errors)?,
        rx_drops: r(prev.rx_drops, cur.rx_drops)?,
        tx_drops: r(prev.tx_drops, cur.tx_drops)?,
    })
}

/// TCP counters of the whole machine over the interval, per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TcpRates {
    pub active_opens: Option<f64>,
    pub passive_opens: Option<f64>,
    pub attempt_fails: Option<f64>,
    /// Resets of established connections and resets sent.
    pub resets: Option<f64>,
    pub retransmits: Option<f64>,
    pub listen_overflows: Option<f64>,
}

pub fn tcp_rates(prev: &NetTotals, cur: &NetTotals, seconds: f64) -> TcpRates {
    let rate = |p: u64, c: u64| per_second(p, c, seconds);
    TcpRates {
        active_opens: rate(prev.tcp_active_opens, cur.tcp_active_opens),
        passive_opens: rate(prev.tcp_passive_opens, cur.tcp_passive_opens),
        attempt_fails: rate(prev.tcp_attempt_fails, cur.tcp_attempt_fails),
        resets: rate(prev.tcp_estab_resets + prev.tcp_out_resets, cur.tcp_estab_resets + cur.tcp_out_resets),
        retransmits: rate(prev.tcp_retrans_segs, cur.tcp_retrans_segs),
        listen_overflows: rate(prev.listen_overflows, cur.listen_overflows),
    }
}

/// What a watched log appended, per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogRates {
    pub bytes: Option<f64>,
    pub lines: Option<f64>,
}

/// Rates of a log between two sightings `seconds` apart (they may span
/// samples without it).
pub fn log_rates(prev: &WatchedLog, cur: &WatchedLog, seconds: f64) -> LogRates {
    LogRates {
        bytes: per_second(prev.bytes_written, cur.bytes_written, seconds),
        lines: per_second(prev.lines_written, cur.lines_written, seconds),
    }
}

/// One cgroup over the interval, from what is read every tick.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupRates {
    /// % of one CPU, like a process's.
    pub cpu: Option<f64>,
    /// Time its tasks were held back by its CPU quota, % of the interval
    /// (over 100 when several CPUs' worth were held back).
    pub throttled: Option<f64>,
    /// Quota periods in which it was throttled, % of its periods.
    pub throttled_periods: Option<f64>,
    /// Forks refused at its pids limit, per second.
    pub forks_refused: Option<f64>,
    /// Share of the interval in which some of its tasks stalled, %.
    pub stall_cpu: Option<f64>,
    pub stall_memory: Option<f64>,
    pub stall_io: Option<f64>,
}

/// Rates of `cur` against the same cgroup `seconds` earlier.
pub fn cgroup_rates(prev: &CgroupStats, cur: &CgroupStats, seconds: f64) -> CgroupRates {
    let delta = |p: Option<u64>, c: Option<u64>| c?.checked_sub(p?);
    let share = |p, c| delta(p, c).map(|us| us as f64 * 100.0 / (seconds * 1e6));
    let stall = |p: &Option<Psi>, c: &Option<Psi>| stall_percent(p.as_ref()?, c.as_ref()?, seconds).0;
    let periods = delta(prev.cpu_periods, cur.cpu_periods).filter(|&n| n > 0);
    CgroupRates {
        cpu: share(prev.cpu_usage_us, cur.cpu_usage_us),
        throttled: share(prev.cpu_throttled_us, cur.cpu_throttled_us),
        throttled_periods: periods
            .zip(delta(prev.cpu_throttled_periods, cur.cpu_throttled_periods))
            .map(|(all, throttled)| throttled as f64 * 100.0 / all as f64),
        forks_refused: delta(prev.forks_refused, cur.forks_refused).map(|n| n as f64 / seconds),
        stall_cpu: stall(&prev.psi_cpu, &cur.psi_cpu),
        stall_memory: stall(&prev.psi_memory, &cur.psi_memory),
        stall_io: stall(&prev.psi_io, &cur.psi_io),
    }
}

/// One cgroup between two reads of its detail (`CgroupStats::detail_read_ms`):
/// the user/system split on v1 and I/O are read every few ticks, so their
/// rates span the reads, not one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupDetailRates {
    /// % of one CPU.
    pub cpu_user: Option<f64>,
    pub cpu_system: Option<f64>,
    /// Per second, summed over its devices.
    pub read_bytes: f64,
    pub write_bytes: f64,
    pub read_ops: f64,
    pub write_ops: f64,
}

pub fn cgroup_detail_rates(prev: &CgroupStats, cur: &CgroupStats, seconds: f64) -> Option<CgroupDetailRates> {
    let cpu =
        |p: Option<u64>, c: Option<u64>| c?.checked_sub(p?).map(|us| us as f64 * 100.0 / (seconds * 1e6));
    let total = |c: &CgroupStats, part: fn(&crate::model::sample::DeviceIo) -> u64| -> u64 {
        c.io.iter().map(part).sum()
    };
    let rate = |part: fn(&crate::model::sample::DeviceIo) -> u64| {
        per_second(total(prev, part), total(cur, part), seconds)
    };
    Some(CgroupDetailRates {
        cpu_user: cpu(prev.cpu_user_us, cur.cpu_user_us),
        cpu_system: cpu(prev.cpu_system_us, cur.cpu_system_us),
        read_bytes: rate(|d| d.read_bytes)?,
        write_bytes: rate(|d| d.write_bytes)?,
        read_ops: rate(|d| d.read_ops)?,
        write_ops: rate(|d| d.write_ops)?,
    })
}

/// Each cgroup's last detail read seen, to give detail rates between two
/// such reads.
#[derive(Debug, Default)]
pub struct CgroupDetailSeen {
    last: HashMap<String, CgroupStats>,
}

impl CgroupDetailSeen {
    /// The detail rates of `cur` since its detail read before; `None`
    /// where this sample did not read it (the read time did not change),
    /// or no read was seen before. Call for every sample, oldest first.
    pub fn rates(&mut self, cur: &CgroupStats) -> Option<CgroupDetailRates> {
        if self.last.get(&cur.path).is_some_and(|old| old.detail_read_ms == cur.detail_read_ms) {
            return None;
        }
        let old = self.last.insert(cur.path.clone(), cur.clone())?;
        let seconds = (cur.detail_read_ms - old.detail_read_ms) as f64 / 1000.0;
        (seconds > 0.0).then(|| cgroup_detail_rates(&old, cur, seconds)).flatten()
    }
}

/// Every cgroup of `cur` with its rates against `prev`, where it was there.
pub fn cgroup_table<'a>(
    prev: Option<&Sample>,
    cur: &'a Sample,
) -> Vec<(&'a CgroupStats, Option<CgroupRates>)> {
    let Some(list) = cur.cgroups.as_deref() else {
        return Vec::new();
    };
    let seconds = prev.and_then(|p| elapsed_s(p, cur));
    let before: HashMap<&str, &CgroupStats> = prev
        .and_then(|p| p.cgroups.as_deref())
        .map(|old| old.iter().map(|c| (c.path.as_str(), c)).collect())
        .unwrap_or_default();
    list.iter()
        .map(|c| {
            let rates =
                seconds.zip(before.get(c.path.as_str())).map(|(seconds, old)| cgroup_rates(old, c, seconds));
            (c, rates)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_split_sums_to_100() {
        let prev = CpuTimes { user: 100, system: 50, idle: 1000, ..CpuTimes::default() };
        let cur = CpuTimes { user: 150, system: 75, idle: 1100, iowait: 25, ..CpuTimes::default() };
        let pct = cpu_percent(&prev, &cur).unwrap();
        assert_eq!((pct.user, pct.system, pct.idle, pct.iowait), (25.0, 12.5, 50.0, 12.5));
        assert_eq!(pct.busy(), 37.5);
        assert!(cpu_percent(&cur, &prev).is_none(), "counters going backwards give no rate");
    }

    #[test]
    fn process_cpu_is_percent_of_one_cpu() {
        let prev = Process { utime_ticks: 100, stime_ticks: 10, read_bytes: Some(0), ..Process::default() };
        let cur =
            Process { utime_ticks: 600, stime_ticks: 110, read_bytes: Some(5000), ..Process::default() };
        let rates = process_rates(&prev, &cur, 5.0, 100.0);
        assert_eq!((rates.cpu_user, rates.cpu_system, rates.cpu()), (100.0, 20.0, 120.0));
        assert_eq!((rates.read_bytes, rates.write_bytes), (Some(1000.0), None));
    }

    #[test]
    fn disk_busy_and_wait() {
        let prev = Disk { reads: 10, read_ms: 10, io_ms: 0, ..Disk::default() };
        let cur = Disk {
            reads: 20,
            writes: 10,
            read_ms: 50,
            write_ms: 20,
            read_sectors: 2048,
            io_ms: 2500,
            ..Disk::default()
        };
        let r = disk_rates(&prev, &cur, 5.0).unwrap();
        assert_eq!((r.reads, r.writes, r.busy, r.wait_ms), (2.0, 2.0, 50.0, 3.0));
        assert_eq!(r.read_bytes, 2048.0 * 512.0 / 5.0);
    }

    #[test]
    fn stall_percent_from_totals() {
        let prev = Psi { some_total_us: 0, full_total_us: Some(0), ..Psi::default() };
        let cur = Psi { some_total_us: 2_500_000, full_total_us: Some(500_000), ..Psi::default() };
        assert_eq!(stall_percent(&prev, &cur, 5.0), (Some(50.0), Some(10.0)));
    }

    #[test]
    fn cgroup_cpu_throttling_and_refused_forks() {
        let prev = CgroupStats {
            cpu_usage_us: Some(1_000_000),
            cpu_periods: Some(100),
            cpu_throttled_periods: Some(10),
            cpu_throttled_us: Some(0),
            forks_refused: Some(5),
            ..CgroupStats::default()
        };
        let cur = CgroupStats {
            cpu_usage_us: Some(3_500_000),
            cpu_periods: Some(150),
            cpu_throttled_periods: Some(35),
            cpu_throttled_us: Some(2_000_000),
            forks_refused: Some(30),
            ..CgroupStats::default()
        };
        let rates = cgroup_rates(&prev, &cur, 5.0);
        assert_eq!((rates.cpu, rates.throttled), (Some(50.0), Some(40.0)));
        assert_eq!((rates.throttled_periods, rates.forks_refused), (Some(50.0), Some(5.0)));
        assert_eq!(rates.stall_memory, None, "no pressure read: no stall share");
    }

    #[test]
    fn cgroup_detail_rates_span_the_reads_of_the_detail() {
        use crate::model::sample::DeviceIo;
        let at = |bytes: u64, read_ms: i64| CgroupStats {
            path: "/system.slice/postfix.service".into(),
            io: vec![DeviceIo { device: "8:0".into(), write_bytes: bytes, ..DeviceIo::default() }],
            detail_read_ms: read_ms,
            ..CgroupStats::default()
        };
        let mut seen = CgroupDetailSeen::default();
        assert_eq!(seen.rates(&at(0, 0)), None, "the first read has nothing to compare with");
        assert_eq!(seen.rates(&at(0, 0)), None, "carried, not read");
        let rates = seen.rates(&at(6_000_000, 60_000)).unwrap();
        assert_eq!(rates.write_bytes, 100_000.0);
    }
}
