//! `flightrec record`: the sampling loop and the writer behind it.
//!
//! The loop ticks on CLOCK_MONOTONIC, collects a sample and hands it to the
//! writer thread through a bounded queue, so a stalled disk never delays a
//! tick: samples wait in memory (oldest dropped and counted when they hold
//! more than `QUEUE_BYTES`) and are committed when the disk returns.
//! SIGTERM and SIGINT stop the loop; the writer commits what is queued and
//! marks the run cleanly stopped.

use crate::collect::probe::{self, ProbeSpec};
use crate::collect::pstore;
use crate::collect::redact::Redactor;
use crate::collect::{Collector, Watch, host};
use crate::sample::{Sample, SocketSource};
use crate::store::clock::RetentionClock;
use crate::store::{Event, Limits, Run, Store};
use crate::textfile::{Health, Textfile};
use crate::warn::Warnings;
use anyhow::{Context, Result};
use nix::time::{ClockId, clock_gettime};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Memory held by samples waiting while commits are stalled (and locked in
/// RAM with the rest): at a 5 s interval, about an hour of a machine with
/// 200 processes, over ten minutes of one with 1,000.
const QUEUE_BYTES: usize = 64 << 20;

/// Wait between attempts to commit a sample that failed to commit.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// After SIGTERM, how long the writer keeps trying to commit what is
/// queued when commits fail, before it gives up and exits.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often the writer enforces retention and tops up the reserve.
const UPKEEP_EVERY: Duration = Duration::from_secs(60);

/// Time between samples when neither the command line nor the
/// configuration file says.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

pub struct Options {
    pub interval: Duration,
    pub limits: Limits,
    /// Applied to command lines before they are stored.
    pub redactor: Redactor,
    /// Dependencies to probe every tick, concurrently with the sampling.
    pub probes: Vec<ProbeSpec>,
    pub watch: Watch,
    /// Where to write the latest figures for node_exporter, if anywhere.
    pub textfile_dir: Option<PathBuf>,
    /// Levels of control groups followed below each hierarchy's root.
    pub cgroup_depth: usize,
    /// Whether to draw the wait-for picture every sample.
    pub waits: bool,
}

pub fn run(db: &Path, options: Options) -> Result<()> {
    // Before anything opens files: the collector's first read of the
    // process table keeps files of every process open.
    raise_fd_limit();
    // Then the collector, so that a watched path refused as bad input leaves the
    // database untouched. Half the interval: a watched source slower than
    // that would make ticks late.
    let mut collector = Collector::new(
        options.redactor,
        &options.watch,
        options.interval / 2,
        options.cgroup_depth,
        options.waits,
    )?;
    let mut store = Store::open_for_recording(db)?;
    let host = host::read()?;
    crate::harden::apply();
    let (retention_clock, jump) = RetentionClock::start(
        store.saved_clock()?,
        store.latest_sample_time()?,
        &host.boot_id,
        wall_ms(),
        boottime_ms(),
    );
    let run_id = store.begin_run(&Run {
        id: 0,
        boot_id: host.boot_id,
        boot_time_ms: host.boot_time_ms,
        hostname: host.hostname.clone(),
        kernel: host.kernel,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        interval_ms: options.interval.as_millis() as i64,
        start_ms: wall_ms(),
        stop_ms: None,
        stop_reason: None,
        recording: true,
    })?;
    keep_crash_records(&mut store, run_id, Path::new(PSTORE), Path::new(PSTORE_ARCHIVE));
    if let Some(jump) = jump {
        store.add_clock_jump(run_id, &jump)?;
    }
    eprintln!(
        "flightrec: recording every {} into {} (run {run_id})",
        humantime::format_duration(options.interval),
        db.display()
    );

    let queue = Arc::new(Queue::default());
    let textfile =
        options.textfile_dir.map(|dir| Textfile::start(dir, host.hostname, run_id, options.interval));
    let writer = {
        let queue = queue.clone();
        let (interval, limits) = (options.interval, options.limits);
        let textfile = textfile.transpose()?;
        std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                Writer { textfile, ..Writer::new(store, run_id, interval, limits, retention_clock) }
                    .run(&queue)
            })
            .context("starting the writer thread")?
    };

    // One worker runs the probes while this thread reads /proc.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let probes = Arc::new(options.probes);
    let reason = runtime.block_on(sample_until_signal(&mut collector, options.interval, probes, &queue))?;
    queue.close(reason);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
}

