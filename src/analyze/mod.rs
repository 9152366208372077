//! What happened: unresponsive periods (`periods`) told as incidents
//! (`incidents`), and for the window
//! before one, ranked findings (`detect`) and a per-minute timeline
//! (`timeline`). Pure: the caller reads the samples and streams them in,
//! nothing here does I/O or reads the clock.

pub mod charts;
pub mod detect;
pub mod incidents;
pub mod periods;
pub mod replay;
pub mod report;
pub mod series;
pub mod timeline;

use crate::model::StoredSample;
use crate::model::sample::Sample;
use serde::Serialize;

/// The samples a report explains, once they have streamed through the
/// detectors (`detect::Detectors`).
pub struct Window<'a> {
    /// Oldest first, at least with their scalars and the small tables
    /// (waits, probes, watched directories and logs): `cut_down` keeps
    /// those, as the baseline does. The big tables (processes, sockets,
    /// filesystems, disks) are seen once, as they stream by.
    pub samples: &'a [StoredSample],
    /// The hour before the window, scalars, probes and watched logs only:
    /// what "rose", "slower" and "new" compare with.
    pub baseline: &'a [StoredSample],
    pub interval_ms: i64,
    /// Where the window ends because the machine stopped answering, if it did.
    pub period_start_ms: Option<i64>,
    /// Kernel messages and crash records from the window to the period's end.
    pub events: &'a [crate::model::Event],
    /// The recorder's own processes: findings leave them out.
    pub recorder_pids: &'a [u32],
    /// The samples read again for what is only known at the end: who wrote
    /// while a filesystem filled up.
    pub lookup: &'a dyn Lookup,
}

/// A sample of the window read again after the stream, by time.
pub trait Lookup {
    /// The first sample at or after `time_ms` that has a process table.
    fn processes_from(&self, time_ms: i64) -> Option<Sample>;
    /// The last sample before `time_ms` that has a process table.
    fn processes_before(&self, time_ms: i64) -> Option<Sample>;
}

/// Samples at hand, all with their tables (a test's).
pub struct AtHand<'a>(pub &'a [StoredSample]);

impl Lookup for AtHand<'_> {
    fn processes_from(&self, time_ms: i64) -> Option<Sample> {
        let s = self.0.iter().map(|s| &s.sample).find(|s| s.processes.is_some() && s.time_ms >= time_ms);
        s.cloned()
    }

    fn processes_before(&self, time_ms: i64) -> Option<Sample> {
        let s = self.0.iter().map(|s| &s.sample).rfind(|s| s.processes.is_some() && s.time_ms < time_ms);
        s.cloned()
    }
}

/// What the window keeps of a sample once its tables streamed by: its
/// scalars and the small tables that detectors read at the end.
pub fn cut_down(stored: &StoredSample) -> StoredSample {
    let s = &stored.sample;
    let sample = Sample {
        waits: s.waits.clone(),
        probes: s.probes.clone(),
        watched_dirs: s.watched_dirs.clone(),
        watched_logs: s.watched_logs.clone(),
        ..s.scalars()
    };
    StoredSample { id: stored.id, run_id: stored.run_id, sample, missing: stored.missing.clone() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Medium,
    High,
}

/// What a finding is about, in the order a cause usually comes before its
/// symptoms: a dependency that hangs fills sockets, which pile up
/// processes, which exhaust memory and load the CPU, which makes the
/// recorder late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Kernel,
    Dependency,
    Sockets,
    Processes,
    Limits,
    Filesystem,
    FileDescriptors,
    Memory,
    Disk,
    Pressure,
    Cpu,
    Recorder,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable machine name, e.g. `process_pileup`, `filesystem_full`.
    pub kind: &'static str,
    pub category: Category,
    pub severity: Severity,
    /// The entity: a command name, `port 25`, a mount point, `memory`.
    pub subject: String,
    /// One line for people, with the numbers and times.
    pub summary: String,
    /// When the condition began, as far as the samples show.
    pub first_seen_ms: Option<i64>,
    /// The numbers behind the summary, by name.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// All findings of a window whose samples are all at hand (with their
/// tables), streamed through the detectors as the store's are, ranked.
pub fn findings(window: &Window) -> Vec<Finding> {
    let mut detectors = detect::Detectors::new(window.recorder_pids);
    let mut prev: Option<&StoredSample> = None;
    for cur in window.samples {
        detectors.observe(prev.filter(|p| p.run_id == cur.run_id), cur);
        prev = Some(cur);
    }
    let mut all = detectors.finish(window);
    rank(&mut all);
    all
}

/// Severity first, then causes before symptoms (the order of `Category`),
/// then what began first; a finding with no start comes last of its kind.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.category.cmp(&b.category))
            .then(a.first_seen_ms.unwrap_or(i64::MAX).cmp(&b.first_seen_ms.unwrap_or(i64::MAX)))
    });
}

/// Builds the `values` of a finding from name/number pairs.
pub fn values<const N: usize>(
    pairs: [(&str, serde_json::Value); N],
) -> serde_json::Map<String, serde_json::Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
