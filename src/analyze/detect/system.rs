//! Detectors over the system scalars: load and CPU, memory and swap, PSI,
//! open files, process and thread limits, disks, and the recorder's own
//! lateness.

use super::{Detector, SWEEP_EVERY, at, scalar, span};
use crate::analyze::series::{self, largest_rise};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::rates;
use crate::model::sample::{Disk, Sample};
use foldhash::{HashMap, HashMapExt};
use serde_json::json;
use std::sync::Arc;

/// The detectors over the scalars the window keeps; the process and disk
/// tables go through `TopCpu` and `Disks`.
pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    load(window, found);
    cpu_steal(window, found);
    memory(window, found);
    swapping(window, found);
    pressure(window, found);
    open_files(window, found);
    task_limits(window, found);
    lateness(window, found);
}

fn ncpu(window: &Window) -> f64 {
    window.samples.iter().rev().find_map(|s| s.sample.cpu.map(|c| c.ncpu)).unwrap_or(1).max(1) as f64
}

fn load(window: &Window, found: &mut Vec<Finding>) {
    let load = scalar(window.samples, |s| Some(s.load?.load1));
    let Some((peak_ms, peak)) = series::max(&load) else {
        return;
    };
    let cpus = ncpu(window);
    let before = series::mean(&scalar(window.baseline, |s| Some(s.load?.load1)))
        .or_else(|| load.first().map(|(_, v)| *v))
        .unwrap_or(0.0);
    if peak < 2.0 * cpus || peak < 2.0 * before.max(0.5) {
        return;
    }
    let severity = if peak >= 4.0 * cpus { Severity::High } else { Severity::Medium };
    let running = scalar(window.samples, |s| Some(s.cpu?.procs_running as f64));
    let queue = series::max(&running).map_or(0.0, |(_, v)| v);
    let rise = largest_rise(&load);
    let from_ms = rise.map_or(peak_ms, |r| r.from_ms);
    found.push(Finding {
        kind: "load_high",
        category: Category::Cpu,
        severity,
        subject: "load".into(),
        summary: format!(
            "load rose from {before:.1} to {peak:.1} ({:.0}× the {cpus:.0} CPUs) by {}, run queue up to {queue:.0}",
            peak / cpus,
            at(peak_ms)
        ),
        first_seen_ms: Some(from_ms),
        values: values([
            ("baseline", json!(before)),
            ("peak", json!(peak)),
            ("peak_ms", json!(peak_ms)),
            ("cpus", json!(cpus)),
            ("run_queue_max", json!(queue)),
        ]),
    });
}

/// Who used the CPU in the window, by command: each process from the first
/// to the last sample it appears in, so one that ran and exited inside the
/// window counts too. A process near 100% of a CPU for a while is spinning.
pub struct TopCpu {
    skip: Vec<u32>,
    hz: f64,
    /// Processes of the last sample with a process table, and its index.
    running: HashMap<(u32, u64), Running>,
    samples: usize,
    /// By command, of the processes that exited: CPU ticks, processes, and
    /// the longest stretch one of them spent at 90% of a CPU or more.
    by_name: HashMap<Arc<str>, (u64, usize, f64)>,
}

/// A process: its name, first and last (time, CPU ticks), and the index
/// of the last sample it was in.
struct Running {
    name: Arc<str>,
    first: (i64, u64),
    last: (i64, u64),
    seen: usize,
}

impl TopCpu {
    pub fn new(recorder_pids: &[u32]) -> TopCpu {
        TopCpu {
            skip: recorder_pids.to_vec(),
            hz: rates::ticks_per_second(),
            running: HashMap::new(),
            samples: 0,
            by_name: HashMap::new(),
        }
    }

    /// A process's whole life into its command's totals.
    fn count(&mut self, p: Running) {
        let used = p.last.1.saturating_sub(p.first.1);
        let alive_s = (p.last.0 - p.first.0) as f64 / 1000.0;
        let entry = self.by_name.entry(p.name).or_default();
        entry.0 += used;
        entry.1 += 1;
        if alive_s > 0.0 && rates::cpu_share(used, alive_s, self.hz) >= 90.0 {
            entry.2 = entry.2.max(alive_s);
        }
    }
}

