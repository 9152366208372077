//! What every integration test needs: a temporary directory and child
//! processes that clean up after themselves even when the test fails, the
//! real binary run with a deadline, its CSV exports as rows, and read-only
//! looks into its database.
//!
//! Nothing here sleeps for a fixed time to let something happen: waits poll
//! for the condition with a generous deadline, so a busy machine makes the
//! tests slower, not flaky.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_flightrec");

/// How long any wait may take before the test gives up. Far above what an
/// idle machine needs (the recorder makes ~5 samples a second): a deadline
/// guards against hangs, it does not measure speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A string of digits no other test of this run (or of another run) uses.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").subsec_nanos();
    format!("{}{n:03}{nanos:09}", std::process::id())
}

/// Polls `check` until it gives a value; panics naming `what` (and the last
/// state `check` described) after `PATIENCE`.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    eventually_within(PATIENCE, what, &mut check)
}

pub fn eventually_within<T>(
    patience: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + patience;
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) if Instant::now() >= deadline => {
                panic!("gave up after {patience:?} waiting for {what}; last: {state}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(150)),
        }
    }
}

/// A fresh directory, removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("flightrec-test-{test}-{}", unique()));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, if still there.
pub struct Guard(pub Child);

impl Guard {
    pub fn spawn(command: &mut Command) -> Guard {
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        Guard(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Both are no-ops once the child has been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a child to exit; kills it and fails the test after `PATIENCE`.
pub fn wait_with_deadline(child: &mut Child, what: &str) -> ExitStatus {
    wait_within(PATIENCE, child, what)
}

pub fn wait_within(patience: Duration, child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `flightrec record --interval 200ms` into `db`, stderr kept in a file
/// beside it. Killed when dropped if still running.
///
/// It runs at nice -10 (the tests run as root; elsewhere `nice` only warns
/// in the log), as a recorder should on a struggling server: on a small
/// machine shared with builds and the other tests it would otherwise tick
/// seconds late and make every wait here long.
pub struct Recorder {
    /// `nice` exec'ing the recorder, or `unshare` running it.
    child: Child,
    /// The recorder's own pid, as this test sees it.
    pid: u32,
    db: PathBuf,
    log: PathBuf,
    run_id: Option<i64>,
}

/// `unshare` options for a recorder alone in its own PID and network
/// namespaces, with its own /proc: it sees no process but itself and no
/// socket of anyone else, while memory, load, disks and mounts stay the
/// machine's. Killed with `unshare` (`--kill-child`) if the test is.
const ISOLATED: &[&str] = &["unshare", "--pid", "--fork", "--mount-proc", "--net", "--kill-child=SIGKILL"];

impl Recorder {
    pub fn start(dir: &TempDir, db: &Path) -> Recorder {
        Self::start_with(dir, db, &[])
    }

    /// With more arguments for `record`: `--probe`, `--watch-dir`,
    /// `--watch-log`, `--config`.
    pub fn start_with(dir: &TempDir, db: &Path, extra: &[&str]) -> Recorder {
        Self::spawn(dir, db, &[], extra)
    }

    /// Alone in its own PID and network namespaces (see `ISOLATED`): what it
    /// records of processes and sockets can only be its own.
    pub fn start_isolated(dir: &TempDir, db: &Path) -> Recorder {
        let mut recorder = Self::spawn(dir, db, ISOLATED, &[]);
        let outer = recorder.child.id();
        // `unshare` forks the recorder (`nice` execs it, keeping the pid).
        let children = format!("/proc/{outer}/task/{outer}/children");
        recorder.pid = eventually("unshare to start the recorder", || {
            recorder.check_alive();
            let text = fs::read_to_string(&children).map_err(|e| format!("{children}: {e}"))?;
            text.split_whitespace().next().and_then(|pid| pid.parse().ok()).ok_or(text)
        });
        recorder
    }

    fn spawn(dir: &TempDir, db: &Path, wrapper: &[&str], extra: &[&str]) -> Recorder {
        let log = dir.join(&format!("recorder-{}.log", unique()));
        let stderr = File::create(&log).expect("creating the recorder's log");
        let mut command = match wrapper.split_first() {
            Some((program, options)) => {
                let mut command = Command::new(program);
                command.args(options).arg("nice");
                command
            }
            None => Command::new("nice"),
        };
        let child = command
            .args(["-n", "-10", BIN, "record"])
            .arg("--db")
            .arg(db)
            .args(["--interval", "200ms"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting flightrec record");
        let pid = child.id();
        Recorder { child, pid, db: db.into(), log, run_id: None }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `how` to the recorder (SIGSTOP, SIGCONT, ...) while it runs
    /// (its pid cannot have been reused: it is a child of ours, or of an
    /// `unshare` that is a child of ours and exits with it).
    pub fn signal(&mut self, how: Signal) {
        self.check_alive();
        let _ = kill(Pid::from_raw(self.pid as i32), how);
    }

    /// What the recorder wrote on stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test, with the recorder's stderr, if it exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the recorder exited ({status}); its stderr:\n{}", self.log());
        }
    }

    /// This recorder's run id, from its start-up line "(run N)".
    pub fn run_id(&mut self) -> i64 {
        if let Some(id) = self.run_id {
            return id;
        }
        let id = eventually("the recorder to start a run", || {
            self.check_alive();
            let log = self.log();
            let id = log
                .split_once("(run ")
                .and_then(|(_, rest)| rest.split_once(')'))
                .and_then(|(id, _)| id.parse::<i64>().ok());
            id.ok_or(log)
        });
        self.run_id = Some(id);
        id
    }

    /// Waits until this run has committed at least `n` samples (as a reader
    /// sees them); gives how many it has.
    pub fn wait_for_samples(&mut self, n: i64) -> i64 {
        let run = self.run_id();
        let db = self.db.clone();
        eventually(&format!("{n} samples of run {run}"), || {
            self.check_alive();
            let have = count_samples(&db, run);
            if have >= n { Ok(have) } else { Err(format!("{have} samples")) }
        })
    }

    /// Stops the recorder with SIGTERM; it must exit 0.
    pub fn stop(&mut self) {
        self.stop_with(Signal::SIGTERM);
    }

    /// Stops the recorder with `how` (SIGTERM or SIGINT); it must exit 0.
    pub fn stop_with(&mut self, how: Signal) {
        self.signal(how);
        let status = wait_with_deadline(&mut self.child, "the recorder");
        assert!(status.success(), "the recorder exited with {status} on {how}; its stderr:\n{}", self.log());
    }

    /// Kills the recorder the hard way and reaps it.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
        let status = wait_with_deadline(&mut self.child, "the killed recorder");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records until `samples` samples are committed, then stops with SIGTERM.
pub fn record_samples(dir: &TempDir, db: &Path, samples: i64) {
    let mut recorder = Recorder::start(dir, db);
    recorder.wait_for_samples(samples);
    recorder.stop();
}

/// Polls `check` on the rows of `flightrec export --what WHAT [EXTRA...]`
/// each time the recorder has committed another sample (exports cost more
/// than a look at the sample count), until it gives a value.
pub fn eventually_in_export<T>(
    recorder: &mut Recorder,
    what: &str,
    extra: &[&str],
    description: &str,
    mut check: impl FnMut(Vec<Row>) -> Result<T, String>,
) -> T {
    eventually_in_export_within(PATIENCE, recorder, what, extra, description, &mut check)
}

pub fn eventually_in_export_within<T>(
    patience: Duration,
    recorder: &mut Recorder,
    what: &str,
    extra: &[&str],
    description: &str,
    mut check: impl FnMut(Vec<Row>) -> Result<T, String>,
) -> T {
    let run = recorder.run_id();
    let db = recorder.db.clone();
    let mut exported_at = 0;
    let mut last = String::from("no sample yet");
    eventually_within(patience, description, || {
        recorder.check_alive();
        let have = count_samples(&db, run);
        if have > exported_at {
            exported_at = have;
            match check(export(&db, what, extra)) {
                Ok(value) => return Ok(value),
                Err(state) => last = state,
            }
        }
        Err(last.clone())
    })
}

/// A read-only connection, the way an outside reader would look.
pub fn open_read_only(db: &Path) -> rusqlite::Result<Connection> {
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Samples of one run, 0 while the file or its tables do not exist yet.
pub fn count_samples(db: &Path, run: i64) -> i64 {
    if !db.exists() {
        return 0;
    }
    open_read_only(db)
        .and_then(|conn| {
            conn.query_row("SELECT count(*) FROM samples WHERE run_id = ?1", [run], |r| r.get(0)).optional()
        })
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// What a finished command did.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts exit 0 and gives stdout.
    pub fn ok(self) -> String {
        assert!(self.status.success(), "expected success, got {}; stderr:\n{}", self.status, self.stderr);
        self.stdout
    }
}

/// Runs `flightrec ARGS` to its end (killed and failed after `PATIENCE`).
pub fn flightrec(args: &[&str]) -> Outcome {
    flightrec_within(PATIENCE, args)
}

/// Runs `flightrec ARGS` to its end, killed and failed after `patience`.
pub fn flightrec_within(patience: Duration, args: &[&str]) -> Outcome {
    run_within(patience, Command::new(BIN).args(args))
}

/// Runs any command to its end (killed and failed after `PATIENCE`), its
/// output captured.
pub fn run(command: &mut Command) -> Outcome {
    run_within(PATIENCE, command)
}

pub fn run_within(patience: Duration, command: &mut Command) -> Outcome {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = format!("{command:?}");
    let mut guard = Guard::spawn(command);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(guard.0.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(guard.0.stderr.take().expect("piped stderr")));
    let status = wait_within(patience, &mut guard.0, &what);
    Outcome {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// One CSV row by column name.
#[derive(Debug, Clone)]
pub struct Row(pub HashMap<String, String>);

impl Row {
    pub fn text(&self, column: &str) -> &str {
        self.0.get(column).unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.0))
    }

    pub fn int(&self, column: &str) -> i64 {
        let text = self.text(column);
        text.parse().unwrap_or_else(|e| panic!("{column} {text:?} is not an integer ({e}) in {:?}", self.0))
    }

    /// A number, `None` when empty (a rate without a previous sample).
    pub fn real(&self, column: &str) -> Option<f64> {
        let text = self.text(column);
        if text.is_empty() {
            return None;
        }
        Some(
            text.parse()
                .unwrap_or_else(|e| panic!("{column} {text:?} is not a number ({e}) in {:?}", self.0)),
        )
    }
}

/// The header and the rows of a CSV export.
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<Row>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("a CSV header").iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.unwrap_or_else(|e| panic!("bad CSV ({e}):\n{text}"));
            Row(header.iter().cloned().zip(record.iter().map(String::from)).collect())
        })
        .collect();
    (header, rows)
}

/// `flightrec export --what WHAT [EXTRA...]` as CSV rows; must succeed.
pub fn export(db: &Path, what: &str, extra: &[&str]) -> Vec<Row> {
    let mut args = vec!["export", "--db", path_str(db), "--what", what];
    args.extend_from_slice(extra);
    parse_csv(&flightrec(&args).ok()).1
}

/// The rows of the latest sample in `rows` (all rows share its time).
pub fn latest(rows: &[Row]) -> Vec<&Row> {
    let Some(last) = rows.iter().map(|r| r.int("time_ms")).max() else {
        return Vec::new();
    };
    rows.iter().filter(|r| r.int("time_ms") == last).collect()
}

/// `MemTotal` from /proc/meminfo, in bytes.
pub fn mem_total_bytes() -> i64 {
    let text = fs::read_to_string("/proc/meminfo").expect("reading /proc/meminfo");
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).expect("a MemTotal line");
    let kib: i64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("MemTotal in kB");
    kib * 1024
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// `ms` the way `--at`/`--from`/`--to` take an exact instant: `@SECONDS.mmm`.
pub fn at_ms(ms: i64) -> String {
    format!("@{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// `flightrec report --format json [EXTRA...]`, parsed; must succeed.
pub fn report_json(db: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["report", "--db", path_str(db), "--format", "json"];
    args.extend_from_slice(extra);
    let out = flightrec(&args).ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{out}"))
}

/// The report on the window ending now: what the recording just showed,
/// whatever period (a stall of a busy machine) `report` would otherwise
/// pick by itself.
pub fn report_now(db: &Path) -> serde_json::Value {
    report_json(db, &["--at", "now"])
}

/// `flightrec gaps --format json`: the periods, newest first.
pub fn gaps_json(db: &Path) -> Vec<serde_json::Value> {
    let out = flightrec(&["gaps", "--db", path_str(db), "--format", "json"]).ok();
    let periods: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("gaps is not JSON ({e}):\n{out}"));
    periods.as_array().unwrap_or_else(|| panic!("gaps is not a list:\n{out}")).clone()
}

/// The findings of a report, each as "severity kind [subject]: summary",
/// for failure messages.
pub fn list_findings(report: &serde_json::Value) -> String {
    let lines: Vec<String> = report["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| format!("{} {} [{}]: {}", f["severity"], f["kind"], f["subject"], f["summary"]))
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() { "no findings".into() } else { lines.join("\n") }
}

/// The one finding of `kind` about `subject`; fails the test, listing every
/// finding, when there is none.
pub fn finding<'a>(report: &'a serde_json::Value, kind: &str, subject: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["kind"] == kind && f["subject"] == subject))
        .unwrap_or_else(|| {
            panic!("no {kind} finding about {subject:?} in the report; it has:\n{}", list_findings(report))
        })
}
