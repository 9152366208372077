//! `flightrec record`: the sampling loop and the writer behind it.
//!
//! The loop ticks on CLOCK_MONOTONIC, collects a sample and hands it to the
//! writer thread through a bounded queue, so a stalled disk never delays a
//! tick: samples wait in memory (oldest dropped and counted when full) and
//! are committed when the disk returns. SIGTERM and SIGINT stop the loop;
//! the writer commits what is queued and marks the run cleanly stopped.

use crate::collect::probe::{self, ProbeSpec};
use crate::collect::pstore;
use crate::collect::redact::Redactor;
use crate::collect::{Collector, Watch, host};
use crate::sample::Sample;
use crate::store::clock::RetentionClock;
use crate::store::{Event, Limits, Run, Store};
use crate::warn::Warnings;
use anyhow::{Context, Result};
use nix::time::{ClockId, clock_gettime};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Samples held in memory while commits are stalled: at a 5 s interval, more
/// than half an hour.
const QUEUE_CAPACITY: usize = 400;

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
}

pub fn run(db: &Path, options: Options) -> Result<()> {
    let mut store = Store::open_for_recording(db)?;
    let host = host::read()?;
    raise_fd_limit();
    crate::harden::apply();
    let mut collector = Collector::new(options.redactor, &options.watch)?;
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
        hostname: host.hostname,
        kernel: host.kernel,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        interval_ms: options.interval.as_millis() as i64,
        start_ms: wall_ms(),
        stop_ms: None,
        stop_reason: None,
        recording: true,
    })?;
    keep_crash_records(&mut store, run_id);
    if let Some(jump) = jump {
        store.add_clock_jump(run_id, &jump)?;
    }
    eprintln!(
        "flightrec: recording every {} into {} (run {run_id})",
        humantime::format_duration(options.interval),
        db.display()
    );

    let queue = Arc::new(Queue::default());
    let writer = {
        let queue = queue.clone();
        let (interval, limits) = (options.interval, options.limits);
        std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || Writer::new(store, run_id, interval, limits, retention_clock).run(&queue))
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

/// The bounded queue between the sampling loop and the writer.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    samples: VecDeque<Sample>,
    dropped: u64,
    stop: Option<String>,
}

impl Queue {
    fn push(&self, sample: Sample) {
        let mut state = self.state.lock().expect("queue lock");
        if state.samples.len() >= QUEUE_CAPACITY {
            state.samples.pop_front();
            state.dropped += 1;
        }
        state.samples.push_back(sample);
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
            if let Some(sample) = state.samples.pop_front() {
                return Next::Sample(Box::new(sample));
            }
            if let Some(reason) = &state.stop {
                return Next::Stop(reason.clone());
            }
            state = self.ready.wait(state).expect("queue lock");
        }
    }

    fn stopping(&self) -> bool {
        self.state.lock().expect("queue lock").stop.is_some()
    }

    /// Empties the queue; gives how many samples were in it.
    fn abandon(&self) -> usize {
        let mut state = self.state.lock().expect("queue lock");
        let count = state.samples.len();
        state.samples.clear();
        count
    }

    /// Puts back a sample that failed to commit, as the oldest; if newer
    /// samples filled the queue meanwhile, it is the one dropped.
    fn retry(&self, sample: Sample) {
        let mut state = self.state.lock().expect("queue lock");
        if state.samples.len() >= QUEUE_CAPACITY {
            state.dropped += 1;
        } else {
            state.samples.push_front(sample);
        }
    }
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
    /// What retention takes as now: wall-clock jumps held back.
    retention_clock: RetentionClock,
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
            retention_clock,
        }
    }

    fn run(mut self, queue: &Queue) -> Result<()> {
        let mut stop_asked: Option<std::time::Instant> = None;
        loop {
            self.upkeep();
            match queue.wait() {
                Next::Sample(sample) => {
                    if let Err(err) = self.store.commit(self.run_id, self.interval, &sample) {
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
                    let detail =
                        format!("{count} samples dropped: commits stalled longer than the queue holds");
                    self.warnings.warn("queue", &detail);
                    self.event("samples-dropped", detail);
                }
                Next::Stop(reason) => {
                    self.store.end_run(self.run_id, wall_ms(), &reason).context("marking the run stopped")?;
                    eprintln!("flightrec: stopped on {reason}");
                    return Ok(());
                }
            }
        }
    }

    /// Stopping while commits keep failing: say what is lost and exit.
    fn give_up(mut self, queue: &Queue, err: anyhow::Error) -> Result<()> {
        let lost = queue.abandon();
        // Likely to fail as the commits did, but worth one try.
        let _ = self.store.end_run(self.run_id, wall_ms(), "stopped with commits failing");
        Err(err.context(format!(
            "{}: stopped with {lost} samples not committed: commits kept failing for {}",
            self.store.path().display(),
            humantime::format_duration(STOP_GRACE)
        )))
    }

    fn event(&mut self, kind: &str, detail: String) {
        if let Err(err) = self.store.add_event(self.run_id, &Event::note(wall_ms(), kind, detail)) {
            self.warnings.warn("event", &format!("recording {kind}: {err:#}"));
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

fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code)
            == Some(rusqlite::ErrorCode::DiskFull)
    })
}

/// Crash records the kernel left in pstore (the console of the previous
/// boot's death) are stored once, with the run before this one.
fn keep_crash_records(store: &mut Store, run_id: i64) {
    let records = match pstore::read_records(std::path::Path::new(PSTORE)) {
        Ok(records) => records,
        Err(err) => return eprintln!("flightrec: warning: crash records: {err:#}"),
    };
    let previous = store.runs().ok().and_then(|runs| runs.iter().rev().map(|r| r.id).find(|&id| id < run_id));
    for record in records {
        let text = record.note.as_deref().unwrap_or(&record.text);
        let event = Event::note(record.time_ms, "pstore", format!("{}: {text}", record.name));
        let stored = store.has_event(&event).and_then(|known| match known {
            true => Ok(()),
            false => store.add_event(previous.unwrap_or(run_id), &event),
        });
        if let Err(err) = stored {
            eprintln!("flightrec: warning: storing crash record {}: {err:#}", record.name);
        }
    }
}

/// Where the kernel keeps crash records across a reboot.
const PSTORE: &str = "/sys/fs/pstore";

/// One stat file stays open per process: lift the soft limit on open files
/// to the hard one so thousands of processes fit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
