//! `flightrec export --format openmetrics` against the real servers: what
//! `promtool` turns into blocks, a Prometheus started on those blocks
//! answers at a recorded time with the value the database holds, and a
//! VictoriaMetrics that imported the export gives the same values back.

use crate::common::*;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A database recorded for real, with a watched log written to between
/// samples (its line counter is a counter to take a `rate()` of).
fn recorded(dir: &TempDir) -> std::path::PathBuf {
    let db = dir.join("flightrec.db");
    let log = dir.join("app.log");
    fs::write(&log, "").unwrap();
    let mut recorder = Recorder::start_with(dir, &db, &["--watch-log", path_str(&log)]);
    let mut written = 0;
    for n in 2..8 {
        written += n;
        let mut file = fs::OpenOptions::new().append(true).open(&log).unwrap();
        for i in 0..n {
            writeln!(file, "request {i} served").unwrap();
        }
        recorder.wait_for_samples(n);
    }
    assert!(written > 0);
    recorder.stop();
    db
}

fn openmetrics(db: &Path, what: &str) -> String {
    flightrec(&["export", "--db", path_str(db), "--what", what, "--format", "openmetrics"]).ok()
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

/// The program's path, or `None` with the reason printed: the servers are
/// Debian packages `.ci/run` installs; a machine without them skips.
pub fn installed(program: &str, package: &str) -> Option<String> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file());
    if found.is_none() {
        eprintln!("skipped: {program} is missing (apt-get install {package})");
    }
    found.map(|path| path.display().to_string())
}

/// A loopback port free now, for a server to listen on.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http(port, "GET", path, b"")
}

pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    stream.write_all(body).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| response.clone())?;
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| head.to_string())?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A server started by the test, waited for until `ready` answers 200,
/// killed when dropped (the test failing included).
pub fn start_server(command: &mut Command, port: u16, ready: &str, log: &Path) -> Guard {
    let log_file = fs::File::create(log).unwrap();
    let mut server =
        Guard::spawn(command.stdin(Stdio::null()).stdout(log_file.try_clone().unwrap()).stderr(log_file));
    eventually(&format!("{command:?} to answer {ready}"), || {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("{command:?} exited ({status}):\n{}", fs::read_to_string(log).unwrap_or_default());
        }
        match http_get(port, ready) {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    server
}

/// The one value of an instant query's answer.
fn query_value(port: u16, query: &str, time_ms: i64) -> f64 {
    let time = format!("{}.{:03}", time_ms / 1000, time_ms % 1000);
    let path = format!("/api/v1/query?query={}&time={time}", encode(query));
    let (status, body) = http_get(port, &path).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let result = answer["data"]["result"].as_array().unwrap_or_else(|| panic!("{path}: {body}"));
    assert_eq!(result.len(), 1, "{query} at {time}: one series expected: {body}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_answers_with_the_recorded_values() {
    let (Some(promtool), Some(prometheus)) =
        (installed("promtool", "prometheus"), installed("prometheus", "prometheus"))
    else {
        return;
    };
    let dir = TempDir::new("prometheus");
    let db = recorded(&dir);
    let host = hostname();
    let blocks = dir.join("blocks");
    for what in ["system", "logs"] {
        let file = dir.join(&format!("{what}.om"));
        fs::write(&file, openmetrics(&db, what)).unwrap();
        run(Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&file)
            .arg(&blocks))
        .ok();
    }
    let config = dir.join("prometheus.yml");
    fs::write(&config, "scrape_configs: []\n").unwrap();
    let port = free_port();
    let _server = start_server(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", blocks.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y"),
        port,
        "/-/ready",
        &dir.join("prometheus.log"),
    );

    // Gauges: the value of a sample, at its time.
    let system = export(&db, "system", &[]);
    let row = &system[system.len() / 2];
    let at = row.int("time_ms");
    let load = query_value(port, &format!("flightrec_load1{{host=\"{host}\"}}"), at);
    assert_eq!(load, row.real("load1").unwrap(), "load1 at {at}");
    let available = query_value(port, "flightrec_mem_available_bytes", at);
    assert_eq!(available, row.int("mem_available") as f64, "mem_available at {at}");

    // A counter: rate() over exactly two samples is the rate CSV prints.
    let logs = export(&db, "logs", &[]);
    let pair =
        logs.windows(2).rev().find(|w| w[1].real("lines_per_s").unwrap_or(0.0) > 0.0).expect("lines written");
    let (t1, t2) = (pair[0].int("time_ms"), pair[1].int("time_ms"));
    // One millisecond more than the step, so that the older sample is in
    // the range whether its start is open or closed, and however the
    // seconds with a fraction round to milliseconds.
    let range_ms = t2 - t1 + 1;
    let rate = query_value(port, &format!("rate(flightrec_logs_lines_written_total[{range_ms}ms])"), t2);
    let csv = pair[1].real("lines_per_s").unwrap();
    assert!((rate - csv).abs() < 0.001, "rate() {rate}, CSV {csv}, between {t1} and {t2}");

    // A rate column goes out as the raw counter behind it, in base units:
    // rate() gives the column back (CPU shares as a ratio of CPU seconds).
    let pair = system.windows(2).rev().find(|w| w[1].real("cpu_user_pct").is_some()).expect("two samples");
    let (t1, t2) = (pair[0].int("time_ms"), pair[1].int("time_ms"));
    let over = |name: &str| format!("rate(flightrec_{name}{{host=\"{host}\"}}[{}ms])", t2 - t1 + 1);
    let rate = query_value(port, &over("context_switches_total"), t2);
    let csv = pair[1].real("context_switches_per_s").unwrap();
    assert!((rate - csv).abs() < 0.001, "context switches: rate() {rate}, CSV {csv}, between {t1} and {t2}");
    let modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
    let all: Vec<String> = modes.iter().map(|mode| over(&format!("cpu_{mode}_seconds_total"))).collect();
    let share = format!("100 * {} / ({})", over("cpu_user_seconds_total"), all.join(" + "));
    let user = query_value(port, &share, t2);
    let csv = pair[1].real("cpu_user_pct").unwrap();
    assert!((user - csv).abs() < 0.001, "CPU user: {user} from rate(), CSV {csv}, between {t1} and {t2}");
}

#[test]
fn victoriametrics_imports_the_export_and_gives_the_values_back() {
    let Some(victoria) = installed("victoria-metrics", "victoria-metrics") else {
        return;
    };
    let dir = TempDir::new("victoria");
    let db = recorded(&dir);
    let port = free_port();
    let _server = start_server(
        Command::new(&victoria)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=0"),
        port,
        "/health",
        &dir.join("victoria.log"),
    );
    let (status, body) =
        http(port, "POST", "/api/v1/import/prometheus", openmetrics(&db, "system").as_bytes()).unwrap();
    assert_eq!(status, 204, "{body}");
    http_get(port, "/internal/force_flush").unwrap();

    let system = export(&db, "system", &[]);
    let want: Vec<(i64, f64)> =
        system.iter().map(|r| (r.int("time_ms"), r.int("mem_available") as f64)).collect();
    let path = format!("/api/v1/export?match[]={}", encode("flightrec_mem_available_bytes"));
    let got = eventually("VictoriaMetrics to give the imported series back", || {
        let (status, body) = http_get(port, &path)?;
        let line = body.lines().next().filter(|_| status == 200).ok_or(body.clone())?;
        let series: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let times = series["timestamps"].as_array().ok_or(body.clone())?;
        let values = series["values"].as_array().ok_or(body.clone())?;
        let got: Vec<(i64, f64)> =
            times.iter().zip(values).map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap())).collect();
        if got.len() == want.len() { Ok((series["metric"]["host"].clone(), got)) } else { Err(body) }
    });
    assert_eq!(got.0, hostname().as_str());
    assert_eq!(got.1, want);
}

