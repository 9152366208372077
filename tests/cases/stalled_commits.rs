//! Commits that stall (here: another writer holding the database) leave
//! samples waiting in memory, locked there on a server. What waits is bounded
//! by the memory it holds, not by a count of samples: a sample of a machine
//! with a thousand long command lines weighs a hundred times one of a small
//! container.

use crate::common::*;
use rusqlite::Connection;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Sleeping processes with command lines of about 250 bytes (`sleep` adds
/// up its arguments), so every sample of this machine is heavy. Each is
/// killed and reaped when dropped.
fn crowd(n: usize) -> Vec<Guard> {
    let zeros = ["0"; 120];
    (0..n)
        .map(|_| {
            Guard::spawn(
                Command::new("sleep").arg("1000").args(zeros).stdin(Stdio::null()).stdout(Stdio::null()),
            )
        })
        .collect()
}

/// The stall reproduced: 300 ticks at 200 ms. Fewer samples than the count
/// the queue used to hold (400), several times the memory it now holds.
const STALL: Duration = Duration::from_secs(60);

#[test]
fn samples_waiting_for_a_stalled_disk_are_bounded_by_their_memory_not_their_count() {
    let dir = TempDir::new("queue-bytes");
    let _crowd = crowd(1000);
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &[]);
    let run = recorder.run_id();
    recorder.wait_for_samples(3);

    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    std::thread::sleep(STALL);
    recorder.check_alive();
    blocker.execute_batch("ROLLBACK").unwrap();

    let dropped: i64 = eventually("the recorder to say it dropped samples", || {
        recorder.check_alive();
        let conn = open_read_only(&db).map_err(|e| e.to_string())?;
        let detail: Option<String> = conn
            .query_row(
                "SELECT detail FROM events WHERE run_id = ?1 AND kind = 'samples-dropped'",
                [run],
                |r| r.get(0),
            )
            .ok();
        let count = detail.as_deref().and_then(|d| d.split_whitespace().next()?.parse().ok());
        count.ok_or_else(|| format!("no samples-dropped event; {} samples", count_samples(&db, run)))
    });
    recorder.wait_for_samples(count_samples(&db, run) + 3);
    recorder.stop();
    // At most 300 ticks fit in the stall: a count of 400 would drop none.
    eprintln!("{dropped} samples dropped during a {STALL:?} stall");
    assert!(dropped > 0, "{dropped}");
}
