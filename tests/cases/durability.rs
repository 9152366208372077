//! Durability: a sample whose commit a reader saw survives kill -9, the
//! killed run stays marked unclean, and the next run appends to the file.

use crate::common::*;
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every sample as `id → (run_id, time_ms)`.
fn samples(conn: &Connection) -> rusqlite::Result<BTreeMap<i64, (i64, i64)>> {
    let mut stmt = conn.prepare("SELECT id, run_id, time_ms FROM samples")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
    rows.collect()
}

/// Read system calls made so far by the recorder's main thread, which
/// samples (commits happen on another thread).
fn sampler_reads(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no syscr in {io}"))
}

/// `(time_ms, lateness_ms)` of the samples of `run` with `from < time_ms < to`.
fn samples_in(db: &std::path::Path, run: i64, from: i64, to: i64) -> Vec<(i64, i64)> {
    let conn = open_read_only(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT time_ms, lateness_ms FROM samples
             WHERE run_id = ?1 AND time_ms > ?2 AND time_ms < ?3 ORDER BY id",
        )
        .unwrap();
    stmt.query_map([run, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Every run as `(id, stop_ms, stop_reason)`.
fn runs(conn: &Connection) -> Vec<(i64, Option<i64>, Option<String>)> {
    let mut stmt = conn.prepare("SELECT id, stop_ms, stop_reason FROM runs ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

#[test]
fn kill_9_keeps_every_sample_a_reader_saw_and_a_restart_appends_a_run() {
    let dir = TempDir::new("kill9");
    let db = dir.join("flightrec.db");
    let mut first = Recorder::start(&dir, &db);
    assert_eq!(first.run_id(), 1);
    first.wait_for_samples(1);

    // Read along, as `show` would, until several commits have been seen.
    let reader = open_read_only(&db).unwrap();
    let mut seen = BTreeMap::new();
    eventually("a reader to see 8 samples", || {
        first.check_alive();
        seen.extend(samples(&reader).map_err(|e| e.to_string())?);
        if seen.len() >= 8 { Ok(()) } else { Err(format!("{} seen", seen.len())) }
    });
    drop(reader);
    first.kill9();

    let conn = open_read_only(&db).unwrap();
    assert_eq!(integrity(&conn), "ok");
    let after_kill = samples(&conn).unwrap();
    for (id, sample) in &seen {
        assert_eq!(after_kill.get(id), Some(sample), "sample {id} was committed and seen before kill -9");
    }
    assert_eq!(runs(&conn), [(1, None, None)], "a killed run has no stop time");
    drop(conn);

    // The next run appends to the same file.
    let mut second = Recorder::start(&dir, &db);
    assert_eq!(second.run_id(), 2);
    second.wait_for_samples(3);
    second.stop();

    let conn = open_read_only(&db).unwrap();
    assert_eq!(integrity(&conn), "ok");
    let runs = runs(&conn);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0], (1, None, None), "the killed run stays unclean");
    assert_eq!(runs[1].0, 2);
    assert!(runs[1].1.is_some(), "SIGTERM writes the stop time: {runs:?}");
    assert_eq!(runs[1].2.as_deref(), Some("SIGTERM"));
    let start_ms: i64 = conn.query_row("SELECT start_ms FROM runs WHERE id = 2", [], |r| r.get(0)).unwrap();
    assert!(runs[1].1.unwrap() >= start_ms, "{runs:?} started at {start_ms}");

    let all = samples(&conn).unwrap();
    for (id, sample) in &after_kill {
        assert_eq!(all.get(id), Some(sample), "sample {id} of the first run");
    }
    let last_of_first = *after_kill.keys().max().unwrap();
    let new: Vec<(&i64, &(i64, i64))> = all.iter().filter(|(id, _)| !after_kill.contains_key(id)).collect();
    assert!(new.len() >= 3, "{new:?}");
    for (id, (run, _)) in &new {
        assert_eq!(*run, 2, "new sample {id} belongs to the new run");
        assert!(**id > last_of_first, "new sample {id} comes after {last_of_first}");
    }
    // Both runs read back through the binary too.
    let runs_exported: Vec<i64> = export(&db, "system", &[]).iter().map(|r| r.int("run")).collect();
    assert!(runs_exported.contains(&1) && runs_exported.contains(&2), "{runs_exported:?}");
}

/// The sampler never waits on the disk: while another connection holds the
/// write lock (a stalled disk, as far as commits go), samples keep being
/// taken, and they are committed once the lock is released.
#[test]
fn samples_taken_while_the_database_is_locked_are_committed_after() {
    let dir = TempDir::new("locked");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    let run = recorder.run_id();
    recorder.wait_for_samples(2);

    // How much the sampling thread reads per tick, to tell from outside
    // when it has ticked behind the lock (nothing it takes can be seen in
    // the file then). On an idle machine that is 200 ms a tick; on a busy
    // one the ticks come late, so no fixed wait would do.
    let pid = recorder.pid();
    let (count0, reads0) = (count_samples(&db, run), sampler_reads(pid));
    let count1 = recorder.wait_for_samples(count0 + 3);
    let per_tick = (sampler_reads(pid) - reads0) / (count1 - count0) as u64;

    let locker = Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked_ms = now_ms();
    let reads_at_lock = sampler_reads(pid);
    // Four ticks' worth of reading; if the sampler waited for the blocked
    // commit it would not read at all, and the lock goes after 8 s (less
    // than the recorder's busy timeout: its commit then goes through).
    let deadline = Instant::now() + Duration::from_secs(8);
    while sampler_reads(pid) - reads_at_lock < 4 * per_tick && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    recorder.check_alive();
    let unlocked_ms = now_ms();
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);

    // Once the writer is back (samples from after the stall are in), the
    // ones taken behind the lock must be there too.
    eventually("samples from after the stall", || {
        recorder.check_alive();
        let after = samples_in(&db, run, unlocked_ms, i64::MAX);
        if after.len() >= 2 { Ok(()) } else { Err(format!("{after:?}")) }
    });
    let behind = samples_in(&db, run, locked_ms, unlocked_ms);
    let around = samples_in(&db, run, locked_ms - 1000, unlocked_ms + 1000);
    assert!(
        behind.len() >= 2,
        "samples (time_ms, lateness_ms) taken behind the lock held from {locked_ms} to {unlocked_ms}: \
         {behind:?}; around it: {around:?}"
    );
    recorder.stop();
    let conn = open_read_only(&db).unwrap();
    let dropped: i64 = conn
        .query_row("SELECT count(*) FROM events WHERE kind = 'samples-dropped'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(dropped, 0, "a short stall drops nothing");
}
