//! Detectors over control groups: a service or container held at its own
//! limit (tasks, memory, CPU quota), stalling more than the machine, or
//! piling up tasks. A service at its limit is the cause of the fork
//! failures, OOM kills and stalls the machine-wide findings show, so these
//! rank as limits, ahead of memory, pressure and CPU.

use super::{at, during, span};
use crate::analyze::series::{self, Series, largest_rise};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::human::bytes;
use crate::model::sample::{CgroupStats, Psi, Sample};
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

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    let cgroups = by_cgroup(window.samples.iter().map(|s| &s.sample));
    for (path, seen) in &cgroups {
        pids_limit(path, seen, found);
        memory_limit(path, seen, found);
        cpu_throttled(path, seen, found);
        tasks_piling_up(path, seen, found);
    }
    pressure(window, &cgroups, found);
}

/// Each cgroup's sightings in the window, oldest first, by path.
type Sightings<'a> = BTreeMap<&'a str, Vec<(i64, &'a CgroupStats)>>;

fn by_cgroup<'a>(samples: impl Iterator<Item = &'a Sample>) -> Sightings<'a> {
    let mut cgroups: Sightings = BTreeMap::new();
    for sample in samples {
        for cgroup in sample.cgroups.iter().flatten() {
            cgroups.entry(cgroup.path.as_str()).or_default().push((sample.time_ms, cgroup));
        }
    }
    cgroups
}

/// One figure of a cgroup across its sightings, where it has it.
fn figure(seen: &[(i64, &CgroupStats)], get: impl Fn(&CgroupStats) -> Option<u64>) -> Series {
    seen.iter().filter_map(|(t, c)| Some((*t, get(c)? as f64))).collect()
}

/// How much a counter grew over the window, and when it first grew.
fn growth(counter: &Series) -> Option<(f64, i64)> {
    let (first, last) = (counter.first()?, counter.last()?);
    let grew = last.1 - first.1;
    let since = counter.iter().find(|(_, v)| *v > first.1)?.0;
    (grew >= 1.0).then_some((grew, since))
}

/// The name a person knows the cgroup by, with its path when that says more.
fn subject(path: &str) -> String {
    crate::model::unit_name(path)
}

