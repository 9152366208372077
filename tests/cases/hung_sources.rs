//! The recorder keeps ticking whatever a watched source does: a watched
//! directory or log on a FUSE filesystem whose daemon is stopped with
//! SIGSTOP (every call into it then waits for the daemon, forever) costs
//! that source its samples, never the others, and SIGTERM still stops the
//! recorder.

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// `bindfs` mirroring a directory at a mount point, its daemon in the
/// foreground so the test can stop it. Dropped: the daemon is continued,
/// the mount detached and the daemon reaped, even when the test failed.
struct FuseMount {
    daemon: Guard,
    mount_point: PathBuf,
}

impl FuseMount {
    fn start(source: &Path, mount_point: &Path) -> FuseMount {
        fs::create_dir_all(mount_point).unwrap();
        let daemon = Guard::spawn(
            Command::new("bindfs")
                // Cached attributes would let some calls answer without the daemon.
                .args(["-f", "-o", "attr_timeout=0,entry_timeout=0"])
                .arg(source)
                .arg(mount_point)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        let mount = FuseMount { daemon, mount_point: mount_point.into() };
        let wanted = format!(" {} ", path_str(mount_point));
        eventually("the FUSE mount to appear", || {
            let table = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
            if table.lines().any(|l| l.contains(&wanted) && l.contains("fuse")) { Ok(()) } else { Err(table) }
        });
        mount
    }

    fn signal(&self, how: Signal) {
        kill(Pid::from_raw(self.daemon.pid() as i32), how).expect("signalling bindfs");
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.daemon.pid() as i32), Signal::SIGCONT);
        let _ = Command::new("umount").arg("-l").arg(&self.mount_point).status();
        // The daemon guard then kills and reaps bindfs.
    }
}

/// Waits until the recorder has committed `more` samples beyond what it
/// has now: it keeps ticking.
fn keeps_sampling(recorder: &mut Recorder, db: &Path, more: i64) {
    let run = recorder.run_id();
    let now = count_samples(db, run);
    recorder.wait_for_samples(now + more);
}

/// The details of the events of `kind`, oldest first.
fn events(db: &Path, kind: &str) -> Vec<String> {
    let conn = open_read_only(db).unwrap();
    let mut stmt = conn.prepare("SELECT detail FROM events WHERE kind = ?1 ORDER BY id").unwrap();
    stmt.query_map([kind], |r| r.get(0)).unwrap().map(|detail| detail.unwrap()).collect()
}

#[test]
fn watched_directory_on_a_stopped_fuse_daemon_costs_only_its_own_samples_and_sigterm_works() {
    let dir = TempDir::new("hung-dir");
    let backing = dir.join("queue");
    fs::create_dir(&backing).unwrap();
    for i in 0..3 {
        fs::write(backing.join(format!("Q{i}")), [b'x'; 10]).unwrap();
    }
    let fuse = FuseMount::start(&backing, &dir.join("mnt"));
    let watched = path_str(&fuse.mount_point).to_string();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-dir", &watched]);
    eventually_in_export(&mut recorder, "dirs", &[], "the 3 files seen through FUSE", |rows| {
        match rows.iter().rev().find(|r| r.text("path") == watched) {
            Some(row) if row.int("files") == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    fuse.signal(Signal::SIGSTOP);
    keeps_sampling(&mut recorder, &db, 10);
    let log = recorder.log();
    assert!(log.contains(&watched) && log.contains("no answer in time"), "the hang is said:\n{log}");

    // Still hung: the stop must not wait for it.
    let asked = Instant::now();
    recorder.stop();
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
    let runs = open_read_only(&db).unwrap();
    let reason: String = runs.query_row("SELECT stop_reason FROM runs", [], |r| r.get(0)).unwrap();
    assert_eq!(reason, "SIGTERM");
    let timeouts = events(&db, "watch-timeout");
    // One per hang (a busy machine can add a short one).
    assert!(!timeouts.is_empty() && timeouts.iter().all(|t| t.starts_with(&watched)), "{timeouts:?}");
}

#[test]
fn watched_log_on_a_stopped_fuse_daemon_is_left_alone_until_it_answers_then_counted() {
    let dir = TempDir::new("hung-log");
    let backing = dir.join("logs");
    fs::create_dir(&backing).unwrap();
    let mut file = File::create(backing.join("mail.log")).unwrap();
    let fuse = FuseMount::start(&backing, &dir.join("mnt"));
    let watched = path_str(&fuse.mount_point.join("mail.log")).to_string();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-log", &watched]);
    let line = b"Nov 18 18:00:09 mail-server clamd[3321]: ERROR: accept() failed\n";
    let counted = |rows: &[Row], bytes: usize| match rows.iter().rev().find(|r| r.text("path") == watched) {
        Some(row) if row.int("bytes_written") == bytes as i64 => Ok(()),
        other => Err(format!("{other:?}")),
    };
    // Reading starts at the end of the log as first found: write after that.
    eventually_in_export(&mut recorder, "logs", &[], "the log seen through FUSE", |rows| counted(&rows, 0));
    file.write_all(line).unwrap();
    eventually_in_export(&mut recorder, "logs", &[], "the first line read through FUSE", |rows| {
        counted(&rows, line.len())
    });

    fuse.signal(Signal::SIGSTOP);
    // Written beside the mount, not through it: the daemon is not needed.
    let mut beside = OpenOptions::new().append(true).open(backing.join("mail.log")).unwrap();
    for _ in 0..99 {
        beside.write_all(line).unwrap();
    }
    keeps_sampling(&mut recorder, &db, 10);
    let log = recorder.log();
    assert!(log.contains(&watched) && log.contains("no answer in time"), "the hang is said:\n{log}");

    fuse.signal(Signal::SIGCONT);
    eventually_in_export(
        &mut recorder,
        "logs",
        &[],
        "the 100 lines counted once the daemon answers",
        |rows| counted(&rows, 100 * line.len()),
    );
    recorder.stop();
    for kind in ["watch-timeout", "watch-answered"] {
        let said = events(&db, kind);
        assert!(!said.is_empty() && said.iter().all(|e| e.starts_with(&watched)), "{kind}: {said:?}");
    }
}
