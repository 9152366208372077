//! `flightrec gaps` and `flightrec report`: read what the analysis needs
//! from the store (runs, irregular ticks, the window's samples and the hour
//! before), let `analyze` decide, and hand the result to `render`.

use crate::analyze::detect::Detectors;
use crate::analyze::incidents::{self, Incident};
use crate::analyze::periods::{self, Period, RunFacts};
use crate::analyze::timeline::Timeline;
use crate::analyze::{self, Finding, Lookup, Window};
use crate::error::BadInput;
use crate::model::StoredSample;
use crate::model::catalogue::{Minute, ProcessRow, process_units, serialize_report_processes};
use crate::model::human::{format_duration_ms, format_ms_local};
use crate::model::rates;
use crate::model::rates::ProcessRates;
use crate::model::sample::{Process, Sample};
use crate::store::{Store, Tables};
use crate::time;
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

/// How much time before a period `report` explains, and `gaps` counts
/// samples in, unless `--window` says otherwise.
pub const DEFAULT_WINDOW: &str = "15m";

/// The longest `--window`: a week, read as one stream of samples.
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// `--window`, in ms: a minute to a week.
pub fn parse_window(text: &str) -> Result<i64, BadInput> {
    let window = time::parse_interval("--window", text, Duration::from_secs(60), MAX_WINDOW)?;
    Ok(window.as_millis() as i64)
}

/// How far back "rose" and "fell" look for a normal level.
const BASELINE_MS: i64 = 3_600_000;

/// The unresponsive periods as incidents, newest first and numbered so.
pub fn incidents(store: &Store, now_ms: i64, window_ms: i64) -> Result<Vec<Incident>> {
    Ok(incidents::group(periods_found(store, now_ms, window_ms)?, now_ms))
}

/// All unresponsive periods, each with the number of samples in the
/// `window_ms` before it.
fn periods_found(store: &Store, now_ms: i64, window_ms: i64) -> Result<Vec<Period>> {
    let runs = store.runs()?;
    let mut facts = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let next_start = runs.get(i + 1).map(|r| r.start_ms);
        let last_sample_ms = store.last_sample_of_run(run.id, next_start)?.map(|(_, time)| time);
        facts.push(RunFacts { run: run.clone(), last_sample_ms });
    }
    let shortest = runs.iter().map(|r| periods::stall_threshold_ms(r.interval_ms)).min().unwrap_or(15_000);
    let irregular = store.irregular_ticks(shortest)?;
    let mut found = periods::find(&facts, &irregular, now_ms);
    for period in &mut found {
        period.samples_before = store.count_between(period.start_ms - window_ms, period.start_ms)?;
    }
    Ok(found)
}

/// What to explain.
pub enum Target {
    /// The newest incident that matters (`incidents::default_choice`), or
    /// the latest window if there is none.
    Newest,
    /// An incident by its number in `gaps`.
    Period(usize),
    /// The window ending at this time.
    At(i64),
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub headline: String,
    /// The first period of the incident explained: the window ends at its
    /// start.
    pub period: Option<Period>,
    /// The incident explained, all its periods.
    pub incident: Option<Incident>,
    pub window: WindowInfo,
    pub findings: Vec<Finding>,
    pub timeline: Vec<Minute>,
    pub last_sample: Option<LastSample>,
}

