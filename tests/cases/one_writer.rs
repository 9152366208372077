//! One recorder per database: a second one is refused (exit 2, naming the
//! first), two started at once leave exactly one recording, and a run
//! whose recorder is gone is a period from the first read after.

use crate::common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn runs(db: &std::path::Path) -> i64 {
    open_read_only(db).unwrap().query_row("SELECT count(*) FROM runs", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_second_recorder_is_refused_naming_the_first() {
    let dir = TempDir::new("second-recorder");
    let db = dir.join("flightrec.db");
    let mut first = Recorder::start(&dir, &db);
    first.wait_for_samples(2);

    let second =
        flightrec_within(Duration::from_secs(30), &["record", "--db", path_str(&db), "--interval", "200ms"]);
    assert_eq!(second.code(), Some(2), "the second recorder: {}; stderr:\n{}", second.status, second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid())),
        "the refusal names the running recorder (pid {}):\n{}",
        first.pid(),
        second.stderr
    );
    let run = first.run_id();
    first.wait_for_samples(count_samples(&db, run) + 3);
    first.stop();
    assert_eq!(runs(&db), 1, "the refused recorder began no run");
    flightrec(&["check", "--db", path_str(&db)]).ok();
}

#[test]
fn two_recorders_started_at_once_leave_one_recording() {
    let dir = TempDir::new("racing-recorders");
    let db = dir.join("flightrec.db");
    // A restart after a crash, as systemd and an admin might both try.
    record_samples(&dir, &db, 2);
    let logs = [dir.join("racer-0.log"), dir.join("racer-1.log")];
    let start = |log: &std::path::Path| {
        let log = std::fs::File::create(log).unwrap();
        Guard::spawn(
            Command::new(BIN)
                .args(["record", "--db", path_str(&db), "--interval", "200ms"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        )
    };
    let mut racers = [start(&logs[0]), start(&logs[1])];
    let (loser, lost) = eventually("one of two racing recorders to exit", || {
        for (i, racer) in racers.iter_mut().enumerate() {
            if let Some(status) = racer.0.try_wait().unwrap() {
                return Ok((status, i));
            }
        }
        Err("both still running".into())
    });
    let refusal = std::fs::read_to_string(&logs[lost]).unwrap();
    let winner = &mut racers[1 - lost];
    assert_eq!(loser.code(), Some(2), "the loser exits 2: {loser}; stderr:\n{refusal}");
    assert!(refusal.contains(&format!("pid {}", winner.pid())), "{refusal}");
    eventually("the winner to commit 5 samples", || {
        assert!(winner.0.try_wait().unwrap().is_none(), "the winner exited too");
        let have = count_samples(&db, 2);
        if have >= 5 { Ok(()) } else { Err(format!("{have} samples")) }
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(winner.pid() as i32), nix::sys::signal::SIGTERM)
        .unwrap();
    assert!(wait_with_deadline(&mut winner.0, "the winning recorder").success());
    assert_eq!(runs(&db), 2, "one run before the race, one for its winner");
    flightrec(&["check", "--db", path_str(&db)]).ok();
}

#[test]
fn a_killed_recorder_is_a_period_from_the_first_read() {
    let dir = TempDir::new("killed-period");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    let live = gaps_json(&db);
    assert!(live.iter().all(|p| p["kind"] != "not_running"), "a live recorder is not a period: {live:?}");
    recorder.kill9();

    // At once, well within three intervals of the last sample.
    let periods = gaps_json(&db);
    assert_eq!(periods.first().map(|p| &p["kind"]), Some(&"not_running".into()), "{periods:?}");
    assert!(periods[0]["end_ms"].is_null(), "{periods:?}");
    let report = report_json(&db, &[]);
    let headline = report["headline"].as_str().unwrap();
    assert!(headline.starts_with("unclean stop"), "{headline}");

    // Once a recorder runs again, the period is an unclean stop it ended.
    let mut again = Recorder::start(&dir, &db);
    again.wait_for_samples(1);
    let kinds: Vec<String> = gaps_json(&db).iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect();
    assert!(
        kinds.contains(&"unclean_stop".to_string()) && !kinds.contains(&"not_running".to_string()),
        "{kinds:?}"
    );
    again.stop();
}
