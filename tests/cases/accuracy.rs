//! Every recorded figure against the kernel: known workloads
//! (scripts/floor/workload.c and busy.c, built here with `cc`) under a
//! recorder at 1 s, each figure compared sample by sample with what this
//! test reads from the same kernel files ten times a second, and a writer's
//! rate also with its own known pace (a reader of the same files could
//! agree with the recorder on a wrong 0). The long version, with more
//! workloads and a table of errors, is scripts/accuracy.sh.

use crate::common::*;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, getsockname, listen, socket,
};
use std::collections::HashMap;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples compared, after the first (which has no rate).
const SAMPLES: usize = 8;
/// The paced writer: 64 KiB every 8 ms (125 writes a second, so a 1 s
/// sample holds the pace within one write, 0.8%).
const WRITE_KIB: u64 = 64;
const WRITE_MS: u64 = 8;
/// `TMPFS_MAGIC` of statfs: tmpfs never counts `write_bytes`.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The workload programs, compiled from scripts/floor into `dir`.
fn build_workloads(dir: &TempDir) -> (PathBuf, PathBuf) {
    let floor = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/floor");
    let build = |name: &str| {
        let out = dir.join(name);
        let status = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(floor.join(format!("{name}.c")))
            .status()
            .unwrap_or_else(|e| panic!("running cc for scripts/floor/{name}.c: {e}"));
        assert!(status.success(), "compiling scripts/floor/{name}.c: {status}");
        out
    };
    (build("workload"), build("busy"))
}

fn quiet(command: &mut Command) -> &mut Command {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null())
}

/// What this test reads of one process, at one instant.
#[derive(Debug, Clone, Copy)]
struct Reading {
    time_ms: i64,
    cpu_ticks: u64,
    write_bytes: u64,
    fds: u64,
    rss_bytes: u64,
}

fn read_process(pid: u32) -> Option<Reading> {
    let time_ms = now_ms();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let write_bytes = io.lines().find_map(|l| l.strip_prefix("write_bytes:"))?.trim().parse().ok()?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    Some(Reading {
        time_ms,
        // Fields 14, 15 and 24 of the file, counted after the command name.
        cpu_ticks: number(11)? + number(12)?,
        write_bytes,
        fds,
        rss_bytes: number(21)? * page as u64,
    })
}