#[derive(Debug, Serialize)]
pub struct WindowInfo {
    pub from_ms: i64,
    pub to_ms: i64,
    pub samples: usize,
    /// Samples the interval would have given: `samples / expected` is the
    /// coverage.
    pub expected_samples: usize,
    pub baseline_from_ms: i64,
    pub baseline_samples: usize,
    /// The database's first and last samples: where the window has none,
    /// what is known and when.
    pub recording_began_ms: Option<i64>,
    pub last_recorded_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct LastSample {
    pub time_ms: i64,
    #[serde(serialize_with = "serialize_report_processes")]
    pub top_cpu: Vec<ProcessRow>,
    #[serde(serialize_with = "serialize_report_processes")]
    pub top_memory: Vec<ProcessRow>,
}

pub fn report(store: &Store, target: Target, window_ms: i64, now_ms: i64) -> Result<Report> {
    let found = incidents(store, now_ms, window_ms)?;
    let incident = match target {
        Target::Newest => incidents::default_choice(&found).cloned(),
        Target::Period(n) => {
            let Some(chosen) = found.iter().find(|i| i.number == n) else {
                return Err(BadInput::BadValue {
                    option: "--period",
                    value: n.to_string(),
                    reason: format!("there are {} incidents; `flightrec gaps` lists them", found.len()),
                }
                .into());
            };
            Some(chosen.clone())
        }
        Target::At(_) => None,
    };
    let end_ms = match (&incident, target) {
        (Some(chosen), _) => chosen.first().start_ms,
        (None, Target::At(at)) => at,
        (None, _) => store.latest_sample_time()?.unwrap_or(now_ms),
    };
    let period = incident.as_ref().map(|i| i.first().clone());
    let from_ms = end_ms - window_ms;
    let baseline_from_ms = from_ms - BASELINE_MS;
    // Scalars, the probes (how fast a dependency usually answers) and the
    // watched logs (which lines are usual).
    let usual = Tables { probes: true, watched_logs: true, ..Tables::NONE };
    let baseline = store.window(baseline_from_ms, from_ms - 1, usual)?;
    let runs = store.runs()?;
    let interval_ms = runs.last().map_or(5000, |r| r.interval_ms).max(1);
    // Only runs that overlap the window: an old run's pid may be another
    // process's by now.
    let recorder_pids: Vec<u32> = runs
        .iter()
        .filter(|r| r.start_ms <= end_ms && r.stop_ms.is_none_or(|stop| stop >= from_ms))
        .map(|r| r.pid)
        .collect();
    // One pass over the window: decoding is what costs. The tables stream
    // through the detectors and the timeline; the window keeps each
    // sample's scalars and small tables.
    let mut detectors = Detectors::new(&recorder_pids);
    let mut timeline = Timeline::default();
    let mut samples = Vec::new();
    let mut newest_with_processes = None;
    store.pairs(from_ms, end_ms, Tables { interfaces: false, ..Tables::ALL }, |prev, cur| {
        detectors.observe(prev, cur);
        timeline.observe(prev, cur);
        if cur.sample.processes.is_some() {
            newest_with_processes = Some(cur.id);
        }
        samples.push(analyze::cut_down(cur));
        Ok(())
    })?;
    // Kernel messages up to the period's end: the last words before a
    // crash, and crash records written as it died, fall inside it.
    let events_to = incident.as_ref().and_then(Incident::end_ms).unwrap_or(end_ms);
    let events = store.events_between(from_ms, events_to)?;
    let window = Window {
        samples: &samples,
        baseline: &baseline,
        interval_ms,
        period_start_ms: period.as_ref().map(|p| p.start_ms),
        events: &events,
        recorder_pids: &recorder_pids,
        lookup: &StoreLookup { store, from_ms, to_ms: end_ms },
    };
    let mut findings = detectors.finish(&window);
    analyze::rank(&mut findings);
    let mut headline = headline(incident.as_ref(), end_ms, window_ms);
    // The kernel's own words name the cause when it spoke: say so first.
    if let Some(said) = findings
        .iter()
        .find(|f| f.category == analyze::Category::Kernel && f.severity == analyze::Severity::High)
    {
        headline = format!("{headline}\n{}", said.summary);
    }
    // Coverage of the part of the window after recording began there: the
    // time before is said separately ("recording began ...").
    let covered_from = samples.first().map_or(from_ms, |s| s.sample.time_ms.max(from_ms));
    let expected = usize::try_from((end_ms - covered_from) / interval_ms).unwrap_or(0) + 1;
    Ok(Report {
        headline,
        window: WindowInfo {
            from_ms,
            to_ms: end_ms,
            samples: samples.len(),
            expected_samples: expected,
            baseline_from_ms,
            baseline_samples: baseline.len(),
            recording_began_ms: store.first_at_or_after(i64::MIN)?.map(|(_, time)| time),
            last_recorded_ms: store.latest_sample_time()?,
        },
        timeline: timeline.finish(),
        last_sample: newest_with_processes
            .map(|id| {
                store
                    .sample_by_id_with_previous(id, Tables { processes: true, cgroups: true, ..Tables::NONE })
            })
            .transpose()?
            .map(|(prev, cur)| {
                last_sample(prev.as_ref(), &cur, |run_id| {
                    runs.iter().find(|r| r.id == run_id).map(|r| r.boot_time_ms)
                })
            }),
        findings,
        period,
        incident,
    })
}

fn headline(incident: Option<&Incident>, end_ms: i64, window_ms: i64) -> String {
    match incident {
        Some(incident) => incident.summary.clone(),
        None => format!(
            "no unresponsive period found; explaining the {} up to {}",
            format_duration_ms(window_ms),
            format_ms_local(end_ms)
        ),
    }
}

/// Top processes of the newest sample in the window that has a process
/// table, against the one before it in the same run; `boot_time_ms` gives
/// a run's boot, for processes' start times.
fn last_sample(
    prev: Option<&StoredSample>,
    cur: &StoredSample,
    boot_time_ms: impl Fn(i64) -> Option<i64>,
) -> LastSample {
    let ticks = rates::ticks_per_second();
    let table = rates::process_table(prev.map(|p| &p.sample), &cur.sample, ticks);
    let boot = boot_time_ms(cur.run_id);
    let units = process_units(&cur.sample);
    let top = |ranked: &[(&Process, Option<ProcessRates>)]| -> Vec<ProcessRow> {
        let row = |(p, r): &(&Process, Option<ProcessRates>)| {
            ProcessRow::new(cur.sample.time_ms, p, *r, boot, ticks).with_unit(&units)
        };
        ranked.iter().take(5).map(row).collect()
    };
    let mut by_cpu = table.clone();
    rates::rank_by_cpu(&mut by_cpu);
    let mut by_memory = table;
    rates::rank_by_memory(&mut by_memory);
    LastSample { time_ms: cur.sample.time_ms, top_cpu: top(&by_cpu), top_memory: top(&by_memory) }
}

/// The window's samples read again from the store, a few at a time.
struct StoreLookup<'a> {
    store: &'a Store,
    from_ms: i64,
    to_ms: i64,
}

impl StoreLookup<'_> {
    fn find(&self, from_ms: i64, to_ms: i64, newest: bool) -> Option<Sample> {
        let tables = Tables { processes: true, ..Tables::NONE };
        match self.store.find_sample(from_ms, to_ms, tables, newest, |s| s.sample.processes.is_some()) {
            Ok(found) => found.map(|s| s.sample),
            // The stream read these samples a moment ago: a failure now is
            // the file going away, and costs only the names of the writers.
            Err(err) => {
                eprintln!("flightrec: warning: {}: {err:#}", self.store.path().display());
                None
            }
        }
    }
}

impl Lookup for StoreLookup<'_> {
    fn processes_from(&self, time_ms: i64) -> Option<Sample> {
        self.find(time_ms.max(self.from_ms), self.to_ms, false)
    }

    fn processes_before(&self, time_ms: i64) -> Option<Sample> {
        self.find(self.from_ms, time_ms - 1, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_goes_up_to_a_week_and_the_refusal_names_the_cap() {
        assert_eq!(parse_window("7d").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_window("24h").unwrap(), 86_400_000);
        let refused = parse_window("8d").unwrap_err().to_string();
        assert!(refused.contains("7days"), "{refused}");
    }
}
