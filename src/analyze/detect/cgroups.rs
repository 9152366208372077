//! Detectors over control groups: a service or container held at its own
//! limit (tasks, memory, CPU quota), stalling more than the machine, or
//! piling up tasks. A service at its limit is the cause of the fork
//! failures, OOM kills and stalls the machine-wide findings show, so these
//! rank as limits, ahead of memory, pressure and CPU.
//!
//! Samples are observed one at a time, oldest first; each cgroup keeps a
//! few running figures (peaks, first and last counter values, the largest
//! rise), never its samples, so the cost of a window is bounded by its
//! cgroups, not its length.

use super::{Detector, at, during, span};
use crate::analyze::series::Rise;
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::human::bytes;
use crate::model::sample::{CgroupStats, Psi};
use serde_json::json;
use std::collections::BTreeMap;

/// Tasks at this share of the task limit are near it.
const NEAR_TASKS_MAX: f64 = 0.9;
/// Memory at this share of the limit is at it (the kernel reclaims before).
const NEAR_MEMORY_MAX: f64 = 0.9;
/// Throttled in this share of its quota periods, a service is starved.
const THROTTLED_PERIODS_PCT: f64 = 50.0;
const THROTTLED_PERIODS_HIGH_PCT: f64 = 80.0;
/// A cgroup's own pressure (some, avg10, %) worth naming, and worse.
const PRESSURE_PCT: f64 = 20.0;
const PRESSURE_HIGH_PCT: f64 = 50.0;
/// A rise in tasks of at least this many, to at least twice the start.
const PILEUP_TASKS: f64 = 50.0;
/// Cgroups followed at most in one window: containers that come and go
/// by the thousand must not grow the analysis without bound.
const MAX_CGROUPS: usize = 4096;

/// A cgroup's pressure on one resource.
type PressureOf = fn(&CgroupStats) -> Option<Psi>;

/// The resources whose pressure a cgroup has, in the order of `Figures::stall`.
const RESOURCES: [(&str, PressureOf); 3] =
    [("cpu", |c| c.psi_cpu), ("memory", |c| c.psi_memory), ("io", |c| c.psi_io)];

/// The running figures of every cgroup seen, by path.
#[derive(Default)]
pub struct CgroupDetector {
    cgroups: BTreeMap<String, Figures>,
}

impl Detector for CgroupDetector {
    /// Counters are compared with the cgroup's first sighting, not with
    /// `prev`: a cgroup's first and last sample span the window.
    fn observe(&mut self, _prev: Option<&StoredSample>, cur: &StoredSample) {
        let time_ms = cur.sample.time_ms;
        let machine = &cur.sample.pressure;
        let machine = [machine.cpu, machine.memory, machine.io].map(|p| p.map(|p| p.some_avg10));
        for cgroup in cur.sample.cgroups.iter().flatten() {
            let followed = self.cgroups.len() < MAX_CGROUPS;
            let figures = match self.cgroups.get_mut(&cgroup.path) {
                Some(figures) => figures,
                None if followed => {
                    self.cgroups.entry(cgroup.path.clone()).or_insert_with(|| Figures::new(time_ms))
                }
                None => continue,
            };
            figures.add(time_ms, cgroup, machine);
        }
    }

    fn finish(self: Box<Self>, _window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        for (path, figures) in &self.cgroups {
            pids_limit(path, figures, &mut found);
            memory_limit(path, figures, &mut found);
            cpu_throttled(path, figures, &mut found);
            tasks_piling_up(path, figures, &mut found);
        }
        pressure(&self.cgroups, &mut found);
        found
    }
}

/// What the findings need of one cgroup's sightings.
#[derive(Default)]
struct Figures {
    first_ms: i64,
    last_ms: i64,
    tasks: Peak,
    tasks_max: Option<u64>,
    /// When the tasks first came near the limit known at the time.
    tasks_near_ms: Option<i64>,
    tasks_rise: LargestRise,
    forks_refused: Growth,
    memory: Peak,
    memory_limit: Option<u64>,
    oom_kills: Growth,
    limit_hits: Growth,
    cpu_periods: Growth,
    throttled_periods: Growth,
    throttled_us: Growth,
    quota_pct: Option<f64>,
    stall: [Stall; 3],
}