/// The test's own reader: every 100 ms, each workload's counters, until
/// dropped.
struct Reference {
    stop: Arc<AtomicBool>,
    readings: Arc<Mutex<HashMap<u32, Vec<Reading>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reference {
    fn start(pids: Vec<u32>) -> Reference {
        let stop = Arc::new(AtomicBool::new(false));
        let readings: Arc<Mutex<HashMap<u32, Vec<Reading>>>> = Arc::default();
        let thread = std::thread::spawn({
            let (stop, readings) = (stop.clone(), readings.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    for &pid in &pids {
                        if let Some(reading) = read_process(pid) {
                            readings.lock().unwrap().entry(pid).or_default().push(reading);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Reference { stop, readings, thread: Some(thread) }
    }

    fn of(&self, pid: u32) -> Vec<Reading> {
        self.readings.lock().unwrap().get(&pid).cloned().unwrap_or_default()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A counter of the reference at `time_ms`, between the two readings
/// around it (the workloads are steady, so linear is exact enough).
fn counter_at(readings: &[Reading], time_ms: i64, counter: fn(&Reading) -> u64) -> Option<f64> {
    let after = readings.iter().position(|r| r.time_ms >= time_ms)?;
    let b = readings[after];
    let a = readings[after.checked_sub(1)?];
    let share = if b.time_ms == a.time_ms {
        0.0
    } else {
        (time_ms - a.time_ms) as f64 / (b.time_ms - a.time_ms) as f64
    };
    Some(counter(&a) as f64 + share * (counter(&b) as f64 - counter(&a) as f64))
}

/// A recorder at 1 s (the integration tests' usual one ticks every 200 ms,
/// too short for a per-sample CPU figure in clock ticks), at nice -10 as
/// there, killed when dropped.
fn start_recorder(dir: &TempDir, db: &Path) -> Guard {
    let log = fs::File::create(dir.join("recorder.log")).unwrap();
    Guard::spawn(
        Command::new("nice")
            .args(["-n", "-10", BIN, "record", "--db"])
            .arg(db)
            .args(["--interval", "1s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    )
}

/// The processes export rows of `pid`, by time.
fn rows_of(rows: &[Row], pid: u32) -> Vec<&Row> {
    let mut mine: Vec<&Row> = rows.iter().filter(|r| r.int("pid") == i64::from(pid)).collect();
    mine.sort_by_key(|r| r.int("time_ms"));
    mine
}

/// A listener of the test's own, with established, CLOSE_WAIT and queued
/// connections: what the recorder must count on its port, exactly.
struct Listener {
    port: u16,
    _held: Vec<TcpStream>,
    _listener: TcpListener,
}

const ESTABLISHED: usize = 3;
const CLOSE_WAIT: usize = 2;
const QUEUED: usize = 4;

impl Listener {
    fn on(address: SocketAddr) -> Listener {
        let listener = TcpListener::bind(address).unwrap();
        let at = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for i in 0..ESTABLISHED + CLOSE_WAIT + QUEUED {
            let client = TcpStream::connect(at).unwrap();
            if i < ESTABLISHED + CLOSE_WAIT {
                let server = listener.accept().unwrap().0;
                if i >= ESTABLISHED {
                    // The client is done sending; the server never closes.
                    client.shutdown(Shutdown::Write).unwrap();
                }
                held.push(server);
            }
            held.push(client);
        }
        Listener { port: at.port(), _held: held, _listener: listener }
    }

    /// (direction, state) → count, as the recorder must show them.
    fn expected(&self) -> HashMap<(String, String), i64> {
        let row = |d: &str, s: &str, n: usize| ((d.to_string(), s.to_string()), n as i64);
        HashMap::from([
            row("listen", "LISTEN", 1),
            // Queued connections are established on the server side too.
            row("incoming", "ESTABLISHED", ESTABLISHED + QUEUED),
            row("incoming", "CLOSE_WAIT", CLOSE_WAIT),
            row("outgoing", "ESTABLISHED", ESTABLISHED + QUEUED),
            row("outgoing", "FIN_WAIT2", CLOSE_WAIT),
        ])
    }
}

/// A listener with backlog 2 that never accepts, and clients enough to fill
/// its queue (the kernel queues backlog + 1).
fn full_queue() -> (OwnedFd, u16, Vec<OwnedFd>) {
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))).unwrap();
    listen(&fd, Backlog::new(2).unwrap()).unwrap();
    let port = getsockname::<SockaddrIn>(fd.as_raw_fd()).unwrap().port();
    let clients = (0..6)
        .map(|_| {
            let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
            let client = socket(AddressFamily::Inet, SockType::Stream, flags, None).unwrap();
            let to = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
            match connect(client.as_raw_fd(), &to) {
                Ok(()) | Err(Errno::EINPROGRESS) | Err(Errno::EAGAIN) => client,
                Err(e) => panic!("connecting to port {port}: {e}"),
            }
        })
        .collect();
    (fd, port, clients)
}

/// A directory on a disk-backed filesystem where one exists (the build's
/// own temporary directory), removed when dropped.
struct WriteDir(PathBuf);

impl WriteDir {
    fn new() -> WriteDir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("accuracy-{}", unique()));
        fs::create_dir_all(&path).unwrap();
        WriteDir(path)
    }

    fn counts_write_bytes(&self) -> bool {
        nix::sys::statfs::statfs(&self.0).is_ok_and(|fs| fs.filesystem_type().0 != TMPFS_MAGIC)
    }
}

impl Drop for WriteDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn recorded_figures_match_the_kernel_sample_by_sample() {
    let dir = TempDir::new("accuracy");
    let writes = WriteDir::new();
    let (workload, busy) = build_workloads(&dir);
    let burner = Guard::spawn(quiet(Command::new(&busy).arg("40")));
    let holder = Guard::spawn(quiet(Command::new(&workload).args(["hold", "100"])));
    let writer =
        Guard::spawn(quiet(Command::new(&workload).arg("write").arg(writes.0.join("buffered")).args([
            WRITE_KIB.to_string(),
            WRITE_MS.to_string(),
            "buffered".into(),
        ])));
    let opener = Guard::spawn(quiet(Command::new(&workload).args(["open", "1000"])));
    let v4 = Listener::on((Ipv4Addr::LOCALHOST, 0).into());
    let v6 = Listener::on((Ipv6Addr::LOCALHOST, 0).into());
    let (_full, full_port, _clients) = full_queue();
    let pids = [burner.pid(), holder.pid(), writer.pid(), opener.pid()];
    let reference = Reference::start(pids.to_vec());
    // Steady first: the memory held, the writer writing, a file opened.
    eventually("the workloads to settle", || {
        let (held, wrote, opened) =
            (reference.of(holder.pid()), reference.of(writer.pid()), reference.of(opener.pid()));
        let settled = held.last().is_some_and(|r| r.rss_bytes >= 100 << 20)
            && wrote.last().is_some_and(|r| r.write_bytes > 0)
            && opened.last().is_some_and(|r| r.fds > 3);
        if settled {
            Ok(())
        } else {
            Err(format!("{:?} {:?} {:?}", held.last(), wrote.last(), opened.last()))
        }
    });

    let db = dir.join("flightrec.db");
    let _recorder = start_recorder(&dir, &db);
    let rows = eventually(&format!("{} samples of every workload", SAMPLES + 1), || {
        if !db.exists() {
            return Err("no database yet".into());
        }
        let rows = export(&db, "processes", &[]);
        let fewest = pids.iter().map(|&pid| rows_of(&rows, pid).len()).min().unwrap_or(0);
        if fewest > SAMPLES { Ok(rows) } else { Err(format!("{fewest} samples")) }
    });
    let sockets = export(&db, "sockets", &[]);
    // Readings a little past the last sample, for the interpolation.
    std::thread::sleep(Duration::from_millis(300));
    let mut errors = Vec::new();
    let mut table = vec!["figure, time_ms: recorded / reference".to_string()];

    // CPU: the mean over the samples against the kernel's over the same span.
    let burned = rows_of(&rows, burner.pid());
    let refs = reference.of(burner.pid());
    let (first, last) = (burned[0].int("time_ms"), burned[burned.len() - 1].int("time_ms"));
    let ticks = |t| counter_at(&refs, t, |r| r.cpu_ticks).expect("reference readings around the samples");
    let kernel_pct = (ticks(last) - ticks(first)) * 1000.0 / (last - first) as f64;
    let (mut weighted, mut span) = (0.0, 0.0);
    for pair in burned.windows(2) {
        let at = pair[1].int("time_ms") - pair[0].int("time_ms");
        weighted += pair[1].real("cpu_pct").expect("a CPU rate") * at as f64;
        span += at as f64;
    }
    let recorded_pct = weighted / span;
    table.push(format!("cpu_pct over the run: {recorded_pct:.1} / {kernel_pct:.1}"));
    if (recorded_pct - kernel_pct).abs() > 3.0 {
        errors.push(format!("cpu_pct {recorded_pct:.1} over the run, the kernel says {kernel_pct:.1}"));
    }

    // The writer's rate, per sample: against the reference over the same
    // span, and against its own pace where the filesystem counts it.
    let pace = (WRITE_KIB * 1024 * 1000 / WRITE_MS) as f64;
    let refs = reference.of(writer.pid());
    let written = rows_of(&rows, writer.pid());
    for pair in written.windows(2) {
        let (t0, t1) = (pair[0].int("time_ms"), pair[1].int("time_ms"));
        let recorded = pair[1].real("write_bytes_per_s").expect("a write rate");
        let bytes =
            |t| counter_at(&refs, t, |r| r.write_bytes).expect("reference readings around the samples");
        let kernel = (bytes(t1) - bytes(t0)) * 1000.0 / (t1 - t0) as f64;
        table.push(format!("write_bytes_per_s, {t1}: {recorded:.0} / {kernel:.0} (pace {pace:.0})"));
        if (recorded - kernel).abs() > 0.1 * kernel.max(pace) {
            errors.push(format!("write_bytes_per_s {recorded:.0} at {t1}, the kernel says {kernel:.0}"));
        }
        if writes.counts_write_bytes() && (recorded - pace).abs() > 0.1 * pace {
            errors.push(format!("write_bytes_per_s {recorded:.0} at {t1}, the writer's pace is {pace:.0}"));
        }
    }

    // Open files, per sample: what the kernel said within a sample of it.
    let refs = reference.of(opener.pid());
    for row in rows_of(&rows, opener.pid()) {
        let (t, fds) = (row.int("time_ms"), row.int("fds") as u64);
        let near: Vec<u64> = refs.iter().filter(|r| (r.time_ms - t).abs() <= 1000).map(|r| r.fds).collect();
        let (low, high) = (near.iter().min().copied(), near.iter().max().copied());
        table.push(format!("fds, {t}: {fds} / {low:?} to {high:?}"));
        if !matches!((low, high), (Some(low), Some(high)) if (low..=high).contains(&fds)) {
            errors.push(format!("fds {fds} at {t}, the kernel said {low:?} to {high:?} within a second"));
        }
    }

    // Resident memory, per sample: the same kernel counter, within 1%.
    let refs = reference.of(holder.pid());
    for row in rows_of(&rows, holder.pid()) {
        let (t, rss) = (row.int("time_ms"), row.int("rss") as f64);
        let kernel = counter_at(&refs, t, |r| r.rss_bytes).unwrap_or(0.0);
        table.push(format!("rss, {t}: {rss} / {kernel:.0}"));
        if (rss - kernel).abs() > 0.01 * kernel || rss < 100.0 * 1024.0 * 1024.0 {
            errors.push(format!("rss {rss} at {t}, the kernel says {kernel:.0} (100 MiB held)"));
        }
    }

    // Sockets, in the last sample: exact.
    let last_sockets = latest(&sockets);
    let on_port = |port: u16| -> HashMap<(String, String), i64> {
        last_sockets
            .iter()
            .filter(|r| r.int("port") == i64::from(port))
            .map(|r| ((r.text("direction").to_string(), r.text("state").to_string()), r.int("count")))
            .collect()
    };
    for listener in [&v4, &v6] {
        let port = i64::from(listener.port);
        let queued = last_sockets.iter().find(|r| r.int("port") == port && r.text("direction") == "listen");
        let queued = queued.map(|r| r.int("accept_queue"));
        if queued != Some(QUEUED as i64) {
            errors.push(format!("port {port}: accept queue {queued:?}, expected {QUEUED}"));
        }
        let got = on_port(listener.port);
        if got != listener.expected() {
            errors.push(format!("port {}: {got:?}, expected {:?}", listener.port, listener.expected()));
        }
    }
    let full = last_sockets
        .iter()
        .find(|r| r.int("port") == i64::from(full_port) && r.text("direction") == "listen");
    let queue = full.map(|r| (r.int("accept_queue"), r.int("backlog")));
    if queue != Some((3, 2)) {
        errors.push(format!("port {full_port}: accept queue and backlog {queue:?}, expected (3, 2)"));
    }
    let incoming = on_port(full_port).get(&("incoming".into(), "ESTABLISHED".into())).copied();
    if incoming != Some(3) {
        errors.push(format!("port {full_port}: {incoming:?} queued connections established, expected 3"));
    }

    assert!(errors.is_empty(), "figures out of tolerance:\n{}\n\n{}", errors.join("\n"), table.join("\n"));
}
