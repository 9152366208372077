//! Kernel messages and crash records in the window: the kernel often names
//! the cause outright (an OOM kill, a hung task, a lockup, an I/O error),
//! and those lines are the ones lost when the machine dies. Each known kind
//! of message is one finding, with its count and the last line; OOM kills
//! are `oom`'s.

use super::at;
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::Event;
use serde_json::json;

/// Known incident messages: finding kind, what it means, severity, and the
/// texts that mark it.
const KNOWN: &[(&str, &str, Severity, &[&str])] = &[
    ("kernel_hung_task", "tasks hung in the kernel", Severity::High, &["blocked for more than"]),
    ("kernel_lockup", "a CPU locked up", Severity::High, &["soft lockup", "hard LOCKUP", "watchdog: BUG"]),
    (
        "kernel_bug",
        "the kernel hit a bug",
        Severity::High,
        &["BUG:", "Oops", "general protection", "Kernel panic"],
    ),
    ("kernel_io_error", "I/O errors", Severity::High, &["I/O error", "blk_update_request", "EXT4-fs error"]),
    (
        "kernel_network",
        "the network stack ran out of room",
        Severity::High,
        &["nf_conntrack: table full", "TCP: out of memory", "SYN flooding"],
    ),
    ("kernel_segfault", "processes crashed", Severity::Medium, &["segfault"]),
];

/// syslog priority 3: errors and worse.
const ERROR_PRIORITY: u8 = 3;

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    let kernel: Vec<&Event> = window.events.iter().filter(|e| e.kind == "kernel").collect();
    // OOM kills are told by `oom`, once per episode.
    let mut explained: Vec<bool> = kernel.iter().map(|e| super::oom::is_oom_line(&e.detail)).collect();
    for &(kind, meaning, severity, marks) in KNOWN {
        let hits: Vec<(usize, &Event)> = kernel
            .iter()
            .enumerate()
            .filter(|(_, e)| marks.iter().any(|m| e.detail.contains(m)))
            .map(|(i, e)| (i, *e))
            .collect();
        let (Some(first), Some(last)) = (hits.first(), hits.last()) else { continue };
        for (i, _) in &hits {
            explained[*i] = true;
        }
        let count: u32 = hits.iter().map(|(_, e)| 1 + e.repeats).sum();
        found.push(Finding {
            kind,
            category: Category::Kernel,
            severity,
            subject: "kernel".into(),
            summary: format!(
                "kernel: {meaning} ({count}×, first {}): last at {}: {}",
                at(first.1.time_ms),
                at(last.1.time_ms),
                line(&last.1.detail)
            ),
            first_seen_ms: Some(first.1.time_ms),
            values: values([("count", json!(count)), ("last", json!(last.1.detail))]),
        });
    }
    let errors: Vec<&Event> = kernel
        .iter()
        .zip(&explained)
        .filter(|(e, done)| !**done && e.priority.is_some_and(|p| p <= ERROR_PRIORITY))
        .map(|(e, _)| *e)
        .collect();
    if let (Some(first), Some(last)) = (errors.first(), errors.last()) {
        found.push(Finding {
            kind: "kernel_errors",
            category: Category::Kernel,
            severity: Severity::Medium,
            subject: "kernel".into(),
            summary: format!(
                "kernel: {} from {}; the last at {}: {}",
                crate::model::human::count(errors.len() as u64, "error message", "error messages"),
                at(first.time_ms),
                at(last.time_ms),
                line(&last.detail)
            ),
            first_seen_ms: Some(first.time_ms),
            values: values([("count", json!(errors.len())), ("last", json!(last.detail))]),
        });
    }
    for record in window.events.iter().filter(|e| e.kind == "pstore") {
        found.push(Finding {
            kind: "crash_record",
            category: Category::Kernel,
            severity: Severity::High,
            subject: "pstore".into(),
            summary: format!(
                "crash record left by the kernel at {}: {}",
                at(record.time_ms),
                last_line(&record.detail)
            ),
            first_seen_ms: Some(record.time_ms),
            values: values([("record", json!(record.detail))]),
        });
    }
}

/// One line of a message, shortened for a summary.
fn line(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    match first.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &first[..cut]),
        None => first.to_string(),
    }
}

/// The last non-empty line of a crash record: usually the panic itself.
fn last_line(text: &str) -> String {
    line(text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default())
}
