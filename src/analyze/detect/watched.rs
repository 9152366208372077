//! Watched directories that grow (a mail queue going from 200 to 80,000
//! messages) and watched logs that flood (a scanner writing one error line
//! in a loop until the log partition is full), with the line they repeat
//! and the filesystem they fill; and error lines a watched log had not
//! written in the hour before, however slowly they come.

use super::{Detector, at, during, scalar};
use crate::analyze::series::{self, largest_rise};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::human::bytes;
use crate::model::rates;
use crate::model::sample::{Filesystem, Sample, WatchedLog};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

/// A log writing this much per second floods; a tenth of it is worth a word.
const FLOOD_BYTES_PER_S: f64 = 1024.0 * 1024.0;

/// The directories and logs are in what the window keeps of each sample;
/// of the filesystem tables, only the last is kept, for where a log fills.
#[derive(Default)]
pub struct Watched {
    last_filesystems: Option<Vec<Filesystem>>,
}

impl Detector for Watched {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        if let Some(list) = &cur.sample.filesystems {
            self.last_filesystems = Some(list.clone());
        }
    }

    fn finish(self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        directories(window, &mut found);
        logs(window, self.last_filesystems.as_deref(), &mut found);
        new_errors(window, &mut found);
        found
    }
}

/// Words that mark a log line as an error, lowercase.
const ERROR_WORDS: [&str; 12] = [
    "error",
    "fail",
    "fatal",
    "panic",
    "denied",
    "refused",
    "timed out",
    "timeout",
    "cannot",
    "unable",
    "lost connection",
    "reached",
];

/// Lines of one new error template worth quoting.
const NEW_ERROR_LINES: u64 = 20;

/// Error-like templates of a watched log that the hour before never had,
/// with their count and first time: evidence whatever the log's pace.
fn new_errors(window: &Window, found: &mut Vec<Finding>) {
    let before: BTreeSet<&str> = window
        .baseline
        .iter()
        .filter_map(|s| s.sample.watched_logs.as_ref())
        .flatten()
        .flat_map(|log| log.templates.iter().map(|t| t.template.as_str()))
        .collect();
    for path in paths(window, |s| s.watched_logs.as_ref(), |l| &l.path) {
        // Template → (lines, first time, an example).
        let mut new: HashMap<&str, (u64, i64, &str)> = HashMap::new();
        for s in window.samples {
            for t in log_at(&s.sample, &path).iter().flat_map(|log| &log.templates) {
                let lower = t.template.to_lowercase();
                if before.contains(t.template.as_str()) || !ERROR_WORDS.iter().any(|w| lower.contains(w)) {
                    continue;
                }
                new.entry(&t.template).or_insert((0, s.sample.time_ms, &t.example)).0 += t.count;
            }
        }
        let mut quoted: Vec<(&str, (u64, i64, &str))> =
            new.into_iter().filter(|(_, (count, _, _))| *count >= NEW_ERROR_LINES).collect();
        quoted.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        if quoted.is_empty() {
            continue;
        }
        let first_ms = quoted.iter().map(|(_, (_, t, _))| *t).min().unwrap_or_default();
        let lines: Vec<String> = quoted
            .iter()
            .take(3)
            .map(|(template, (count, since, _))| format!("\"{template}\" ×{count} from {}", at(*since)))
            .collect();
        found.push(Finding {
            kind: "log_new_errors",
            category: Category::Dependency,
            severity: Severity::Medium,
            subject: path.clone(),
            summary: format!("{path} wrote errors it had not written in the hour before: {}", lines.join("; ")),
            first_seen_ms: Some(first_ms),
            values: values([
                ("path", json!(path)),
                (
                    "templates",
                    json!(quoted
                        .iter()
                        .map(|(t, (count, since, example))| json!({"template": t, "count": count, "first_ms": since, "example": example}))
                        .collect::<Vec<_>>()),
                ),
            ]),
        });
    }
}

fn paths<T>(window: &Window, list: fn(&Sample) -> Option<&Vec<T>>, path: fn(&T) -> &str) -> BTreeSet<String> {
    window.samples.iter().filter_map(|s| list(&s.sample)).flatten().map(|t| path(t).to_string()).collect()
}

