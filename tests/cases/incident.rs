//! The report at 3 am, reproduced for real: a busy machine where a
//! pile-up hides under another process's name, then freezes for 30 s and
//! is reset. `report`'s first lines must tell that story: the freeze and
//! the kill as one incident, and the pile-up named as a person knows it.

use crate::common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where this machine keeps `sleep`.
fn sleep_program() -> &'static str {
    ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("a sleep program")
}

/// `sleep 1000`, started under the name `arg0` (what `exec -a` does).
fn sleeper(arg0: &str) -> Guard {
    Guard::spawn(
        Command::new(sleep_program())
            .arg0(arg0)
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// `flightrec record --interval 1s`, as on a server, killed when dropped.
fn recorder(dir: &TempDir, db: &Path) -> Guard {
    let log = std::fs::File::create(dir.join(&format!("recorder-{}.log", unique()))).unwrap();
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

fn wait_for_samples(db: &Path, run: i64, n: i64) -> i64 {
    eventually(&format!("{n} samples of run {run}"), || {
        let have = count_samples(db, run);
        if have >= n { Ok(have) } else { Err(format!("{have} samples")) }
    })
}

fn signal(recorder: &Guard, how: Signal) {
    kill(Pid::from_raw(recorder.pid() as i32), how).expect("signalling the recorder");
}

#[test]
fn a_freeze_then_a_kill_is_one_incident_and_a_pileup_under_another_comm_is_named() {
    let dir = TempDir::new("incident");
    let db = dir.join("flightrec.db");
    // A busy machine: 505 sleeps already running.
    let _others: Vec<Guard> = (0..505).map(|_| sleeper("sleep")).collect();
    let mut first = recorder(&dir, &db);
    wait_for_samples(&db, 1, 5);

    // 80 processes whose comm is `sleep` too, started as `piler`.
    let name = format!("piler{}", std::process::id());
    let started_ms = now_ms();
    let _piled: Vec<Guard> = (0..80).map(|_| sleeper(&name)).collect();
    let piled_ms = now_ms();
    eventually("a sample with the 80 processes", || {
        let rows = export(&db, "processes", &[]);
        let count = latest(&rows).iter().filter(|r| r.text("identity") == name).count();
        if count == 80 { Ok(()) } else { Err(format!("{count} processes of {name}")) }
    });
    let have = count_samples(&db, 1);
    wait_for_samples(&db, 1, have + 3);

    // Frozen for 30 s, then killed soon after it answers again, and
    // restarted at once.
    signal(&first, Signal::SIGSTOP);
    let frozen = Instant::now();
    std::thread::sleep(Duration::from_secs(30));
    signal(&first, Signal::SIGCONT);
    let have = count_samples(&db, 1);
    wait_for_samples(&db, 1, have + 1);
    let frozen_for = frozen.elapsed();
    signal(&first, Signal::SIGKILL);
    wait_with_deadline(&mut first.0, "the killed recorder");
    let mut second = recorder(&dir, &db);
    wait_for_samples(&db, 2, 3);
    signal(&second, Signal::SIGTERM);
    assert!(wait_with_deadline(&mut second.0, "the restarted recorder").success());

    let report = report_json(&db, &[]);
    let headline = report["headline"].as_str().unwrap();
    assert!(headline.starts_with("frozen for "), "the freeze comes first: {headline}");
    assert!(headline.contains(", then killed/crashed at "), "and then the kill: {headline}");
    let periods = report["incident"]["periods"].as_array().unwrap();
    let kinds: Vec<&str> = periods.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["stall", "unclean_stop"], "one incident: {periods:#?}");
    let stall_ms = periods[0]["end_ms"].as_i64().unwrap() - periods[0]["start_ms"].as_i64().unwrap();
    let truth_ms = frozen_for.as_millis() as i64;
    assert!((29_000..=truth_ms + 2000).contains(&stall_ms), "a freeze of about 30 s: {stall_ms} ms");

    let gaps = gaps_json(&db);
    assert!(gaps.iter().all(|p| p["number"] == 1 && p["explained"] == true), "{gaps:#?}");

    let findings = report["findings"].as_array().unwrap();
    let place = findings.iter().position(|f| f["kind"] == "process_pileup" && f["subject"] == name.as_str());
    assert!(matches!(place, Some(0 | 1)), "{name} is finding 1 or 2:\n{}", list_findings(&report));
    let pileup = &findings[place.unwrap()];
    let values = &pileup["values"];
    assert_eq!(values["to"], 80.0, "{pileup}");
    let (from_ms, to_ms) = (values["from_ms"].as_i64().unwrap(), values["to_ms"].as_i64().unwrap());
    // They all started between `started_ms` and `piled_ms`: the rise as
    // measured lies around that, within the 1 s between samples.
    assert!(from_ms <= piled_ms && to_ms >= started_ms, "{pileup}");
    assert!(to_ms - from_ms <= (piled_ms - started_ms) + 3000, "a rise within 3 s of the truth: {pileup}");
}