impl Detector for TopCpu {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let Some(list) = &s.processes else { return };
        self.samples += 1;
        for p in list.iter().filter(|p| !self.skip.contains(&p.pid)) {
            let now = (s.time_ms, p.utime_ticks + p.stime_ticks);
            let running = self.running.entry(p.key()).or_insert_with(|| Running {
                name: p.identity().as_ref().into(),
                first: now,
                last: now,
                seen: 0,
            });
            running.last = now;
            running.seen = self.samples;
        }
        // Looked for now and then, not at every sample.
        if !self.samples.is_multiple_of(SWEEP_EVERY) {
            return;
        }
        let exited: Vec<(u32, u64)> =
            self.running.iter().filter(|(_, p)| p.seen < self.samples).map(|(key, _)| *key).collect();
        for key in exited {
            let p = self.running.remove(&key).expect("listed above");
            self.count(p);
        }
    }

    fn finish(mut self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        let (Some(first), Some(last)) = (window.samples.first(), window.samples.last()) else { return found };
        let window_s = (last.sample.time_ms - first.sample.time_ms) as f64 / 1000.0;
        if window_s <= 0.0 {
            return found;
        }
        for (_, p) in std::mem::take(&mut self.running) {
            self.count(p);
        }
        let by_name = self.by_name.into_iter().map(|(name, (ticks, count, busy_s))| {
            (name, (rates::cpu_share(ticks, window_s, self.hz), count, busy_s))
        });
        let mut ranked: Vec<(Arc<str>, (f64, usize, f64))> =
            by_name.filter(|(_, (pct, _, _))| *pct >= 5.0).collect();
        ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
        ranked.truncate(3);
        let Some((top, _)) = ranked.first() else { return found };
        let spinning = ranked.iter().any(|(_, (_, _, busy_s))| *busy_s >= 30.0);
        let names: Vec<String> = ranked
            .iter()
            .map(|(n, (pct, count, busy_s))| {
                let many = if *count > 1 { format!(" ({count} processes)") } else { String::new() };
                let spin = if *busy_s >= 30.0 {
                    format!(", one at ≥ 90% of a CPU for {}", span((*busy_s * 1000.0) as i64))
                } else {
                    String::new()
                };
                format!("{n} {pct:.0}%{many}{spin}")
            })
            .collect();
        found.push(Finding {
            kind: "cpu_top_consumers",
            category: Category::Cpu,
            severity: if spinning { Severity::Medium } else { Severity::Info },
            subject: top.to_string(),
            summary: format!("most CPU in the window (% of one CPU, by command): {}", names.join(", ")),
            first_seen_ms: None,
            values: ranked.iter().map(|(n, (pct, _, _))| (n.to_string(), json!(pct))).collect(),
        });
        found
    }
}

fn cpu_steal(window: &Window, found: &mut Vec<Finding>) {
    let steal: Vec<(i64, f64)> = window
        .samples
        .windows(2)
        .filter_map(|p| {
            let pct = rates::cpu_percent(p[0].sample.cpu.as_ref()?, p[1].sample.cpu.as_ref()?)?;
            Some((p[1].sample.time_ms, pct.steal))
        })
        .collect();
    let Some(mean) = series::mean(&steal) else { return };
    if mean < 10.0 {
        return;
    }
    let peak = series::max(&steal).unwrap_or_default();
    found.push(Finding {
        kind: "cpu_steal",
        category: Category::Cpu,
        severity: if mean >= 30.0 { Severity::High } else { Severity::Medium },
        subject: "cpu steal".into(),
        summary: format!(
            "the hypervisor took {mean:.0}% of CPU time on average (steal), up to {:.0}% at {}",
            peak.1,
            at(peak.0)
        ),
        first_seen_ms: series::first_at_or_above(&steal, 10.0),
        values: values([("mean_pct", json!(mean)), ("peak_pct", json!(peak.1))]),
    });
}

fn memory(window: &Window, found: &mut Vec<Finding>) {
    let available = scalar(window.samples, |s| Some(s.memory?.available as f64));
    let total =
        window.samples.iter().rev().find_map(|s| s.sample.memory.map(|m| m.total)).unwrap_or(0) as f64;
    let Some((low_ms, low)) = series::min(&available) else {
        return;
    };
    if total <= 0.0 {
        return;
    }
    let pct = low * 100.0 / total;
    let start = available.first().map_or(low, |(_, v)| *v);
    // Low, or fallen by a quarter of all memory: either way worth a line.
    let fell = start - low >= 0.25 * total;
    if pct >= 10.0 && !fell {
        return;
    }
    found.push(Finding {
        kind: "memory_low",
        category: Category::Memory,
        severity: if pct < 5.0 { Severity::High } else { Severity::Medium },
        subject: "memory".into(),
        summary: format!(
            "available memory fell from {} to {} ({pct:.1}% of {}) at {}",
            crate::model::human::bytes(start),
            crate::model::human::bytes(low),
            crate::model::human::bytes(total),
            at(low_ms)
        ),
        first_seen_ms: series::first_at_or_below(&available, 0.1 * total),
        values: values([("available_min", json!(low)), ("total", json!(total)), ("at_ms", json!(low_ms))]),
    });
}

