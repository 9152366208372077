//! Detectors over the per-entity tables: processes piling up by name,
//! zombies and D state, a process leaking memory or file descriptors,
//! connections piling up per port, listen queues overflowing, a port that
//! stopped listening, and filesystems filling up (with who wrote).

use super::{Detector, MAX_ENTITIES, SWEEP_EVERY, at, during, span};
use crate::analyze::series::{self, Keyed, largest_rise};
use crate::analyze::{Category, Finding, Lookup, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::human::bytes;
use crate::model::rates;
use crate::model::sample::{Direction, Filesystem, Process, Sample};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A process's name and command line as last seen, the identity they
/// make, and the index of the last sample it was in.
type Known = (Arc<str>, Arc<str>, Arc<str>, usize);

/// Each process's identity (`Process::identity`), worked out again only
/// when its name or command line changed: a table decoded against the one
/// before shares their text, so the same `Arc`s mean the same identity.
#[derive(Default)]
struct Identities {
    known: HashMap<(u32, u64), Known>,
    samples: usize,
}

impl Identities {
    /// Call once per sample before `of`.
    fn next_sample(&mut self, processes: usize) {
        self.samples += 1;
        // The exited are forgotten now and then, not at every sample.
        if self.known.len() > 2 * processes + 64 {
            let current = self.samples - 1;
            self.known.retain(|_, known| known.3 == current);
        }
    }

    fn of(&mut self, p: &Process) -> Arc<str> {
        let samples = self.samples;
        match self.known.get_mut(&p.key()) {
            Some(known) if Arc::ptr_eq(&known.0, &p.comm) && Arc::ptr_eq(&known.1, &p.cmdline) => {
                known.3 = samples;
                known.2.clone()
            }
            _ => {
                let identity: Arc<str> = p.identity().into();
                self.known.insert(p.key(), (p.comm.clone(), p.cmdline.clone(), identity.clone(), samples));
                identity
            }
        }
    }
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

/// Processes piling up by command, and zombies and D state.
pub struct Processes {
    identities: Identities,
    by_name: Keyed<Arc<str>>,
    by_state: Keyed<char>,
    /// Per state, who was in it at its (latest) peak so far.
    at_peak: HashMap<char, StatePeak>,
}

struct StatePeak {
    count: f64,
    names: Vec<String>,
    waiting: String,
}

impl Default for Processes {
    fn default() -> Self {
        Processes {
            identities: Identities::default(),
            by_name: Keyed::new(MAX_ENTITIES),
            by_state: Keyed::new(2),
            at_peak: HashMap::new(),
        }
    }
}

impl Detector for Processes {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let Some(list) = &s.processes else { return };
        let mut names: HashMap<Arc<str>, f64> = HashMap::new();
        let mut states: HashMap<char, f64> = HashMap::new();
        self.identities.next_sample(list.len());
        for p in list {
            *names.entry(self.identities.of(p)).or_default() += 1.0;
            if matches!(p.state, 'Z' | 'D') {
                *states.entry(p.state).or_default() += 1.0;
            }
        }
        for (&state, &count) in &states {
            if self.at_peak.get(&state).is_none_or(|peak| count >= peak.count) {
                let waiting = if state == 'D' { wait_channels(s) } else { String::new() };
                self.at_peak.insert(state, StatePeak { count, names: state_names(s, state), waiting });
            }
        }
        self.by_name.push(s.time_ms, names);
        self.by_state.push(s.time_ms, states);
    }

    fn left_out(&self) -> usize {
        self.by_name.left_out()
    }

    fn finish(mut self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        let interval_ms = window.interval_ms;
        self.by_name.each(|name, series| {
            let Some(rise) = pileup(&series, 20.0) else {
                return;
            };
            let last = series.last().map_or(rise.to, |(_, v)| *v);
            // Held at exactly its peak for a while: the mark of a limit.
            let plateau = match series::held_at(&series, rise.to, rise.to_ms, 3 * interval_ms, 3) {
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
        });
        self.by_state.each(|state, series| {
            let (kind, what, min) = match state {
                'Z' => ("zombies", "zombie processes (exited, not reaped by their parent)", 20.0),
                _ => ("d_state", "processes in D state (uninterruptible, usually waiting on I/O)", 5.0),
            };
            let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= min) else {
                return;
            };
            let since = series::first_at_or_above(&series, min);
            let (names, waiting) =
                self.at_peak.remove(&state).map(|p| (p.names, p.waiting)).unwrap_or_default();
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
        });
        found
    }
}

/// Where blocked processes wait in the kernel at one sample, from their
/// stacks: "; waiting in nfs_wait_bit_killable ×12".
fn wait_channels(sample: &Sample) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for task in sample.blocked_tasks.iter().flatten() {
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
fn state_names(sample: &Sample, state: char) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for p in sample.processes.iter().flatten().filter(|p| p.state == state) {
        *counts.entry(p.identity().into_owned()).or_default() += 1;
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.iter().take(3).map(|(n, c)| format!("{n} ×{c}")).collect()
}

/// A process through the window: first seen, at its largest, and how its
/// memory moved from sample to sample.
struct Life {
    first_ms: i64,
    pid: u32,
    identity: String,
    rss_from: u64,
    fds_from: Option<u32>,
    peak_rss: (i64, u64),
    /// Its name at its largest: a process that exec'd is named so.
    peak_identity: String,
    peak_fds: Option<(i64, u32)>,
    last_rss: u64,
    steps: usize,
    rising_steps: usize,
    /// The index of the last sample it was in.
    seen: usize,
}

impl Life {
    fn new(time_ms: i64, p: &Process, seen: usize) -> Life {
        Life {
            first_ms: time_ms,
            pid: p.pid,
            identity: p.identity().into_owned(),
            rss_from: p.rss_bytes,
            fds_from: p.fds,
            peak_rss: (time_ms, p.rss_bytes),
            peak_identity: p.identity().into_owned(),
            peak_fds: p.fds.map(|fds| (time_ms, fds)),
            last_rss: p.rss_bytes,
            steps: 0,
            rising_steps: 0,
            seen,
        }
    }

    fn observe(&mut self, time_ms: i64, p: &Process, seen: usize) {
        if p.rss_bytes > self.peak_rss.1 {
            self.peak_rss = (time_ms, p.rss_bytes);
            self.peak_identity = p.identity().into_owned();
        }
        if let Some(fds) = p.fds.filter(|&f| self.peak_fds.is_none_or(|(_, peak)| f > peak)) {
            self.peak_fds = Some((time_ms, fds));
        }
        self.steps += 1;
        if p.rss_bytes >= self.last_rss {
            self.rising_steps += 1;
        }
        self.last_rss = p.rss_bytes;
        self.seen = seen;
    }

    fn grew(&self) -> f64 {
        self.peak_rss.1.saturating_sub(self.rss_from) as f64
    }

    /// Open files that rose enough or are many: `(from, peak, when, rose)`.
    fn fds_finding(&self) -> Option<(u32, u32, i64, bool)> {
        let (fds_then, (fds_ms, fds_peak)) = (self.fds_from?, self.peak_fds?);
        let rose = fds_peak >= fds_then.saturating_mul(2) && fds_peak - fds_then >= 200;
        (rose || fds_peak >= FDS_HELD).then_some((fds_then, fds_peak, fds_ms, rose))
    }

    /// Whether its memory rose in most steps where it was seen.
    fn steady(&self) -> bool {
        self.steps > 0 && self.rising_steps * 10 >= self.steps * 8
    }
}

/// How long after it first appears a process counts as starting up.
const START_UP_MS: i64 = 60_000;

/// The usual soft limit of open files: below it a rise breaks nothing by
/// itself.
const FDS_DEFAULT_LIMIT: u32 = 1024;

/// Fds past which one process is worth naming whatever its history.
const FDS_HELD: u32 = 10_000;

/// One process whose memory or open files grew large in the window. Every
/// process of the window counts, from the sample it first appears in: a
/// process may start or end inside the window and still be the cause.
pub struct Lives {
    skip: Vec<u32>,
    lives: HashMap<(u32, u64), Life>,
    /// Samples with a process table so far, and the first one's time.
    samples: usize,
    first_ms: Option<i64>,
    /// Total memory at the last sample with a process table, and the least
    /// seen: a process gone that grew by less than a tenth of that will
    /// never be named.
    total_mem: f64,
    least_total_mem: Option<f64>,
    left_out: HashSet<(u32, u64)>,
}

impl Lives {
    pub fn new(recorder_pids: &[u32]) -> Lives {
        Lives {
            skip: recorder_pids.to_vec(),
            lives: HashMap::new(),
            samples: 0,
            first_ms: None,
            total_mem: 0.0,
            least_total_mem: None,
            left_out: HashSet::new(),
        }
    }

    /// Whether a life could still be named at the end.
    fn may_matter(&self, life: &Life) -> bool {
        let grew = life.grew();
        let memory = match self.least_total_mem {
            Some(total) => grew >= 0.1 * total,
            None => grew > 0.0,
        };
        memory || life.fds_finding().is_some()
    }
}

impl Detector for Lives {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let Some(list) = &s.processes else { return };
        self.samples += 1;
        self.first_ms.get_or_insert(s.time_ms);
        self.total_mem = s.memory.map_or(0, |m| m.total) as f64;
        if let Some(m) = s.memory.filter(|m| m.total > 0) {
            let total = m.total as f64;
            self.least_total_mem = Some(self.least_total_mem.map_or(total, |least| least.min(total)));
        }
        for p in list.iter().filter(|p| !self.skip.contains(&p.pid)) {
            if let Some(life) = self.lives.get_mut(&p.key()) {
                life.observe(s.time_ms, p, self.samples);
            } else if self.lives.len() < MAX_ENTITIES {
                self.lives.insert(p.key(), Life::new(s.time_ms, p, self.samples));
            } else {
                self.left_out.insert(p.key());
            }
        }
        // Processes that exited are forgotten unless they may be named;
        // looked for now and then, not at every sample.
        if !self.samples.is_multiple_of(SWEEP_EVERY) {
            return;
        }
        let gone: Vec<(u32, u64)> = self
            .lives
            .iter()
            .filter(|(_, life)| life.seen < self.samples && !self.may_matter(life))
            .map(|(key, _)| *key)
            .collect();
        for key in gone {
            self.lives.remove(&key);
        }
    }

    fn left_out(&self) -> usize {
        self.left_out.len()
    }

    fn finish(self: Box<Self>, _: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        let total_mem = self.total_mem;
        let first_ms = self.first_ms.unwrap_or(i64::MIN);
        let mut all: Vec<((u32, u64), Life)> = self.lives.into_iter().collect();
        all.sort_by_key(|(key, _)| *key);
        for (_, life) in all {
            let (peak_ms, peak_rss) = life.peak_rss;
            let grew = life.grew();
            if total_mem > 0.0 && grew >= 0.1 * total_mem {
                let how = if life.steady() { " steadily" } else { "" };
                found.push(Finding {
                    kind: "memory_growth",
                    category: Category::Memory,
                    severity: if grew >= 0.25 * total_mem { Severity::High } else { Severity::Medium },
                    subject: life.identity.clone(),
                    summary: format!(
                        "{} (pid {}) grew{how} from {} to {} RSS in {} ({:.0}% of memory), by {}",
                        life.peak_identity,
                        life.pid,
                        bytes(life.rss_from as f64),
                        bytes(peak_rss as f64),
                        span(peak_ms - life.first_ms),
                        peak_rss as f64 * 100.0 / total_mem,
                        at(peak_ms)
                    ),
                    first_seen_ms: Some(life.first_ms),
                    values: values([
                        ("pid", json!(life.pid)),
                        ("rss_from", json!(life.rss_from)),
                        ("rss_to", json!(peak_rss)),
                    ]),
                });
            }
            let Some((fds_then, fds_peak, fds_ms, rose)) = life.fds_finding() else { continue };
            // A program opening its files in its first minute is starting up.
            let starting = life.first_ms > first_ms && fds_ms - life.first_ms <= START_UP_MS;
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
                subject: life.identity.clone(),
                summary: if rose {
                    format!(
                        "{} (pid {}) open files rose from {fds_then} to {fds_peak} in {}, by {}",
                        life.identity,
                        life.pid,
                        span(fds_ms - life.first_ms),
                        at(fds_ms)
                    )
                } else {
                    format!(
                        "{} (pid {}) holds {fds_peak} open files at {}",
                        life.identity,
                        life.pid,
                        at(fds_ms)
                    )
                },
                first_seen_ms: Some(life.first_ms),
                values: values([
                    ("pid", json!(life.pid)),
                    ("fds_from", json!(fds_then)),
                    ("fds_to", json!(fds_peak)),
                ]),
            });
        }
        found
    }
}

