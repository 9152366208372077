//! Detectors: each looks at the window for one kind of trouble and speaks
//! only when a clear threshold was crossed or the change against the
//! baseline is large. "Nothing abnormal" is a valid answer.
//!
//! The samples stream by once, each with the one before it: a detector
//! keeps what it needs of them in aggregates of bounded size (per entity,
//! a capped number of entities), never the tables themselves, and speaks
//! when the window ends.

mod cgroups;
mod entities;
mod kernel;
mod limits;
mod oom;
mod probes;
mod system;
mod waits;
mod watched;

#[cfg(test)]
mod tests;

use super::series::{Rise, Series};
use super::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::sample::Sample;
use serde_json::json;

/// One kind of trouble, looked for as the samples stream by.
pub trait Detector {
    /// `prev` is the sample before `cur` in the same run, if any.
    fn observe(&mut self, prev: Option<&StoredSample>, cur: &StoredSample);
    /// What the window showed, once every sample was observed.
    fn finish(self: Box<Self>, window: &Window) -> Vec<Finding>;
    /// Entities (commands, ports, processes) past the detector's cap,
    /// which it did not follow.
    fn left_out(&self) -> usize {
        0
    }
}

/// Entities one detector follows at most; a window with more (a fork
/// storm of unique names) is told as such rather than held whole.
pub(super) const MAX_ENTITIES: usize = 20_000;

/// How many samples apart detectors that follow processes look for the
/// ones that exited: often enough to stay small, seldom enough to cost
/// nothing.
pub(super) const SWEEP_EVERY: usize = 60;

/// A detector that reads only what the window keeps of every sample (its
/// scalars, the small tables, the events) and so needs nothing streamed.
struct Kept(fn(&Window, &mut Vec<Finding>));

impl Detector for Kept {
    fn observe(&mut self, _: Option<&StoredSample>, _: &StoredSample) {}

    fn finish(self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        (self.0)(window, &mut found);
        found
    }
}

/// Every detector, in the order their findings are listed before ranking.
pub struct Detectors(Vec<Box<dyn Detector>>);

impl Detectors {
    /// `recorder_pids`: the recorder's own processes, which findings leave
    /// out.
    pub fn new(recorder_pids: &[u32]) -> Detectors {
        Detectors(vec![
            Box::new(Kept(system::detect)),
            Box::new(system::TopCpu::new(recorder_pids)),
            Box::new(system::Disks::default()),
            Box::new(entities::Processes::default()),
            Box::new(entities::Lives::new(recorder_pids)),
            Box::new(entities::Sockets::default()),
            Box::new(entities::Filesystems::new(recorder_pids)),
            Box::new(limits::LimitsDetector::default()),
            Box::new(cgroups::CgroupDetector::default()),
            // With the probes: a wait on a probed endpoint takes in the
            // probe's finding.
            Box::new(waits::Waits::default()),
            Box::new(Kept(kernel::detect)),
            Box::new(Kept(oom::detect)),
            Box::new(watched::Watched::default()),
        ])
    }

    pub fn observe(&mut self, prev: Option<&StoredSample>, cur: &StoredSample) {
        for detector in &mut self.0 {
            detector.observe(prev, cur);
        }
    }

    /// The findings, unranked; a window without samples or events has none.
    pub fn finish(self, window: &Window) -> Vec<Finding> {
        if window.samples.is_empty() && window.events.is_empty() {
            return Vec::new();
        }
        let left_out: usize = self.0.iter().map(|d| d.left_out()).sum();
        let mut found: Vec<Finding> = self.0.into_iter().flat_map(|d| d.finish(window)).collect();
        said_once_at_the_limit(&mut found);
        if left_out > 0 {
            found.push(Finding {
                kind: "entities_left_out",
                category: Category::Recorder,
                severity: Severity::Info,
                subject: "report".into(),
                summary: format!(
                    "{left_out} commands, ports or processes past the first {MAX_ENTITIES} of a kind were not followed"
                ),
                first_seen_ms: None,
                values: values([("left_out", json!(left_out))]),
            });
        }
        found
    }
}

/// A process at its limit of open files is said so once: its rise in open
/// files is not told again beside it.
fn said_once_at_the_limit(found: &mut Vec<Finding>) {
    let pid_of = |f: &Finding| f.values.get("pid").and_then(serde_json::Value::as_u64);
    let limited: Vec<u64> =
        found.iter().filter(|f| f.kind == "open_files_limit").filter_map(pid_of).collect();
    found.retain(|f| f.kind != "fd_growth" || pid_of(f).is_none_or(|pid| !limited.contains(&pid)));
}

/// One number per sample of the window, where the sample has it.
pub(super) fn scalar(samples: &[crate::model::StoredSample], get: impl Fn(&Sample) -> Option<f64>) -> Series {
    samples.iter().filter_map(|s| Some((s.sample.time_ms, get(&s.sample)?))).collect()
}

/// A time of day for summaries.
pub(super) fn at(ms: i64) -> String {
    crate::model::human::format_ms_clock(ms)
}

/// When a rise happened, for summaries: `in 13m (18:00:09 → 18:13:02)`.
pub(super) fn during(rise: &Rise) -> String {
    format!("in {} ({} → {})", span(rise.to_ms - rise.from_ms), at(rise.from_ms), at(rise.to_ms))
}

/// A span for summaries: `13m`, `40s`.
pub(super) fn span(ms: i64) -> String {
    crate::model::human::format_duration_ms(ms)
}