fn swapping(window: &Window, found: &mut Vec<Finding>) {
    let rate = |get: fn(&Sample) -> Option<u64>| -> Vec<(i64, f64)> {
        window
            .samples
            .windows(2)
            .filter_map(|p| {
                let seconds = rates::elapsed_s(&p[0].sample, &p[1].sample)?;
                Some((
                    p[1].sample.time_ms,
                    rates::per_second(get(&p[0].sample)?, get(&p[1].sample)?, seconds)?,
                ))
            })
            .collect()
    };
    let swap_out = rate(|s| Some(s.vm?.swap_out));
    let faults = rate(|s| Some(s.vm?.major_faults));
    if let Some((peak_ms, peak)) = series::max(&swap_out).filter(|(_, v)| *v >= 1000.0) {
        found.push(Finding {
            kind: "swapping",
            category: Category::Memory,
            severity: Severity::Medium,
            subject: "swap".into(),
            summary: format!("swapping out up to {peak:.0} pages/s at {}", at(peak_ms)),
            first_seen_ms: series::first_at_or_above(&swap_out, 100.0),
            values: values([("swap_out_peak_per_s", json!(peak))]),
        });
    }
    if let Some((peak_ms, peak)) = series::max(&faults).filter(|(_, v)| *v >= 1000.0) {
        found.push(Finding {
            kind: "major_faults",
            category: Category::Memory,
            severity: Severity::Medium,
            subject: "major faults".into(),
            summary: format!(
                "major page faults up to {peak:.0}/s at {} (reading pages back from disk)",
                at(peak_ms)
            ),
            first_seen_ms: series::first_at_or_above(&faults, 100.0),
            values: values([("major_faults_peak_per_s", json!(peak))]),
        });
    }
}

fn pressure(window: &Window, found: &mut Vec<Finding>) {
    type Get = fn(&Sample) -> Option<f64>;
    let checks: [(&str, &str, Get, f64, f64); 5] = [
        ("cpu", "some", |s| Some(s.pressure.cpu?.some_avg10), 50.0, 80.0),
        ("memory", "some", |s| Some(s.pressure.memory?.some_avg10), 20.0, 50.0),
        ("memory", "full", |s| s.pressure.memory?.full_avg10, 10.0, 30.0),
        ("io", "some", |s| Some(s.pressure.io?.some_avg10), 40.0, 80.0),
        ("io", "full", |s| s.pressure.io?.full_avg10, 20.0, 50.0),
    ];
    for (resource, kind, get, medium, high) in checks {
        let series = scalar(window.samples, get);
        let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= medium) else {
            continue;
        };
        found.push(Finding {
            kind: "pressure",
            category: Category::Pressure,
            severity: if peak >= high { Severity::High } else { Severity::Medium },
            subject: format!("{resource} pressure"),
            summary: format!(
                "{resource} pressure ({kind}): tasks stalled {peak:.0}% of the time (avg10) at {}, above {medium:.0}% since {}",
                at(peak_ms),
                at(series::first_at_or_above(&series, medium).unwrap_or(peak_ms))
            ),
            first_seen_ms: series::first_at_or_above(&series, medium),
            values: values([("peak_avg10", json!(peak)), ("line", json!(kind))]),
        });
    }
}

fn open_files(window: &Window, found: &mut Vec<Finding>) {
    let used = scalar(window.samples, |s| {
        let f = s.files?;
        (f.max > 0).then(|| f.allocated as f64 * 100.0 / f.max as f64)
    });
    let Some((peak_ms, peak)) = series::max(&used).filter(|(_, v)| *v >= 80.0) else {
        return;
    };
    found.push(Finding {
        kind: "file_handles_near_limit",
        category: Category::FileDescriptors,
        severity: if peak >= 95.0 { Severity::High } else { Severity::Medium },
        subject: "open files".into(),
        summary: format!("open files reached {peak:.0}% of fs.file-max at {}", at(peak_ms)),
        first_seen_ms: series::first_at_or_above(&used, 80.0),
        values: values([("peak_pct", json!(peak))]),
    });
}

