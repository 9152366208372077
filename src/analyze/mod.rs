//! What happened: unresponsive periods (`periods`) told as incidents
//! (`incidents`), and for the window
//! before one, ranked findings (`detect`) and a per-minute timeline
//! (`timeline`). Pure: the caller reads the samples, nothing here does I/O
//! or reads the clock.

pub mod charts;
pub mod detect;
pub mod incidents;
pub mod periods;
pub mod replay;
pub mod report;
pub mod series;
pub mod timeline;

use crate::model::StoredSample;
use serde::Serialize;

/// The samples a report explains.
pub struct Window<'a> {
    /// With their process, socket, filesystem and disk tables, oldest first.
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

/// All findings of a window, ranked.
pub fn findings(window: &Window) -> Vec<Finding> {
    let mut all = detect::all(window);
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
