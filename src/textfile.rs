//! `record --textfile-dir DIR`: after every committed sample, the latest
//! figures in `DIR/flightrec.prom`, for node_exporter's textfile collector
//! (`--collector.textfile.directory`), so that a fleet's Prometheus sees
//! every host live while flightrec opens no port. The file holds the
//! machine's figures, per-port socket counts, probe outcomes and latencies,
//! watched directories and log rates, and the recorder's own health; never
//! command lines or log lines (they can hold secrets).
//!
//! The writer thread only hands the sample over: a thread of its own
//! renders it and replaces the file (a temporary file swapped in, so a
//! reader never sees half of one). A filesystem that hangs holds that
//! thread, never a sample: the newest sample waits in its place, and a
//! write still unfinished after the deadline is warned about, as is a
//! write that fails (rate-limited).

use crate::model::StoredSample;
use crate::model::catalogue::{self, Field, LastSeen, LogRow, SystemRow, Unit, Value, counter, gauge};
use crate::model::sample::{PortSockets, ProbeResult, Sample, WatchedDir};
use crate::render::openmetrics::Latest;
use crate::warn::Warnings;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const FILE_NAME: &str = "flightrec.prom";

/// The recorder's own state at a commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health {
    pub last_commit_ms: i64,
    /// Samples waiting to be committed.
    pub queued: usize,
    /// Samples dropped since the recorder started (commits stalled longer
    /// than the queue holds).
    pub dropped: u64,
}

#[derive(Default)]
struct Shared {
    /// The newest sample not yet written (an older one waiting is replaced).
    next: Option<(Box<Sample>, Health)>,
    /// When the write in progress began.
    busy_since: Option<Instant>,
}

/// The handle the recorder's writer thread publishes samples to.
pub struct Textfile {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    dir: PathBuf,
    deadline: Duration,
    warnings: Warnings,
}

impl Textfile {
    /// Starts the thread that writes `dir/flightrec.prom`; `deadline` is
    /// how long a write may take before it is warned about.
    pub fn start(dir: PathBuf, host: String, run_id: i64, deadline: Duration) -> Result<Self> {
        let shared: Arc<(Mutex<Shared>, Condvar)> = Arc::default();
        let writer = Writer {
            dir: dir.clone(),
            host,
            run_id,
            prev: None,
            logs: LastSeen::default(),
            families: Families::new(),
            text: Vec::with_capacity(16 << 10),
        };
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("textfile".into())
            .spawn(move || writer.run(&theirs))
            .context("starting the textfile thread")?;
        Ok(Textfile { shared, dir, deadline, warnings: Warnings::new() })
    }

    /// Hands over a committed sample; never waits for the file.
    pub fn publish(&mut self, sample: &Sample, health: Health) {
        let (lock, ready) = &*self.shared;
        let mut shared = lock.lock().expect("textfile lock");
        shared.next = Some((Box::new(figures(sample)), health));
        ready.notify_one();
        if let Some(since) = shared.busy_since.filter(|since| since.elapsed() > self.deadline) {
            let message = format!(
                "writing {} has not finished after {}s (a hung filesystem?); samples are still recorded",
                self.dir.join(FILE_NAME).display(),
                since.elapsed().as_secs()
            );
            drop(shared);
            self.warnings.warn("textfile", &message);
        }
    }
}

/// The parts of a sample the file shows: not the process table, kernel
/// messages or stacks, nor the lines of watched logs.
fn figures(s: &Sample) -> Sample {
    let logs = s.watched_logs.as_ref().map(|logs| {
        logs.iter()
            .map(|log| crate::model::sample::WatchedLog { templates: Vec::new(), ..log.clone() })
            .collect()
    });
    Sample {
        sockets: s.sockets.clone(),
        probes: s.probes.clone(),
        watched_dirs: s.watched_dirs.clone(),
        watched_logs: logs,
        ..s.scalars()
    }
}

