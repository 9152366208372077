//! `--watch-log` reads regular files only. Whatever else the path names (a
//! FIFO, a terminal, a device, a symbolic link) is refused at start with a
//! message naming it, and if the path comes to name one while recording it
//! is never opened: a pty slave cannot become the recorder's controlling
//! terminal, and a FIFO cannot hang it.

use crate::common::*;
use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, mkfifo};
use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A pseudo-terminal pair: the master held open by the test (the slave
/// hangs up when it closes), and the slave's path.
struct Pty {
    _master: File,
    slave: PathBuf,
}

impl Pty {
    fn open() -> Pty {
        let master = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ptmx")
            .expect("opening /dev/ptmx");
        let fd = master.as_raw_fd();
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: plain libc calls on a descriptor we own, with a buffer of
        // the length given.
        let slave = unsafe {
            assert_eq!(libc::grantpt(fd), 0, "grantpt");
            assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
            CStr::from_ptr(name.as_ptr())
        };
        Pty { _master: master, slave: PathBuf::from(slave.to_str().expect("a UTF-8 pts path")) }
    }
}

fn record_watching(db: &Path, log: &Path) -> Outcome {
    let args = ["record", "--db", path_str(db), "--interval", "200ms", "--watch-log", path_str(log)];
    flightrec_within(Duration::from_secs(20), &args)
}

#[test]
fn watch_log_naming_a_fifo_a_terminal_or_a_symlink_is_refused_at_start_with_exit_2() {
    let dir = TempDir::new("log-kinds");
    let fifo = dir.join("fifo.log");
    mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    let pty = Pty::open();
    let real = dir.join("real.log");
    fs::write(&real, "a line\n").unwrap();
    let link = dir.join("link.log");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    for (path, kind) in [(&fifo, "a FIFO"), (&pty.slave, "a character device"), (&link, "a symbolic link")] {
        let db = dir.join("flightrec.db");
        let outcome = record_watching(&db, path);
        let said = &outcome.stderr;
        assert_eq!(outcome.code(), Some(2), "{}: {said}", path.display());
        assert!(said.contains(path_str(path)) && said.contains(kind), "{said}");
        assert!(said.contains("not a regular file") && said.contains("--watch-log"), "{said}");
        assert!(!db.exists(), "refused before the database was touched");
    }
}

/// The controlling terminal of a process (`tty_nr` of /proc/PID/stat), 0
/// when it has none.
fn controlling_tty(pid: u32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    // state ppid pgrp session tty_nr
    after_comm.split_whitespace().nth(4).unwrap().parse().unwrap()
}

fn samples(db: &Path) -> i64 {
    open_read_only(db)
        .and_then(|conn| conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn wait_for_more_samples(db: &Path, recorder: &mut Guard, more: i64) {
    let want = samples(db) + more;
    eventually(&format!("{want} samples"), || {
        if let Some(status) = recorder.0.try_wait().unwrap() {
            panic!("the recorder exited: {status}");
        }
        let have = samples(db);
        if have >= want { Ok(()) } else { Err(format!("{have} samples")) }
    });
}

/// Puts `make`'s node at `path` in one rename, as a log rotation would.
fn replace_with(path: &Path, make: impl FnOnce(&Path)) {
    let fresh = path.with_extension("new");
    make(&fresh);
    fs::rename(&fresh, path).unwrap();
}

#[test]
fn a_watched_log_replaced_by_a_link_to_a_terminal_or_a_fifo_is_never_opened_and_sampling_goes_on() {
    let dir = TempDir::new("log-replaced");
    let log = dir.join("mail.log");
    fs::write(&log, "a line\n").unwrap();
    let db = dir.join("flightrec.db");
    let stderr = dir.join("recorder.log");
    // A session leader without a terminal, as systemd starts a service:
    // the first terminal it opened without O_NOCTTY would become its own.
    let mut recorder = Guard::spawn(
        Command::new("setsid")
            .arg(BIN)
            .args(["record", "--db", path_str(&db), "--interval", "200ms", "--watch-log", path_str(&log)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap()),
    );
    wait_for_more_samples(&db, &mut recorder, 3);
    assert_eq!(controlling_tty(recorder.pid()), 0, "no terminal to begin with");

    // A link to a pty slave: followed and opened, it would become the
    // recorder's terminal, and a ^C on the master would stop it.
    let pty = Pty::open();
    replace_with(&log, |fresh| std::os::unix::fs::symlink(&pty.slave, fresh).unwrap());
    wait_for_more_samples(&db, &mut recorder, 5);
    assert_eq!(controlling_tty(recorder.pid()), 0, "the terminal was opened");
    let said = fs::read_to_string(&stderr).unwrap();
    assert!(said.contains("a symbolic link (never followed), not a regular file"), "{said}");

    replace_with(&log, |fresh| mkfifo(fresh, Mode::S_IRUSR | Mode::S_IWUSR).unwrap());
    wait_for_more_samples(&db, &mut recorder, 5);

    kill(Pid::from_raw(recorder.pid() as i32), Signal::SIGTERM).unwrap();
    let status = wait_with_deadline(&mut recorder.0, "the recorder");
    assert!(status.success(), "{status}: {}", fs::read_to_string(&stderr).unwrap());
}