impl Figures {
    fn new(time_ms: i64) -> Self {
        Figures { first_ms: time_ms, ..Figures::default() }
    }

    fn add(&mut self, time_ms: i64, c: &CgroupStats, machine: [Option<f64>; 3]) {
        self.last_ms = time_ms;
        self.tasks_max = c.tasks_max.or(self.tasks_max);
        if let Some(tasks) = c.tasks.map(|t| t as f64) {
            self.tasks.add(time_ms, tasks);
            self.tasks_rise.add(time_ms, tasks);
            let near = self.tasks_max.is_some_and(|limit| tasks >= NEAR_TASKS_MAX * limit as f64);
            if near && self.tasks_near_ms.is_none() {
                self.tasks_near_ms = Some(time_ms);
            }
        }
        self.forks_refused.add(time_ms, c.forks_refused);
        self.memory_limit = c.memory_high_bytes.or(c.memory_max_bytes).or(self.memory_limit);
        if let Some(memory) = c.memory_bytes {
            self.memory.add(time_ms, memory as f64);
        }
        self.oom_kills.add(time_ms, c.oom_kills);
        self.limit_hits.add(time_ms, c.memory_max_events.map(|max| max + c.memory_high_events.unwrap_or(0)));
        self.cpu_periods.add(time_ms, c.cpu_periods);
        self.throttled_periods.add(time_ms, c.cpu_throttled_periods);
        self.throttled_us.add(time_ms, c.cpu_throttled_us);
        self.quota_pct = c.cpu_quota_pct().or(self.quota_pct);
        for ((stall, (_, get)), machine) in self.stall.iter_mut().zip(RESOURCES).zip(machine) {
            if let Some(psi) = get(c) {
                stall.add(time_ms, psi.some_avg10, machine);
            }
        }
    }
}

/// The highest value and when (the last time, where it was reached twice).
#[derive(Default, Clone, Copy)]
struct Peak(Option<(i64, f64)>);

impl Peak {
    fn add(&mut self, time_ms: i64, value: f64) {
        if self.0.is_none_or(|(_, peak)| value >= peak) {
            self.0 = Some((time_ms, value));
        }
    }
}

/// A counter's first and last value, and when it first grew.
#[derive(Default)]
struct Growth {
    first: Option<u64>,
    last: u64,
    first_rise_ms: Option<i64>,
}

impl Growth {
    fn add(&mut self, time_ms: i64, value: Option<u64>) {
        let Some(value) = value else { return };
        let first = *self.first.get_or_insert(value);
        self.last = value;
        if value > first && self.first_rise_ms.is_none() {
            self.first_rise_ms = Some(time_ms);
        }
    }

    /// How much it grew over the window, and since when.
    fn grown(&self) -> Option<(f64, i64)> {
        let grew = self.last.checked_sub(self.first?)?;
        (grew >= 1).then_some((grew as f64, self.first_rise_ms?))
    }
}

/// The largest rise: from the last sample at the lowest level before it
/// to the first at the highest, as `series::largest_rise` finds it.
#[derive(Default)]
struct LargestRise {
    low: Option<(i64, f64)>,
    best: Option<Rise>,
}

impl LargestRise {
    fn add(&mut self, time_ms: i64, value: f64) {
        let low = self.low.get_or_insert((time_ms, value));
        if value <= low.1 {
            *low = (time_ms, value);
        }
        let rise = Rise { from: low.1, from_ms: low.0, to: value, to_ms: time_ms };
        if rise.increase() > self.best.map_or(0.0, |b| b.increase()) {
            self.best = Some(rise);
        }
    }
}