fn task_limits(window: &Window, found: &mut Vec<Finding>) {
    type Get = fn(&Sample) -> Option<f64>;
    let checks: [(&str, &str, Get); 2] = [
        ("processes", "kernel.pid_max", |s| {
            let t = s.tasks?;
            (t.pid_max > 0).then(|| t.processes as f64 * 100.0 / t.pid_max as f64)
        }),
        ("threads", "kernel.threads-max", |s| {
            let t = s.tasks?;
            (t.threads_max > 0).then(|| t.threads as f64 * 100.0 / t.threads_max as f64)
        }),
    ];
    for (what, limit, get) in checks {
        let series = scalar(window.samples, get);
        let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= 80.0) else {
            continue;
        };
        found.push(Finding {
            kind: "tasks_near_limit",
            category: Category::Limits,
            severity: Severity::High,
            subject: what.into(),
            summary: format!("{what} reached {peak:.0}% of {limit} at {}", at(peak_ms)),
            first_seen_ms: series::first_at_or_above(&series, 80.0),
            values: values([("peak_pct", json!(peak))]),
        });
    }
}

/// Disks busy ≥ 90% in several intervals, from each sample's disk table
/// against the one before it.
#[derive(Default)]
pub struct Disks {
    prev: Option<(i64, Option<Vec<Disk>>)>,
    by_name: HashMap<String, DiskIntervals>,
}

/// One disk's intervals, counted.
#[derive(Default)]
struct DiskIntervals {
    all: usize,
    saturated: usize,
    first_saturated_ms: Option<i64>,
    worst_wait_ms: f64,
}

impl Detector for Disks {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let cur = &cur.sample;
        // Against the sample just before, of whichever run: `disk_rates`
        // gives nothing where a counter went backwards.
        if let Some((prev_ms, prev_disks)) = &self.prev {
            let seconds = (cur.time_ms - prev_ms) as f64 / 1000.0;
            for disk in cur.disks.iter().flatten().filter(|_| seconds > 0.0) {
                let old = prev_disks.iter().flatten().find(|d| d.name == disk.name);
                let Some(r) = old.and_then(|old| rates::disk_rates(old, disk, seconds)) else { continue };
                let intervals = self.by_name.entry(disk.name.clone()).or_default();
                intervals.all += 1;
                if r.busy >= 90.0 {
                    intervals.saturated += 1;
                    intervals.first_saturated_ms.get_or_insert(cur.time_ms);
                }
                intervals.worst_wait_ms = intervals.worst_wait_ms.max(r.wait_ms);
            }
        }
        self.prev = Some((cur.time_ms, cur.disks.clone()));
    }

    fn finish(self: Box<Self>, _: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut by_name: Vec<(String, DiskIntervals)> = self.by_name.into_iter().collect();
        by_name.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, intervals) in by_name {
            let Some(since) = intervals.first_saturated_ms.filter(|_| intervals.saturated >= 3) else {
                continue;
            };
            let worst_wait = intervals.worst_wait_ms;
            found.push(Finding {
                kind: "disk_saturated",
                category: Category::Disk,
                severity: if worst_wait >= 100.0 { Severity::High } else { Severity::Medium },
                subject: name.clone(),
                summary: format!(
                    "disk {name} busy ≥ 90% in {} of {} intervals from {}, waits up to {worst_wait:.0} ms per I/O",
                    intervals.saturated,
                    intervals.all,
                    at(since)
                ),
                first_seen_ms: Some(since),
                values: values([
                    ("saturated_intervals", json!(intervals.saturated)),
                    ("wait_ms_max", json!(worst_wait)),
                ]),
            });
        }
        found
    }
}

/// The recorder's timer firing late is the most direct sign that the
/// machine was becoming unresponsive.
fn lateness(window: &Window, found: &mut Vec<Finding>) {
    let late = scalar(window.samples, |s| Some(s.lateness_ms as f64));
    let threshold = (window.interval_ms as f64).max(1000.0);
    let Some((peak_ms, peak)) = series::max(&late).filter(|(_, v)| *v >= threshold) else {
        return;
    };
    let late_ticks = late.iter().filter(|(_, v)| *v >= threshold).count();
    let ending = match window.period_start_ms {
        Some(end) => format!(" before it went silent at {}", at(end)),
        None => String::new(),
    };
    found.push(Finding {
        kind: "recorder_late",
        category: Category::Recorder,
        severity: if peak >= 10_000.0 { Severity::High } else { Severity::Medium },
        subject: "flightrec".into(),
        summary: format!(
            "the recorder itself ran up to {} late ({}) at {}{ending}",
            span(peak as i64),
            crate::model::human::count(late_ticks as u64, "late tick", "late ticks"),
            at(peak_ms)
        ),
        first_seen_ms: series::first_at_or_above(&late, threshold),
        values: values([("lateness_ms_max", json!(peak)), ("late_ticks", json!(late_ticks))]),
    });
}
