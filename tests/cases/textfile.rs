//! `record --textfile-dir`: the latest figures for node_exporter's textfile
//! collector, replaced after every sample, readable by others, clean for
//! `promtool check metrics`, without command lines or log lines; a missing
//! directory costs a warning, never a sample.

use super::openmetrics::{free_port, http_get, installed, start_server};
use crate::common::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// The value of the first line of `text` for the series starting `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|line| line.starts_with(series))?.rsplit(' ').next()?.parse().ok()
}

fn read_textfile(dir: &Path) -> String {
    let path = dir.join("flightrec.prom");
    eventually(&format!("{} to be written", path.display()), || {
        fs::read_to_string(&path).map_err(|e| e.to_string())
    })
}

#[test]
fn textfile_holds_the_latest_figures_and_no_command_or_log_lines() {
    let dir = TempDir::new("textfile");
    let db = dir.join("flightrec.db");
    let out = dir.join("textfile");
    fs::create_dir(&out).unwrap();
    let marker = format!("secret-{}", unique());
    let log = dir.join("app.log");
    fs::write(&log, "").unwrap();
    let _secretive = Guard::spawn(Command::new("sh").args(["-c", &format!("sleep 600; : {marker}")]));
    let mut recorder = Recorder::start_with(
        &dir,
        &db,
        &["--textfile-dir", path_str(&out), "--watch-log", path_str(&log), "--probe", "tcp:127.0.0.1:1"],
    );
    recorder.wait_for_samples(2);
    writeln!(fs::OpenOptions::new().append(true).open(&log).unwrap(), "login failed {marker}").unwrap();
    let now = now_ms();
    let text = eventually("a textfile written after the log line", || {
        let text = read_textfile(&out);
        match value(&text, "flightrec_recorder_last_commit_timestamp_seconds") {
            Some(seconds) if seconds * 1000.0 > (now + 500) as f64 => Ok(text),
            other => Err(format!("last commit {other:?}")),
        }
    });
    recorder.stop();

    let mode = fs::metadata(out.join("flightrec.prom")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{mode:o}");
    assert!(!text.contains(&marker), "a command line or log line leaked:\n{text}");
    assert_eq!(value(&text, "flightrec_mem_total_bytes{"), Some(mem_total_bytes() as f64), "{text}");
    assert!(text.contains("flightrec_probes_latency_seconds{"), "{text}");
    assert!(text.contains("flightrec_logs_lines_written_total{host="), "{text}");
    assert!(text.contains("flightrec_recorder_samples_dropped_total{"), "{text}");
    assert!(text.contains("# TYPE flightrec_lateness_seconds gauge"), "{text}");
    let leftovers: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.len() <= 2, "{leftovers:?}");

    if let Some(promtool) = installed("promtool", "prometheus") {
        let mut check = Command::new(promtool);
        check.args(["check", "metrics"]).stdin(fs::File::open(out.join("flightrec.prom")).unwrap());
        let output = check.output().unwrap();
        assert!(
            output.status.success() && output.stderr.is_empty() && output.stdout.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_missing_textfile_directory_is_a_warning_not_a_lost_sample() {
    let dir = TempDir::new("textfile-missing");
    let db = dir.join("flightrec.db");
    let out = dir.join("not-yet");
    let mut recorder = Recorder::start_with(&dir, &db, &["--textfile-dir", path_str(&out)]);
    let before = recorder.wait_for_samples(4);
    eventually("a warning naming the file", || {
        let log = recorder.log();
        if log.contains("flightrec.prom") && log.contains("samples are still recorded") {
            Ok(())
        } else {
            Err(log)
        }
    });
    fs::create_dir(&out).unwrap();
    read_textfile(&out);
    assert!(recorder.wait_for_samples(before + 3) >= before + 3);
    recorder.stop();
    let warnings = recorder.log().matches("flightrec.prom").count();
    assert_eq!(warnings, 1, "rate-limited to one warning a minute:\n{}", recorder.log());
}

#[test]
fn node_exporter_serves_the_textfile() {
    let Some(node_exporter) = installed("prometheus-node-exporter", "prometheus-node-exporter") else {
        return;
    };
    let dir = TempDir::new("textfile-node");
    let db = dir.join("flightrec.db");
    let out = dir.join("textfile");
    fs::create_dir(&out).unwrap();
    let mut recorder = Recorder::start_with(&dir, &db, &["--textfile-dir", path_str(&out)]);
    read_textfile(&out);
    let port = free_port();
    let _server = start_server(
        Command::new(node_exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", out.display())),
        port,
        "/metrics",
        &dir.join("node-exporter.log"),
    );
    let (status, body) = http_get(port, "/metrics").unwrap();
    recorder.stop();
    assert_eq!(status, 200);
    assert_eq!(value(&body, "node_textfile_scrape_error"), Some(0.0), "{body}");
    assert_eq!(value(&body, "flightrec_mem_total_bytes{"), Some(mem_total_bytes() as f64), "{body}");
}