/// Ticks until SIGTERM or SIGINT; gives the stop reason.
async fn sample_until_signal(
    collector: &mut Collector,
    interval: Duration,
    probes: Arc<Vec<ProbeSpec>>,
    queue: &Queue,
) -> Result<String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut schedule = Schedule::new(interval);
    loop {
        let tick = schedule.next_tick();
        tokio::select! {
            _ = term.recv() => return Ok("SIGTERM".into()),
            _ = int.recv() => return Ok("SIGINT".into()),
            _ = tokio::time::sleep_until(tick.into()) => {}
        }
        let started = std::time::Instant::now();
        let (lateness_ms, suspended_ms) = schedule.fired(tick);
        let time_ms = wall_ms();
        let probing = (!probes.is_empty()).then(|| {
            let probes = probes.clone();
            tokio::spawn(async move { probe::probe_all(&probes).await })
        });
        let mut sample = Sample { time_ms, lateness_ms, suspended_ms, ..collector.sample() };
        sample.collect_us = started.elapsed().as_micros() as i64;
        // Each probe is bounded by its timeout, itself at most the interval.
        if let Some(task) = probing {
            sample.probes = task.await.ok();
        }
        queue.push(sample);
    }
}

/// Tick times on CLOCK_MONOTONIC, with CLOCK_BOOTTIME beside it: monotonic
/// time stops during a suspend, boot time does not, so their difference
/// tells a suspend from a machine that stopped answering.
struct Schedule {
    interval: Duration,
    next: std::time::Instant,
    last_boottime: Duration,
    last_monotonic: Duration,
}

impl Schedule {
    fn new(interval: Duration) -> Self {
        Schedule {
            interval,
            next: std::time::Instant::now(),
            last_boottime: clock(ClockId::CLOCK_BOOTTIME),
            last_monotonic: clock(ClockId::CLOCK_MONOTONIC),
        }
    }

    fn next_tick(&self) -> std::time::Instant {
        self.next
    }

    /// Records that `tick` fired now; gives its lateness and the time spent
    /// suspended since the last tick, in ms. Ticks missed during a stall
    /// are skipped, not fired in a burst.
    fn fired(&mut self, tick: std::time::Instant) -> (i64, i64) {
        let now = std::time::Instant::now();
        let lateness = now.saturating_duration_since(tick);
        let boottime = clock(ClockId::CLOCK_BOOTTIME);
        let monotonic = clock(ClockId::CLOCK_MONOTONIC);
        let suspended = (boottime.saturating_sub(self.last_boottime))
            .saturating_sub(monotonic.saturating_sub(self.last_monotonic));
        self.last_boottime = boottime;
        self.last_monotonic = monotonic;
        self.next = tick + self.interval;
        while self.next <= now {
            self.next += self.interval;
        }
        (lateness.as_millis() as i64, suspended.as_millis() as i64)
    }
}

fn clock(id: ClockId) -> Duration {
    clock_gettime(id).map(Duration::from).unwrap_or_default()
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn boottime_ms() -> i64 {
    clock(ClockId::CLOCK_BOOTTIME).as_millis() as i64
}

/// The bounded queue between the sampling loop and the writer, bounded by
/// the memory its samples hold: a sample of a machine with thousands of
/// processes is a thousand times one of a small container.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct QueueState {
    /// Each sample with its `footprint`.
    samples: VecDeque<(Sample, usize)>,
    bytes: usize,
    dropped: u64,
    stop: Option<String>,
}

impl Default for Queue {
    fn default() -> Self {
        Queue::with_capacity(QUEUE_BYTES)
    }
}

impl Queue {
    fn with_capacity(capacity: usize) -> Self {
        Queue { state: Mutex::default(), ready: Condvar::new(), capacity }
    }