#[test]
fn every_kind_with_numbers_is_valid_openmetrics_with_families_apart_and_times_rising() {
    let dir = TempDir::new("om-kinds");
    let db = recorded(&dir);
    for what in ["system", "processes", "sockets", "filesystems", "disks", "net", "logs"] {
        let text = openmetrics(&db, what);
        assert!(text.ends_with("# EOF\n"), "{what}: ends with # EOF");
        let mut families_seen = std::collections::HashSet::new();
        let mut family = String::new();
        let mut last: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
        let mut samples = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_string();
                assert!(families_seen.insert(family.clone()), "{what}: {family} interleaved");
                assert!(family.starts_with("flightrec_"), "{family}");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, rest) = line.rsplit_once('}').map(|(s, r)| (s.to_string(), r)).unwrap();
            assert!(series.starts_with(&family), "{what}: {line} outside its family {family}");
            let time: f64 = rest.split_whitespace().nth(1).unwrap().parse().unwrap();
            if let Some(before) = last.insert(series.clone(), time) {
                assert!(time > before, "{what}: {series} not in rising time order");
            }
            samples += 1;
        }
        assert!(samples > 0, "{what}: no samples");
    }
    let system = openmetrics(&db, "system");
    assert!(system.contains(
        "# TYPE flightrec_mem_available_bytes gauge\n# UNIT flightrec_mem_available_bytes bytes\n"
    ));
    let logs = openmetrics(&db, "logs");
    assert!(logs.contains("# TYPE flightrec_logs_lines_written counter\n"), "{logs}");
    assert!(logs.contains("flightrec_logs_lines_written_total{"), "{logs}");
}

#[test]
fn openmetrics_refuses_events_naming_the_kinds_with_numbers() {
    let dir = TempDir::new("om-events");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    let out = flightrec(&["export", "--db", path_str(&db), "--what", "events", "--format", "openmetrics"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    for kind in ["system", "processes", "sockets", "logs"] {
        assert!(out.stderr.contains(kind), "{}", out.stderr);
    }
}

/// Processes are grouped by the identity the report and the CSV export
/// give them (argv[0] here), not by the kernel's command name.
#[test]
fn processes_are_grouped_by_the_identity_the_csv_export_gives() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("om-identity");
    let db = dir.join("flightrec.db");
    let name = format!("om-ident{}", std::process::id());
    let _renamed = Guard::spawn(Command::new("/bin/sleep").arg0(&name).arg("600"));
    let mut recorder = Recorder::start(&dir, &db);
    eventually_in_export(&mut recorder, "processes", &[], "the renamed process", |rows| {
        match rows.iter().find(|r| r.text("identity") == name) {
            Some(row) if row.text("comm") == "sleep" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    recorder.stop();
    let text = openmetrics(&db, "processes");
    let grouped = format!("flightrec_processes{{host=\"{}\",identity=\"{name}\"}} 1 ", hostname());
    assert!(text.contains(&grouped), "no {grouped:?} in the export");
}

/// A command name can hold quotes, backslashes and newlines: the label
/// value escapes them, and promtool still reads the export.
#[test]
fn a_process_named_with_quotes_backslashes_and_a_newline_is_escaped() {
    let dir = TempDir::new("om-escape");
    let db = dir.join("flightrec.db");
    let name = "q\"b\\s\nx";
    let program = dir.join(name);
    fs::copy("/bin/sleep", &program).unwrap();
    let _odd = Guard::spawn(Command::new(&program).arg("600"));
    let mut recorder = Recorder::start(&dir, &db);
    eventually_in_export(&mut recorder, "processes", &[], "the oddly named process", |rows| {
        if rows.iter().any(|r| r.text("comm") == name) { Ok(()) } else { Err("not yet".into()) }
    });
    recorder.stop();
    let text = openmetrics(&db, "processes");
    assert!(text.contains(r#"identity="q\"b\\s\nx""#), "escaped identity missing");
    let Some(promtool) = installed("promtool", "prometheus") else {
        return;
    };
    let file = dir.join("processes.om");
    fs::write(&file, &text).unwrap();
    run(Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("blocks")))
    .ok();
}

/// `flightrec export --format openmetrics | head` ends quietly.
#[test]
fn a_closed_pipe_ends_the_openmetrics_export_quietly() {
    let dir = TempDir::new("om-pipe");
    let db = recorded(&dir);
    let mut child = Command::new(BIN)
        .args(["export", "--db", path_str(&db), "--what", "processes", "--format", "openmetrics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let status = wait_within(Duration::from_secs(60), &mut child, "the export");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
