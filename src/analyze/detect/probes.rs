//! Dependency probes that failed: since when, how, and how often. A probe
//! that connected but timed out at the protocol level is a hung dependency
//! (it accepts connections and never answers), which a plain port check
//! cannot see and which makes every client wait for its own timeout.

use super::at;
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::sample::{ProbeOutcome, ProbeResult};
use serde_json::json;
use std::collections::BTreeMap;

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
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
