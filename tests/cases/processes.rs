//! The processes export: this test's own children show up with their pid,
//! parent and command line, and with the open files and CPU they really use.

use crate::common::*;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// `sleep 1000.<unique>`: an argv no other process on the machine has.
fn sleep_command(token: &str) -> Command {
    let mut command = Command::new("sleep");
    command.arg(token).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    command
}

#[test]
fn sleeping_children_show_with_pid_parent_and_command_line() {
    let dir = TempDir::new("children");
    let token = format!("1000.{}", unique());
    let children: Vec<Guard> = (0..30).map(|_| Guard::spawn(&mut sleep_command(&token))).collect();
    let mut pids: Vec<i64> = children.iter().map(|c| i64::from(c.pid())).collect();
    pids.sort_unstable();

    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(1);
    // Command lines are read by a worker thread and may arrive a sample
    // late: wait for a sample that names all 30.
    let found = eventually_in_export(&mut recorder, "processes", &[], "all 30 children named", |rows| {
        let found: Vec<Row> =
            latest(&rows).into_iter().filter(|r| r.text("cmdline").contains(&token)).cloned().collect();
        if found.len() >= 30 { Ok(found) } else { Err(format!("{} of 30 named", found.len())) }
    });

    let mut found_pids: Vec<i64> = found.iter().map(|r| r.int("pid")).collect();
    found_pids.sort_unstable();
    assert_eq!(found_pids, pids, "the processes whose command line has {token}");
    let me = i64::from(std::process::id());
    let my_uid = i64::from(std::fs::metadata("/proc/self").unwrap().uid());
    for row in &found {
        assert_eq!(row.int("ppid"), me, "the parent is this test process: {row:?}");
        assert_eq!(row.text("cmdline"), format!("sleep {token}"), "{row:?}");
        assert_eq!(row.text("comm"), "sleep", "{row:?}");
        assert_eq!(row.text("state"), "S", "{row:?}");
        assert_eq!(row.int("uid"), my_uid, "{row:?}");
        assert_eq!(row.int("threads"), 1, "{row:?}");
    }
}

#[test]
fn child_holding_100_open_files_shows_at_least_100_fds() {
    let dir = TempDir::new("fds");
    let files: Vec<File> = (0..100).map(|_| File::open("/dev/null").unwrap()).collect();
    let inherited: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    let mut command = sleep_command(&format!("1000.{}", unique()));
    // Rust opens files close-on-exec: clear the flag in this child only
    // (after the fork), so no other test's children get these files.
    // SAFETY: between fork and exec this only calls fcntl, which is
    // async-signal-safe, on fds that stay open in the parent until then,
    // and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for &fd in &inherited {
                fcntl(BorrowedFd::borrow_raw(fd), FcntlArg::F_SETFD(FdFlag::empty()))?;
            }
            Ok(())
        });
    }
    let child = Guard::spawn(&mut command);
    drop(files); // the child holds its own copies

    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(1);
    let pid = i64::from(child.pid());
    let fds = eventually_in_export(&mut recorder, "processes", &[], "the child's fds", |rows| {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.int("pid") == pid).collect();
        mine.last().and_then(|r| r.real("fds")).ok_or_else(|| format!("rows of pid {pid}: {mine:?}"))
    });
    // 100 files and stdin, stdout, stderr.
    assert!((100.0..=110.0).contains(&fds), "the child holds 103 fds, the export says {fds}");
}

/// A busy loop shows near 100% CPU. Single samples are noisy on a loaded
/// machine (a rate spans two samples' tick times, and the recorder can be
/// preempted between stamping a tick and reading the process), so the test
/// weighs them by their intervals: over a run of samples that noise
/// cancels out but at the ends. And when the machine is so loaded that the
/// loop cannot get a whole CPU even at the highest priority (a shared
/// 2-core VM can be), "near 100" cannot hold; the figures must then still
/// agree with what the kernel says the loop got.
#[test]
fn busy_child_shows_cpu_near_100_percent() {
    let dir = TempDir::new("busy");
    // At the highest priority (the tests run as root; otherwise nice warns
    // and runs it as is), so other work on the machine cannot take its core.
    let busy = Guard::spawn(
        Command::new("nice")
            .args(["-n", "-20", "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let spawned_ms = now_ms();

    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(1);
    let kernel_before = (now_ms(), cpu_ticks(busy.pid()));
    // Samples of a loop that has run for a second already: (time_ms, cpu_pct).
    let pid = i64::from(busy.pid());
    let from = at_ms(spawned_ms + 1000);
    let samples = eventually_in_export(
        &mut recorder,
        "processes",
        &["--from", &from],
        "8 samples of the busy child after its first second",
        |rows| {
            let samples: Vec<(i64, Option<f64>)> = rows
                .iter()
                .filter(|r| r.int("pid") == pid)
                .map(|r| (r.int("time_ms"), r.real("cpu_pct")))
                .collect();
            // The first row exported has no previous sample: no rate.
            if samples.len() >= 9 { Ok(samples) } else { Err(format!("{samples:?}")) }
        },
    );
    let kernel_after = (now_ms(), cpu_ticks(busy.pid()));
    // Ticks of USER_HZ (100 on Linux) per second are % of a CPU.
    let got = (kernel_after.1 - kernel_before.1) / ((kernel_after.0 - kernel_before.0) as f64 / 1000.0);

    let (mut weighted, mut span) = (0.0, 0.0);
    for pair in samples.windows(2) {
        let ((before, _), (at, pct)) = (pair[0], pair[1]);
        let pct = pct.unwrap_or_else(|| panic!("no cpu_pct at {at}: {samples:?}"));
        weighted += pct * (at - before) as f64;
        span += (at - before) as f64;
    }
    let mean = weighted / span;
    let shown = format!(
        "cpu_pct over {span} ms: {mean:.1} on average, {samples:?}; per /proc the loop got {got:.0}% of a CPU"
    );
    if got >= 80.0 {
        assert!(mean >= 60.0, "a busy loop should show near 100% CPU: {shown}");
    }
    assert!((mean - got).abs() <= 30.0, "the recorded CPU use should agree with the kernel's: {shown}");
    assert!(mean <= 120.0, "one thread cannot use much more than 100% of a CPU: {shown}");
}

/// utime + stime of a process, in ticks, from /proc/PID/stat.
fn cpu_ticks(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    // Fields 14 and 15 of the file, counted here after the command name.
    fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()
}
