//! `flightrec gaps` and `flightrec report`: read what the analysis needs
//! from the store (runs, irregular ticks, the window's samples and the hour
//! before), let `analyze` decide, and hand the result to `render`.

use crate::analyze::periods::{self, Period, RunFacts};
use crate::analyze::timeline;
use crate::analyze::{self, Finding, Window};
use crate::error::BadInput;
use crate::model::StoredSample;
use crate::model::catalogue::{Minute, ProcessRow, process_units, serialize_report_processes};
use crate::model::human::{format_duration_ms, format_ms_local};
use crate::model::rates;
use crate::model::rates::ProcessRates;
use crate::model::sample::Process;
use crate::store::{Store, Tables};
use crate::time;
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

/// How much time before a period `report` explains, and `gaps` counts
/// samples in, unless `--window` says otherwise.
pub const DEFAULT_WINDOW: &str = "15m";

/// `--window`, in ms: a minute to a day.
pub fn parse_window(text: &str) -> Result<i64, BadInput> {
    let window =
        time::parse_interval("--window", text, Duration::from_secs(60), Duration::from_secs(86_400))?;
    Ok(window.as_millis() as i64)
}

/// How far back "rose" and "fell" look for a normal level.
const BASELINE_MS: i64 = 3_600_000;

/// All unresponsive periods, newest first, each with the number of samples
/// in the `window_ms` before it.
pub fn gaps(store: &Store, now_ms: i64, window_ms: i64) -> Result<Vec<Period>> {
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
    /// The newest period, or the latest window if there is none.
    Newest,
    /// A period by its number in `gaps`.
    Period(usize),
    /// The window ending at this time.
    At(i64),
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub headline: String,
    pub period: Option<Period>,
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
    let found = gaps(store, now_ms, window_ms)?;
    let (period, end_ms) = match target {
        Target::Newest => match found.into_iter().next() {
            Some(p) => {
                let end = p.start_ms;
                (Some(p), end)
            }
            None => (None, store.latest_sample_time()?.unwrap_or(now_ms)),
        },
        Target::Period(n) => {
            let count = found.len();
            let Some(p) = found.into_iter().find(|p| p.number == n) else {
                return Err(BadInput::BadValue {
                    option: "--period",
                    value: n.to_string(),
                    reason: format!("there are {count} periods; `flightrec gaps` lists them"),
                }
                .into());
            };
            let end = p.start_ms;
            (Some(p), end)
        }
        Target::At(at) => (None, at),
    };
    let from_ms = end_ms - window_ms;
    let samples = store.window(from_ms, end_ms, Tables { interfaces: false, ..Tables::ALL })?;
    let baseline_from_ms = from_ms - BASELINE_MS;
    let baseline = store.window(baseline_from_ms, from_ms - 1, Tables::NONE)?;
    let runs = store.runs()?;
    let interval_ms = runs.last().map_or(5000, |r| r.interval_ms).max(1);
    // Only runs that overlap the window: an old run's pid may be another
    // process's by now.
    let recorder_pids: Vec<u32> = runs
        .iter()
        .filter(|r| r.start_ms <= end_ms && r.stop_ms.is_none_or(|stop| stop >= from_ms))
        .map(|r| r.pid)
        .collect();
    // Kernel messages up to the period's end: the last words before a
    // crash, and crash records written as it died, fall inside it.
    let events_to = period.as_ref().and_then(|p| p.end_ms).unwrap_or(end_ms);
    let events = store.events_between(from_ms, events_to)?;
    let window = Window {
        samples: &samples,
        baseline: &baseline,
        interval_ms,
        period_start_ms: period.as_ref().map(|p| p.start_ms),
        events: &events,
        recorder_pids: &recorder_pids,
    };
    let findings = analyze::findings(&window);
    let mut headline = headline(period.as_ref(), end_ms, window_ms, now_ms);
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
        },
        timeline: timeline::per_minute(&samples),
        last_sample: last_sample(&samples, |run_id| {
            runs.iter().find(|r| r.id == run_id).map(|r| r.boot_time_ms)
        }),
        findings,
        period,
    })
}

fn headline(period: Option<&Period>, end_ms: i64, window_ms: i64, now_ms: i64) -> String {
    use periods::Kind;
    let Some(p) = period else {
        return format!(
            "no unresponsive period found; explaining the {} up to {}",
            format_duration_ms(window_ms),
            format_ms_local(end_ms)
        );
    };
    let last = format_ms_local(p.start_ms);
    let length = format_duration_ms(p.length_ms(now_ms));
    let back = p.end_ms.map(format_ms_local).unwrap_or_default();
    match p.kind {
        Kind::Reboot => format!(
            "unclean stop, then reboot: last sample {last}, machine booted again {back}, {length} later"
        ),
        Kind::UncleanStop => format!(
            "unclean stop (killed, crashed or frozen), same boot: last sample {last}, recorder back {back}, {length} later"
        ),
        Kind::Stall => format!(
            "stall: no sample between {last} and {back} ({length}), and the machine was not suspended"
        ),
        Kind::Suspend => format!("suspend, not a stall: {last} to {back} ({length})"),
        Kind::NotRunning => format!(
            "unclean stop (killed, crashed or a power cut): last sample {last}, {length} ago, and no recorder has run since"
        ),
        Kind::SilentNow => {
            format!("silent now: last sample {last}, {length} ago, and the recorder never stopped cleanly")
        }
    }
}

/// Top processes of the newest sample in the window that has a process
/// table; `boot_time_ms` gives a run's boot, for processes' start times.
fn last_sample(samples: &[StoredSample], boot_time_ms: impl Fn(i64) -> Option<i64>) -> Option<LastSample> {
    let index = samples.iter().rposition(|s| s.sample.processes.is_some())?;
    let cur = &samples[index];
    let prev = index.checked_sub(1).map(|i| &samples[i]).filter(|p| p.run_id == cur.run_id);
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
    Some(LastSample { time_ms: cur.sample.time_ms, top_cpu: top(&by_cpu), top_memory: top(&by_memory) })
}
