//! `flightrec show`: the freeze-check view of one sample.

use crate::common::*;

/// The first line of `show`'s output: `Sample at TIME[ (OFFSET)], run N`.
fn first_line(out: &str) -> &str {
    out.lines().next().unwrap_or_default()
}

#[test]
fn show_prints_load_top_lists_and_the_recorder_itself() {
    let dir = TempDir::new("show");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    let pid = recorder.pid().to_string();
    recorder.wait_for_samples(3);
    recorder.stop();
    let path = path_str(&db);

    let out = flightrec(&["show", "--db", path]).ok();
    assert!(first_line(&out).starts_with("Sample at "), "{out}");
    assert!(out.lines().any(|l| l.starts_with("load ")), "no load line:\n{out}");
    assert!(out.lines().any(|l| l.starts_with("memory ")), "no memory line:\n{out}");
    assert!(out.contains("\nTop 5 by CPU\n"), "{out}");
    assert!(out.contains("\nTop 5 by memory"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 80), "80 columns when not a terminal:\n{out}");

    // The recorder is in its own last sample: list every process to find it
    // (on a busy machine it need not be in the top 5).
    // Wide enough for whole command lines.
    let all = flightrec(&["show", "--db", path, "--top", "100000", "--width", "1000"]).ok();
    let own = all
        .lines()
        .find(|l| l.split_whitespace().next() == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("the recorder's pid {pid} is not listed:\n{all}"));
    assert!(own.contains("flightrec record"), "{own}");
}

#[test]
fn show_at_before_the_first_sample_picks_it_and_says_how_far() {
    let dir = TempDir::new("show-at");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 3);
    let path = path_str(&db);
    let first_ms = export(&db, "system", &[])[0].int("time_ms");

    let exact = flightrec(&["show", "--db", path, "--at", &at_ms(first_ms)]).ok();
    let sample_at = first_line(&exact)
        .strip_suffix(", run 1")
        .unwrap_or_else(|| panic!("asked for the first sample exactly:\n{exact}"))
        .to_string();

    let early = flightrec(&["show", "--db", path, "--at", &at_ms(first_ms - 10_000)]).ok();
    let line = first_line(&early);
    assert!(
        line.starts_with(&format!("{sample_at} (10s after ")) && line.ends_with(", run 1"),
        "10 s before the first sample, show should pick it and say so: {line:?} (first: {sample_at:?})"
    );
}

#[test]
fn show_at_a_time_without_samples_says_so_and_fails() {
    let dir = TempDir::new("show-none");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 3);
    let first_ms = export(&db, "system", &[])[0].int("time_ms");

    let outcome = flightrec(&["show", "--db", path_str(&db), "--at", &at_ms(first_ms - 2 * 86_400_000)]);
    assert_eq!(outcome.code(), Some(1), "{}", outcome.stderr);
    assert!(outcome.stdout.is_empty(), "no sample is shown for another time: {}", outcome.stdout);
    assert!(
        outcome.stderr.contains("no samples between ") && outcome.stderr.contains("recording began "),
        "{}",
        outcome.stderr
    );
}

#[test]
fn report_at_a_time_without_samples_says_so_not_nothing_abnormal() {
    let dir = TempDir::new("report-none");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 3);
    let first_ms = export(&db, "system", &[])[0].int("time_ms");

    let out = flightrec(&["report", "--db", path_str(&db), "--at", &at_ms(first_ms - 2 * 86_400_000)]).ok();
    assert!(out.contains("No samples between "), "{out}");
    assert!(out.contains("Recording began "), "{out}");
    assert!(!out.contains("Nothing abnormal"), "{out}");
}