/// The recorder's own figures, `flightrec_recorder_*`.
#[rustfmt::skip]
const HEALTH: &[Field<Health>] = &[
    gauge("last_commit_timestamp_ms", Unit::Time, "when the recorder last committed a sample, seconds since the epoch", |h| Value::Int(h.last_commit_ms)),
    gauge("queued", Unit::Count, "samples waiting to be committed", |h| Value::Int(h.queued as i64)),
    counter("samples_dropped", Unit::Count, "samples dropped because commits stalled longer than the queue holds", |h| Value::Int(h.dropped as i64)),
];

struct Writer {
    dir: PathBuf,
    host: String,
    run_id: i64,
    prev: Option<Sample>,
    logs: LastSeen,
    families: Families,
    /// The file's text, its memory kept from one sample to the next.
    text: Vec<u8>,
}

/// The file's families, named once: only their lines change.
struct Families {
    system: Latest<SystemRow>,
    sockets: Latest<(i64, PortSockets)>,
    probes: Latest<(i64, ProbeResult)>,
    dirs: Latest<(i64, WatchedDir)>,
    logs: Latest<LogRow>,
    health: Latest<Health>,
}

impl Families {
    fn new() -> Self {
        Families {
            system: Latest::new("", catalogue::SYSTEM),
            sockets: Latest::new("sockets", catalogue::SOCKETS),
            probes: Latest::new("probes", catalogue::PROBES),
            dirs: Latest::new("dirs", catalogue::DIRS),
            logs: Latest::new("logs", catalogue::LOGS),
            health: Latest::new("recorder", HEALTH),
        }
    }
}

impl Writer {
    fn run(mut self, shared: &(Mutex<Shared>, Condvar)) {
        let (lock, ready) = shared;
        let mut warnings = Warnings::new();
        loop {
            let (sample, health) = {
                let mut state = lock.lock().expect("textfile lock");
                state.busy_since = None;
                loop {
                    if let Some(next) = state.next.take() {
                        state.busy_since = Some(Instant::now());
                        break next;
                    }
                    state = ready.wait(state).expect("textfile lock");
                }
            };
            let cur = StoredSample { id: 0, run_id: self.run_id, sample: *sample, missing: Vec::new() };
            self.render(&cur, health);
            if let Err(err) = write_atomically(&self.dir, &self.text) {
                warnings.warn("textfile", &format!("{err:#}; samples are still recorded"));
            }
            self.prev = Some(cur.sample);
        }
    }

    /// Renders `cur` into `self.text`.
    fn render(&mut self, cur: &StoredSample, health: Health) {
        let (out, families, host) = (&mut self.text, &self.families, self.host.as_str());
        out.clear();
        let s = &cur.sample;
        families.system.write(&[SystemRow::new(self.prev.as_ref(), cur)], host, out);
        families.sockets.write(&catalogue::stamped(cur, &s.sockets), host, out);
        families.probes.write(&catalogue::stamped(cur, &s.probes), host, out);
        families.dirs.write(&catalogue::stamped(cur, &s.watched_dirs), host, out);
        families.logs.write(&catalogue::log_rows(&mut self.logs, cur), host, out);
        families.health.write(&[health], host, out);
    }
}

/// Replaces `dir/flightrec.prom` with `text`: a temporary file the textfile
/// collector ignores (it reads `*.prom`), mode 0644, swapped with the old
/// file in one step, then the old file removed. A reader opens either file
/// whole, as with a rename over the old file; but that rename makes ext4
/// write the new file's data out at once (`auto_da_alloc`), CPU and disk
/// writes for a file replaced a few seconds later. Without an old file, or
/// on a filesystem that cannot swap, a rename.
pub fn write_atomically(dir: &Path, text: &[u8]) -> Result<()> {
    let path = dir.join(FILE_NAME);
    let temporary = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temporary)?;
        // Whatever the umask: node_exporter runs as another user.
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.write_all(text)?;
        match renameat2(AT_FDCWD, &temporary, AT_FDCWD, &path, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => fs::remove_file(&temporary),
            Err(Errno::ENOENT | Errno::EINVAL | Errno::ENOSYS) => fs::rename(&temporary, &path),
            Err(errno) => Err(errno.into()),
        }
    };
    write().map_err(|err| {
        let _ = fs::remove_file(&temporary);
        anyhow::anyhow!("writing {}: {err}", path.display())
    })
}
