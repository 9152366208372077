//! Detectors over the per-entity tables: processes piling up by name,
//! zombies and D state, a process leaking memory or file descriptors,
//! connections piling up per port, listen queues overflowing, a port that
//! stopped listening, and filesystems filling up (with who wrote).

use super::{at, during, span};
use crate::analyze::series::{self, Series, largest_rise};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::human::bytes;
use crate::model::rates;
use crate::model::sample::{Direction, Sample};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};

pub fn detect(window: &Window, found: &mut Vec<Finding>) {
    process_pileups(window, found);
    process_states(window, found);
    process_growth(window, found);
    socket_pileups(window, found);
    socket_states(window, found);
    accept_queues(window, found);
    stopped_listening(window, found);
    filesystems(window, found);
}

/// Series per key, from a counting function applied to every sample that
/// has the table; keys absent from a sample count 0 there.
fn counts_by<K: std::hash::Hash + Eq + Clone + Ord>(
    samples: &[StoredSample],
    has_table: fn(&Sample) -> bool,
    count: impl Fn(&Sample, &mut HashMap<K, f64>),
) -> BTreeMap<K, Series> {
    let mut per_sample = Vec::new();
    let mut keys = HashSet::new();
    for s in samples.iter().filter(|s| has_table(&s.sample)) {
        let mut counts = HashMap::new();
        count(&s.sample, &mut counts);
        keys.extend(counts.keys().cloned());
        per_sample.push((s.sample.time_ms, counts));
    }
    keys.into_iter()
        .map(|key| {
            let series = per_sample.iter().map(|(t, c)| (*t, c.get(&key).copied().unwrap_or(0.0))).collect();
            (key, series)
        })
        .collect()
}

/// A rise worth reporting: at least `min_increase` and at least double, or
/// `SUDDEN_INCREASE` within `SUDDEN_MS` whatever was there before.
fn pileup(series: &[(i64, f64)], min_increase: f64) -> Option<series::Rise> {
    largest_rise(series).filter(|r| {
        let doubled = r.increase() >= min_increase && r.to >= 2.0 * r.from;
        let sudden = r.increase() >= SUDDEN_INCREASE && r.to_ms - r.from_ms <= SUDDEN_MS;
        doubled || sudden
    })
}

/// A pile-up gone again this soon is a burst.
const BURST_MS: i64 = 15_000;

/// So many more of one thing within a minute is news on any machine.
const SUDDEN_INCREASE: f64 = 50.0;
const SUDDEN_MS: i64 = 60_000;

fn process_pileups(window: &Window, found: &mut Vec<Finding>) {
    let by_name = counts_by(
        window.samples,
        |s| s.processes.is_some(),
        |s, counts: &mut HashMap<String, f64>| {
            for p in s.processes.iter().flatten() {
                *counts.entry(p.identity().into_owned()).or_default() += 1.0;
            }
        },
    );
    for (name, series) in by_name {
        let Some(rise) = pileup(&series, 20.0) else {
            continue;
        };
        let last = series.last().map_or(rise.to, |(_, v)| *v);
        // Held at exactly its peak for a while: the mark of a limit.
        let plateau = match series::held_at(&series, rise.to, rise.to_ms, 3 * window.interval_ms, 3) {
            Some(ms) => format!(", then held at exactly {:.0} for {} (a limit?)", rise.to, span(ms)),
            None => String::new(),
        };
        // Gone again within seconds, to under half: a burst of short-lived
        // processes (a build, a cron job), not a pile-up.
        let burst = last < rise.to / 2.0
            && series::first_at_or_below(
                &series[series.partition_point(|(t, _)| *t < rise.to_ms)..],
                rise.to / 2.0,
            )
            .is_some_and(|gone_ms| gone_ms - rise.to_ms <= BURST_MS);
        found.push(Finding {
            kind: "process_pileup",
            category: Category::Processes,
            severity: if burst {
                Severity::Info
            } else if rise.increase() >= 50.0 {
                Severity::High
            } else {
                Severity::Medium
            },
            subject: name.to_string(),
            summary: format!(
                "{name} processes rose from {:.0} to {:.0} {}{}",
                rise.from,
                rise.to,
                during(&rise),
                if plateau.is_empty() && last < rise.to {
                    format!(", {last:.0} at the end")
                } else {
                    plateau
                }
            ),
            first_seen_ms: Some(rise.from_ms),
            values: values([
                ("from", json!(rise.from)),
                ("to", json!(rise.to)),
                ("from_ms", json!(rise.from_ms)),
                ("to_ms", json!(rise.to_ms)),
                ("last", json!(last)),
            ]),
        });
    }
}

