//! Dependency probes that failed: since when, how, and how often. A probe
//! that connected but timed out at the protocol level is a hung dependency
//! (it accepts connections and never answers), which a plain port check
//! cannot see and which makes every client wait for its own timeout. A
//! probe that still succeeds but answers many times slower than before is
//! a dependency going the same way.

use super::{at, span};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::sample::{ProbeOutcome, ProbeResult};
use serde_json::json;
use std::collections::BTreeMap;

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    failures(window, found);
    slow_answers(window, found);
}

fn failures(window: &Window, found: &mut Vec<Finding>) {
    let mut by_target: BTreeMap<&str, Vec<(i64, &ProbeResult)>> = BTreeMap::new();
    for s in window.samples {
        for result in s.sample.probes.iter().flatten() {
            by_target.entry(&result.target).or_default().push((s.sample.time_ms, result));
        }
    }
    for (target, results) in by_target {
        let failed: Vec<&(i64, &ProbeResult)> =
            results.iter().filter(|(_, r)| r.outcome != ProbeOutcome::Ok).collect();
        let Some(&&(last_ms, _)) = failed.last() else { continue };
        // Still failing: describe the current run of failures, from the
        // last success; recovered: describe every failure in the window.
        let still = results.last().is_some_and(|(_, r)| r.outcome != ProbeOutcome::Ok);
        let streak = match results.iter().rposition(|(_, r)| r.outcome == ProbeOutcome::Ok) {
            Some(ok) if still => &results[ok + 1..],
            _ => &results[..],
        };
        let since_ms =
            streak.iter().find(|(_, r)| r.outcome != ProbeOutcome::Ok).map_or(last_ms, |(t, _)| *t);
        // Failures may change kind (a server that first accepts and hangs,
        // then stops accepting): name each, in order.
        let mut kinds: Vec<(&'static str, usize)> = Vec::new();
        for (_, r) in streak.iter().filter(|(_, r)| r.outcome != ProbeOutcome::Ok) {
            let kind = failure(r);
            match kinds.last_mut() {
                Some((last_kind, n)) if *last_kind == kind => *n += 1,
                _ => kinds.push((kind, 1)),
            }
        }
        let hung = streak.iter().any(|(_, r)| failure(r) == HUNG);
        let how = kinds.iter().map(|(kind, n)| format!("{kind} ({n}×)")).collect::<Vec<_>>().join(", then ");
        let wrong = streak.iter().rev().find(|(_, r)| r.outcome == ProbeOutcome::ProtocolError);
        let answer = wrong.map_or(String::new(), |(_, r)| format!(" [{}]", r.detail));
        let ongoing =
            if still { format!(" since {}", at(since_ms)) } else { format!(", last at {}", at(last_ms)) };
        found.push(Finding {
            kind: if hung { "dependency_hung" } else { "probe_failed" },
            category: Category::Dependency,
            severity: if failed.len() >= 2 || still { Severity::High } else { Severity::Medium },
            subject: target.to_string(),
            summary: format!(
                "{target} {how}{answer}: {} of {} probes failed{ongoing}",
                failed.len(),
                results.len()
            ),
            first_seen_ms: Some(failed[0].0),
            values: values([
                ("failed", json!(failed.len())),
                (
                    "kinds",
                    json!(kinds.iter().map(|(k, n)| json!({"kind": k, "count": n})).collect::<Vec<_>>()),
                ),
                ("probes", json!(results.len())),
                ("since_ms", json!(since_ms)),
            ]),
        });
    }
}

/// Slower than this many times the usual latency, and by at least
/// `SLOWER_BY_US`, an answer is slow.
const SLOWER_FACTOR: u64 = 10;
const SLOWER_BY_US: u64 = 100_000;

/// Successful probes whose latency grew far beyond their usual one: the
/// median of the hour before (or, without one, of the window's first
/// half).
fn slow_answers(window: &Window, found: &mut Vec<Finding>) {
    let ok = |samples: &[crate::model::StoredSample]| -> BTreeMap<String, Vec<(i64, u64)>> {
        let mut by_target: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        for s in samples {
            for r in s.sample.probes.iter().flatten().filter(|r| r.outcome == ProbeOutcome::Ok) {
                by_target.entry(r.target.clone()).or_default().push((s.sample.time_ms, r.latency_us));
            }
        }
        by_target
    };
    let before = ok(window.baseline);
    for (target, latencies) in ok(window.samples) {
        let usual = match before.get(&target).filter(|b| b.len() >= 3) {
            Some(baseline) => median(baseline),
            None => median(&latencies[..latencies.len() / 2]),
        };
        let Some(usual) = usual else { continue };
        let limit = (usual * SLOWER_FACTOR).max(usual + SLOWER_BY_US);
        let slow: Vec<&(i64, u64)> = latencies.iter().filter(|(_, us)| *us >= limit).collect();
        let (Some(first), Some(worst)) = (slow.first(), slow.iter().max_by_key(|(_, us)| *us)) else {
            continue;
        };
        let factor = worst.1 / usual.max(1);
        let ms = |us: u64| span((us / 1000) as i64);
        found.push(Finding {
            kind: "probe_slow",
            category: Category::Dependency,
            severity: if slow.len() >= 2 { Severity::Medium } else { Severity::Info },
            subject: target.clone(),
            summary: format!(
                "{target} still answers, but up to {factor}× slower than usual: {} at {} against {} usually; {} slow answers from {}",
                ms(worst.1),
                at(worst.0),
                ms(usual),
                slow.len(),
                at(first.0)
            ),
            first_seen_ms: Some(first.0),
            values: values([
                ("usual_us", json!(usual)),
                ("worst_us", json!(worst.1)),
                ("worst_ms", json!(worst.0)),
                ("slow", json!(slow.len())),
            ]),
        });
    }
}

fn median(latencies: &[(i64, u64)]) -> Option<u64> {
    let mut sorted: Vec<u64> = latencies.iter().map(|(_, us)| *us).collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

const HUNG: &str = "accepted connections but did not answer";

/// What one failed probe says about the dependency.
fn failure(r: &ProbeResult) -> &'static str {
    match r.outcome {
        ProbeOutcome::Timeout if r.connect_us.is_some() => HUNG,
        ProbeOutcome::Timeout => "did not accept connections within the timeout",
        ProbeOutcome::Refused => "refused connections: nothing listens there",
        ProbeOutcome::ProtocolError => "answered wrongly",
        ProbeOutcome::NoRoute => "could not be reached (no route or no such host)",
        ProbeOutcome::Error | ProbeOutcome::Ok => "failed",
    }
}