fn directories(window: &Window, found: &mut Vec<Finding>) {
    for dir in paths(window, |s| s.watched_dirs.as_ref(), |d| &d.path) {
        let entry = |s: &Sample| s.watched_dirs.as_ref()?.iter().find(|d| d.path == dir).cloned();
        let files = scalar(window.samples, |s| Some(entry(s)?.files as f64));
        let Some(rise) = largest_rise(&files).filter(|r| r.increase() >= 100.0 && r.to >= 2.0 * r.from)
        else {
            continue;
        };
        let last = window.samples.iter().rev().find_map(|s| entry(&s.sample));
        let size = last.as_ref().map_or(String::new(), |d| format!(" ({})", bytes(d.bytes as f64)));
        let partial =
            if last.is_some_and(|d| !d.complete) { "; the walk was cut short, so at least that" } else { "" };
        found.push(Finding {
            kind: "directory_growth",
            category: Category::Filesystem,
            severity: if rise.increase() >= 1000.0 { Severity::High } else { Severity::Medium },
            subject: dir.clone(),
            summary: format!(
                "{dir} grew from {:.0} to {:.0} files{size} {}{partial}",
                rise.from,
                rise.to,
                during(&rise)
            ),
            first_seen_ms: Some(rise.from_ms),
            values: values([("path", json!(dir)), ("from", json!(rise.from)), ("to", json!(rise.to))]),
        });
    }
}

fn logs(window: &Window, filesystems: Option<&[Filesystem]>, found: &mut Vec<Finding>) {
    for path in paths(window, |s| s.watched_logs.as_ref(), |l| &l.path) {
        let seen: Vec<(i64, &WatchedLog)> = window
            .samples
            .iter()
            .filter_map(|s| Some((s.sample.time_ms, log_at(&s.sample, &path)?)))
            .collect();
        let (Some(&(t0, first)), Some(&(t1, last))) = (seen.first(), seen.last()) else { continue };
        if t1 <= t0 {
            continue;
        }
        let seconds = |from_ms: i64, to_ms: i64| (to_ms - from_ms).max(1) as f64 / 1000.0;
        let rate = rates::log_rates(first, last, seconds(t0, t1)).bytes.unwrap_or(0.0);
        if rate < FLOOD_BYTES_PER_S / 10.0 {
            continue;
        }
        // The busiest stretch: when the log first wrote at a flood's pace.
        let pace: Vec<(i64, f64)> = seen
            .windows(2)
            .map(|p| (p[1].0, rates::log_rates(p[0].1, p[1].1, seconds(p[0].0, p[1].0)).bytes.unwrap_or(0.0)))
            .collect();
        let since = series::first_at_or_above(&pace, rate / 2.0).unwrap_or(t0);
        let mut templates: HashMap<&str, (u64, &str)> = HashMap::new();
        let mut sampled = false;
        for log in window.samples.iter().filter_map(|s| log_at(&s.sample, &path)) {
            sampled |= log.sampled;
            for t in &log.templates {
                let slot = templates.entry(&t.template).or_insert((0, &t.example));
                slot.0 += t.count;
            }
        }
        let top = templates.iter().max_by_key(|(_, (count, _))| *count);
        let line = top.map_or(String::new(), |(template, (count, _))| {
            let counted = if sampled { "in the lines read" } else { "times" };
            format!("; top line ×{count} {counted}: \"{template}\"")
        });
        let filling = filesystem_of(filesystems, &path)
            .map_or(String::new(), |(mount, pct)| format!("; {mount} is {pct:.0}% full"));
        found.push(Finding {
            kind: "log_flood",
            category: Category::Filesystem,
            severity: if rate >= FLOOD_BYTES_PER_S { Severity::High } else { Severity::Medium },
            subject: path.clone(),
            summary: format!("{path} grew at {}/s since {}{line}{filling}", bytes(rate), at(since)),
            first_seen_ms: Some(since),
            values: values([
                ("path", json!(path)),
                ("bytes_per_s", json!(rate)),
                ("top_template", json!(top.map(|(t, _)| *t))),
                ("top_example", json!(top.map(|(_, (_, e))| *e))),
            ]),
        });
    }
}

fn log_at<'a>(sample: &'a Sample, path: &str) -> Option<&'a WatchedLog> {
    sample.watched_logs.as_ref()?.iter().find(|l| l.path == path)
}

/// The filesystem holding `path` at the end of the window and how full it
/// is: the mount point that is the longest prefix of the path.
fn filesystem_of(filesystems: Option<&[Filesystem]>, path: &str) -> Option<(String, f64)> {
    let list = filesystems?;
    let holds = |mount: &str| mount == "/" || path == mount || path.starts_with(&format!("{mount}/"));
    let fs = list.iter().filter(|f| holds(&f.mount_point)).max_by_key(|f| f.mount_point.len())?;
    Some((fs.mount_point.clone(), fs.used_pct()))
}
