//! `report --format html` as a person sees it: a real incident (a pile-up
//! of processes and the recorder stopped for 20 s) rendered and loaded in
//! headless Chromium, which must log no console message and ask the
//! network for nothing; markup in names and log lines shown as text; the
//! file written 0600, whole or not at all.

use crate::common::*;
use nix::sys::signal::Signal;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The flags the page is proven with: no profile, no background traffic
/// the page could be blamed for, a fresh empty profile directory.
const CHROMIUM: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

/// Chromium with `args` on the file `page`, in a profile of its own below
/// `dir`.
fn chromium(dir: &TempDir, args: &[&str], page: &Path) -> Outcome {
    let profile = dir.join(&format!("profile-{}", unique()));
    fs::create_dir(&profile).unwrap();
    let mut command = Command::new("chromium");
    command.args(CHROMIUM).arg(format!("--user-data-dir={}", profile.display())).args(args);
    command.arg(format!("file://{}", page.display()));
    run_within(Duration::from_secs(120), &mut command)
}

/// The page as Chromium built it (scripts run), with the console and the
/// network log checked: no message at all, and no request but the
/// browser's own (Chromium asks its update and account servers by itself,
/// with no origin; anything the page asked for would carry the page's).
fn load_in_chromium(dir: &TempDir, page: &Path) -> String {
    let net_log = dir.join(&format!("net-{}.json", unique()));
    let net_flag = format!("--log-net-log={}", net_log.display());
    let loaded = chromium(dir, &["--enable-logging=stderr", "--v=0", &net_flag, "--dump-dom"], page);
    let console: Vec<&str> =
        loaded.stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Refused to")).collect();
    assert!(console.is_empty(), "the page logged to the console:\n{}", console.join("\n"));
    let log: serde_json::Value = serde_json::from_str(&fs::read_to_string(&net_log).unwrap()).unwrap();
    let types = log["constants"]["logEventTypes"].as_object().unwrap();
    let start_job = types["URL_REQUEST_START_JOB"].clone();
    let from_page: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == start_job && e["params"]["url"].is_string())
        .filter(|e| e["params"]["initiator"] != "not an origin")
        .map(|e| e["params"].to_string())
        .collect();
    assert!(from_page.is_empty(), "the page asked the network:\n{}", from_page.join("\n"));
    assert!(loaded.status.success(), "chromium failed: {}", loaded.stderr);
    loaded.stdout
}

/// The part of `dom` that is the figure of chart `id`.
fn figure<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!("<figure id=\"chart-{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    let end = dom[start..].find("</figure>").unwrap() + start;
    &dom[start..end]
}

/// Where this machine keeps `sleep`.
fn sleep_program() -> &'static str {
    ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("a sleep program")
}

/// `count` processes named `name` (a link to sleep), killed when dropped.
fn processes_named(dir: &TempDir, name: &str, count: usize) -> Vec<Guard> {
    let program = dir.join(name);
    std::os::unix::fs::symlink(sleep_program(), &program).unwrap();
    let quiet = |c: &mut Command| -> Guard {
        Guard::spawn(c.arg("1000").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()))
    };
    (0..count).map(|_| quiet(&mut Command::new(&program))).collect()
}

fn wait_for_processes(recorder: &mut Recorder, comm: &str, count: usize) {
    eventually_in_export(recorder, "processes", &[], "a sample with every process", |rows| {
        let seen = latest(&rows).iter().filter(|r| r.text("comm") == comm).count();
        if seen == count { Ok(()) } else { Err(format!("{seen} processes named {comm}")) }
    });
}

fn report_html(db: &Path, page: &Path, extra: &[&str]) {
    let mut args = vec!["report", "--db", path_str(db), "--format", "html", "-o", path_str(page)];
    args.extend_from_slice(extra);
    flightrec(&args).ok();
}