    /// Queues a sample, dropping the oldest ones it does not fit beside (the
    /// newest is always kept).
    fn push(&self, sample: Sample) {
        let bytes = footprint(&sample);
        let mut state = self.state.lock().expect("queue lock");
        while !state.samples.is_empty() && state.bytes + bytes > self.capacity {
            let (_, old) = state.samples.pop_front().expect("not empty");
            state.bytes -= old;
            state.dropped += 1;
        }
        state.bytes += bytes;
        state.samples.push_back((sample, bytes));
        self.ready.notify_one();
    }

    fn close(&self, reason: String) {
        self.state.lock().expect("queue lock").stop = Some(reason);
        self.ready.notify_one();
    }

    /// The oldest sample, the count of samples dropped since the last call,
    /// or the stop reason once the queue is empty.
    fn wait(&self) -> Next {
        let mut state = self.state.lock().expect("queue lock");
        loop {
            if state.dropped > 0 {
                return Next::Dropped(std::mem::take(&mut state.dropped));
            }
            if let Some((sample, bytes)) = state.samples.pop_front() {
                state.bytes -= bytes;
                return Next::Sample(Box::new(sample));
            }
            if let Some(reason) = &state.stop {
                return Next::Stop(reason.clone());
            }
            state = self.ready.wait(state).expect("queue lock");
        }
    }

    fn len(&self) -> usize {
        self.state.lock().expect("queue lock").samples.len()
    }

    fn stopping(&self) -> bool {
        self.state.lock().expect("queue lock").stop.is_some()
    }

    /// Empties the queue; gives how many samples were in it or dropped
    /// from it since the writer last asked.
    fn abandon(&self) -> u64 {
        let mut state = self.state.lock().expect("queue lock");
        let count = state.samples.len() as u64 + std::mem::take(&mut state.dropped);
        state.samples.clear();
        state.bytes = 0;
        count
    }

    /// Puts back a sample that failed to commit, as the oldest; if newer
    /// samples filled the queue meanwhile, it is the one dropped.
    fn retry(&self, sample: Sample) {
        let bytes = footprint(&sample);
        let mut state = self.state.lock().expect("queue lock");
        if state.bytes + bytes > self.capacity && !state.samples.is_empty() {
            state.dropped += 1;
        } else {
            state.bytes += bytes;
            state.samples.push_front((sample, bytes));
        }
    }
}

/// The memory a sample holds, near enough to bound a queue of them: its
/// rows and their text (text shared between samples counted in each).
fn footprint(s: &Sample) -> usize {
    use std::mem::size_of;
    fn rows<T>(rows: &Option<Vec<T>>, text: impl Fn(&T) -> usize) -> usize {
        rows.as_deref().map_or(0, |rows| rows.iter().map(|row| size_of::<T>() + text(row)).sum())
    }
    let templates = |log: &crate::sample::WatchedLog| -> usize {
        let each = |t: &crate::sample::LogTemplate| size_of_val(t) + t.template.len() + t.example.len();
        log.path.len() + log.templates.iter().map(each).sum::<usize>()
    };
    let waits = |e: &crate::model::waits::Endpoint| -> usize {
        let client = |c: &crate::model::waits::Client| size_of_val(c) + c.comm.len() + c.pids.len() * 4;
        e.address.len()
            + e.states.iter().map(|state| size_of_val(state) + state.state.len()).sum::<usize>()
            + e.clients.iter().map(client).sum::<usize>()
    };
    size_of::<Sample>()
        + rows(&s.processes, |p| p.comm.len() + p.cmdline.len())
        + rows(&s.process_limits, |_| 0)
        + rows(&s.filesystems, |f| f.mount_point.len() + f.device.len() + f.fs_type.len())
        + rows(&s.disks, |d| d.name.len())
        + rows(&s.sockets, |r| r.state.len())
        + rows(&s.interfaces, |i| i.name.len())
        + rows(&s.probes, |p| p.target.len() + p.detail.len())
        + rows(&s.watched_dirs, |d| d.path.len())
        + rows(&s.watched_logs, templates)
        + rows(&s.kernel_messages, |m| m.text.len())
        + rows(&s.blocked_tasks, |b| b.comm.len() + b.wchan.len() + b.stack.len())
        + rows(&s.waits, waits)
        + s.watch_timeouts.iter().map(|path| size_of::<String>() + path.len()).sum::<usize>()
}

