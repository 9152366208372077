//! Detectors: each looks at the window for one kind of trouble and speaks
//! only when a clear threshold was crossed or the change against the
//! baseline is large. "Nothing abnormal" is a valid answer.

mod cgroups;
mod entities;
mod kernel;
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
    cgroups::detect(window, &mut found);
    probes::detect(window, &mut found);
    waits::detect(window, &mut found);
    kernel::detect(window, &mut found);
    oom::detect(window, &mut found);
    watched::detect(window, &mut found);
    found
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
