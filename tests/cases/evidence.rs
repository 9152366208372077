//! Evidence /proc cannot give, reproduced for real: a dependency probed on
//! loopback that refuses or accepts and never answers, a watched directory
//! filling up, a watched log written and rotated, the kernel's log, and a
//! configuration file with a mistake.

use crate::common::*;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on: one the kernel just handed out and
/// took back.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// The rows of the probes export for one target, once at least `n` exist.
fn probe_rows(recorder: &mut Recorder, target: &str, n: usize) -> Vec<Row> {
    eventually_in_export(recorder, "probes", &[], &format!("{n} results of {target}"), |rows| {
        let ours: Vec<Row> = rows.into_iter().filter(|r| r.text("target") == target).collect();
        if ours.len() >= n { Ok(ours) } else { Err(format!("{ours:?}")) }
    })
}

#[test]
fn probe_of_a_closed_port_is_refused_and_reported() {
    let dir = TempDir::new("refused");
    let target = format!("tcp:127.0.0.1:{}", closed_port());
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--probe", &target]);
    let rows = probe_rows(&mut recorder, &target, 3);
    recorder.stop();

    for row in &rows {
        assert_eq!(row.text("outcome"), "refused", "{row:?}");
        assert_eq!(row.text("connect_ms"), "", "a refused connect never connected: {row:?}");
    }
    let report = report_now(&db);
    let failed = finding(&report, "probe_failed", &target);
    assert_eq!(failed["severity"], "high", "{failed}");
    assert_eq!(failed["values"]["failed"], failed["values"]["probes"], "every probe failed: {failed}");
    let summary = failed["summary"].as_str().unwrap();
    assert!(summary.contains("refused connections"), "{summary}");
}

/// A TCP server that accepts every connection and never says a word;
/// stopped (its connections closed) when dropped.
struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("accepting: {e}"),
                }
            }
        });
        SilentServer { port, stop, thread: Some(thread) }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn probe_expecting_a_banner_from_a_silent_server_times_out_and_is_a_hung_dependency() {
    let dir = TempDir::new("hung");
    let server = SilentServer::start();
    let target = format!("tcp:127.0.0.1:{}", server.port);
    let config = dir.join("flightrec.toml");
    fs::write(&config, format!("[[probe]]\ntarget = \"{target}\"\nexpect = \"220\"\ntimeout = \"300ms\"\n"))
        .unwrap();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--config", path_str(&config)]);
    let rows = probe_rows(&mut recorder, &target, 3);
    recorder.stop();

    for row in &rows {
        assert_eq!(row.text("outcome"), "timeout", "{row:?}");
        assert!(row.real("connect_ms").is_some(), "the connect succeeded: {row:?}");
        assert!(row.text("detail").starts_with("connected, no answer within "), "{row:?}");
    }
    let report = report_now(&db);
    let hung = finding(&report, "dependency_hung", &target);
    assert_eq!(hung["severity"], "high", "{hung}");
    let summary = hung["summary"].as_str().unwrap();
    assert!(summary.contains("accepted connections but did not answer"), "{summary}");
    let plain = report["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "probe_failed");
    assert!(!plain, "one finding for the probe, as a hung dependency:\n{}", list_findings(&report));
    drop(server);
}

#[test]
fn watched_directory_filled_with_500_nested_files_is_growth_naming_it() {
    let dir = TempDir::new("queue");
    let queue = dir.join("deferred");
    fs::create_dir(&queue).unwrap();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-dir", path_str(&queue)]);
    recorder.wait_for_samples(3);
    // Postfix-like: hashed directories two levels deep, 100 bytes a file.
    for a in 0..5 {
        for b in 0..10 {
            let sub = queue.join(format!("{a:X}/{b:X}"));
            fs::create_dir_all(&sub).unwrap();
            for f in 0..10 {
                fs::write(sub.join(format!("{a:X}{b:X}{f:03}C0B9")), [b'x'; 100]).unwrap();
            }
        }
    }
    let rows = eventually_in_export(&mut recorder, "dirs", &[], "the 500 files", |rows| {
        let ours: Vec<Row> = rows.into_iter().filter(|r| r.text("path") == path_str(&queue)).collect();
        match ours.last() {
            Some(last) if last.int("files") == 500 => Ok(ours),
            _ => Err(format!("{:?}", ours.last())),
        }
    });
    recorder.stop();

    let first = &rows[0];
    assert_eq!(first.int("files"), 0, "empty when recording began: {first:?}");
    let last = rows.last().unwrap();
    assert_eq!((last.int("bytes"), last.int("complete")), (50_000, 1), "{last:?}");
    let files: Vec<i64> = rows.iter().map(|r| r.int("files")).collect();
    assert!(files.windows(2).all(|p| p[0] <= p[1]), "files only rise: {files:?}");

    let report = report_now(&db);
    let growth = finding(&report, "directory_growth", path_str(&queue));
    assert_eq!(
        (&growth["values"]["from"], &growth["values"]["to"]),
        (&0.0.into(), &500.0.into()),
        "{growth}"
    );
    let summary = growth["summary"].as_str().unwrap();
    assert!(summary.contains("grew from 0 to 500 files"), "{summary}");
}

/// The templates of the two kinds of lines the log test writes.
const MILTER: &str =
    "postfix/smtpd[#]: warning: connect to Milter service inet:localhost:#: Connection refused";
const CLAMD: &str = "clamd[#]: LibClamAV Error: Can't load daily.cvd: # signatures";

/// Appends `lines` lines to `file`, 3 of every 5 a Postfix warning and the
/// others a ClamAV error, each with its own pid; gives the bytes written.
fn write_lines(file: &mut File, lines: usize, first: usize) -> u64 {
    let mut text = String::new();
    for n in first..first + lines {
        if n % 5 < 3 {
            text += &format!(
                "postfix/smtpd[{}]: warning: connect to Milter service inet:localhost:8891: Connection refused\n",
                1000 + n
            );
        } else {
            text +=
                &format!("clamd[{}]: LibClamAV Error: Can't load daily.cvd: {} signatures\n", 50 + n % 7, n);
        }
    }
    file.write_all(text.as_bytes()).unwrap();
    text.len() as u64
}

/// A number per sample of one watched log: its rows grouped by time.
fn per_sample(rows: &[Row], path: &str) -> BTreeMap<i64, Vec<Row>> {
    let mut samples: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.text("path") == path) {
        samples.entry(row.int("time_ms")).or_default().push(row.clone());
    }
    samples
}