fn pids_limit(path: &str, seen: &[(i64, &CgroupStats)], found: &mut Vec<Finding>) {
    let Some(limit) = seen.iter().rev().find_map(|(_, c)| c.tasks_max) else { return };
    let tasks = figure(seen, |c| c.tasks);
    let Some((peak_ms, peak)) = series::max(&tasks) else { return };
    let refused = growth(&figure(seen, |c| c.forks_refused));
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
            series::first_at_or_above(&tasks, NEAR_TASKS_MAX * limit as f64).unwrap_or(peak_ms),
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

fn memory_limit(path: &str, seen: &[(i64, &CgroupStats)], found: &mut Vec<Finding>) {
    let limit_of = |c: &CgroupStats| c.memory_high_bytes.or(c.memory_max_bytes);
    let Some(limit) = seen.iter().rev().find_map(|(_, c)| limit_of(c)) else { return };
    let memory = figure(seen, |c| c.memory_bytes);
    let Some((peak_ms, peak)) = series::max(&memory) else { return };
    let kills = growth(&figure(seen, |c| c.oom_kills));
    let hits = growth(&figure(seen, |c| Some(c.memory_max_events? + c.memory_high_events.unwrap_or(0))));
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

fn cpu_throttled(path: &str, seen: &[(i64, &CgroupStats)], found: &mut Vec<Finding>) {
    let periods = figure(seen, |c| c.cpu_periods);
    let throttled = figure(seen, |c| c.cpu_throttled_periods);
    let (Some(all), Some(held)) = (growth(&periods), growth(&throttled)) else { return };
    let share = held.0 * 100.0 / all.0;
    if share < THROTTLED_PERIODS_PCT {
        return;
    }
    let held_us = figure(seen, |c| c.cpu_throttled_us);
    let held_for = growth(&held_us).map_or(0.0, |(us, _)| us / 1000.0);
    let quota = seen.iter().rev().find_map(|(_, c)| c.cpu_quota_pct());
    let unit = subject(path);
    let quota_text = quota.map_or(String::new(), |q| format!(" (CPUQuota {q:.0}%)"));
    let window_ms = seen.last().map_or(0, |l| l.0) - seen.first().map_or(0, |f| f.0);
    found.push(Finding {
        kind: "cgroup_cpu_throttled",
        category: Category::Limits,
        severity: if share >= THROTTLED_PERIODS_HIGH_PCT { Severity::High } else { Severity::Medium },
        subject: unit.clone(),
        summary: format!(
            "{unit}: throttled by its CPU quota{quota_text} in {share:.0}% of its periods since {}, held back {} in {}",
            at(held.1),
            span(held_for as i64),
            span(window_ms)
        ),
        first_seen_ms: Some(held.1),
        values: values([
            ("cgroup", json!(path)),
            ("throttled_periods_pct", json!(share)),
            ("throttled_ms", json!(held_for)),
            ("quota_pct", json!(quota)),
        ]),
    });
}

fn tasks_piling_up(path: &str, seen: &[(i64, &CgroupStats)], found: &mut Vec<Finding>) {
    let tasks = figure(seen, |c| c.tasks);
    let Some(rise) = largest_rise(&tasks) else { return };
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
fn pressure(window: &Window, cgroups: &Sightings, found: &mut Vec<Finding>) {
    type Get = fn(&CgroupStats) -> Option<Psi>;
    type Machine = fn(&Sample) -> Option<Psi>;
    let resources: [(&str, Get, Machine); 3] = [
        ("cpu", |c| c.psi_cpu, |s| s.pressure.cpu),
        ("memory", |c| c.psi_memory, |s| s.pressure.memory),
        ("io", |c| c.psi_io, |s| s.pressure.io),
    ];
    for (resource, get, machine) in resources {
        let peaks: Vec<(&str, i64, f64)> = cgroups
            .iter()
            .filter_map(|(path, seen)| {
                let stall: Series = seen.iter().filter_map(|(t, c)| Some((*t, get(c)?.some_avg10))).collect();
                let (peak_ms, peak) = series::max(&stall)?;
                (peak >= PRESSURE_PCT).then_some((*path, peak_ms, peak))
            })
            .collect();
        let below = |parent: &str| {
            peaks.iter().any(|(p, ..)| p.len() > parent.len() && p.starts_with(&format!("{parent}/")))
        };
        let Some(&(path, peak_ms, peak)) =
            peaks.iter().filter(|(p, ..)| !below(p)).max_by(|a, b| a.2.total_cmp(&b.2))
        else {
            continue;
        };
        let whole = window
            .samples
            .iter()
            .find(|s| s.sample.time_ms == peak_ms)
            .and_then(|s| machine(&s.sample))
            .map(|p| p.some_avg10);
        let stall: Series =
            cgroups[path].iter().filter_map(|(t, c)| Some((*t, get(c)?.some_avg10))).collect();
        let unit = subject(path);
        let machine_text = whole.map_or(String::new(), |w| format!(" (the whole machine: {w:.0}%)"));
        found.push(Finding {
            kind: "cgroup_pressure",
            category: Category::Pressure,
            severity: if peak >= PRESSURE_HIGH_PCT { Severity::High } else { Severity::Medium },
            subject: unit.clone(),
            summary: format!(
                "{unit}: its tasks stalled on {resource} {peak:.0}% of the time at {}{machine_text}",
                at(peak_ms)
            ),
            first_seen_ms: series::first_at_or_above(&stall, PRESSURE_PCT),
            values: values([
                ("cgroup", json!(path)),
                ("resource", json!(resource)),
                ("some_avg10_peak", json!(peak)),
                ("machine_some_avg10", json!(whole)),
            ]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_values, found_in, j, none_of, samples, t, the};
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
    fn tasks_piling_up_fire_and_a_smaller_rise_is_silent() {
        let finding = the(&found_in(&tasks_window(104), &[]), "cgroup_tasks_piling_up");
        assert_values(&finding, &[("tasks_from", j(4)), ("tasks_to", j(104))]);
        none_of(&found_in(&tasks_window(53), &[]), "cgroup_tasks_piling_up");
    }
}
