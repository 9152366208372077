//! Dependency probes that failed: since when, how, and how often. A probe
//! that connected but timed out at the protocol level is a hung dependency
//! (it accepts connections and never answers), which a plain port check
//! cannot see and which makes every client wait for its own timeout.

use super::at;
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::sample::{ProbeOutcome, ProbeResult};
use serde_json::json;
use std::collections::BTreeMap;

pub fn detect(w: &Window, found: &mut Vec<Finding>) {
    let mut by_target: BTreeMap<&str, Vec<(i64, &ProbeResult)>> = BTreeMap::new();
    for s in w.samples {
        for result in s.sample.probes.iter().flatten() {
            by_target.entry(&result.target).or_default().push((s.sample.time_ms, result));
        }
    }
    for (target, results) in by_target {
        let failed: Vec<&(i64, &ProbeResult)> =
            results.iter().filter(|(_, r)| r.outcome != ProbeOutcome::Ok).collect();
        let Some(&&(last_ms, last)) = failed.last() else { continue };
        // The failure that the current run of failures began with.
        let since = results.iter().rposition(|(_, r)| r.outcome == ProbeOutcome::Ok).map_or(0, |i| i + 1);
        let streak = &results[since.min(results.len() - 1)..];
        let since_ms = streak.first().map_or(last_ms, |(t, _)| *t);
        let hung = last.outcome == ProbeOutcome::Timeout && last.connect_us.is_some();
        let how = match last.outcome {
            _ if hung => "accepts connections but does not answer".to_string(),
            ProbeOutcome::Refused => "refuses connections: nothing listens there".to_string(),
            ProbeOutcome::Timeout => "does not accept connections within the timeout".to_string(),
            ProbeOutcome::ProtocolError => format!("answers wrongly ({})", last.detail),
            ProbeOutcome::NoRoute => "cannot be reached (no route or no such host)".to_string(),
            ProbeOutcome::Error | ProbeOutcome::Ok => format!("fails: {}", last.detail),
        };
        let still = results.last().is_some_and(|(_, r)| r.outcome != ProbeOutcome::Ok);
        let ongoing =
            if still { format!(" since {}", at(since_ms)) } else { format!(", last at {}", at(last_ms)) };
        found.push(Finding {
            kind: if hung { "dependency_hung" } else { "probe_failed" },
            category: Category::Dependency,
            severity: if failed.len() >= 2 || still { Severity::High } else { Severity::Medium },
            subject: target.to_string(),
            summary: format!("{target} {how}: {} of {} probes failed{ongoing}", failed.len(), results.len()),
            first_seen_ms: Some(failed[0].0),
            values: values([
                ("failed", json!(failed.len())),
                ("probes", json!(results.len())),
                ("outcome", json!(last.outcome)),
                ("since_ms", json!(since_ms)),
            ]),
        });
    }
}
