//! A process at its own limits (`/proc/PID/limits`, recorded once it came
//! near them): its open files at `Max open files`, where new files and
//! connections fail with EMFILE; or its user's threads at `Max processes`,
//! where forks and new threads fail with EAGAIN. Said as "at its limit",
//! which a count that merely rose does not tell.

use super::{Detector, at, span};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::sample::{Process, ProcessLimits};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Share of a limit from which a process is said to be near it, in tenths.
const NEAR_TENTHS: u64 = 9;

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Which {
    OpenFiles,
    Processes,
}

/// One process near one of its limits through the window: bounded by the
/// processes that came near a limit, which are few.
struct Near {
    pid: u32,
    identity: String,
    uid: u32,
    limit: u64,
    first_ms: i64,
    /// When the count first reached the limit itself.
    at_limit_ms: Option<i64>,
    peak: u64,
    last_ms: i64,
}

/// Folds the samples of a window, oldest first, into the processes that came
/// near their limits.
#[derive(Default)]
pub struct LimitsDetector {
    near: BTreeMap<((u32, u64), Which), Near>,
}

impl Detector for LimitsDetector {
    fn observe(&mut self, _prev: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let (Some(limits), Some(processes)) = (&s.process_limits, &s.processes) else { return };
        if limits.is_empty() {
            return;
        }
        let by_key: HashMap<(u32, u64), &Process> = processes.iter().map(|p| (p.key(), p)).collect();
        let mut user_threads: Option<HashMap<u32, u64>> = None;
        for row in limits {
            let Some(p) = by_key.get(&row.key()) else { continue };
            if let (Some(limit), Some(fds)) = (row.limits.open_files, p.fds) {
                self.count(row, p, Which::OpenFiles, u64::from(fds), limit, s.time_ms);
            }
            // Root's forks are not held to the limit of processes.
            if let Some(limit) = row.limits.processes.filter(|_| p.uid != 0) {
                let threads = user_threads.get_or_insert_with(|| threads_by_user(processes));
                let count = threads.get(&p.uid).copied().unwrap_or_default();
                self.count(row, p, Which::Processes, count, limit, s.time_ms);
            }
        }
    }

    fn finish(self: Box<Self>, _window: &Window) -> Vec<Finding> {
        self.near.iter().map(|((_, which), near)| finding(*which, near)).collect()
    }
}

impl LimitsDetector {
    fn count(
        &mut self,
        row: &ProcessLimits,
        p: &Process,
        which: Which,
        count: u64,
        limit: u64,
        time_ms: i64,
    ) {
        if limit == 0 || count * 10 < limit * NEAR_TENTHS {
            return;
        }
        let near = self.near.entry((row.key(), which)).or_insert_with(|| Near {
            pid: p.pid,
            identity: p.identity().into_owned(),
            uid: p.uid,
            limit,
            first_ms: time_ms,
            at_limit_ms: None,
            peak: count,
            last_ms: time_ms,
        });
        near.limit = limit;
        near.peak = near.peak.max(count);
        near.last_ms = time_ms;
        if count >= limit && near.at_limit_ms.is_none() {
            near.at_limit_ms = Some(time_ms);
        }
    }
}

/// Threads (tasks) per user: what `Max processes` counts.
fn threads_by_user(processes: &[Process]) -> HashMap<u32, u64> {
    let mut threads = HashMap::new();
    for p in processes {
        *threads.entry(p.uid).or_default() += u64::from(p.threads);
    }
    threads
}

fn finding(which: Which, near: &Near) -> Finding {
    let Near { pid, identity, uid, limit, peak, .. } = near;
    let (reached, since_ms) = match near.at_limit_ms {
        Some(ms) => ("at its limit", ms),
        None => ("near its limit", near.first_ms),
    };
    let held = if near.last_ms > since_ms {
        format!(" for {}", span(near.last_ms - since_ms))
    } else {
        String::new()
    };
    let (kind, what, fails) = match which {
        Which::OpenFiles => {
            ("open_files_limit", format!("open files ({peak} of {limit})"), "new files and connections fail")
        }
        Which::Processes => (
            "processes_limit",
            format!("processes: its user (uid {uid}) runs {peak} of {limit} tasks"),
            "new processes and threads fail",
        ),
    };
    let consequence = if near.at_limit_ms.is_some() { format!(": {fails}") } else { String::new() };
    Finding {
        kind,
        category: Category::Limits,
        severity: if near.at_limit_ms.is_some() { Severity::High } else { Severity::Medium },
        subject: identity.clone(),
        summary: format!(
            "{identity} (pid {pid}) {reached} of {what} from {}{held}{consequence}",
            at(since_ms)
        ),
        first_seen_ms: Some(since_ms),
        values: values([
            ("pid", json!(pid)),
            ("count", json!(peak)),
            ("limit", json!(limit)),
            ("at_limit", json!(near.at_limit_ms.is_some())),
        ]),
    }
}