fn process_states(window: &Window, found: &mut Vec<Finding>) {
    let by_state = counts_by(
        window.samples,
        |s| s.processes.is_some(),
        |s, counts: &mut HashMap<char, f64>| {
            for p in s.processes.iter().flatten().filter(|p| matches!(p.state, 'Z' | 'D')) {
                *counts.entry(p.state).or_default() += 1.0;
            }
        },
    );
    for (state, series) in by_state {
        let (kind, what, min) = match state {
            'Z' => ("zombies", "zombie processes (exited, not reaped by their parent)", 20.0),
            _ => ("d_state", "processes in D state (uninterruptible, usually waiting on I/O)", 5.0),
        };
        let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= min) else {
            continue;
        };
        let since = series::first_at_or_above(&series, min);
        let names = state_names(window.samples, state, peak_ms);
        let waiting = if state == 'D' { wait_channels(window.samples, peak_ms) } else { String::new() };
        found.push(Finding {
            kind,
            category: Category::Processes,
            severity: if peak >= 4.0 * min { Severity::High } else { Severity::Medium },
            subject: names.first().cloned().unwrap_or_else(|| what.into()),
            summary: format!(
                "{peak:.0} {what} at {}, ≥ {min:.0} since {}{}",
                at(peak_ms),
                at(since.unwrap_or(peak_ms)),
                if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) }
            ) + &waiting,
            first_seen_ms: since,
            values: values([("peak", json!(peak)), ("peak_ms", json!(peak_ms))]),
        });
    }
}

