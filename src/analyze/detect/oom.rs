//! OOM kills, one finding per episode. The kernel says it three ways for
//! each kill (`oom-kill:constraint=...`, `Out of memory: Killed process
//! ...`, and the memory report around them) and counts it once more in
//! `oom_kill` of /proc/vmstat: all of them are one episode, told once with
//! the victims by name and pid, their memory, and the constraint or cgroup
//! the kernel names. Kills less than `EPISODE_GAP_MS` apart are one
//! episode.

use super::{at, scalar};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::Event;
use crate::model::human::bytes;
use serde_json::json;

/// Kills further apart than this are separate episodes.
const EPISODE_GAP_MS: i64 = 60_000;

/// Texts found only in the kernel's lines about an OOM kill.
const MARKS: [&str; 4] = ["Out of memory", "oom-kill:", "Killed process", "invoked oom-killer"];

pub fn is_oom_line(text: &str) -> bool {
    MARKS.iter().any(|m| text.contains(m))
}

/// A process the OOM killer killed, from `Killed process 4242 (java)
/// total-vm:..kB, anon-rss:..kB, file-rss:..kB, shmem-rss:..kB`.
#[derive(Debug, Clone, PartialEq)]
struct Victim {
    time_ms: i64,
    pid: u32,
    name: String,
    rss_bytes: Option<u64>,
}

fn victim(event: &Event) -> Option<Victim> {
    let rest = event.detail.split_once("Killed process ")?.1;
    let (pid, rest) = rest.split_once(' ')?;
    let name = rest.strip_prefix('(')?.split_once(')')?.0;
    let kib = |key: &str| -> Option<u64> {
        let value = rest.split_once(key)?.1;
        value.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    let rss = ["anon-rss:", "file-rss:", "shmem-rss:"].iter().map(|k| kib(k)).sum::<Option<u64>>();
    Some(Victim {
        time_ms: event.time_ms,
        pid: pid.parse().ok()?,
        name: name.into(),
        rss_bytes: rss.map(|k| k * 1024),
    })
}

/// What the kernel says limited memory, from `oom-kill:constraint=
/// CONSTRAINT_MEMCG,...,oom_memcg=/system.slice/x.service,...`.
fn constraint(event: &Event) -> Option<String> {
    let fields = event.detail.split_once("oom-kill:")?.1;
    let field = |key: &str| fields.split(',').find_map(|f| f.strip_prefix(key)).filter(|v| !v.is_empty());
    let kind = field("constraint=")?;
    Some(match field("oom_memcg=") {
        Some(cgroup) if kind == "CONSTRAINT_MEMCG" => format!("the memory limit of cgroup {cgroup}"),
        _ if kind == "CONSTRAINT_NONE" => "memory of the whole machine".into(),
        _ => kind.to_string(),
    })
}

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    let lines: Vec<&Event> =
        window.events.iter().filter(|e| e.kind == "kernel" && is_oom_line(&e.detail)).collect();
    let kills = scalar(window.samples, |s| Some(s.vm?.oom_kills as f64));
    let counted = match (kills.first(), kills.last()) {
        (Some(first), Some(last)) => (last.1 - first.1).max(0.0) as u64,
        _ => 0,
    };
    let counted_from = kills.iter().find(|(_, v)| kills.first().is_some_and(|f| *v > f.1)).map(|(t, _)| *t);
    let victims: Vec<Victim> = lines.iter().filter_map(|e| victim(e)).collect();
    let mut episodes: Vec<Vec<Victim>> = Vec::new();
    for v in victims {
        match episodes.last_mut() {
            Some(episode) if v.time_ms - episode.last().expect("never empty").time_ms <= EPISODE_GAP_MS => {
                episode.push(v)
            }
            _ => episodes.push(vec![v]),
        }
    }
    if episodes.is_empty() {
        if counted > 0 {
            let when = counted_from.unwrap_or_default();
            found.push(finding(Vec::new(), counted, when, None, None));
        }
        return;
    }
    let single = episodes.len() == 1;
    for episode in episodes {
        let (from, to) = (episode[0].time_ms, episode[episode.len() - 1].time_ms);
        let said = lines.iter().filter(|e| (from - EPISODE_GAP_MS..=to).contains(&e.time_ms));
        let limit = said.filter_map(|e| constraint(e)).next();
        // The counter covers the whole window: it speaks for a lone episode.
        let count = if single { counted.max(episode.len() as u64) } else { episode.len() as u64 };
        found.push(finding(episode, count, from, Some(to), limit));
    }
}

fn finding(victims: Vec<Victim>, count: u64, from: i64, to: Option<i64>, limit: Option<String>) -> Finding {
    let whom: Vec<String> = victims
        .iter()
        .map(|v| match v.rss_bytes {
            Some(rss) => format!("{} (pid {}, {} RSS)", v.name, v.pid, bytes(rss as f64)),
            None => format!("{} (pid {})", v.name, v.pid),
        })
        .collect();
    let plural = if count == 1 { "process" } else { "processes" };
    let when = match to {
        Some(to) if to > from => format!("from {} to {}", at(from), at(to)),
        _ => format!("at {}", at(from)),
    };
    let mut summary = format!("the OOM killer killed {count} {plural} {when}");
    if !whom.is_empty() {
        summary += &format!(": {}", whom.join(", "));
    }
    if let Some(limit) = &limit {
        summary += &format!("; out of {limit}");
    }
    let listed: Vec<serde_json::Value> = victims
        .iter()
        .map(|v| json!({ "pid": v.pid, "name": v.name, "rss_bytes": v.rss_bytes, "time_ms": v.time_ms }))
        .collect();
    Finding {
        kind: "oom_kill",
        // Where the kernel named the victims, its own words say what happened.
        category: if victims.is_empty() { Category::Memory } else { Category::Kernel },
        severity: Severity::High,
        subject: "oom killer".into(),
        summary,
        first_seen_ms: Some(from),
        values: values([("kills", json!(count)), ("victims", json!(listed)), ("constraint", json!(limit))]),
    }
}