/// What the rates of `column` add up to from the first sample on: the
/// growth of the counter they are computed from (rates are per second
/// between consecutive samples, rounded to 1/1000).
fn integrate(samples: &BTreeMap<i64, Vec<Row>>, column: &str) -> Result<f64, String> {
    let mut total = 0.0;
    let mut before = None;
    for (&time, rows) in samples {
        if let Some(before) = before {
            let rate = rows[0].real(column).ok_or_else(|| format!("no {column} at {time}: {rows:?}"))?;
            total += rate * (time - before) as f64 / 1000.0;
        }
        before = Some(time);
    }
    Ok(total)
}

#[test]
fn watched_log_counts_both_templates_and_every_byte_across_a_rotation() {
    let dir = TempDir::new("log");
    let log = dir.join("mail.log");
    let mut file = File::create(&log).unwrap();
    let db = dir.join("flightrec.db");
    let path = path_str(&log).to_string();
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-log", &path]);
    let run = recorder.run_id();
    recorder.wait_for_samples(3);

    let mut written = write_lines(&mut file, 3000, 0);
    let seen = count_samples(&db, run);
    recorder.wait_for_samples(seen + 2);
    written += write_lines(&mut file, 3000, 3000);
    // Rotation by rename, right after writing, so the old file's tail is
    // most likely unread yet. Atomically: `mv log log.1` and then creating
    // a new log leaves an instant with no file, and a sample there has no
    // row for the log, so the export's rate for the next one is empty and
    // the bytes could not be added up here (the counter itself survives).
    fs::hard_link(&log, dir.join("mail.log.1")).unwrap();
    let fresh = dir.join("mail.log.new");
    let mut file = OpenOptions::new().create_new(true).append(true).open(&fresh).unwrap();
    fs::rename(&fresh, &log).unwrap();
    written += write_lines(&mut file, 4000, 6000);
    drop(file);

    let samples = eventually_in_export(&mut recorder, "logs", &[], "every byte written counted", |rows| {
        let samples = per_sample(&rows, &path);
        let counted = integrate(&samples, "bytes_per_s")?;
        if counted.round() as u64 >= written {
            Ok(samples)
        } else {
            Err(format!("{counted} of {written} bytes counted"))
        }
    });
    recorder.stop();

    assert_eq!(integrate(&samples, "bytes_per_s").unwrap().round() as u64, written, "bytes written");
    let sampled = samples.values().flatten().any(|r| r.int("sampled") == 1);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for row in samples.values().flatten().filter(|r| !r.text("template").is_empty()) {
        *counts.entry(row.text("template").to_string()).or_default() += row.int("count");
    }
    let expected = BTreeMap::from([(CLAMD.to_string(), 4000), (MILTER.to_string(), 6000)]);
    if sampled {
        // A flood is read in part: the counts are of the lines read.
        eprintln!("the log was sampled: counts {counts:?} are lower bounds");
        assert!(counts.iter().all(|(t, n)| expected.get(t).is_some_and(|e| n <= e)), "{counts:?}");
    } else {
        assert_eq!(counts, expected, "template counts summed over the samples");
        let lines = integrate(&samples, "lines_per_s").unwrap().round() as i64;
        assert_eq!(lines, 10_000, "lines written");
    }
    let examples: Vec<&str> = samples
        .values()
        .flatten()
        .filter(|r| r.text("template") == MILTER)
        .map(|r| r.text("example"))
        .collect();
    assert!(
        examples.iter().all(|e| e.starts_with("postfix/smtpd[") && e.contains("8891")),
        "examples are real lines: {examples:?}"
    );
}