/// Where blocked processes wait in the kernel at one sample, from their
/// stacks: "; waiting in nfs_wait_bit_killable ×12".
fn wait_channels(samples: &[StoredSample], time_ms: i64) -> String {
    let Some(sample) = samples.iter().find(|s| s.sample.time_ms == time_ms) else { return String::new() };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for task in sample.sample.blocked_tasks.iter().flatten() {
        // The wait channel, or the innermost frame when the task just woke.
        let place =
            if task.wchan.is_empty() { task.stack.lines().next().unwrap_or_default() } else { &task.wchan };
        if !place.is_empty() {
            *counts.entry(place).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if ranked.is_empty() {
        return String::new();
    }
    let places: Vec<String> = ranked.iter().take(3).map(|(p, c)| format!("{p} ×{c}")).collect();
    format!("; waiting in {}", places.join(", "))
}

/// The commands most often in `state` at one sample, "name ×count".
fn state_names(samples: &[StoredSample], state: char, time_ms: i64) -> Vec<String> {
    let Some(sample) = samples.iter().find(|s| s.sample.time_ms == time_ms) else {
        return Vec::new();
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in sample.sample.processes.iter().flatten().filter(|p| p.state == state) {
        *counts.entry(p.identity().into_owned()).or_default() += 1;
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.iter().take(3).map(|(n, c)| format!("{n} ×{c}")).collect()
}

/// A process through the window: first seen, and at its largest.
struct Life<'a> {
    first_ms: i64,
    first: &'a crate::model::sample::Process,
    peak_rss: (i64, &'a crate::model::sample::Process),
    peak_fds: Option<(i64, u32)>,
}

/// Every process of the window, from the sample it first appears in: a
/// process may start or end inside the window and still be the cause.
fn lives<'a>(samples: &[&'a Sample], skip: &[u32]) -> Vec<Life<'a>> {
    let mut by_key: HashMap<(u32, u64), Life<'a>> = HashMap::new();
    for s in samples {
        for p in s.processes.iter().flatten().filter(|p| !skip.contains(&p.pid)) {
            let life = by_key.entry(p.key()).or_insert(Life {
                first_ms: s.time_ms,
                first: p,
                peak_rss: (s.time_ms, p),
                peak_fds: None,
            });
            if p.rss_bytes > life.peak_rss.1.rss_bytes {
                life.peak_rss = (s.time_ms, p);
            }
            if let Some(fds) = p.fds.filter(|&f| life.peak_fds.is_none_or(|(_, peak)| f > peak)) {
                life.peak_fds = Some((s.time_ms, fds));
            }
        }
    }
    let mut all: Vec<Life> = by_key.into_values().collect();
    all.sort_by_key(|l| (l.first.pid, l.first.start_ticks));
    all
}

/// How long after it first appears a process counts as starting up.
const START_UP_MS: i64 = 60_000;

/// The usual soft limit of open files: below it a rise breaks nothing by
/// itself.
const FDS_DEFAULT_LIMIT: u32 = 1024;

/// Fds past which one process is worth naming whatever its history.
const FDS_HELD: u32 = 10_000;

/// One process whose memory or open files grew large in the window.
fn process_growth(window: &Window, found: &mut Vec<Finding>) {
    let with_tables: Vec<&Sample> =
        window.samples.iter().map(|s| &s.sample).filter(|s| s.processes.is_some()).collect();
    let total_mem = with_tables.last().and_then(|s| s.memory).map_or(0, |m| m.total) as f64;
    for life in lives(&with_tables, window.recorder_pids) {
        let (peak_ms, peak) = life.peak_rss;
        let p = life.first;
        let grew = peak.rss_bytes.saturating_sub(p.rss_bytes) as f64;
        if total_mem > 0.0 && grew >= 0.1 * total_mem {
            let how = if steady(&with_tables, p.key(), |q| q.rss_bytes as f64) { " steadily" } else { "" };
            found.push(Finding {
                kind: "memory_growth",
                category: Category::Memory,
                severity: if grew >= 0.25 * total_mem { Severity::High } else { Severity::Medium },
                subject: p.identity().into_owned(),
                summary: format!(
                    "{} (pid {}) grew{how} from {} to {} RSS in {} ({:.0}% of memory), by {}",
                    peak.identity(),
                    p.pid,
                    bytes(p.rss_bytes as f64),
                    bytes(peak.rss_bytes as f64),
                    span(peak_ms - life.first_ms),
                    peak.rss_bytes as f64 * 100.0 / total_mem,
                    at(peak_ms)
                ),
                first_seen_ms: Some(life.first_ms),
                values: values([
                    ("pid", json!(p.pid)),
                    ("rss_from", json!(p.rss_bytes)),
                    ("rss_to", json!(peak.rss_bytes)),
                ]),
            });
        }
        let (Some(fds_then), Some((fds_ms, fds_peak))) = (p.fds, life.peak_fds) else { continue };
        let rose = fds_peak >= fds_then.saturating_mul(2) && fds_peak - fds_then >= 200;
        // A program opening its files in its first minute is starting up.
        let starting = life.first_ms > with_tables[0].time_ms && fds_ms - life.first_ms <= START_UP_MS;
        if rose || fds_peak >= FDS_HELD {
            found.push(Finding {
                kind: "fd_growth",
                category: Category::FileDescriptors,
                severity: if fds_peak >= FDS_HELD {
                    Severity::High
                } else if starting || fds_peak < FDS_DEFAULT_LIMIT {
                    Severity::Info
                } else {
                    Severity::Medium
                },
                subject: p.identity().into_owned(),
                summary: if rose {
                    format!(
                        "{} (pid {}) open files rose from {fds_then} to {fds_peak} in {}, by {}",
                        p.identity(),
                        p.pid,
                        span(fds_ms - life.first_ms),
                        at(fds_ms)
                    )
                } else {
                    format!("{} (pid {}) holds {fds_peak} open files at {}", p.identity(), p.pid, at(fds_ms))
                },
                first_seen_ms: Some(life.first_ms),
                values: values([
                    ("pid", json!(p.pid)),
                    ("fds_from", json!(fds_then)),
                    ("fds_to", json!(fds_peak)),
                ]),
            });
        }
    }
}

/// Whether a process's value rose in most steps where it was seen.
fn steady(samples: &[&Sample], key: (u32, u64), get: fn(&crate::model::sample::Process) -> f64) -> bool {
    let points: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.processes.as_ref()?.iter().find(|p| p.key() == key).map(get))
        .collect();
    let steps = points.windows(2).count();
    let rising = points.windows(2).filter(|p| p[1] >= p[0]).count();
    steps > 0 && rising * 10 >= steps * 8
}