/// Connections piling up per port, half-open or half-closed ones per port
/// and state, listen queues overflowing, and ports that stopped listening.
pub struct Sockets {
    by_port: Keyed<(Direction, u16)>,
    by_state: Keyed<(u16, String)>,
    /// Per port: the first sample its accept queue was full in (time,
    /// queued, backlog), and in how many listener rows it was.
    full: BTreeMap<u16, ((i64, u32, u32), usize)>,
    /// The ports listening at the first and (with its time) at the last
    /// sample with a socket table; when each first-listening port was
    /// first seen not listening.
    listening_first: Option<HashSet<u16>>,
    listening_last: Option<(i64, HashSet<u16>)>,
    stopped_at: HashMap<u16, i64>,
}

impl Default for Sockets {
    fn default() -> Self {
        Sockets {
            by_port: Keyed::new(MAX_ENTITIES),
            by_state: Keyed::new(MAX_ENTITIES),
            full: BTreeMap::new(),
            listening_first: None,
            listening_last: None,
            stopped_at: HashMap::new(),
        }
    }
}

impl Detector for Sockets {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let Some(list) = &s.sockets else { return };
        let mut open = HashMap::new();
        let mut half = HashMap::new();
        let mut listening = HashSet::new();
        for p in list {
            if p.is_open_connection() {
                *open.entry((p.direction, p.port)).or_default() += f64::from(p.count);
            }
            if matches!(p.state.as_str(), "SYN_RECV" | "SYN_SENT" | "CLOSE_WAIT") {
                *half.entry((p.port, p.state.clone())).or_default() += f64::from(p.count);
            }
            if p.direction == Direction::Listen {
                listening.insert(p.port);
                if p.backlog > 0 && p.queued >= p.backlog {
                    let full = self.full.entry(p.port).or_insert(((s.time_ms, p.queued, p.backlog), 0));
                    full.1 += 1;
                }
            }
        }
        self.by_port.push(s.time_ms, open);
        self.by_state.push(s.time_ms, half);
        let first = self.listening_first.get_or_insert_with(|| listening.clone());
        for &port in first.iter().filter(|port| !listening.contains(port)) {
            self.stopped_at.entry(port).or_insert(s.time_ms);
        }
        self.listening_last = Some((s.time_ms, listening));
    }

    fn left_out(&self) -> usize {
        self.by_port.left_out() + self.by_state.left_out()
    }

    fn finish(self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut rising: BTreeMap<(Direction, u16), series::Rise> = BTreeMap::new();
        self.by_port.each(|key, series| {
            if let Some(rise) = pileup(&series, 20.0) {
                rising.insert(key, rise);
            }
        });
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
        self.by_state.each(|(port, state), series| {
            let Some((peak_ms, peak)) = series::max(&series).filter(|(_, v)| *v >= 20.0) else {
                return;
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
        });
        let dropped =
            window.samples.first().zip(window.samples.last()).and_then(|(a, b)| {
                Some(b.sample.net?.listen_drops.saturating_sub(a.sample.net?.listen_drops))
            });
        for (port, ((since, queued, backlog), samples)) in self.full {
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
                    samples
                ),
                first_seen_ms: Some(since),
                values: values([("port", json!(port)), ("backlog", json!(backlog)), ("samples", json!(samples))]),
            });
        }
        let (Some(first), Some(last)) = (self.listening_first, self.listening_last) else { return found };
        let mut gone: Vec<u16> =
            first.difference(&last.1).copied().filter(|&port| port < EPHEMERAL_PORTS_FROM).collect();
        gone.sort_unstable();
        for port in gone {
            let when = self.stopped_at.get(&port).copied().unwrap_or(last.0);
            found.push(Finding {
                kind: "stopped_listening",
                category: Category::Sockets,
                // A system service's port going away can take a machine's job
                // down; a high port is more often a program's own helper.
                severity: if port < 1024 { Severity::High } else { Severity::Medium },
                subject: format!("port {port}"),
                summary: format!(
                    "port {port} stopped listening by {}: its server exited or closed it",
                    at(when)
                ),
                first_seen_ms: Some(when),
                values: values([("port", json!(port))]),
            });
        }
        found
    }
}

