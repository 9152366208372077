//! A process at its own limit, reproduced for real: it opens files until
//! its soft limit of open files refuses one, and holds them.

use crate::common::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Opens /dev/null until the limit of 100 open files says no, then waits;
/// files inherited from whatever started the test are closed first.
const HOLD_EVERY_FILE: &str = "
import os, resource, time
os.closerange(3, 65536)
resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
held = []
try:
    while True:
        held.append(os.open('/dev/null', os.O_RDONLY))
except OSError:
    pass
time.sleep(1000)
";

#[test]
fn a_process_holding_every_file_its_limit_allows_is_at_its_limit() {
    let dir = TempDir::new("fd-limit");
    let name: String = format!("fdhog{}", unique()).chars().take(15).collect();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(2);
    let hog = Guard::spawn(
        Command::new("/usr/bin/python3")
            .arg0(&name)
            .args(["-c", HOLD_EVERY_FILE])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    eventually_in_export(&mut recorder, "processes", &[], "a sample with the process at 100 files", |rows| {
        let fds = latest(&rows).iter().find(|r| r.text("identity") == name).map(|r| r.text("fds"));
        if fds == Some("100") { Ok(()) } else { Err(format!("{name} holds {fds:?} files")) }
    });
    recorder.wait_for_samples(1);
    recorder.stop();
    drop(hog);

    let report = report_now(&db);
    let at_limit = finding(&report, "open_files_limit", &name);
    assert_eq!(at_limit["severity"], "high", "{at_limit}");
    assert_eq!(at_limit["values"]["count"], 100, "{at_limit}");
    assert_eq!(at_limit["values"]["limit"], 100, "{at_limit}");
    let summary = at_limit["summary"].as_str().unwrap();
    assert!(summary.contains("at its limit of open files (100 of 100)"), "{summary}");
    let rise = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "fd_growth" && f["subject"] == name);
    assert!(!rise, "the limit is said once, not again as a rise:\n{}", list_findings(&report));
}