enum Next {
    Sample(Box<Sample>),
    Dropped(u64),
    Stop(String),
}

/// The writer thread: commits queued samples, keeps the file within its
/// limits between commits, and rides out a full disk.
struct Writer {
    store: Store,
    run_id: i64,
    interval: Duration,
    limits: Limits,
    warnings: Warnings,
    last_upkeep: Option<std::time::Instant>,
    disk_full: bool,
    sources: SourceChanges,
    /// What retention takes as now: wall-clock jumps held back.
    retention_clock: RetentionClock,
    textfile: Option<Textfile>,
    /// Samples dropped since the start, for the textfile.
    dropped: u64,
    /// Samples dropped from the queue and not yet told in a stored event:
    /// samples drop when commits fail, so the event can fail too, and the
    /// count waits for the next commit that succeeds.
    dropped_untold: u64,
}

impl Writer {
    fn new(
        store: Store,
        run_id: i64,
        interval: Duration,
        limits: Limits,
        retention_clock: RetentionClock,
    ) -> Self {
        Writer {
            store,
            run_id,
            interval,
            limits,
            warnings: Warnings::new(),
            last_upkeep: None,
            disk_full: false,
            sources: SourceChanges::default(),
            retention_clock,
            textfile: None,
            dropped_untold: 0,
            dropped: 0,
        }
    }

    fn run(mut self, queue: &Queue) -> Result<()> {
        let mut stop_asked: Option<std::time::Instant> = None;
        loop {
            self.upkeep();
            match queue.wait() {
                Next::Sample(sample) => {
                    let committed = self.store.commit(self.run_id, self.interval, &sample);
                    if committed.is_ok() {
                        for event in self.sources.changes(&sample) {
                            self.add_event(&event);
                        }
                        if let Some(textfile) = &mut self.textfile {
                            let health = Health {
                                last_commit_ms: wall_ms(),
                                queued: queue.len(),
                                dropped: self.dropped,
                            };
                            textfile.publish(&sample, health);
                        }
                        self.record_dropped();
                    }
                    if let Err(err) = committed {
                        let full = is_disk_full(&err);
                        self.warnings
                            .warn("commit", &format!("{}: {err:#}; retrying", self.store.path().display()));
                        queue.retry(*sample);
                        if queue.stopping() {
                            let since = *stop_asked.get_or_insert_with(std::time::Instant::now);
                            if since.elapsed() >= STOP_GRACE {
                                return self.give_up(queue, err);
                            }
                        }
                        if full {
                            self.make_room();
                        } else {
                            std::thread::sleep(RETRY_AFTER);
                        }
                    }
                }
                Next::Dropped(count) => {
                    self.warnings.warn(
                        "queue",
                        &format!("{count} samples dropped: commits stalled longer than the queue holds"),
                    );
                    self.dropped += count;
                    self.dropped_untold += count;
                    self.record_dropped();
                }
                Next::Stop(reason) => {
                    self.record_dropped();
                    self.store.end_run(self.run_id, wall_ms(), &reason).context("marking the run stopped")?;
                    eprintln!("flightrec: stopped on {reason}");
                    return Ok(());
                }
            }
        }
    }

    /// Stopping while commits keep failing: say what is lost and exit.
    fn give_up(mut self, queue: &Queue, err: anyhow::Error) -> Result<()> {
        let lost = queue.abandon() + self.dropped_untold;
        // Likely to fail as the commits did, but worth one try.
        let _ = self.store.end_run(self.run_id, wall_ms(), "stopped with commits failing");
        Err(err.context(format!(
            "{}: stopped with {lost} samples not committed: commits kept failing for {}",
            self.store.path().display(),
            humantime::format_duration(STOP_GRACE)
        )))
    }