fn socket_pileups(window: &Window, found: &mut Vec<Finding>) {
    let by_port = counts_by(
        window.samples,
        |s| s.sockets.is_some(),
        |s, counts: &mut HashMap<(Direction, u16), f64>| {
            for p in s.sockets.iter().flatten().filter(|p| p.is_open_connection()) {
                *counts.entry((p.direction, p.port)).or_default() += f64::from(p.count);
            }
        },
    );
    let rising: BTreeMap<(Direction, u16), series::Rise> =
        by_port.iter().filter_map(|(key, series)| Some((*key, pileup(series, 20.0)?))).collect();
    for (&(direction, port), &rise) in &rising {
        // A server on this machine shows its clients' connections from both
        // ends: say it once, from the server's side.
        let loopback = rising.contains_key(&(Direction::Incoming, port));
        if direction == Direction::Outgoing && loopback {
            continue;
        }
        let (subject, what) = match direction {
            Direction::Outgoing => {
                (format!("remote port {port}"), format!("outgoing connections to port {port}"))
            }
            _ if rising.contains_key(&(Direction::Outgoing, port)) => (
                format!("port {port}"),
                format!("connections to local port {port} (clients on this machine)"),
            ),
            _ => (format!("port {port}"), format!("connections to local port {port}")),
        };
        found.push(Finding {
            kind: if direction == Direction::Outgoing {
                "outgoing_connection_pileup"
            } else {
                "connection_pileup"
            },
            category: Category::Sockets,
            severity: if rise.to >= 100.0 && port < EPHEMERAL_PORTS_FROM {
                Severity::High
            } else {
                Severity::Medium
            },
            subject,
            summary: format!("{what} piled up from {:.0} to {:.0} {}", rise.from, rise.to, during(&rise)),
            first_seen_ms: Some(rise.from_ms),
            values: values([
                ("port", json!(port)),
                ("from", json!(rise.from)),
                ("to", json!(rise.to)),
                ("from_ms", json!(rise.from_ms)),
                ("to_ms", json!(rise.to_ms)),
            ]),
        });
    }
}

/// Half-open or half-closed connections accumulating on one port.
fn socket_states(window: &Window, found: &mut Vec<Finding>) {
    let by_state = counts_by(
        window.samples,
        |s| s.sockets.is_some(),
        |s, counts: &mut HashMap<(u16, String), f64>| {
            for p in s
                .sockets
                .iter()
                .flatten()
                .filter(|p| matches!(p.state.as_str(), "SYN_RECV" | "SYN_SENT" | "CLOSE_WAIT"))
            {
                *counts.entry((p.port, p.state.clone())).or_default() += f64::from(p.count);
            }
        },
    );
    for ((port, state), series) in by_state {
        let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= 20.0) else {
            continue;
        };
        let meaning = match state.as_str() {
            "SYN_RECV" => "handshakes not completed: a SYN flood, or a server too slow to accept",
            "SYN_SENT" => {
                "connection attempts not answered: the server's accept queue is full, or it is gone"
            }
            _ => "the peer closed and the local program never did: it is stuck or leaking",
        };
        found.push(Finding {
            kind: "socket_state_pileup",
            category: Category::Sockets,
            severity: if peak >= 100.0 { Severity::High } else { Severity::Medium },
            subject: format!("port {port}"),
            summary: format!(
                "{peak:.0} connections in {state} on port {port} at {} ({meaning})",
                at(peak_ms)
            ),
            first_seen_ms: series::first_at_or_above(&series, 20.0),
            values: values([("port", json!(port)), ("state", json!(state)), ("peak", json!(peak))]),
        });
    }
}