#[test]
fn bad_config_line_exits_2_naming_the_file_line_and_key() {
    let dir = TempDir::new("config");
    let db = dir.join("flightrec.db");
    let cases = [
        ("interval = \"200ms\"\nprobes = [\"tcp:127.0.0.1:25\"]\ncolour = \"blue\"\n", 3, "colour"),
        (
            "interval = \"200ms\"\n\n[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\ntimeout = \"soon\"\n",
            5,
            "probe.timeout",
        ),
        ("watch_dirs = \"/var/spool/postfix\"\n", 1, "watch_dirs"),
    ];
    for (i, (text, line, key)) in cases.into_iter().enumerate() {
        let config = dir.join(&format!("flightrec-{i}.toml"));
        fs::write(&config, text).unwrap();
        let out = flightrec(&["record", "--db", path_str(&db), "--config", path_str(&config)]);
        let said = out.stderr.trim_end();
        assert_eq!(out.code(), Some(2), "{text:?}: {said}");
        let expected = format!("{} line {line}, key {key:?}: ", path_str(&config));
        assert!(said.contains(&expected), "{text:?}: expected {expected:?} in {said:?}");
        assert!(!db.exists(), "nothing recorded with a bad configuration");
    }
}

/// As root: a line logged to the kernel's log at priority 3 (error) is
/// kept as a kernel event, and the report has the kernel's errors.
#[test]
fn kernel_message_of_priority_3_is_an_event() {
    let dir = TempDir::new("kmsg");
    let mut kmsg = match OpenOptions::new().write(true).open("/dev/kmsg") {
        Ok(file) => file,
        Err(e) => return eprintln!("skipped: cannot write /dev/kmsg: {e}"),
    };
    if let Err(e) = File::open("/dev/kmsg") {
        return eprintln!("skipped: cannot read /dev/kmsg: {e}");
    }
    let text = format!("flightrec-test: integration test line {}", unique());
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(2);
    // Writes to /dev/kmsg are rate-limited machine-wide (printk_devkmsg):
    // one lost to a neighbour's burst is written again, a second later.
    let mut written_at: Option<Instant> = None;
    let event =
        eventually_in_export(&mut recorder, "events", &[], "the line among the kernel events", |rows| {
            if let Some(event) = rows.into_iter().find(|r| r.text("detail") == text) {
                return Ok(event);
            }
            if written_at.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                kmsg.write_all(format!("<3>{text}").as_bytes())
                    .map_err(|e| format!("writing /dev/kmsg: {e}"))?;
                written_at = Some(Instant::now());
            }
            Err("not seen yet".into())
        });
    recorder.stop();

    assert_eq!(event.text("kind"), "kernel", "{event:?}");
    assert_eq!(event.int("priority"), 3, "{event:?}");
    let report = report_now(&db);
    let errors = finding(&report, "kernel_errors", "kernel");
    assert!(errors["values"]["count"].as_i64().unwrap() >= 1, "{errors}");
}

/// logrotate's usual way: `mv log log.1`, and the daemon creates a new log
/// a moment later. Samples in that moment find no log; the counters carry
/// on (the watcher reports the old file's tail once the new one is there),
/// and the export's rate spans the samples without the log, so what was
/// written across the rotation still adds up.
#[test]
fn watched_log_moved_away_before_its_new_file_exists_loses_no_bytes_in_the_export() {
    let dir = TempDir::new("logmv");
    let log = dir.join("mail.log");
    let mut file = File::create(&log).unwrap();
    let db = dir.join("flightrec.db");
    let path = path_str(&log).to_string();
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-log", &path]);
    let run = recorder.run_id();
    recorder.wait_for_samples(3);

    let mut written = write_lines(&mut file, 3000, 0);
    fs::rename(&log, dir.join("mail.log.1")).unwrap();
    let moved = count_samples(&db, run);
    recorder.wait_for_samples(moved + 2);
    let mut file = File::create(&log).unwrap();
    let fresh = write_lines(&mut file, 2000, 3000);
    written += fresh;
    drop(file);

    let samples = eventually_in_export(&mut recorder, "logs", &[], "the new log's lines", |rows| {
        let samples = per_sample(&rows, &path);
        let seen = samples.values().last().is_some_and(|rows| rows[0].int("size") == fresh as i64);
        if seen { Ok(samples) } else { Err(format!("{:?}", samples.values().last())) }
    });
    recorder.stop();

    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for row in samples.values().flatten().filter(|r| !r.text("template").is_empty()) {
        *counts.entry(row.text("template").to_string()).or_default() += row.int("count");
    }
    let expected = BTreeMap::from([(CLAMD.to_string(), 2000), (MILTER.to_string(), 3000)]);
    assert_eq!(counts, expected, "template counts summed over the samples");
    let counted = integrate(&samples, "bytes_per_s")
        .unwrap_or_else(|e| panic!("the bytes written across the rotation cannot be added up: {e}"));
    assert_eq!(counted.round() as u64, written, "bytes written");
}
