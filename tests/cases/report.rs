//! `gaps` and `report` on situations reproduced for real: a pile-up of
//! processes and of connections, a filesystem filled to the brim, a
//! recorder stopped (a stall) or killed (an unclean stop), and a recording
//! where nothing happens.

use crate::common::*;
use nix::sys::signal::Signal;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn quiet(command: &mut Command) -> &mut Command {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null())
}

/// Where this machine keeps `sleep`.
fn sleep_program() -> &'static str {
    ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("a sleep program")
}

#[test]
fn sixty_processes_of_one_name_are_a_pileup_naming_it() {
    let dir = TempDir::new("pileup");
    // A process's command name is the file name it was started by, cut to
    // 15 bytes: a link to sleep named so that no other process on the
    // machine has that name.
    let name: String = format!("pile{}", unique()).chars().take(15).collect();
    let program = dir.join(&name);
    std::os::unix::fs::symlink(sleep_program(), &program).unwrap();

    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    let children: Vec<Guard> =
        (0..60).map(|_| Guard::spawn(quiet(Command::new(&program).arg("1000")))).collect();
    eventually_in_export(&mut recorder, "processes", &[], "a sample with the 60 processes", |rows| {
        let count = latest(&rows).iter().filter(|r| r.text("comm") == name).count();
        if count == 60 { Ok(()) } else { Err(format!("{count} processes named {name}")) }
    });
    recorder.stop();

    let report = report_now(&db);
    let pileup = finding(&report, "process_pileup", &name);
    let values = &pileup["values"];
    assert_eq!(values["from"], 0.0, "none ran before: {pileup}");
    assert_eq!(values["to"], 60.0, "{pileup}");
    let (from_ms, to_ms) = (values["from_ms"].as_i64().unwrap(), values["to_ms"].as_i64().unwrap());
    assert!(from_ms < to_ms, "the rise goes forward in time: {pileup}");
    assert_eq!(pileup["severity"], "high", "a rise of 50 or more is high: {pileup}");
    let summary = pileup["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("{name} processes rose from 0 to 60")), "{summary}");
    drop(children);
}

/// A recorder that does not run for 20 s, as on a machine that stopped
/// answering, leaves a stall: its next tick fires 20 s late.
#[test]
fn recorder_stopped_for_20_s_is_a_stall_that_report_explains() {
    let dir = TempDir::new("stall");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    let run = recorder.run_id();
    recorder.wait_for_samples(5);
    recorder.signal(Signal::SIGSTOP);
    // The situation itself, not a wait for something to happen.
    std::thread::sleep(Duration::from_secs(20));
    recorder.signal(Signal::SIGCONT);
    let after = count_samples(&db, run);
    recorder.wait_for_samples(after + 3);
    recorder.stop();

    let periods = gaps_json(&db);
    assert_eq!(periods.len(), 1, "one stall, and the run stopped cleanly: {periods:#?}");
    let stall = &periods[0];
    assert_eq!(stall["kind"], "stall", "{stall}");
    assert_eq!(stall["number"], 1, "{stall}");
    assert_eq!(stall["run_id"], run, "{stall}");
    let (start, end) = (stall["start_ms"].as_i64().unwrap(), stall["end_ms"].as_i64().unwrap());
    assert!((15_000..=40_000).contains(&(end - start)), "a stall of about 20 s: {stall}");
    assert!(stall["samples_before"].as_i64().unwrap() >= 5, "the samples before it are counted: {stall}");

    assert_eq!(stall["explained"], true, "the only incident is the one report explains: {stall}");
    let report = report_json(&db, &["--period", "1"]);
    assert_eq!(report["period"], as_period(stall), "report --period 1 explains the period gaps lists first");
    let headline = report["headline"].as_str().unwrap();
    assert!(headline.starts_with("frozen for "), "{headline}");
    assert_eq!(report["window"]["to_ms"], start, "the window ends at the last sample before the stall");
    assert!(report["window"]["samples"].as_i64().unwrap() >= 5, "{}", report["window"]);
    // Without --period the newest period is the one explained.
    assert_eq!(report_json(&db, &[])["period"], as_period(stall));
}

/// A period as `gaps` lists it, without what only `gaps` adds.
fn as_period(gap: &serde_json::Value) -> serde_json::Value {
    let mut period = gap.clone();
    period.as_object_mut().expect("a period is an object").remove("explained");
    period
}

/// Two runs killed with -9, each followed by a new run: two unclean stops,
/// the newest numbered 1, each ending when the next run began.
#[test]
fn recorder_killed_and_restarted_is_an_unclean_stop_newest_first() {
    let dir = TempDir::new("unclean");
    let db = dir.join("flightrec.db");
    let mut starts = Vec::new();
    for _ in 0..2 {
        let mut killed = Recorder::start(&dir, &db);
        killed.wait_for_samples(3);
        killed.kill9();
        starts.push(killed.run_id());
    }
    let mut last = Recorder::start(&dir, &db);
    last.wait_for_samples(3);
    last.stop();
    assert_eq!(starts, [1, 2]);

    let periods = gaps_json(&db);
    let summary: Vec<(i64, String, i64)> = periods
        .iter()
        .map(|p| {
            (p["number"].as_i64().unwrap(), p["kind"].as_str().unwrap().into(), p["run_id"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [(1, "unclean_stop".to_string(), 2), (2, "unclean_stop".to_string(), 1)],
        "newest first: {periods:#?}"
    );
    let conn = open_read_only(&db).unwrap();
    for period in &periods {
        let run = period["run_id"].as_i64().unwrap();
        let (last_sample, next_start): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT max(time_ms) FROM samples WHERE run_id = ?1),
                        (SELECT start_ms FROM runs WHERE id = ?1 + 1)",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(period["start_ms"], last_sample, "begins at the killed run's last sample: {period}");
        assert_eq!(period["end_ms"], next_start, "ends when the next run began: {period}");
        assert_eq!(period["next_boot_id"], serde_json::Value::Null, "same boot: {period}");
    }

    let report = report_json(&db, &[]);
    assert_eq!(report["period"], as_period(&periods[0]), "report explains the newest period by default");
    assert_eq!(
        (periods[0]["explained"].clone(), periods[1]["explained"].clone()),
        (true.into(), false.into())
    );
    let headline = report["headline"].as_str().unwrap();
    assert!(headline.starts_with("unclean stop: killed/crashed at "), "{headline}");
}

/// A tmpfs mounted for one test, unmounted when dropped (lazily if
/// something still holds it).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where mounting is not permitted.
    fn mount(path: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "flightrec-test"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("running mount");
        if !out.status.success() {
            eprintln!("skipped: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&out.stderr).trim());
            return None;
        }
        Some(Tmpfs(path))
    }

    fn path(&self) -> &str {
        path_str(&self.0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.0).stderr(Stdio::null()).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// `write_bytes` of /proc/PID/io: bytes the process sent to storage.
fn write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// What recording while a child filled an 8 MiB tmpfs gave.
struct Filled {
    report: serde_json::Value,
    mount_point: String,
    recorder: u32,
    writer: u32,
    /// The writer's `write_bytes` once the tmpfs was full.
    writer_write_bytes: u64,
}

/// Mounts an 8 MiB tmpfs, fills it from a child while recording, and
/// reports on the window; everything is stopped and unmounted before it
/// returns. `None` where mounting is not permitted.
fn fill_a_tmpfs(test: &str) -> Option<Filled> {
    let dir = TempDir::new(test);
    let mount = Tmpfs::mount(dir.join("mnt"), "8m")?;
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    // 100 kB at a time until the 8 MiB are full, over a few seconds, then
    // alive (as sleep) so that its counters are there at the last samples.
    let fill = format!(
        "i=0; while [ $i -lt 120 ]; do head -c 100000 /dev/zero >> {}/fill || break; \
         i=$((i+1)); sleep 0.05; done; exec sleep 1000",
        mount.path()
    );
    let writer = Guard::spawn(quiet(Command::new("sh").args(["-c", &fill])));
    eventually_in_export(&mut recorder, "filesystems", &[], "the tmpfs at 100%", |rows| {
        let ours: Vec<&Row> =
            latest(&rows).into_iter().filter(|r| r.text("mount_point") == mount.path()).collect();
        match ours.first() {
            Some(fs) if fs.int("available") == 0 => Ok(()),
            _ => Err(format!("{ours:?}")),
        }
    });
    let writer_write_bytes = write_bytes(writer.pid());
    let run = recorder.run_id();
    recorder.wait_for_samples(count_samples(&db, run) + 1);
    recorder.stop();
    Some(Filled {
        report: report_now(&db),
        mount_point: mount.path().to_string(),
        recorder: recorder.pid(),
        writer: writer.pid(),
        writer_write_bytes,
    })
}

#[test]
fn tmpfs_filled_to_100_percent_is_a_full_filesystem_naming_its_mount_point() {
    let Some(filled) = fill_a_tmpfs("tmpfs") else { return };
    let full = finding(&filled.report, "filesystem_full", &filled.mount_point);
    assert_eq!(full["severity"], "high", "{full}");
    assert_eq!(full["values"]["peak_pct"], 100.0, "{full}");
    let summary = full["summary"].as_str().unwrap();
    assert!(summary.starts_with(&format!("{} hit 100% full at ", filled.mount_point)), "{summary}");
    // Writers are ranked by `write_bytes`, the bytes the kernel counted as
    // sent to storage. tmpfs has no storage below it: the 8 MiB written
    // there are not counted (the writer shows a few kB from elsewhere at
    // most), so it cannot be named. Where the kernel does count them, the
    // writer must be among those named.
    if filled.writer_write_bytes >= 4 << 20 {
        let named = format!("(pid {})", filled.writer);
        assert!(summary.contains(&named), "the writer {named} should be named: {summary}");
    } else {
        eprintln!(
            "the writer's write_bytes is {} after filling 8 MiB of tmpfs: not checking that it is named",
            filled.writer_write_bytes
        );
    }
}

/// The recorder writes its own database: that must not make it one of the
/// writers filling a filesystem.
#[test]
fn full_filesystem_does_not_name_the_recorder_among_its_writers() {
    let Some(filled) = fill_a_tmpfs("tmpfs-self") else { return };
    let full = finding(&filled.report, "filesystem_full", &filled.mount_point);
    let recorder = format!("(pid {})", filled.recorder);
    let writers = full["values"]["writers"].as_array().unwrap();
    assert!(
        !writers.iter().any(|w| w.as_str().unwrap().contains(&recorder)),
        "the recorder {recorder} is named as a writer: {full}"
    );
}

#[test]
fn sixty_held_connections_are_a_pileup_naming_the_port() {
    let dir = TempDir::new("connections");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    let clients: Vec<TcpStream> =
        (0..60).map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap()).collect();
    let servers: Vec<TcpStream> = (0..60).map(|_| listener.accept().unwrap().0).collect();
    eventually_in_export(&mut recorder, "sockets", &[], "60 connections on the port", |rows| {
        let incoming: i64 = latest(&rows)
            .iter()
            .filter(|r| r.int("port") == i64::from(port) && r.text("direction") == "incoming")
            .map(|r| r.int("count"))
            .sum();
        if incoming == 60 { Ok(()) } else { Err(format!("{incoming} incoming on port {port}")) }
    });
    recorder.stop();

    let report = report_now(&db);
    let pileup = finding(&report, "connection_pileup", &format!("port {port}"));
    assert_eq!(pileup["values"]["port"], port, "{pileup}");
    assert_eq!(pileup["values"]["from"], 0.0, "{pileup}");
    assert_eq!(pileup["values"]["to"], 60.0, "{pileup}");
    let summary = pileup["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("local port {port}")) && summary.contains("from 0 to 60"), "{summary}");
    // Both ends are on this machine: said once, from the server's side.
    let outgoing =
        report["findings"].as_array().unwrap().iter().any(|f| {
            f["kind"] == "outgoing_connection_pileup" && f["subject"] == format!("remote port {port}")
        });
    assert!(!outgoing, "the clients' side is not a second finding:\n{}", list_findings(&report));
    drop((clients, servers));
}

/// Findings about processes, sockets, probes and watched paths: in a
/// quiet recording of an isolated recorder, nothing can cause them.
const ENTITY_KINDS: &[&str] = &[
    "process_pileup",
    "zombies",
    "d_state",
    "memory_growth",
    "fd_growth",
    "connection_pileup",
    "outgoing_connection_pileup",
    "socket_state_pileup",
    "accept_queue_full",
    "stopped_listening",
    "probe_failed",
    "dependency_hung",
    "directory_growth",
    "log_flood",
];

/// A quiet recording gives no finding of its own making.
///
/// What can be asserted: this machine is shared with builds and tests (of
/// this suite too, in parallel: pile-ups, a full tmpfs, kernel error
/// lines), so "no high finding at all" would fail whenever a neighbour is
/// busy. The recorder therefore runs alone in its own PID and network
/// namespaces: the processes and sockets it sees are its own only, so any
/// finding about processes or sockets (a pile-up, a leak, a port) would be
/// the recorder seeing itself or making up a change from nothing. Those
/// must be absent at any severity, and the recorder's lateness (subject
/// `flightrec`) must not be high. Machine-wide figures (load, memory,
/// pressure, disks, filesystems, kernel messages) are shared with the
/// neighbours and are not asserted.
#[test]
fn quiet_recording_has_no_finding_of_its_own() {
    let dir = TempDir::new("quiet");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_isolated(&dir, &db);
    recorder.wait_for_samples(15);
    recorder.stop();

    let processes = export(&db, "processes", &[]);
    let pids: std::collections::BTreeSet<i64> = processes.iter().map(|r| r.int("pid")).collect();
    assert_eq!(pids.len(), 1, "alone in its namespace, the recorder sees itself only: {pids:?}");

    for report in [report_now(&db), report_json(&db, &[])] {
        let all = report["findings"].as_array().unwrap();
        let own: Vec<&serde_json::Value> = all
            .iter()
            .filter(|f| {
                ENTITY_KINDS.contains(&f["kind"].as_str().unwrap())
                    || (f["subject"] == "flightrec" && f["severity"] == "high")
            })
            .collect();
        assert!(
            own.is_empty(),
            "findings a quiet recording cannot cause: {own:#?}\nall:\n{}",
            list_findings(&report)
        );
        assert_eq!(report["period"], serde_json::Value::Null, "{}", report["headline"]);
    }
}
