//! `flightrec record`: samples land in the file at the interval with the
//! machine's real numbers; the file is created as DESIGN.md says; SIGINT
//! stops a run as cleanly as SIGTERM.

use crate::common::*;
use nix::sys::signal::Signal;
use std::os::unix::fs::PermissionsExt;

#[test]
fn system_export_has_rising_times_and_the_real_memory_total() {
    let dir = TempDir::new("system");
    let db = dir.join("flightrec.db");
    let started_ms = now_ms();
    // About 3 s at 200 ms, counted rather than timed: a busy machine only
    // makes the test wait longer.
    record_samples(&dir, &db, 15);

    let rows = export(&db, "system", &[]);
    assert!(rows.len() >= 10, "only {} rows", rows.len());
    let times: Vec<i64> = rows.iter().map(|r| r.int("time_ms")).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "time_ms must rise strictly: {times:?}");
    assert!(
        times[0] >= started_ms - 1000 && times[times.len() - 1] <= now_ms(),
        "times {times:?} are not from this test (started at {started_ms})"
    );
    let mem_total = mem_total_bytes();
    for row in &rows {
        assert_eq!(row.int("mem_total"), mem_total, "mem_total is MemTotal × 1024: {row:?}");
        assert_eq!(row.int("run"), 1, "{row:?}");
        // RFC 3339 UTC with milliseconds, the same instant as time_ms.
        let time = row.text("time");
        assert!(
            time.len() == 24 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "time {time:?} is not like 2026-11-22T18:05:03.250Z"
        );
        assert_eq!(time[20..23].parse::<i64>().unwrap(), row.int("time_ms") % 1000, "{row:?}");
    }
}

#[test]
fn database_is_created_mode_0600_with_its_missing_directory() {
    let dir = TempDir::new("mode");
    let parent = dir.join("state/flightrec");
    let db = parent.join("flightrec.db");
    assert!(!parent.exists());

    record_samples(&dir, &db, 1);

    assert!(parent.is_dir(), "{} was not created", parent.display());
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "mode of {} is {mode:o}", db.display());
}

#[test]
fn sigint_stops_the_run_cleanly() {
    let dir = TempDir::new("sigint");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(2);
    recorder.stop_with(Signal::SIGINT);

    let conn = open_read_only(&db).unwrap();
    let (stop_ms, reason): (Option<i64>, Option<String>) = conn
        .query_row("SELECT stop_ms, stop_reason FROM runs WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert!(stop_ms.is_some(), "a run stopped by SIGINT has a stop time");
    assert_eq!(reason.as_deref(), Some("SIGINT"));
}
