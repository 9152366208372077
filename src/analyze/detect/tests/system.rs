//! The system scalars: load and CPU, memory and swap, pressure, limits,
//! disks, and the recorder's lateness.

use super::*;
use crate::analyze::Severity;
use crate::model::rates::ticks_per_second;
use crate::model::sample::{CpuTimes, Disk, FileHandles, LoadAvg, Memory, Pressure, Psi, Tasks, VmCounters};

fn loads(values: &[f64]) -> Vec<StoredSample> {
    samples(values.len(), |i, s| {
        s.load = Some(LoadAvg { load1: values[i], ..LoadAvg::default() });
        s.cpu = Some(CpuTimes { ncpu: 2, procs_running: 3, ..CpuTimes::default() });
    })
}

#[test]
fn load_high_at_twice_the_cpus() {
    let found = found_in(&loads(&[0.5, 1.0, 4.0, 9.0]), &[]);
    let f = the(&found, "load_high");
    assert_eq!(f.severity, Severity::High, "9 is over 4 × 2 CPUs");
    assert_values(&f, &[("baseline", j(0.5)), ("peak", j(9.0)), ("peak_ms", j(t(3))), ("cpus", j(2.0))]);
    assert_eq!(f.first_seen_ms, Some(t(0)));
    none_of(&found_in(&loads(&[0.5, 1.0, 3.9]), &[]), "load_high");
}

/// A process using `ticks_per_step` clock ticks every 5 s.
fn consumer(ticks_per_step: f64) -> Vec<StoredSample> {
    samples(4, |i, s| {
        let used = (ticks_per_step * i as f64) as u64;
        s.processes = Some(vec![Process { utime_ticks: used, ..process(100, "spin") }]);
    })
}

#[test]
fn cpu_top_consumers_from_five_percent_of_a_cpu() {
    let hz = ticks_per_second();
    let f = the(&found_in(&consumer(5.0 * hz), &[]), "cpu_top_consumers");
    assert_values(&f, &[("spin", j(100.0))]);
    assert_eq!(f.severity, Severity::Info, "15 s at 100% is not yet spinning");
    none_of(&found_in(&consumer(0.04 * 5.0 * hz), &[]), "cpu_top_consumers");
}

fn steal(per_step: u64) -> Vec<StoredSample> {
    samples(4, |i, s| {
        let i = i as u64;
        s.cpu = Some(CpuTimes {
            user: (100 - per_step) * i,
            steal: per_step * i,
            ncpu: 1,
            ..CpuTimes::default()
        });
    })
}