/// A cgroup's own pressure on one resource: its peak with the machine's
/// at that moment, and when it first was high.
#[derive(Default, Clone, Copy)]
struct Stall {
    peak: Peak,
    machine_at_peak: Option<f64>,
    first_high_ms: Option<i64>,
}

impl Stall {
    fn add(&mut self, time_ms: i64, some_avg10: f64, machine: Option<f64>) {
        let before = self.peak.0;
        self.peak.add(time_ms, some_avg10);
        if self.peak.0 != before {
            self.machine_at_peak = machine;
        }
        if some_avg10 >= PRESSURE_PCT && self.first_high_ms.is_none() {
            self.first_high_ms = Some(time_ms);
        }
    }
}

/// The name a person knows the cgroup by.
fn subject(path: &str) -> String {
    crate::model::unit_name(path)
}

fn pids_limit(path: &str, seen: &Figures, found: &mut Vec<Finding>) {
    let Some(limit) = seen.tasks_max else { return };
    let Some((peak_ms, peak)) = seen.tasks.0 else { return };
    let refused = seen.forks_refused.grown();
    let near = peak >= NEAR_TASKS_MAX * limit as f64;
    if refused.is_none() && !near {
        return;
    }
    let unit = subject(path);
    let (severity, summary, first_seen) = match refused {
        Some((count, since)) => (
            Severity::High,
            format!(
                "{unit}: {peak:.0} of TasksMax {limit} tasks, {count:.0} forks refused since {}",
                at(since)
            ),
            since,
        ),
        None => (
            Severity::Medium,
            format!("{unit}: {peak:.0} of TasksMax {limit} tasks at {}, near its limit", at(peak_ms)),
            seen.tasks_near_ms.unwrap_or(peak_ms),
        ),
    };
    found.push(Finding {
        kind: "cgroup_pids_limit",
        category: Category::Limits,
        severity,
        subject: unit,
        summary,
        first_seen_ms: Some(first_seen),
        values: values([
            ("cgroup", json!(path)),
            ("tasks_peak", json!(peak)),
            ("tasks_max", json!(limit)),
            ("forks_refused", json!(refused.map_or(0.0, |(count, _)| count))),
        ]),
    });
}

fn memory_limit(path: &str, seen: &Figures, found: &mut Vec<Finding>) {
    let Some(limit) = seen.memory_limit else { return };
    let Some((peak_ms, peak)) = seen.memory.0 else { return };
    let kills = seen.oom_kills.grown();
    let hits = seen.limit_hits.grown();
    let at_limit = peak >= NEAR_MEMORY_MAX * limit as f64;
    let unit = subject(path);
    let limit_text = bytes(limit as f64);
    let (severity, summary, first_seen) = match (kills, hits) {
        (Some((count, since)), _) => (
            Severity::High,
            format!(
                "{unit}: {count:.0} process(es) OOM-killed at its memory limit {limit_text} (using up to {}), the first by {}",
                bytes(peak),
                at(since)
            ),
            since,
        ),
        (None, Some((count, since))) if at_limit => (
            Severity::Medium,
            format!(
                "{unit}: at its memory limit {limit_text} (up to {} used), reclaiming: held at the limit {count:.0} times since {}",
                bytes(peak),
                at(since)
            ),
            since,
        ),
        _ => return,
    };
    found.push(Finding {
        kind: "cgroup_memory_limit",
        category: Category::Limits,
        severity,
        subject: unit,
        summary,
        first_seen_ms: Some(first_seen),
        values: values([
            ("cgroup", json!(path)),
            ("memory_peak", json!(peak)),
            ("memory_peak_ms", json!(peak_ms)),
            ("memory_limit", json!(limit)),
            ("oom_kills", json!(kills.map_or(0.0, |(count, _)| count))),
            ("limit_hits", json!(hits.map_or(0.0, |(count, _)| count))),
        ]),
    });
}

