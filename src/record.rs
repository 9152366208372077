//! `flightrec record`: the sampling loop and the writer behind it.
//!
//! The loop ticks on CLOCK_MONOTONIC, collects a sample and hands it to the
//! writer thread through a bounded queue, so a stalled disk never delays a
//! tick: samples wait in memory (oldest dropped and counted when full) and
//! are committed when the disk returns. SIGTERM and SIGINT stop the loop;
//! the writer commits what is queued and marks the run cleanly stopped.

use crate::collect::redact::Redactor;
use crate::collect::{Collector, host};
use crate::sample::Sample;
use crate::store::{Run, Store};
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

pub struct Options {
    pub interval: Duration,
    /// Applied to command lines before they are stored.
    pub redactor: Redactor,
}

pub fn run(db: &Path, options: Options) -> Result<()> {
    let mut store = Store::open_for_recording(db)?;
    let host = host::read()?;
    raise_fd_limit();
    crate::harden::apply();
    let mut collector = Collector::new(options.redactor)?;
    let run_id = store.begin_run(&Run {
        id: 0,
        boot_id: host.boot_id,
        boot_time_ms: host.boot_time_ms,
        hostname: host.hostname,
        kernel: host.kernel,
        version: env!("CARGO_PKG_VERSION").to_string(),
        interval_ms: options.interval.as_millis() as i64,
        start_ms: wall_ms(),
        stop_ms: None,
        stop_reason: None,
    })?;
    eprintln!(
        "flightrec: recording every {} into {} (run {run_id})",
        humantime::format_duration(options.interval),
        db.display()
    );

    let queue = Arc::new(Queue::default());
    let writer = {
        let queue = queue.clone();
        let interval = options.interval;
        std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || write_samples(store, run_id, interval, &queue))
            .context("starting the writer thread")?
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let reason = runtime.block_on(sample_until_signal(&mut collector, options.interval, &queue))?;
    queue.close(reason);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
}

/// Ticks until SIGTERM or SIGINT; gives the stop reason.
async fn sample_until_signal(collector: &mut Collector, interval: Duration, queue: &Queue) -> Result<String> {
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
        let mut sample = Sample { time_ms: wall_ms(), lateness_ms, suspended_ms, ..collector.sample() };
        sample.collect_us = started.elapsed().as_micros() as i64;
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

fn write_samples(mut store: Store, run_id: i64, interval: Duration, queue: &Queue) -> Result<()> {
    let mut warnings = Warnings::new();
    loop {
        match queue.wait() {
            Next::Sample(sample) => {
                if let Err(err) = store.commit(run_id, interval, &sample) {
                    warnings.warn("commit", &format!("{}: {err:#}; retrying", store.path().display()));
                    queue.retry(*sample);
                    std::thread::sleep(RETRY_AFTER);
                }
            }
            Next::Dropped(count) => {
                let detail = format!("{count} samples dropped: commits stalled longer than the queue holds");
                warnings.warn("queue", &detail);
                if let Err(err) = store.add_event(run_id, wall_ms(), "samples-dropped", &detail) {
                    warnings.warn("commit", &format!("{err:#}"));
                }
            }
            Next::Stop(reason) => {
                store.end_run(run_id, wall_ms(), &reason).context("marking the run stopped")?;
                eprintln!("flightrec: stopped on {reason}");
                return Ok(());
            }
        }
    }
}

/// One stat file stays open per process: lift the soft limit on open files
/// to the hard one so thousands of processes fit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
