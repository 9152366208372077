//! The machine's scalars, one row per sample (`export --what system`).

use super::{
    Field, Raw, Stamped, Unit, Value, counter, gauge, label, rate, ticks_ms, time, time_ms, with_raw,
};
use crate::model::StoredSample;
use crate::model::rates::{self, CpuPercent};
use crate::model::sample::{CpuTimes, Psi, Sample};

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
    pub fn new(prev: Option<&Sample>, cur: &StoredSample) -> Self {
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

    /// Share of the interval stalled: `some` tasks, or `full` (all).
    fn stall(&self, psi: fn(&Sample) -> Option<&Psi>, full: bool) -> Value {
        let (Some(prev), Some(seconds)) = (&self.prev, self.seconds) else {
            return Value::Null;
        };
        let Some((p, c)) = psi(prev).zip(psi(&self.sample)) else {
            return Value::Null;
        };
        let (some, all) = rates::stall_percent(p, c, seconds);
        if full { all.into() } else { some.into() }
    }

    fn count(&self, get: fn(&Sample) -> Option<u64>) -> Value {
        get(&self.sample).into()
    }

    /// One of the CPU time counters, as milliseconds.
    fn ticks(&self, get: fn(&CpuTimes) -> u64) -> Value {
        self.sample.cpu.as_ref().map_or(Value::Null, |c| ticks_ms(get(c)))
    }
}

use Unit::{Bytes, Count, Microseconds, Milliseconds, Percent, Plain};