fn cpu_throttled(path: &str, seen: &Figures, found: &mut Vec<Finding>) {
    let (Some(all), Some(held)) = (seen.cpu_periods.grown(), seen.throttled_periods.grown()) else { return };
    let share = held.0 * 100.0 / all.0;
    if share < THROTTLED_PERIODS_PCT {
        return;
    }
    let held_for = seen.throttled_us.grown().map_or(0.0, |(us, _)| us / 1000.0);
    let unit = subject(path);
    let quota_text = seen.quota_pct.map_or(String::new(), |q| format!(" (CPUQuota {q:.0}%)"));
    found.push(Finding {
        kind: "cgroup_cpu_throttled",
        category: Category::Limits,
        severity: if share >= THROTTLED_PERIODS_HIGH_PCT { Severity::High } else { Severity::Medium },
        subject: unit.clone(),
        summary: format!(
            "{unit}: throttled by its CPU quota{quota_text} in {share:.0}% of its periods since {}, held back {} in {}",
            at(held.1),
            span(held_for as i64),
            span(seen.last_ms - seen.first_ms)
        ),
        first_seen_ms: Some(held.1),
        values: values([
            ("cgroup", json!(path)),
            ("throttled_periods_pct", json!(share)),
            ("throttled_ms", json!(held_for)),
            ("quota_pct", json!(seen.quota_pct)),
        ]),
    });
}

fn tasks_piling_up(path: &str, seen: &Figures, found: &mut Vec<Finding>) {
    let Some(rise) = seen.tasks_rise.best else { return };
    if rise.increase() < PILEUP_TASKS || rise.to < 2.0 * rise.from.max(1.0) {
        return;
    }
    let unit = subject(path);
    found.push(Finding {
        kind: "cgroup_tasks_piling_up",
        category: Category::Processes,
        severity: Severity::Medium,
        subject: unit.clone(),
        summary: format!("{unit}: tasks rose from {:.0} to {:.0} {}", rise.from, rise.to, during(&rise)),
        first_seen_ms: Some(rise.from_ms),
        values: values([
            ("cgroup", json!(path)),
            ("tasks_from", json!(rise.from)),
            ("tasks_to", json!(rise.to)),
        ]),
    });
}

