//! `flightrec export`: CSV and JSON lines from one field list, time limits,
//! an output file, and a reader that goes away early.

use crate::common::*;
use nix::fcntl::{FcntlArg, fcntl};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The columns that hold text; every other one is a number (or empty).
const TEXT_COLUMNS: [&str; 6] = ["time", "comm", "identity", "state", "cmdline", "unit"];

#[test]
fn jsonl_has_one_object_per_line_with_numbers_for_numbers() {
    let dir = TempDir::new("jsonl");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 4);
    let path = path_str(&db);

    for what in ["system", "processes"] {
        let csv = flightrec(&["export", "--db", path, "--what", what]).ok();
        let (header, rows) = parse_csv(&csv);
        let jsonl = flightrec(&["export", "--db", path, "--what", what, "--format", "jsonl"]).ok();
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), rows.len(), "{what}: one JSON line per CSV row");
        let mut numbers_seen = 0;
        for (line, row) in lines.iter().zip(&rows) {
            let Value::Object(object) = serde_json::from_str(line).unwrap() else {
                panic!("{what}: not a JSON object: {line}");
            };
            let keys: Vec<&String> = object.keys().collect();
            let mut sorted_header: Vec<&String> = header.iter().collect();
            sorted_header.sort();
            let mut sorted_keys = keys.clone();
            sorted_keys.sort();
            assert_eq!(sorted_keys, sorted_header, "{what}: the same fields as the CSV");
            for (key, value) in &object {
                let text = row.text(key);
                if TEXT_COLUMNS.contains(&key.as_str()) {
                    assert_eq!(value.as_str(), Some(text), "{what}.{key} in {line}");
                } else if text.is_empty() {
                    assert!(value.is_null(), "{what}.{key}: empty in CSV, null in JSON: {line}");
                } else {
                    let number =
                        value.as_f64().unwrap_or_else(|| panic!("{what}.{key} is not a number: {line}"));
                    assert_eq!(number, text.parse::<f64>().unwrap(), "{what}.{key} in {line}");
                    numbers_seen += 1;
                }
            }
            assert!(object["time_ms"].is_i64(), "{line}");
        }
        assert!(numbers_seen > 0, "{what}: no numbers at all");
    }
    let system = flightrec(&["export", "--db", path, "--format", "jsonl"]).ok();
    let first: Value = serde_json::from_str(system.lines().next().unwrap()).unwrap();
    assert_eq!(first["mem_total"].as_i64(), Some(mem_total_bytes()), "{first}");
}

#[test]
fn from_and_to_limit_the_rows() {
    let dir = TempDir::new("range");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 8);
    let all = export(&db, "system", &[]);
    let times: Vec<i64> = all.iter().map(|r| r.int("time_ms")).collect();
    let want = &times[2..=5];

    // The exported RFC 3339 times read back as --from/--to, bounds included.
    let from = all[2].text("time").to_string();
    let to = all[5].text("time").to_string();
    let rows = export(&db, "system", &["--from", &from, "--to", &to]);
    let got: Vec<i64> = rows.iter().map(|r| r.int("time_ms")).collect();
    assert_eq!(got, want, "--from {from} --to {to}");

    // And as @EPOCH with milliseconds.
    let rows = export(&db, "system", &["--from", &at_ms(want[0]), "--to", &at_ms(want[3])]);
    let got: Vec<i64> = rows.iter().map(|r| r.int("time_ms")).collect();
    assert_eq!(got, want);

    // Detail rows are limited the same way.
    let processes = export(&db, "processes", &["--from", &from, "--to", &to]);
    assert!(!processes.is_empty());
    assert!(processes.iter().all(|r| want.contains(&r.int("time_ms"))));

    // A range with no sample is still a valid export: the header alone.
    let out = flightrec(&["export", "--db", path_str(&db), "--to", "@1"]).ok();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("time,time_ms,"), "{out}");
}