    /// Stores the count of dropped samples not yet told, as one event.
    fn record_dropped(&mut self) {
        if self.dropped_untold == 0 {
            return;
        }
        let detail =
            format!("{} samples dropped: commits stalled longer than the queue holds", self.dropped_untold);
        match self.store.add_event(self.run_id, &Event::note(wall_ms(), "samples-dropped", detail)) {
            Ok(()) => self.dropped_untold = 0,
            Err(err) => self.warnings.warn("event", &format!("recording samples-dropped: {err:#}; retrying")),
        }
    }

    fn event(&mut self, kind: &str, detail: String) {
        self.add_event(&Event::note(wall_ms(), kind, detail));
    }

    fn add_event(&mut self, event: &Event) {
        if let Err(err) = self.store.add_event(self.run_id, event) {
            self.warnings.warn("event", &format!("recording {}: {err:#}", event.kind));
        }
    }

    /// Retention and the reserve, once a minute; failures are warnings (a
    /// full disk is handled by `make_room`).
    fn upkeep(&mut self) {
        if self.last_upkeep.is_some_and(|t| t.elapsed() < UPKEEP_EVERY) {
            return;
        }
        self.last_upkeep = Some(std::time::Instant::now());
        let (now_ms, jump) = self.retention_clock.read(wall_ms(), boottime_ms());
        if let Some(jump) = jump
            && let Err(err) = self.store.add_clock_jump(self.run_id, &jump)
        {
            self.warnings.warn("event", &format!("recording a clock jump: {err:#}"));
        }
        if let Err(err) = self.store.prune(now_ms, &self.limits) {
            self.warnings.warn("retention", &format!("{err:#}"));
        }
        let saved = self.retention_clock.saved(wall_ms(), boottime_ms());
        if let Err(err) = self.store.save_clock(&saved) {
            self.warnings.warn("retention", &format!("{err:#}"));
        }
        if let Err(err) = self.store.top_up_reserve(self.limits.reserve) {
            self.warnings.warn("reserve", &format!("{err:#}"));
        }
        // The disk could not top the reserve up: turn the oldest detail
        // into free pages now, while there is still room to write that
        // change, rather than after the first commit fails.
        let low = self.limits.reserve / 4;
        match (self.store.reserve_left(), self.store.disk_available()) {
            (Ok(left), Ok(disk)) if left < low && disk < low => self.make_room(),
            (Ok(left), _) if left >= low && self.disk_full => {
                self.disk_full = false;
                self.event("disk-recovered", "the reserve is whole again".into());
            }
            (Err(err), _) | (_, Err(err)) => self.warnings.warn("reserve", &format!("{err:#}")),
            _ => {}
        }
    }

    /// The disk is full and the reserve spent: say so once, then give up
    /// the oldest detail so the next commit fits.
    fn make_room(&mut self) {
        if !self.disk_full {
            self.disk_full = true;
            self.event(
                "disk-full",
                format!("{}: no space left; dropping the oldest process tables", self.store.path().display()),
            );
        }
        match self.store.drop_oldest_detail() {
            Ok(true) => {}
            Ok(false) => std::thread::sleep(RETRY_AFTER),
            Err(err) => {
                self.warnings.warn("disk full", &format!("{err:#}"));
                std::thread::sleep(RETRY_AFTER);
            }
        }
    }
}

/// How sources answered in the last committed sample, to record as events
/// the moments that changes: a watched directory or log that stops
/// answering in time (a hung filesystem) or answers again, and sockets read
/// from /proc/net/tcp, without listen backlogs, where netlink failed.
#[derive(Default)]
struct SourceChanges {
    timed_out: HashSet<String>,
    sockets: Option<SocketSource>,
}