/// Per resource, the cgroup whose own tasks stalled the most, where that
/// is high: which service the stalls are in. A slice stalls whenever a
/// service below it does, so the service is named, not its slice.
fn pressure(cgroups: &BTreeMap<String, Figures>, found: &mut Vec<Finding>) {
    for (i, (resource, _)) in RESOURCES.iter().enumerate() {
        let high: Vec<(&str, Stall, i64, f64)> = cgroups
            .iter()
            .filter_map(|(path, seen)| {
                let stall = seen.stall[i];
                let (peak_ms, peak) = stall.peak.0?;
                (peak >= PRESSURE_PCT).then_some((path.as_str(), stall, peak_ms, peak))
            })
            .collect();
        let below = |parent: &str| {
            high.iter().any(|(p, ..)| p.len() > parent.len() && p.starts_with(&format!("{parent}/")))
        };
        let Some(&(path, stall, peak_ms, peak)) =
            high.iter().filter(|(p, ..)| !below(p)).max_by(|a, b| a.3.total_cmp(&b.3))
        else {
            continue;
        };
        let unit = subject(path);
        let machine_text =
            stall.machine_at_peak.map_or(String::new(), |w| format!(" (the whole machine: {w:.0}%)"));
        found.push(Finding {
            kind: "cgroup_pressure",
            category: Category::Pressure,
            severity: if peak >= PRESSURE_HIGH_PCT { Severity::High } else { Severity::Medium },
            subject: unit.clone(),
            summary: format!(
                "{unit}: its tasks stalled on {resource} {peak:.0}% of the time at {}{machine_text}",
                at(peak_ms)
            ),
            first_seen_ms: stall.first_high_ms,
            values: values([
                ("cgroup", json!(path)),
                ("resource", json!(resource)),
                ("some_avg10_peak", json!(peak)),
                ("machine_some_avg10", json!(stall.machine_at_peak)),
            ]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_values, found_in, j, none_of, samples, t, the};
    use super::{CgroupDetector, Detector, MAX_CGROUPS};
    use crate::analyze::{Category, Severity};
    use crate::model::sample::{CgroupStats, Psi, VmCounters};

    const MIB: u64 = 1024 * 1024;

    fn postfix() -> CgroupStats {
        CgroupStats { path: "/system.slice/postfix.service".into(), ..CgroupStats::default() }
    }

    #[test]
    fn refused_forks_at_the_task_limit_fire_with_the_numbers() {
        let window = samples(10, |i, s| {
            let at_limit = i >= 4;
            let cgroup = CgroupStats {
                tasks: Some(if at_limit { 4_915 } else { 1_000 + 100 * i as u64 }),
                tasks_max: Some(4_915),
                forks_refused: Some(if at_limit { 200 * (i as u64 - 3) } else { 0 }),
                ..postfix()
            };
            s.cgroups = Some(vec![cgroup]);
        });
        let finding = the(&found_in(&window, &[]), "cgroup_pids_limit");
        assert_eq!((finding.severity, finding.category), (Severity::High, Category::Limits));
        assert_eq!(finding.subject, "postfix.service");
        assert_eq!(finding.first_seen_ms, Some(t(4)));
        assert_values(
            &finding,
            &[("tasks_peak", j(4_915)), ("tasks_max", j(4_915)), ("forks_refused", j(1_200))],
        );
        assert!(
            finding.summary.contains("4915 of TasksMax 4915 tasks, 1200 forks refused"),
            "{}",
            finding.summary
        );
    }

    #[test]
    fn below_the_task_limit_without_refusals_is_silent() {
        let window = samples(10, |_, s| {
            let cgroup =
                CgroupStats { tasks: Some(89), tasks_max: Some(100), forks_refused: Some(0), ..postfix() };
            s.cgroups = Some(vec![cgroup]);
        });
        none_of(&found_in(&window, &[]), "cgroup_pids_limit");
    }

    fn memory_window(kills_from: Option<usize>, memory: u64) -> Vec<crate::model::StoredSample> {
        samples(10, |i, s| {
            let killed = kills_from.map_or(0, |from| i.saturating_sub(from - 1).min(2) as u64);
            let cgroup = CgroupStats {
                memory_bytes: Some(memory),
                memory_max_bytes: Some(256 * MIB),
                memory_max_events: Some(if memory >= 250 * MIB { 10 * i as u64 } else { 0 }),
                oom_kills: Some(killed),
                ..postfix()
            };
            s.cgroups = Some(vec![cgroup]);
            s.vm = Some(VmCounters { oom_kills: killed, ..VmCounters::default() });
        })
    }

    #[test]
    fn oom_kills_at_the_memory_limit_name_the_cgroup_ahead_of_the_machine() {
        let found = found_in(&memory_window(Some(6), 255 * MIB), &[]);
        let finding = the(&found, "cgroup_memory_limit");
        assert_eq!(finding.severity, Severity::High);
        assert_eq!(finding.first_seen_ms, Some(t(6)));
        assert_values(&finding, &[("oom_kills", j(2)), ("memory_limit", j(256 * MIB))]);
        assert!(finding.summary.contains("OOM-killed at its memory limit 256.0 MiB"), "{}", finding.summary);
        let rank = |kind: &str| found.iter().position(|f| f.kind == kind).unwrap();
        assert!(rank("cgroup_memory_limit") < rank("oom_kill"), "{found:#?}");
    }

    #[test]
    fn reclaiming_at_the_memory_limit_fires_and_below_it_is_silent() {
        let finding = the(&found_in(&memory_window(None, 255 * MIB), &[]), "cgroup_memory_limit");
        assert_eq!(finding.severity, Severity::Medium);
        assert_values(&finding, &[("limit_hits", j(90))]);
        none_of(&found_in(&memory_window(None, 200 * MIB), &[]), "cgroup_memory_limit");
    }

    fn throttled_window(throttled_per_sample: u64) -> Vec<crate::model::StoredSample> {
        samples(10, |i, s| {
            let cgroup = CgroupStats {
                cpu_quota: Some((50_000, 100_000)),
                cpu_periods: Some(50 * i as u64),
                cpu_throttled_periods: Some(throttled_per_sample * i as u64),
                cpu_throttled_us: Some(2_000_000 * i as u64),
                ..postfix()
            };
            s.cgroups = Some(vec![cgroup]);
        })
    }

    #[test]
    fn throttling_in_most_periods_fires_and_in_fewer_than_half_is_silent() {
        let finding = the(&found_in(&throttled_window(40), &[]), "cgroup_cpu_throttled");
        assert_eq!(finding.severity, Severity::High);
        assert_values(&finding, &[("throttled_periods_pct", j(80.0)), ("throttled_ms", j(18_000.0))]);
        assert!(finding.summary.contains("CPUQuota 50%"), "{}", finding.summary);
        none_of(&found_in(&throttled_window(24), &[]), "cgroup_cpu_throttled");
    }

    fn pressure_window(service_peak: f64) -> Vec<crate::model::StoredSample> {
        samples(10, |i, s| {
            let psi = |avg: f64| Some(Psi { some_avg10: avg, ..Psi::default() });
            let level = if i >= 5 { service_peak } else { 1.0 };
            let slice = CgroupStats {
                path: "/system.slice".into(),
                psi_io: psi(level + 5.0),
                ..CgroupStats::default()
            };
            let service = CgroupStats { psi_io: psi(level), ..postfix() };
            let quiet = CgroupStats {
                path: "/system.slice/cron.service".into(),
                psi_io: psi(0.5),
                ..CgroupStats::default()
            };
            s.cgroups = Some(vec![slice, quiet, service]);
            s.pressure.io = psi(level / 3.0);
        })
    }

    #[test]
    fn pressure_in_one_service_names_the_service_not_its_slice() {
        let finding = the(&found_in(&pressure_window(60.0), &[]), "cgroup_pressure");
        assert_eq!((finding.subject.as_str(), finding.severity), ("postfix.service", Severity::High));
        assert_eq!(finding.first_seen_ms, Some(t(5)));
        assert_values(
            &finding,
            &[("resource", j("io")), ("some_avg10_peak", j(60.0)), ("machine_some_avg10", j(20.0))],
        );
        none_of(&found_in(&pressure_window(14.9), &[]), "cgroup_pressure");
    }

    fn tasks_window(top: u64) -> Vec<crate::model::StoredSample> {
        samples(10, |i, s| {
            let tasks = 4 + (top - 4) * i as u64 / 9;
            s.cgroups = Some(vec![CgroupStats { tasks: Some(tasks), ..postfix() }]);
        })
    }

    #[test]
    fn cgroups_past_the_cap_are_not_followed() {
        let window = samples(2, |i, s| {
            let path = |n: usize| format!("/machine.slice/docker-{i}-{n}.scope");
            s.cgroups = Some((0..MAX_CGROUPS).map(|n| CgroupStats { path: path(n), ..postfix() }).collect());
        });
        let mut detector = CgroupDetector::default();
        detector.observe(None, &window[0]);
        detector.observe(Some(&window[0]), &window[1]);
        assert_eq!(detector.cgroups.len(), MAX_CGROUPS);
        assert!(detector.cgroups.keys().all(|path| path.contains("docker-0-")));
    }

    #[test]
    fn tasks_piling_up_fire_and_a_smaller_rise_is_silent() {
        let finding = the(&found_in(&tasks_window(104), &[]), "cgroup_tasks_piling_up");
        assert_values(&finding, &[("tasks_from", j(4)), ("tasks_to", j(104))]);
        none_of(&found_in(&tasks_window(53), &[]), "cgroup_tasks_piling_up");
    }
}
