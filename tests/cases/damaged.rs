//! A damaged file still gives what it holds: a snapshot that does not
//! decode costs the tables up to the next key frame, said on stderr and
//! listed by `check`, and never ends `report`, `show` or `export`; a
//! hostile frame that would expand to millions of rows is refused without
//! the memory it asks for.

use crate::common::*;
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Two runs of 6 samples: two chains of frames, each from its key frame.
fn two_runs(dir: &TempDir) -> std::path::PathBuf {
    let db = dir.join("flightrec.db");
    record_samples(dir, &db, 6);
    record_samples(dir, &db, 6);
    db
}

/// `(id, time_ms)` of the samples of `run`, in order.
fn samples_of(db: &Path, run: i64) -> Vec<(i64, i64)> {
    let conn = open_read_only(db).unwrap();
    let mut stmt = conn.prepare("SELECT id, time_ms FROM samples WHERE run_id = ?1 ORDER BY id").unwrap();
    stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

fn set_process_table(db: &Path, id: i64, frame: &[u8]) {
    let conn = Connection::open(db).unwrap();
    assert_eq!(
        conn.execute("UPDATE samples SET process_table = ?1 WHERE id = ?2", rusqlite::params![frame, id])
            .unwrap(),
        1
    );
}

#[test]
fn a_damaged_snapshot_costs_its_chain_not_the_readers() {
    let dir = TempDir::new("damaged-snapshot");
    let db = two_runs(&dir);
    let first = samples_of(&db, 1);
    let second = samples_of(&db, 2);
    // A delta frame cut short: a byte of flags, then a varint that never ends.
    let damaged = first[2].0;
    set_process_table(&db, damaged, &[0x01, 0xff, 0xff, 0xff]);
    let path = path_str(&db);

    let out = flightrec(&["export", "--db", path, "--what", "processes"]);
    assert_eq!(out.code(), Some(0), "export: {}; stderr:\n{}", out.status, out.stderr);
    assert!(
        out.stderr.contains(&format!("sample {damaged}")),
        "export says what it skipped:\n{}",
        out.stderr
    );
    let times: BTreeSet<i64> = parse_csv(&out.stdout).1.iter().map(|r| r.int("time_ms")).collect();
    for (i, (id, time)) in first.iter().enumerate() {
        assert_eq!(times.contains(time), i < 2, "sample {id} of the damaged run (damage at {damaged})");
    }
    for (id, time) in &second {
        assert!(times.contains(time), "sample {id} of the next run, from its own key frame");
    }
    let system = export(&db, "system", &[]);
    assert_eq!(system.len(), first.len() + second.len(), "scalars are never skipped");

    let at = at_ms(first[3].1);
    let show = flightrec(&["show", "--db", path, "--at", &at]);
    assert_eq!(show.code(), Some(0), "show: {}; stderr:\n{}", show.status, show.stderr);
    let report = flightrec(&["report", "--db", path, "--at", &at]);
    assert_eq!(report.code(), Some(0), "report: {}; stderr:\n{}", report.status, report.stderr);
    assert!(report.stderr.contains("skipped"), "{}", report.stderr);

    let check = flightrec(&["check", "--db", path]);
    assert_eq!(check.code(), Some(2), "check: {}\n{}", check.status, check.stdout);
    assert!(check.stdout.contains(&format!("sample {damaged}:")), "{}", check.stdout);
    let skipped = format!("{} of {} samples", first.len() - 2, first.len() + second.len());
    assert!(check.stdout.contains(&skipped), "{skipped}:\n{}", check.stdout);
}

#[test]
fn a_hostile_frame_is_refused_without_the_memory_it_asks_for() {
    let dir = TempDir::new("hostile-frame");
    let db = two_runs(&dir);
    let key = samples_of(&db, 2)[0].0;
    // 3.5 million process rows, every field equal to its default: an
    // insert tag and 18 zero bytes each, a few kilobytes once compressed.
    let mut row = [0u8; 19];
    row[0] = 1 << 2 | 3;
    let ops = dir.join("ops");
    std::fs::write(&ops, row.repeat(3_500_000)).unwrap();
    let packed = Command::new("zstd").args(["-q", "-19", "-c"]).arg(&ops).output().expect("running zstd");
    assert!(packed.status.success());
    assert!(packed.stdout.len() < 16 << 10, "{} bytes", packed.stdout.len());
    let mut frame = vec![2u8];
    frame.extend(&packed.stdout);
    set_process_table(&db, key, &frame);

    // Half a gigabyte of address space is plenty for a reader; decoding
    // the frame would take more than twice that.
    let out = Command::new("prlimit")
        .arg(format!("--as={}", 512 << 20))
        .args([BIN, "export", "--db", path_str(&db), "--what", "processes"])
        .output()
        .expect("running prlimit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "export: {}; stderr:\n{stderr}", out.status);
    assert!(stderr.contains(&format!("sample {key}")) && stderr.contains("damaged"), "{stderr}");
    let check = flightrec(&["check", "--db", path_str(&db)]);
    assert_eq!(check.code(), Some(2), "{}", check.stdout);
}
