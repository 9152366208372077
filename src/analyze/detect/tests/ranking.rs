//! The ranking: severity first, then a cause before its symptoms, then
//! what began first.

use super::*;
use crate::analyze::{Category, Severity, rank};

fn finding(
    kind: &'static str,
    category: Category,
    severity: Severity,
    first_seen_ms: Option<i64>,
) -> Finding {
    Finding {
        kind,
        category,
        severity,
        subject: String::new(),
        summary: String::new(),
        first_seen_ms,
        values: Default::default(),
    }
}

fn kinds(found: &[Finding]) -> Vec<&str> {
    found.iter().map(|f| f.kind).collect()
}

#[test]
fn a_cause_comes_before_its_symptoms_at_the_same_severity() {
    let mut found = vec![
        finding("recorder_late", Category::Recorder, Severity::High, Some(T0)),
        finding("load_high", Category::Cpu, Severity::High, Some(T0)),
        finding("process_pileup", Category::Processes, Severity::High, Some(T0 + 60_000)),
        finding("dependency_hung", Category::Dependency, Severity::High, Some(T0 + 120_000)),
    ];
    rank(&mut found);
    assert_eq!(kinds(&found), ["dependency_hung", "process_pileup", "load_high", "recorder_late"]);
}

#[test]
fn severity_outranks_the_order_of_causes() {
    let mut found = vec![
        finding("kernel_errors", Category::Kernel, Severity::Medium, Some(T0)),
        finding("cpu_top_consumers", Category::Cpu, Severity::Info, None),
        finding("recorder_late", Category::Recorder, Severity::High, Some(T0)),
    ];
    rank(&mut found);
    assert_eq!(kinds(&found), ["recorder_late", "kernel_errors", "cpu_top_consumers"]);
}

#[test]
fn of_the_same_category_what_began_first_leads() {
    let mut found = vec![
        finding("no_start", Category::Sockets, Severity::High, None),
        finding("later", Category::Sockets, Severity::High, Some(T0 + 10_000)),
        finding("earlier", Category::Sockets, Severity::High, Some(T0)),
    ];
    rank(&mut found);
    assert_eq!(kinds(&found), ["earlier", "later", "no_start"]);
}

#[test]
fn findings_of_a_window_come_ranked() {
    // A probe that hangs (the cause) and the recorder running late (a
    // symptom), both high: the probe comes first though it began later.
    let window = samples(4, |i, s| {
        s.lateness_ms = if i == 1 { 12_000 } else { 0 };
        s.probes = Some(vec![crate::model::sample::ProbeResult {
            target: "milter:127.0.0.1:8891".into(),
            outcome: if i >= 2 {
                crate::model::sample::ProbeOutcome::Timeout
            } else {
                crate::model::sample::ProbeOutcome::Ok
            },
            connect_us: (i >= 2).then_some(100),
            ..Default::default()
        }]);
    });
    let found = found_in(&window, &[]);
    assert_eq!(kinds(&found), ["dependency_hung", "recorder_late"]);
}
