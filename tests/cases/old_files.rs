//! A database written by an earlier build is read and appended to: the
//! fixtures in tests/fixtures/db were written by the builds they name.

use crate::common::*;

#[test]
fn a_database_of_the_previous_release_is_read_and_appended_to() {
    let dir = TempDir::new("old-release");
    let db = dir.join("flightrec.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/db/release-cc28eff.db"), &db).unwrap();
    let path = path_str(&db);

    let check = flightrec(&["check", "--db", path]).ok();
    assert!(check.contains("ok: 24 samples in 2 runs"), "{check}");
    let system = export(&db, "system", &[]);
    assert_eq!(system.len(), 24);
    let processes = export(&db, "processes", &[]);
    let sampled: std::collections::BTreeSet<i64> = processes.iter().map(|r| r.int("time_ms")).collect();
    assert_eq!(sampled.len(), 24, "every sample's process table decodes");
    flightrec(&["show", "--db", path]).ok();
    // Its second run was killed and no recorder runs: a period at once.
    let periods = gaps_json(&db);
    assert_eq!(periods.first().map(|p| &p["kind"]), Some(&"not_running".into()), "{periods:?}");

    let mut recorder = Recorder::start(&dir, &db);
    assert_eq!(recorder.run_id(), 3);
    recorder.wait_for_samples(3);
    recorder.stop();
    let check = flightrec(&["check", "--db", path]).ok();
    assert!(check.contains("in 3 runs"), "{check}");
    let runs: std::collections::BTreeSet<i64> =
        export(&db, "system", &[]).iter().map(|r| r.int("run")).collect();
    assert_eq!(runs, [1, 2, 3].into());
    let kinds: Vec<String> = gaps_json(&db).iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["unclean_stop"], "the killed run, ended by the new one");
}