impl SourceChanges {
    fn changes(&mut self, sample: &Sample) -> Vec<Event> {
        let note = |kind: &str, detail: String| Event::note(sample.time_ms, kind, detail);
        let timed_out: HashSet<String> = sample.watch_timeouts.iter().cloned().collect();
        let mut stopped: Vec<&String> = timed_out.difference(&self.timed_out).collect();
        let mut answered: Vec<&String> = self.timed_out.difference(&timed_out).collect();
        stopped.sort();
        answered.sort();
        let why = "no answer in time (a hung filesystem?); not waited for until it answers";
        let mut events: Vec<Event> =
            stopped.into_iter().map(|path| note("watch-timeout", format!("{path}: {why}"))).collect();
        events.extend(
            answered.into_iter().map(|path| note("watch-answered", format!("{path}: answers again"))),
        );
        self.timed_out = timed_out;

        let before = self.sockets.unwrap_or(SocketSource::Netlink);
        match sample.sockets_source {
            Some(SocketSource::ProcNet) if before == SocketSource::Netlink => events.push(note(
                "sockets-fallback",
                "netlink failed: sockets read from /proc/net/tcp, without listen backlogs".into(),
            )),
            Some(SocketSource::Netlink) if before == SocketSource::ProcNet => {
                events.push(note("sockets-netlink", "netlink answers again: listen backlogs known".into()))
            }
            _ => {}
        }
        self.sockets = sample.sockets_source.or(self.sockets);
        events
    }
}

fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code)
            == Some(rusqlite::ErrorCode::DiskFull)
    })
}

/// Where crash records are found: the kernel's pstore, and the directory
/// systemd-pstore moves them to at boot, emptying pstore.
const PSTORE: &str = "/sys/fs/pstore";
const PSTORE_ARCHIVE: &str = "/var/lib/systemd/pstore";

/// Crash records (the console of an earlier boot's death) are stored once,
/// wherever they are found and however often the recorder starts: a record
/// is known by its name and time, or by its text, as systemd may move it
/// from pstore to its archive between two starts. Each goes with the run it
/// belongs to (`run_for`).
fn keep_crash_records(store: &mut Store, run_id: i64, kernel: &Path, archive: &Path) {
    let mut records = Vec::new();
    for found in [pstore::read_records(kernel), pstore::read_archive(archive)] {
        match found {
            Ok(found) => records.extend(found),
            Err(err) => eprintln!("flightrec: warning: crash records: {err:#}"),
        }
    }
    if records.is_empty() {
        return;
    }
    let known = store.runs().and_then(|runs| Ok((runs, store.events_between(i64::MIN, i64::MAX)?)));
    let (runs, events) = match known {
        Ok(known) => known,
        Err(err) => return eprintln!("flightrec: warning: crash records: {err:#}"),
    };
    let mut kept_texts: HashSet<String> = events
        .into_iter()
        .filter(|event| event.kind == "pstore")
        .filter_map(|event| event.detail.split_once(": ").map(|(_, text)| text.to_owned()))
        .collect();
    for record in records {
        let detail = match (&record.note, record.text.is_empty()) {
            (Some(note), true) => format!("{}: {note}", record.name),
            (Some(note), false) => format!("{} ({note}): {}", record.name, record.text),
            (None, _) => format!("{}: {}", record.name, record.text),
        };
        let event = Event::note(record.time_ms, "pstore", detail);
        let moved = !record.text.is_empty() && !kept_texts.insert(record.text.clone());
        let stored = store.has_event(&event).and_then(|known| match known || moved {
            true => Ok(()),
            false => store.add_event(run_for(&runs, run_id, record.time_ms), &event),
        });
        if let Err(err) = stored {
            eprintln!("flightrec: warning: storing crash record {}: {err:#}", record.name);
        }
    }
}

/// The run a crash record written at `time_ms` belongs to: the last run of
/// an earlier boot that started before it (a record is written as a boot
/// dies, or dated when pstore is mounted at the next one); this run when
/// no such run was recorded.
fn run_for(runs: &[Run], this_run: i64, time_ms: i64) -> i64 {
    let this_boot = runs.iter().find(|run| run.id == this_run).map(|run| run.boot_id.as_str());
    runs.iter()
        .filter(|run| Some(run.boot_id.as_str()) != this_boot && run.start_ms <= time_ms)
        .max_by_key(|run| (run.start_ms, run.id))
        .map_or(this_run, |run| run.id)
}