fn accept_queues(window: &Window, found: &mut Vec<Finding>) {
    let mut full: BTreeMap<u16, Vec<(i64, u32, u32)>> = BTreeMap::new();
    for s in window.samples {
        for p in s.sample.sockets.iter().flatten() {
            if p.direction == Direction::Listen && p.backlog > 0 && p.queued >= p.backlog {
                full.entry(p.port).or_default().push((s.sample.time_ms, p.queued, p.backlog));
            }
        }
    }
    let dropped = window
        .samples
        .first()
        .zip(window.samples.last())
        .and_then(|(a, b)| Some(b.sample.net?.listen_drops.saturating_sub(a.sample.net?.listen_drops)));
    for (port, times) in full {
        let (since, queued, backlog) = times[0];
        let drops =
            dropped.filter(|d| *d > 0).map_or(String::new(), |d| format!(", {d} connections dropped"));
        found.push(Finding {
            kind: "accept_queue_full",
            category: Category::Sockets,
            // A program's own temporary server that lost nothing is not the
            // machine's service.
            severity: if port < EPHEMERAL_PORTS_FROM || dropped.is_some_and(|d| d > 0) {
                Severity::High
            } else {
                Severity::Medium
            },
            subject: format!("port {port}"),
            summary: format!(
                "port {port} accept queue full ({queued}/{backlog}) since {} in {} samples{drops}: the server is not accepting",
                at(since),
                times.len()
            ),
            first_seen_ms: Some(since),
            values: values([("port", json!(port)), ("backlog", json!(backlog)), ("samples", json!(times.len()))]),
        });
    }
}

fn stopped_listening(window: &Window, found: &mut Vec<Finding>) {
    let with_sockets: Vec<&Sample> =
        window.samples.iter().map(|s| &s.sample).filter(|s| s.sockets.is_some()).collect();
    let listening = |s: &Sample| -> HashSet<u16> {
        s.sockets.iter().flatten().filter(|p| p.direction == Direction::Listen).map(|p| p.port).collect()
    };
    let (Some(first), Some(last)) = (with_sockets.first(), with_sockets.last()) else {
        return;
    };
    let now = listening(last);
    let mut gone: Vec<u16> =
        listening(first).difference(&now).copied().filter(|&port| port < EPHEMERAL_PORTS_FROM).collect();
    gone.sort_unstable();
    for port in gone {
        let when =
            with_sockets.iter().find(|s| !listening(s).contains(&port)).map_or(last.time_ms, |s| s.time_ms);
        found.push(Finding {
            kind: "stopped_listening",
            category: Category::Sockets,
            // A system service's port going away can take a machine's job
            // down; a high port is more often a program's own helper.
            severity: if port < 1024 { Severity::High } else { Severity::Medium },
            subject: format!("port {port}"),
            summary: format!("port {port} stopped listening by {}: its server exited or closed it", at(when)),
            first_seen_ms: Some(when),
            values: values([("port", json!(port))]),
        });
    }
}

/// Where Linux picks client ports by default (net.ipv4.ip_local_port_range):
/// a listener up there is a program's temporary server, whose coming and
/// going says little about the machine.
const EPHEMERAL_PORTS_FROM: u16 = 32768;

/// Filesystems that are read-only by nature always look full.
const ALWAYS_FULL: [&str; 4] = ["squashfs", "iso9660", "erofs", "udf"];

fn filesystems(window: &Window, found: &mut Vec<Finding>) {
    let usage = counts_by(
        window.samples,
        |s| s.filesystems.is_some(),
        |s, counts: &mut HashMap<String, f64>| {
            for fs in s.filesystems.iter().flatten().filter(|fs| !ALWAYS_FULL.contains(&fs.fs_type.as_str()))
            {
                counts.insert(fs.mount_point.clone(), fs.used_pct());
            }
        },
    );
    for (mount, series) in usage {
        let Some((peak_ms, peak)) = series::max(&series) else {
            continue;
        };
        let rise = largest_rise(&series);
        let (severity, what) = if peak >= 99.9 {
            (
                Severity::High,
                format!(
                    "{mount} hit 100% full at {}",
                    at(series::first_at_or_above(&series, 99.9).unwrap_or(peak_ms))
                ),
            )
        } else if peak >= 95.0 {
            (Severity::Medium, format!("{mount} reached {peak:.1}% full at {}", at(peak_ms)))
        } else if let Some(eta) = time_to_full(&series) {
            (
                Severity::Medium,
                format!("{mount} is filling: {peak:.1}% full, full in about {} at this rate", span(eta)),
            )
        } else {
            continue;
        };
        let from = rise.map_or(String::new(), |r| format!(" (from {:.0}% at {})", r.from, at(r.from_ms)));
        let writers =
            top_writers(window.samples, window.recorder_pids, rise.map_or(peak_ms, |r| r.from_ms), peak_ms);
        let writing = if writers.is_empty() {
            String::new()
        } else {
            format!("; writing most on the machine then: {}", writers.join(", "))
        };
        found.push(Finding {
            kind: "filesystem_full",
            category: Category::Filesystem,
            severity,
            subject: mount.clone(),
            summary: format!("{what}{from}{writing}"),
            first_seen_ms: rise.map(|r| r.from_ms).or(Some(peak_ms)),
            values: values([
                ("mount_point", json!(mount)),
                ("peak_pct", json!(peak)),
                ("writers", json!(writers)),
            ]),
        });
    }
    inodes(window, found);
}