#[test]
fn html_report_of_a_pileup_and_a_stall_shows_them_in_chromium() {
    let dir = TempDir::new("html-incident");
    let name: String = format!("pile{}", unique()).chars().take(15).collect();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(5);
    let children = processes_named(&dir, &name, 60);
    wait_for_processes(&mut recorder, &name, 60);
    let run = recorder.run_id();
    recorder.signal(Signal::SIGSTOP);
    // The stall itself, not a wait for something to happen.
    std::thread::sleep(Duration::from_secs(20));
    recorder.signal(Signal::SIGCONT);
    let after = count_samples(&db, run);
    recorder.wait_for_samples(after + 5);
    recorder.stop();
    drop(children);

    let report = report_json(&db, &["--period", "1"]);
    assert_eq!(report["period"]["kind"], "stall", "{}", report["period"]);
    let pileup = finding(&report, "process_pileup", &name);
    let rank = report["findings"].as_array().unwrap().iter().position(|f| f == pileup).unwrap() + 1;
    let first_seen = pileup["first_seen_ms"].as_i64().unwrap();

    let page = dir.join("incident.html");
    report_html(&db, &page, &["--period", "1"]);
    let mode = fs::metadata(&page).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the page carries command lines: written like the database");

    let dom = load_in_chromium(&dir, &page);
    let charts = dom.matches("<figure id=\"chart-").count();
    for id in ["load", "cpu", "memory", "processes", "lateness"] {
        let chart = figure(&dom, id);
        assert!(chart.contains("class=\"period\""), "chart {id} shades the period");
        assert!(chart.contains("class=\"period-label\""), "chart {id} labels the period");
    }
    assert_eq!(dom.matches("class=\"period\"").count(), charts, "one period band per chart");
    let processes = figure(&dom, "processes");
    assert!(processes.contains("data-name=\"processes\""), "the total is drawn");
    assert!(processes.contains(&format!("data-name=\"{name}\"")), "the name that piled up has its line");
    let mark = format!("data-finding=\"{rank}\" data-time=\"{first_seen}\"");
    assert!(processes.contains(&mark), "finding {rank} marked at its first time ({first_seen}) on its chart");
    let listed = format!("<li id=\"finding-{rank}\" data-kind=\"process_pileup\" data-subject=\"{name}\">");
    let item = dom.find(&listed).map(|at| &dom[at..at + dom[at..].find("</li>").unwrap()]);
    let item = item.unwrap_or_else(|| panic!("the pile-up is finding {rank} of the page's list"));
    assert!(item.contains(&format!("{name} processes rose from 0 to 60")), "{item}");
    assert!(item.contains("href=\"#chart-processes\""), "it links to its chart: {item}");
    // The recorder's lateness at the stall's end is drawn.
    let lateness = figure(&dom, "lateness");
    let late = lateness.split("data-v=\"").nth(1).unwrap().split('"').next().unwrap();
    let worst = late.split(' ').map(|v| v.parse::<f64>().unwrap()).fold(0.0, f64::max);
    assert!(worst >= 15_000.0, "the tick after the stall was about 20 s late: {worst} ms");

    let shot = dir.join("incident.png");
    let flags = [format!("--screenshot={}", shot.display()), "--window-size=1100,2400".into()];
    let taken = chromium(&dir, &[&flags[0], &flags[1]], &page);
    assert!(taken.status.success(), "{}", taken.stderr);
    let png = fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of {} bytes", png.len());
}

#[test]
fn html_report_shows_markup_in_names_and_log_lines_as_text() {
    let dir = TempDir::new("html-escape");
    // A command name is the program's file name cut to 15 bytes.
    let name = "<script>alert(1)";
    let comm = &name[..15];
    // Created only for the flood below, so that its rate is the flood's
    // and not spread over the wait for the processes.
    let log = dir.join("mail.log");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--watch-log", path_str(&log)]);
    recorder.wait_for_samples(3);
    let children = processes_named(&dir, name, 60);
    wait_for_processes(&mut recorder, comm, 60);
    // A flood of one line holding markup (about 3 MB/s, the last thing
    // recorded): the report quotes its template.
    let lines = "milter-reject: </svg><b>bold</b> from client\n".repeat(20_000);
    for _ in 0..6 {
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        file.write_all(lines.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let seen = count_samples(&db, recorder.run_id());
    recorder.wait_for_samples(seen + 2);
    recorder.stop();
    drop(children);

    let report = report_json(&db, &["--at", "now"]);
    // Pile-ups are named by the identity a person knows: argv[0] here.
    finding(&report, "process_pileup", name);
    finding(&report, "log_flood", path_str(&log));
    let page = dir.join("page.html");
    report_html(&db, &page, &["--at", "now"]);
    let html = fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<script").count(), 1, "the hover script alone");
    assert_eq!(
        html.matches("</svg>").count(),
        html.matches("<svg class=\"chart\"").count(),
        "no stray </svg>"
    );
    assert!(html.contains("&lt;script&gt;alert(1"), "the name shown as text");
    assert!(html.contains("&lt;/svg&gt;&lt;b&gt;bold&lt;/b&gt;"), "the log line shown as text");
    let dom = load_in_chromium(&dir, &page);
    assert_eq!(dom.matches("<script").count(), 1, "the browser built no element from a name");
    assert!(!dom.contains("<b>bold</b>"), "nor from a log line");
}

#[test]
fn html_report_to_a_directory_or_an_unwritable_path_is_refused_and_leaves_nothing() {
    let dir = TempDir::new("html-output");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 3);
    let out = dir.join("out");
    fs::create_dir(&out).unwrap();
    let listing = || {
        let mut names: Vec<String> =
            fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    let before = listing();
    assert!(before.is_empty());
    let here = path_str(&out).to_string();
    let missing = path_str(&out.join("no-such-dir/page.html")).to_string();
    for target in [here.as_str(), missing.as_str(), "/proc/version/page.html"] {
        let refused = flightrec(&["report", "--db", path_str(&db), "--format", "html", "-o", target]);
        assert_eq!(refused.code(), Some(2), "-o {target}: {}", refused.stderr);
        assert!(refused.stderr.contains(target), "the message names {target}: {}", refused.stderr);
        assert!(refused.stderr.contains("pass -o"), "and says what to do: {}", refused.stderr);
    }
    assert_eq!(listing(), before, "nothing written, nothing half-written");

    // An existing file is replaced whole, and no temporary file is left.
    let page = out.join("page.html");
    fs::write(&page, "old").unwrap();
    fs::set_permissions(&page, fs::Permissions::from_mode(0o644)).unwrap();
    report_html(&db, &page, &[]);
    let html = fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"), "the whole page");
    assert_eq!(fs::metadata(&page).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(listing(), ["page.html"], "only the page, no temporary file");
}
