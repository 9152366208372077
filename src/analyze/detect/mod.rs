//! Detectors: each looks at the window for one kind of trouble and speaks
//! only when a clear threshold was crossed or the change against the
//! baseline is large. "Nothing abnormal" is a valid answer.

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
use super::{Finding, Window};
use crate::model::sample::Sample;

pub fn all(window: &Window) -> Vec<Finding> {
    if window.samples.is_empty() && window.events.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    system::detect(window, &mut found);
    entities::detect(window, &mut found);
    probes::detect(window, &mut found);
    waits::detect(window, &mut found);
    kernel::detect(window, &mut found);
    oom::detect(window, &mut found);
    watched::detect(window, &mut found);
    process_limits(window, &mut found);
    found
}

/// Processes at their own limits. A process at its limit of open files is
/// said so once: its rise in open files is not told again beside it.
fn process_limits(window: &Window, found: &mut Vec<Finding>) {
    let mut detector = limits::LimitsDetector::default();
    let mut prev = None;
    for cur in window.samples {
        detector.observe(prev.filter(|p: &&crate::model::StoredSample| p.run_id == cur.run_id), cur);
        prev = Some(cur);
    }
    let mut at_limit = Vec::new();
    detector.finish(&mut at_limit);
    let pid_of = |f: &Finding| f.values.get("pid").and_then(serde_json::Value::as_u64);
    let limited: Vec<u64> =
        at_limit.iter().filter(|f| f.kind == "open_files_limit").filter_map(pid_of).collect();
    found.retain(|f| f.kind != "fd_growth" || pid_of(f).is_none_or(|pid| !limited.contains(&pid)));
    found.extend(at_limit);
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