/// One stat file stays open per process: lift the soft limit on open files
/// to the hard one so thousands of processes fit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Process;

    /// A sample of a machine running `n` processes with long command lines.
    fn sample_with(n: usize) -> Sample {
        let process = Process { comm: "smtpd".into(), cmdline: "x".repeat(200).into(), ..Process::default() };
        Sample { processes: Some(vec![process; n]), ..Sample::default() }
    }

    /// Pops everything queued: (samples, dropped).
    fn drain(queue: &Queue) -> (usize, u64) {
        queue.close("test".into());
        let (mut samples, mut dropped) = (0, 0);
        loop {
            match queue.wait() {
                Next::Sample(_) => samples += 1,
                Next::Dropped(n) => dropped += n,
                Next::Stop(_) => return (samples, dropped),
            }
        }
    }

    #[test]
    fn the_queue_is_bounded_by_the_memory_its_samples_hold() {
        let big = footprint(&sample_with(5000));
        assert!(big > 5000 * 200, "{big} bytes for 5,000 command lines of 200 bytes");
        let queue = Queue::with_capacity(10 * big);
        for _ in 0..25 {
            queue.push(sample_with(5000));
        }
        assert_eq!(drain(&queue), (10, 15), "the oldest dropped, the newest kept");

        // The same memory holds many more samples of a small machine.
        let queue = Queue::with_capacity(10 * big);
        for _ in 0..400 {
            queue.push(sample_with(10));
        }
        assert_eq!(drain(&queue), (400, 0));
    }

    fn run(boot: &str, start_ms: i64) -> Run {
        Run {
            id: 0,
            boot_id: boot.into(),
            boot_time_ms: start_ms - 60_000,
            hostname: "mail".into(),
            kernel: "6.1.0".into(),
            version: "test".into(),
            pid: 1,
            interval_ms: 5000,
            start_ms,
            stop_ms: None,
            stop_reason: None,
            recording: false,
        }
    }

    /// (run, detail) of every crash record stored.
    fn kept(store: &Store) -> Vec<(i64, String)> {
        let mut stmt = store
            .conn()
            .prepare("SELECT run_id, detail FROM events WHERE kind = 'pstore' ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|row| row.unwrap()).collect()
    }

    fn write_at(path: &Path, text: &str, secs: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
    }

    const PANIC: &str = include_str!("../tests/fixtures/kmsg/pstore-dmesg-ramoops-0");

    #[test]
    fn crash_records_from_pstore_and_systemds_archive_are_kept_once_with_their_runs() {
        let scratch = crate::scratch::Scratch::new("record-pstore");
        let (kernel, archive) = (scratch.0.join("pstore"), scratch.0.join("archive"));
        std::fs::create_dir_all(&kernel).unwrap();
        let mut store = Store::open_for_recording(&scratch.0.join("flightrec.db")).unwrap();
        let older = store.begin_run(&run("boot-a", 1_795_000_000_000)).unwrap();
        let crashed = store.begin_run(&run("boot-b", 1_795_300_000_000)).unwrap();
        let now = store.begin_run(&run("boot-c", 1_795_400_000_000)).unwrap();

        // Boot b died at 1795313345 (EFI); systemd-pstore moved the record
        // at boot c. A ramoops record of boot a waits in pstore, dated when
        // pstore was mounted at boot b.
        let (newest, oldest) = PANIC.split_at(PANIC.len() / 2);
        write_at(&archive.join("1795313345/001/dmesg-efi-179531334501001"), newest, 1_795_400_000);
        write_at(&archive.join("1795313345/001/dmesg-efi-179531334502001"), oldest, 1_795_400_000);
        write_at(&archive.join("1795313345/001/dmesg.txt"), PANIC, 1_795_400_000);
        let sysrq = "<0>[   12.000000] Kernel panic - not syncing: sysrq triggered crash\n";
        write_at(&kernel.join("dmesg-ramoops-0"), sysrq, 1_795_299_000);
        keep_crash_records(&mut store, now, &kernel, &archive);
        let first = kept(&store);
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(first[0], (older, format!("dmesg-ramoops-0: {sysrq}")));
        assert_eq!(first[1], (crashed, format!("1795313345/001/dmesg.txt: {PANIC}")));

        // Restarted in the same boot, after systemd moved the ramoops record
        // into a directory of its own, dated now: nothing new.
        std::fs::remove_file(kernel.join("dmesg-ramoops-0")).unwrap();
        write_at(&archive.join("0/dmesg.txt"), sysrq, 1_795_400_100);
        let again = store.begin_run(&run("boot-c", 1_795_400_100_000)).unwrap();
        keep_crash_records(&mut store, again, &kernel, &archive);
        assert_eq!(kept(&store), first);
    }

    #[test]
    fn a_source_that_stops_answering_or_changes_is_an_event_once() {
        let mut sources = SourceChanges::default();
        let sample = |timeouts: &[&str], sockets| Sample {
            time_ms: 1000,
            watch_timeouts: timeouts.iter().map(|p| p.to_string()).collect(),
            sockets_source: Some(sockets),
            ..Sample::default()
        };
        let kinds = |events: Vec<Event>| -> Vec<(String, String)> {
            events.into_iter().map(|e| (e.kind, e.detail.split(':').next().unwrap().to_string())).collect()
        };
        assert_eq!(kinds(sources.changes(&sample(&[], SocketSource::Netlink))), []);
        let hung = sample(&["/mnt/queue"], SocketSource::ProcNet);
        let expected = [("watch-timeout", "/mnt/queue"), ("sockets-fallback", "netlink failed")];
        assert_eq!(kinds(sources.changes(&hung)), expected.map(|(k, d)| (k.into(), d.into())));
        assert_eq!(kinds(sources.changes(&hung)), [], "said once");
        let back = sample(&[], SocketSource::Netlink);
        let expected = [("watch-answered", "/mnt/queue"), ("sockets-netlink", "netlink answers again")];
        assert_eq!(kinds(sources.changes(&back)), expected.map(|(k, d)| (k.into(), d.into())));
    }

    /// Samples drop while commits fail, so storing their count fails too:
    /// the count must wait for a commit that succeeds, never vanish.
    #[test]
    fn samples_dropped_while_commits_fail_are_counted_once_commits_succeed() {
        let scratch = crate::scratch::Scratch::new("record-dropped");
        let db = scratch.0.join("flightrec.db");
        let mut store = Store::open_for_recording(&db).unwrap();
        store.conn().busy_timeout(Duration::from_millis(50)).unwrap();
        let run_id = store.begin_run(&run("boot-a", wall_ms())).unwrap();
        // Another connection holds the write lock: every write fails busy.
        let holder = rusqlite::Connection::open(&db).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

        let queue = Arc::new(Queue::with_capacity(footprint(&sample_with(10))));
        for time_ms in 1..=5 {
            queue.push(Sample { time_ms, ..sample_with(10) });
        }
        queue.close("test".into());
        let limits = Limits { reserve: 1 << 20, ..Limits::default() };
        let writer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let (clock, _) = RetentionClock::start(None, None, "test", wall_ms(), boottime_ms());
                Writer::new(store, run_id, Duration::from_secs(1), limits, clock).run(&queue)
            })
        };
        // The writer has met the lock with the count and the newest sample.
        std::thread::sleep(Duration::from_millis(500));
        holder.execute_batch("ROLLBACK").unwrap();
        writer.join().unwrap().unwrap();

        let count = |sql: &str| -> i64 { holder.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM samples"), 1, "the newest kept");
        let dropped =
            "SELECT ifnull(sum(CAST(detail AS INTEGER)), 0) FROM events WHERE kind = 'samples-dropped'";
        assert_eq!(count(dropped), 4, "the older four counted");
    }

    #[test]
    fn a_sample_larger_than_the_queue_is_still_kept() {
        let queue = Queue::with_capacity(1);
        queue.push(sample_with(10));
        queue.push(sample_with(10));
        assert_eq!(drain(&queue), (1, 1));
    }
}