/// Milliseconds until 100% at the window's average rate of climb, when
/// that is under a day and the climb is real (≥ 1 point).
fn time_to_full(series: &[(i64, f64)]) -> Option<i64> {
    let (&(t0, v0), &(t1, v1)) = (series.first()?, series.last()?);
    if v1 - v0 < 1.0 || t1 <= t0 {
        return None;
    }
    let per_ms = (v1 - v0) / (t1 - t0) as f64;
    let eta = ((100.0 - v1) / per_ms) as i64;
    (eta < 86_400_000).then_some(eta)
}

/// The processes that wrote the most bytes between two times, "name (pid
/// N) 12.0 MiB/s".
fn top_writers(samples: &[StoredSample], recorder_pids: &[u32], from_ms: i64, to_ms: i64) -> Vec<String> {
    let at_time =
        |t: i64| samples.iter().map(|s| &s.sample).filter(|s| s.processes.is_some()).find(|s| s.time_ms >= t);
    let (Some(a), Some(b)) = (at_time(from_ms), at_time(to_ms)) else {
        return Vec::new();
    };
    let (a, b) = if a.time_ms == b.time_ms {
        match samples.iter().map(|s| &s.sample).rfind(|s| s.processes.is_some() && s.time_ms < b.time_ms) {
            Some(before) => (before, b),
            None => return Vec::new(),
        }
    } else {
        (a, b)
    };
    let Some(seconds) = rates::elapsed_s(a, b) else {
        return Vec::new();
    };
    let before: HashMap<(u32, u64), u64> =
        a.processes.iter().flatten().filter_map(|p| Some((p.key(), p.write_bytes?))).collect();
    let mut writers: Vec<(String, f64)> = b
        .processes
        .iter()
        .flatten()
        .filter(|p| !recorder_pids.contains(&p.pid))
        .filter_map(|p| {
            let rate = rates::per_second(*before.get(&p.key()).unwrap_or(&0), p.write_bytes?, seconds)?;
            (rate > 0.0).then(|| (format!("{} (pid {})", p.identity(), p.pid), rate))
        })
        .collect();
    writers.sort_by(|x, y| y.1.total_cmp(&x.1));
    writers.iter().take(3).map(|(who, rate)| format!("{who} {}/s", bytes(*rate))).collect()
}

fn inodes(window: &Window, found: &mut Vec<Finding>) {
    let Some(last) = window
        .samples
        .iter()
        .rev()
        .find_map(|s| s.sample.filesystems.as_ref().map(|f| (s.sample.time_ms, f)))
    else {
        return;
    };
    for fs in last.1.iter().filter(|fs| fs.inodes_total > 0 && !ALWAYS_FULL.contains(&fs.fs_type.as_str())) {
        let pct = fs.inodes_used_pct();
        if pct < 95.0 {
            continue;
        }
        found.push(Finding {
            kind: "inodes_exhausted",
            category: Category::Filesystem,
            severity: if pct >= 99.9 { Severity::High } else { Severity::Medium },
            subject: fs.mount_point.clone(),
            summary: format!(
                "{} has {pct:.1}% of its inodes in use ({} of {}): no new files can be created once full",
                fs.mount_point, fs.inodes_used, fs.inodes_total
            ),
            first_seen_ms: Some(last.0),
            values: values([("mount_point", json!(fs.mount_point)), ("inodes_used_pct", json!(pct))]),
        });
    }
}