#[test]
fn output_option_writes_the_file() {
    let dir = TempDir::new("output");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 3);
    let path = path_str(&db);
    for (what, format) in [("system", "csv"), ("processes", "jsonl")] {
        let file = dir.join(&format!("{what}.{format}"));
        let out =
            flightrec(&["export", "--db", path, "--what", what, "--format", format, "-o", path_str(&file)]);
        assert!(out.stdout.is_empty(), "rows go to the file, not stdout");
        out.ok();
        let written = std::fs::read_to_string(&file).unwrap();
        let printed = flightrec(&["export", "--db", path, "--what", what, "--format", format]).ok();
        assert!(written.lines().count() > 1, "{written}");
        assert_eq!(written, printed, "--what {what} --format {format}");
    }
}

#[test]
fn every_kind_exports_with_its_header() {
    let dir = TempDir::new("kinds");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    let expected: [(&str, &[&str]); 7] = [
        ("system", &["run", "load1", "mem_total", "cpu_busy_pct"]),
        ("processes", &["pid", "ppid", "cpu_pct", "rss", "fds", "cmdline", "unit"]),
        ("cgroups", &["cgroup", "unit", "cpu_pct", "memory", "tasks", "tasks_max", "forks_refused"]),
        ("sockets", &["direction", "port", "state", "count", "accept_queue", "backlog"]),
        ("filesystems", &["mount_point", "type", "size", "used", "available"]),
        ("disks", &["disk", "reads_per_s", "busy_pct", "in_flight"]),
        ("net", &["interface", "rx_bytes_per_s", "tcp_established"]),
    ];
    for (what, columns) in expected {
        let out = flightrec(&["export", "--db", path_str(&db), "--what", what]).ok();
        let (header, rows) = parse_csv(&out);
        assert_eq!(header[..2], ["time", "time_ms"], "--what {what}");
        for column in columns {
            assert!(header.iter().any(|h| h == column), "--what {what}: no {column} in {header:?}");
        }
        if matches!(what, "system" | "processes" | "filesystems" | "net") {
            assert!(!rows.is_empty(), "--what {what}: no rows");
        }
    }
}

/// `flightrec export ... | head -1`: the reader leaves after one line; the
/// export stops quietly with exit 0.
#[test]
fn export_into_a_closed_pipe_exits_0() {
    let dir = TempDir::new("pipe");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 10);
    for format in ["csv", "jsonl"] {
        let args = ["export", "--db", path_str(&db), "--what", "processes", "--format", format];
        let size = flightrec(&args).ok().len();
        let mut child = Guard::spawn(
            Command::new(BIN).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()),
        );
        let stdout = child.0.stdout.take().unwrap();
        // The smallest pipe, so the export cannot fit in it and must meet
        // the closed end.
        fcntl(&stdout, FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
        assert!(size > 64 * 1024, "the export ({size} bytes) must outgrow the pipe");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        assert!(first.starts_with(if format == "csv" { "time," } else { "{" }), "{first}");
        // The reader is gone now.
        let status = wait_with_deadline(&mut child.0, "the export into a closed pipe");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            status.success() && stderr.is_empty(),
            "--format {format}: a closed pipe is not an error: {status}, stderr: {stderr}"
        );
    }
}

#[test]
fn relative_times_with_a_leading_hyphen_are_times_not_options() {
    let dir = TempDir::new("hyphen-times");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    let path = path_str(&db);
    let all = export(&db, "system", &[]);
    let rows = export(&db, "system", &["--from", "-10m", "--to", "-0m"]);
    assert_eq!(rows.len(), all.len(), "every sample is within the last 10 minutes");
    let shown = flightrec(&["show", "--db", path, "--at", "-1s"]).ok();
    assert!(shown.starts_with("Sample at "), "{shown}");
    flightrec(&["report", "--db", path, "--at", "-1m"]).ok();
}