#[test]
fn cpu_steal_from_ten_percent_on_average() {
    let f = the(&found_in(&steal(10), &[]), "cpu_steal");
    assert_values(&f, &[("mean_pct", j(10.0)), ("peak_pct", j(10.0))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    none_of(&found_in(&steal(9), &[]), "cpu_steal");
}

fn available(mib: &[u64]) -> Vec<StoredSample> {
    samples(mib.len(), |i, s| {
        s.memory = Some(Memory { total: 1000 * MIB, available: mib[i] * MIB, ..Memory::default() });
    })
}

#[test]
fn memory_low_under_ten_percent_available() {
    let f = the(&found_in(&available(&[150, 120, 80]), &[]), "memory_low");
    assert_values(
        &f,
        &[("available_min", j((80 * MIB) as f64)), ("total", j((1000 * MIB) as f64)), ("at_ms", j(t(2)))],
    );
    assert_eq!(f.severity, Severity::Medium);
    none_of(&found_in(&available(&[150, 120, 110]), &[]), "memory_low");
}

#[test]
fn memory_low_when_a_quarter_of_memory_went() {
    let f = the(&found_in(&available(&[600, 450, 350]), &[]), "memory_low");
    assert_values(&f, &[("available_min", j((350 * MIB) as f64))]);
    none_of(&found_in(&available(&[600, 450, 351]), &[]), "memory_low");
}

fn vm(fill: impl Fn(usize) -> VmCounters) -> Vec<StoredSample> {
    samples(4, |i, s| s.vm = Some(fill(i)))
}

#[test]
fn oom_kill_counts_the_kills() {
    let f = the(
        &found_in(&vm(|i| VmCounters { oom_kills: 3 + u64::from(i >= 2), ..Default::default() }), &[]),
        "oom_kill",
    );
    assert_values(&f, &[("kills", j(1.0))]);
    assert_eq!(f.first_seen_ms, Some(t(2)));
    none_of(&found_in(&vm(|_| VmCounters { oom_kills: 3, ..Default::default() }), &[]), "oom_kill");
}

#[test]
fn swapping_from_a_thousand_pages_a_second() {
    let f = the(
        &found_in(&vm(|i| VmCounters { swap_out: 5000 * i as u64, ..Default::default() }), &[]),
        "swapping",
    );
    assert_values(&f, &[("swap_out_peak_per_s", j(1000.0))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    none_of(
        &found_in(&vm(|i| VmCounters { swap_out: 4995 * i as u64, ..Default::default() }), &[]),
        "swapping",
    );
}

#[test]
fn major_faults_from_a_thousand_a_second() {
    let f = the(
        &found_in(&vm(|i| VmCounters { major_faults: 5000 * i as u64, ..Default::default() }), &[]),
        "major_faults",
    );
    assert_values(&f, &[("major_faults_peak_per_s", j(1000.0))]);
    none_of(
        &found_in(&vm(|i| VmCounters { major_faults: 4995 * i as u64, ..Default::default() }), &[]),
        "major_faults",
    );
}

fn cpu_pressure(peak: f64) -> Vec<StoredSample> {
    samples(3, |i, s| {
        let some_avg10 = if i == 2 { peak } else { 1.0 };
        s.pressure = Pressure { cpu: Some(Psi { some_avg10, ..Psi::default() }), ..Pressure::default() };
    })
}

#[test]
fn pressure_from_half_the_time_stalled_on_cpu() {
    let f = the(&found_in(&cpu_pressure(50.0), &[]), "pressure");
    assert_values(&f, &[("peak_avg10", j(50.0)), ("line", j("some"))]);
    assert_eq!((f.severity, f.first_seen_ms), (Severity::Medium, Some(t(2))));
    none_of(&found_in(&cpu_pressure(49.9), &[]), "pressure");
}

fn open_files(allocated: u64) -> Vec<StoredSample> {
    samples(2, |i, s| {
        s.files = Some(FileHandles { allocated: if i == 1 { allocated } else { 10 }, max: 1000 })
    })
}

#[test]
fn file_handles_near_limit_from_eighty_percent() {
    let f = the(&found_in(&open_files(800), &[]), "file_handles_near_limit");
    assert_values(&f, &[("peak_pct", j(80.0))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    none_of(&found_in(&open_files(799), &[]), "file_handles_near_limit");
}

fn tasks(processes: u64) -> Vec<StoredSample> {
    samples(2, |_, s| {
        s.tasks = Some(Tasks { processes, threads: processes, pid_max: 1000, threads_max: 100_000 })
    })
}

#[test]
fn tasks_near_limit_from_eighty_percent_of_pid_max() {
    let f = the(&found_in(&tasks(800), &[]), "tasks_near_limit");
    assert_values(&f, &[("peak_pct", j(80.0))]);
    assert_eq!((f.subject.as_str(), f.first_seen_ms), ("processes", Some(t(0))));
    none_of(&found_in(&tasks(799), &[]), "tasks_near_limit");
}

/// A disk busy for `busy_ms` of every 5 s, with 10 I/Os of 20 ms each.
fn disk(busy_ms: u64, n: usize) -> Vec<StoredSample> {
    samples(n, |i, s| {
        let i = i as u64;
        s.disks = Some(vec![Disk {
            name: "sda".into(),
            io_ms: busy_ms * i,
            writes: 10 * i,
            write_ms: 200 * i,
            ..Disk::default()
        }]);
    })
}

#[test]
fn disk_saturated_in_three_intervals_at_ninety_percent() {
    let f = the(&found_in(&disk(4500, 4), &[]), "disk_saturated");
    assert_values(&f, &[("saturated_intervals", j(3)), ("wait_ms_max", j(20.0))]);
    assert_eq!((f.subject.as_str(), f.first_seen_ms), ("sda", Some(t(1))));
    none_of(&found_in(&disk(4450, 4), &[]), "disk_saturated");
    none_of(&found_in(&disk(4500, 3), &[]), "disk_saturated");
}

fn late(lateness_ms: i64) -> Vec<StoredSample> {
    samples(3, |i, s| s.lateness_ms = if i == 1 { lateness_ms } else { 3 })
}

#[test]
fn recorder_late_from_one_interval() {
    let f = the(&found_in(&late(STEP), &[]), "recorder_late");
    assert_values(&f, &[("lateness_ms_max", j(STEP as f64)), ("late_ticks", j(1))]);
    assert_eq!((f.severity, f.first_seen_ms), (Severity::Medium, Some(t(1))));
    none_of(&found_in(&late(STEP - 1), &[]), "recorder_late");
}