#[rustfmt::skip]
pub const SYSTEM: &[Field<SystemRow>] = &[
    time(),
    time_ms(),
    label("run", "the recorder run the sample belongs to", |r| Value::Int(r.run_id)),
    gauge("lateness_ms", Milliseconds, "how late the timer fired for this sample", |r| Value::Int(r.sample.lateness_ms)),
    gauge("suspended_ms", Milliseconds, "time suspended since the previous sample", |r| Value::Int(r.sample.suspended_ms)),
    gauge("collect_us", Microseconds, "time spent collecting the sample", |r| Value::Int(r.sample.collect_us)),
    gauge("load1", Plain, "load average over 1 minute", |r| r.sample.load.map(|l| l.load1).into()),
    gauge("load5", Plain, "load average over 5 minutes", |r| r.sample.load.map(|l| l.load5).into()),
    gauge("load15", Plain, "load average over 15 minutes", |r| r.sample.load.map(|l| l.load15).into()),
    with_raw(rate("cpu_busy_pct", Percent, "cpu", "CPU time not idle nor waiting for I/O, % of all CPUs", |r| r.cpu(CpuPercent::busy)), Raw { unit: Milliseconds, help: "CPU time not idle nor waiting for I/O since boot, summed over all CPUs", get: |r| r.ticks(|c| c.user + c.nice + c.system + c.irq + c.softirq + c.steal) }),
    with_raw(rate("cpu_user_pct", Percent, "cpu.user", "CPU time in user mode, % of all CPUs", |r| r.cpu(|c| c.user)), Raw { unit: Milliseconds, help: "CPU time in user mode since boot, summed over all CPUs", get: |r| r.ticks(|c| c.user) }),
    with_raw(rate("cpu_nice_pct", Percent, "cpu.nice", "CPU time in niced user mode, % of all CPUs", |r| r.cpu(|c| c.nice)), Raw { unit: Milliseconds, help: "CPU time in niced user mode since boot, summed over all CPUs", get: |r| r.ticks(|c| c.nice) }),
    with_raw(rate("cpu_system_pct", Percent, "cpu.system", "CPU time in the kernel, % of all CPUs", |r| r.cpu(|c| c.system)), Raw { unit: Milliseconds, help: "CPU time in the kernel since boot, summed over all CPUs", get: |r| r.ticks(|c| c.system) }),
    with_raw(rate("cpu_idle_pct", Percent, "cpu.idle", "CPU time idle, % of all CPUs", |r| r.cpu(|c| c.idle)), Raw { unit: Milliseconds, help: "CPU time idle since boot, summed over all CPUs", get: |r| r.ticks(|c| c.idle) }),
    with_raw(rate("cpu_iowait_pct", Percent, "cpu.iowait", "CPU time idle waiting for I/O, % of all CPUs", |r| r.cpu(|c| c.iowait)), Raw { unit: Milliseconds, help: "CPU time idle waiting for I/O since boot, summed over all CPUs", get: |r| r.ticks(|c| c.iowait) }),
    with_raw(rate("cpu_irq_pct", Percent, "cpu.irq", "CPU time serving interrupts, % of all CPUs", |r| r.cpu(|c| c.irq)), Raw { unit: Milliseconds, help: "CPU time serving interrupts since boot, summed over all CPUs", get: |r| r.ticks(|c| c.irq) }),
    with_raw(rate("cpu_softirq_pct", Percent, "cpu.softirq", "CPU time serving soft interrupts, % of all CPUs", |r| r.cpu(|c| c.softirq)), Raw { unit: Milliseconds, help: "CPU time serving soft interrupts since boot, summed over all CPUs", get: |r| r.ticks(|c| c.softirq) }),
    with_raw(rate("cpu_steal_pct", Percent, "cpu.steal", "CPU time taken by the hypervisor, % of all CPUs", |r| r.cpu(|c| c.steal)), Raw { unit: Milliseconds, help: "CPU time taken by the hypervisor since boot, summed over all CPUs", get: |r| r.ticks(|c| c.steal) }),
    with_raw(rate("context_switches_per_s", Count, "cpu.ctxt", "context switches per second", |r| r.rate(|s| Some(s.cpu?.ctxt))), Raw { unit: Count, help: "context switches since boot", get: |r| r.count(|s| Some(s.cpu?.ctxt)) }),
    with_raw(rate("forks_per_s", Count, "cpu.forks", "processes created per second", |r| r.rate(|s| Some(s.cpu?.forks))), Raw { unit: Count, help: "processes created since boot", get: |r| r.count(|s| Some(s.cpu?.forks)) }),
    gauge("procs_running", Count, "tasks runnable when /proc/stat was read, the recorder included", |r| r.count(|s| Some(s.cpu?.procs_running))),
    gauge("procs_blocked", Count, "tasks blocked on I/O now", |r| r.count(|s| Some(s.cpu?.procs_blocked))),
    gauge("mem_total", Bytes, "memory usable by the kernel", |r| r.count(|s| Some(s.memory?.total))),
    gauge("mem_available", Bytes, "memory available for new work without swapping", |r| r.count(|s| Some(s.memory?.available))),
    gauge("mem_free", Bytes, "memory unused", |r| r.count(|s| Some(s.memory?.free))),
    gauge("mem_buffers", Bytes, "memory in block device buffers", |r| r.count(|s| Some(s.memory?.buffers))),
    gauge("mem_cached", Bytes, "memory in the page cache", |r| r.count(|s| Some(s.memory?.cached))),
    gauge("mem_dirty", Bytes, "memory waiting to be written back", |r| r.count(|s| Some(s.memory?.dirty))),
    gauge("mem_writeback", Bytes, "memory being written back now", |r| r.count(|s| Some(s.memory?.writeback))),
    gauge("mem_shmem", Bytes, "shared memory and tmpfs", |r| r.count(|s| Some(s.memory?.shmem))),
    gauge("mem_slab", Bytes, "kernel slab caches", |r| r.count(|s| Some(s.memory?.slab))),
    gauge("mem_committed", Bytes, "memory promised to processes (Committed_AS)", |r| r.count(|s| Some(s.memory?.committed))),
    gauge("swap_total", Bytes, "swap space", |r| r.count(|s| Some(s.memory?.swap_total))),
    gauge("swap_free", Bytes, "swap space unused", |r| r.count(|s| Some(s.memory?.swap_free))),
    gauge("swap_used", Bytes, "swap space in use", |r| r.count(|s| Some(s.memory?.swap_total.saturating_sub(s.memory?.swap_free)))),
    with_raw(rate("major_faults_per_s", Count, "vm.major_faults", "page faults that read from disk, per second", |r| r.rate(|s| Some(s.vm?.major_faults))), Raw { unit: Count, help: "page faults that read from disk since boot", get: |r| r.count(|s| Some(s.vm?.major_faults)) }),
    with_raw(rate("swap_in_per_s", Count, "vm.swap_in", "pages swapped in per second", |r| r.rate(|s| Some(s.vm?.swap_in))), Raw { unit: Count, help: "pages swapped in since boot", get: |r| r.count(|s| Some(s.vm?.swap_in)) }),
    with_raw(rate("swap_out_per_s", Count, "vm.swap_out", "pages swapped out per second", |r| r.rate(|s| Some(s.vm?.swap_out))), Raw { unit: Count, help: "pages swapped out since boot", get: |r| r.count(|s| Some(s.vm?.swap_out)) }),
    counter("oom_kills", Count, "processes killed by the OOM killer since boot", |r| r.count(|s| Some(s.vm?.oom_kills))),
    gauge("psi_cpu_some_avg10", Percent, "CPU pressure: time some tasks waited, 10 s average", |r| r.sample.pressure.cpu.map(|p| p.some_avg10).into()),
    with_raw(rate("psi_cpu_some_pct", Percent, "pressure.cpu.some_total_us", "CPU pressure: time some tasks waited, % of the interval", |r| r.stall(|s| s.pressure.cpu.as_ref(), false)), Raw { unit: Microseconds, help: "time some tasks waited for CPU since boot", get: |r| r.count(|s| Some(s.pressure.cpu?.some_total_us)) }),
    gauge("psi_memory_some_avg10", Percent, "memory pressure: time some tasks stalled, 10 s average", |r| r.sample.pressure.memory.map(|p| p.some_avg10).into()),
    with_raw(rate("psi_memory_some_pct", Percent, "pressure.memory.some_total_us", "memory pressure: time some tasks stalled, % of the interval", |r| r.stall(|s| s.pressure.memory.as_ref(), false)), Raw { unit: Microseconds, help: "time some tasks stalled on memory since boot", get: |r| r.count(|s| Some(s.pressure.memory?.some_total_us)) }),
    with_raw(rate("psi_memory_full_pct", Percent, "pressure.memory.full_total_us", "memory pressure: time all tasks stalled, % of the interval", |r| r.stall(|s| s.pressure.memory.as_ref(), true)), Raw { unit: Microseconds, help: "time all tasks stalled on memory since boot", get: |r| r.count(|s| s.pressure.memory?.full_total_us) }),
    gauge("psi_io_some_avg10", Percent, "I/O pressure: time some tasks stalled, 10 s average", |r| r.sample.pressure.io.map(|p| p.some_avg10).into()),
    with_raw(rate("psi_io_some_pct", Percent, "pressure.io.some_total_us", "I/O pressure: time some tasks stalled, % of the interval", |r| r.stall(|s| s.pressure.io.as_ref(), false)), Raw { unit: Microseconds, help: "time some tasks stalled on I/O since boot", get: |r| r.count(|s| Some(s.pressure.io?.some_total_us)) }),
    with_raw(rate("psi_io_full_pct", Percent, "pressure.io.full_total_us", "I/O pressure: time all tasks stalled, % of the interval", |r| r.stall(|s| s.pressure.io.as_ref(), true)), Raw { unit: Microseconds, help: "time all tasks stalled on I/O since boot", get: |r| r.count(|s| s.pressure.io?.full_total_us) }),
    gauge("files_allocated", Count, "open file handles of the whole machine", |r| r.count(|s| Some(s.files?.allocated))),
    gauge("files_max", Count, "the limit of open file handles (fs.file-max)", |r| r.count(|s| Some(s.files?.max))),
    gauge("processes", Count, "processes", |r| r.count(|s| Some(s.tasks?.processes))),
    gauge("threads", Count, "threads", |r| r.count(|s| Some(s.tasks?.threads))),
    gauge("pid_max", Count, "the limit of process ids (kernel.pid_max)", |r| r.count(|s| Some(s.tasks?.pid_max))),
    gauge("threads_max", Count, "the limit of threads (kernel.threads-max)", |r| r.count(|s| Some(s.tasks?.threads_max))),
];

impl Stamped for SystemRow {
    fn time_ms(&self) -> i64 {
        self.sample.time_ms
    }
}
