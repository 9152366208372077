//! Each finding kind on hand-built samples: one window where it fires, with
//! its numbers and times in `values`, and one just below its threshold
//! where it stays silent. Samples are 5 s apart from `T0`.

mod entities;
mod events;
mod limits;
mod ranking;
mod system;

use crate::analyze::{AtHand, Finding, Window, findings};
use crate::model::sample::{Process, Sample};
use crate::model::{Event, StoredSample};
use serde_json::{Value, json};

pub const T0: i64 = 1_800_000_000_000;
pub const STEP: i64 = 5_000;
pub const MIB: u64 = 1024 * 1024;

/// Time of sample `i`.
pub fn t(i: usize) -> i64 {
    T0 + i as i64 * STEP
}

/// `n` samples of one run, sample `i` filled in by `fill(i, sample)`.
pub fn samples(n: usize, fill: impl Fn(usize, &mut Sample)) -> Vec<StoredSample> {
    (0..n)
        .map(|i| {
            let mut sample = Sample { time_ms: t(i), ..Sample::default() };
            fill(i, &mut sample);
            StoredSample { id: i as i64 + 1, run_id: 1, sample, missing: Vec::new() }
        })
        .collect()
}

/// A process of `comm` with pid `pid`, started at boot.
pub fn process(pid: u32, comm: &str) -> Process {
    Process { pid, comm: comm.into(), state: 'S', threads: 1, ..Process::default() }
}

/// The findings of a window of `samples` and `events`.
pub fn found_in(samples: &[StoredSample], events: &[Event]) -> Vec<Finding> {
    found_after(&[], samples, events)
}

/// The findings of a window of `samples` and `events` after the hour
/// `baseline`.
pub fn found_after(baseline: &[StoredSample], samples: &[StoredSample], events: &[Event]) -> Vec<Finding> {
    findings(&Window {
        samples,
        baseline,
        interval_ms: STEP,
        period_start_ms: None,
        events,
        recorder_pids: &[],
        lookup: &AtHand(samples),
    })
}

/// The one finding of `kind`, failing with all that was found otherwise.
pub fn the(found: &[Finding], kind: &str) -> Finding {
    let of_kind: Vec<&Finding> = found.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(of_kind.len(), 1, "one {kind} expected, found: {found:#?}");
    of_kind[0].clone()
}

pub fn none_of(found: &[Finding], kind: &str) {
    assert!(found.iter().all(|f| f.kind != kind), "no {kind} expected, found: {found:#?}");
}

/// The finding's value `name`, as JSON.
pub fn value(finding: &Finding, name: &str) -> Value {
    finding.values.get(name).cloned().unwrap_or_else(|| panic!("no {name} in {:?}", finding.values))
}

pub fn assert_values(finding: &Finding, expected: &[(&str, Value)]) {
    for (name, want) in expected {
        let got = value(finding, name);
        let same = match (got.as_f64(), want.as_f64()) {
            (Some(g), Some(w)) => (g - w).abs() < 1e-6,
            _ => got == *want,
        };
        assert!(same, "{}: {name} is {got}, expected {want}", finding.kind);
    }
}

pub fn j(v: impl serde::Serialize) -> Value {
    json!(v)
}