/// Where Linux picks client ports by default (net.ipv4.ip_local_port_range):
/// a listener up there is a program's temporary server, whose coming and
/// going says little about the machine.
const EPHEMERAL_PORTS_FROM: u16 = 32768;

/// Filesystems that are read-only by nature always look full.
const ALWAYS_FULL: [&str; 4] = ["squashfs", "iso9660", "erofs", "udf"];

/// Filesystems full or filling up, with who wrote; inodes running out.
pub struct Filesystems {
    skip: Vec<u32>,
    usage: Keyed<String>,
    /// The last filesystem table, with its time.
    last: Option<(i64, Vec<Filesystem>)>,
}

impl Filesystems {
    pub fn new(recorder_pids: &[u32]) -> Filesystems {
        Filesystems { skip: recorder_pids.to_vec(), usage: Keyed::new(MAX_ENTITIES), last: None }
    }
}

impl Detector for Filesystems {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        let s = &cur.sample;
        let Some(list) = &s.filesystems else { return };
        let usage = list
            .iter()
            .filter(|fs| !ALWAYS_FULL.contains(&fs.fs_type.as_str()))
            .map(|fs| (fs.mount_point.clone(), fs.used_pct()))
            .collect();
        self.usage.push(s.time_ms, usage);
        self.last = Some((s.time_ms, list.clone()));
    }

    fn left_out(&self) -> usize {
        self.usage.left_out()
    }

    fn finish(self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        self.usage.each(|mount, series| {
            let Some((peak_ms, peak)) = series::max(&series) else {
                return;
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
                return;
            };
            let from = rise.map_or(String::new(), |r| format!(" (from {:.0}% at {})", r.from, at(r.from_ms)));
            let writers =
                top_writers(window.lookup, &self.skip, rise.map_or(peak_ms, |r| r.from_ms), peak_ms);
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
        });
        inodes(self.last, &mut found);
        found
    }
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
/// N) 12.0 MiB/s", from the samples of the window read again.
fn top_writers(lookup: &dyn Lookup, recorder_pids: &[u32], from_ms: i64, to_ms: i64) -> Vec<String> {
    let (Some(a), Some(b)) = (lookup.processes_from(from_ms), lookup.processes_from(to_ms)) else {
        return Vec::new();
    };
    let (a, b) = if a.time_ms == b.time_ms {
        match lookup.processes_before(b.time_ms) {
            Some(before) => (before, b),
            None => return Vec::new(),
        }
    } else {
        (a, b)
    };
    let (a, b) = (&a, &b);
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

fn inodes(last: Option<(i64, Vec<Filesystem>)>, found: &mut Vec<Finding>) {
    let Some(last) = last else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::detect::tests::{process, samples};

    #[test]
    fn processes_that_exited_unremarkably_are_forgotten() {
        // A fresh short-lived process every sample, as a busy machine has.
        let window = samples(SWEEP_EVERY * 20, |i, s| {
            s.processes = Some(vec![process(1, "init"), process(1000 + i as u32, "job")]);
        });
        let mut lives = Lives::new(&[]);
        for cur in &window {
            lives.observe(None, cur);
        }
        assert!(lives.lives.len() <= SWEEP_EVERY + 1, "{} kept", lives.lives.len());
        assert_eq!(lives.left_out(), 0);
    }
}
