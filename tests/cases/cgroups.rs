//! Services at their own limits, for real: v1 cgroups made by the test (a
//! pids cgroup whose forks are refused, a memory cgroup whose process the
//! OOM killer kills), recorded, then seen in `export --what cgroups` and in
//! the report's findings. Each cgroup has a name of its own and is removed,
//! with its processes, even when the test fails.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A v1 cgroup made for one test: its processes are killed and it is
/// removed when dropped.
struct TestCgroup {
    dir: PathBuf,
}

impl TestCgroup {
    /// `None` (the test is skipped, saying why) where the machine has no
    /// v1 hierarchy of `controller`.
    fn new(controller: &str) -> Option<TestCgroup> {
        let root = Path::new("/sys/fs/cgroup").join(controller);
        if !root.join("cgroup.procs").exists() {
            eprintln!("skipped: no v1 {controller} hierarchy at {}", root.display());
            return None;
        }
        let dir = root.join(format!("flightrec-test-{}", unique()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Some(TestCgroup { dir })
    }

    fn name(&self) -> String {
        self.dir.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        fs::write(&path, value).unwrap_or_else(|e| panic!("writing {value} to {}: {e}", path.display()));
    }

    /// A shell running `script` inside this cgroup (it moves itself in
    /// first, so every process it starts is in it).
    fn shell(&self, script: &str) -> Guard {
        let script = format!("echo $$ > {}/cgroup.procs && {script}", self.dir.display());
        let mut command = Command::new("sh");
        command.args(["-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        Guard::spawn(&mut command)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            let procs = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|line| line.parse().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

/// The latest row of `cgroup` in the cgroups export.
fn row_of<'a>(rows: &'a [Row], cgroup: &str) -> Option<&'a Row> {
    rows.iter().rev().find(|r| r.text("cgroup") == cgroup)
}

#[test]
fn refused_forks_at_a_task_limit_are_exported_and_reported() {
    let Some(cgroup) = TestCgroup::new("pids") else { return };
    cgroup.write("pids.max", "4");
    let path = format!("/{}", cgroup.name());
    let dir = TempDir::new("cgroup-pids");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    eventually_in_export(&mut recorder, "cgroups", &[], "the empty cgroup followed", |rows| {
        row_of(&rows, &path).map(|_| ()).ok_or_else(|| format!("no row of {path}"))
    });

    // The shell and three sleeps fill the cgroup; the other seven forks
    // are refused.
    let _shell = cgroup.shell("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 & done; wait");
    let row = eventually_in_export(&mut recorder, "cgroups", &[], "refused forks", |rows| {
        let row = row_of(&rows, &path).ok_or_else(|| format!("no row of {path}"))?;
        if row.int("forks_refused") >= 1 && row.int("tasks") == 4 {
            Ok(row.clone())
        } else {
            Err(format!("{row:?}"))
        }
    });
    assert_eq!(row.int("tasks_max"), 4, "{row:?}");
    assert_eq!(row.text("unit"), cgroup.name(), "{row:?}");
    // Its processes are recorded with it, learned when they were first seen.
    let members = fs::read_to_string(cgroup.dir.join("cgroup.procs")).unwrap();
    let members: Vec<i64> = members.lines().filter_map(|line| line.parse().ok()).collect();
    eventually_in_export(&mut recorder, "processes", &[], "the unit of its processes", |rows| {
        let mine: Vec<&Row> = latest(&rows).into_iter().filter(|r| members.contains(&r.int("pid"))).collect();
        let named = mine.iter().filter(|r| r.text("unit") == cgroup.name()).count();
        if named == members.len() {
            Ok(())
        } else {
            Err(format!("{named} of {} named: {mine:?}", members.len()))
        }
    });
    recorder.stop();

    let report = report_now(&db);
    let found = finding(&report, "cgroup_pids_limit", &cgroup.name());
    assert_eq!(found["severity"], "high", "{found}");
    assert_eq!(found["values"]["tasks_max"], 4, "{found}");
    let refused = found["values"]["forks_refused"].as_f64().unwrap_or(0.0);
    assert!(refused >= 1.0, "{found}");
    let summary = found["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("4 of TasksMax 4 tasks"), "{summary}");
}

#[test]
fn an_oom_kill_at_a_memory_limit_is_exported_and_reported() {
    let Some(cgroup) = TestCgroup::new("memory") else { return };
    let limit: i64 = 32 << 20;
    cgroup.write("memory.limit_in_bytes", &limit.to_string());
    if cgroup.dir.join("memory.memsw.limit_in_bytes").exists() {
        // Where there is swap, the limit holds for memory and swap together.
        cgroup.write("memory.memsw.limit_in_bytes", &limit.to_string());
    }
    let path = format!("/{}", cgroup.name());
    let dir = TempDir::new("cgroup-oom");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    eventually_in_export(&mut recorder, "cgroups", &[], "the empty cgroup followed", |rows| {
        row_of(&rows, &path).map(|_| ()).ok_or_else(|| format!("no row of {path}"))
    });

    // `tail` keeps the last line of /dev/zero, which never ends: it grows
    // until the OOM killer kills it at the cgroup's limit.
    let mut tail = cgroup.shell("exec tail /dev/zero");
    let status = wait_with_deadline(&mut tail.0, "tail to be OOM-killed");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    let killed_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let row = eventually_in_export(&mut recorder, "cgroups", &[], "the OOM kill", |rows| {
        let row = row_of(&rows, &path).ok_or_else(|| format!("no row of {path}"))?;
        // The peak is read with the limits, every few samples.
        let fresh = row.int("detail_read_ms") as u128 > killed_ms;
        if row.int("oom_kills") >= 1 && fresh { Ok(row.clone()) } else { Err(format!("{row:?}")) }
    });
    assert_eq!(row.int("memory_max"), limit, "{row:?}");
    assert_eq!(row.int("memory_peak"), limit, "it grew to the limit before the kill: {row:?}");
    recorder.stop();

    let report = report_now(&db);
    let found = finding(&report, "cgroup_memory_limit", &cgroup.name());
    assert_eq!(found["severity"], "high", "{found}");
    assert_eq!(found["values"]["memory_limit"], limit, "{found}");
    let summary = found["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("OOM-killed at its memory limit 32.0 MiB"), "{summary}");
}

/// Between the reads of its detail, a cgroup's CPU time is read where the
/// process table saw one of its processes run, in whichever hierarchy (on
/// this machine the cgroup is in `cpuacct` only): a busy service's CPU
/// shows in every sample, never as nothing then all at once.
#[test]
fn a_busy_cgroups_cpu_shows_in_every_sample() {
    let Some(cgroup) = TestCgroup::new("cpuacct") else { return };
    let path = format!("/{}", cgroup.name());
    let dir = TempDir::new("cgroup-busy");
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    eventually_in_export(&mut recorder, "cgroups", &[], "the empty cgroup followed", |rows| {
        row_of(&rows, &path).map(|_| ()).ok_or_else(|| format!("no row of {path}"))
    });
    // In the cgroup, then an exec: the process is learned with it.
    let _burner = cgroup.shell("exec yes > /dev/null");
    // Twelve samples apart the CPU time is read whatever ran: five busy
    // samples in a row cannot all be those.
    let cpu =
        eventually_in_export(&mut recorder, "cgroups", &[], "five samples in a row with its CPU", |rows| {
            let cpu: Vec<f64> =
                rows.iter().filter(|r| r.text("cgroup") == path).filter_map(|r| r.real("cpu_pct")).collect();
            let last = &cpu[cpu.len().saturating_sub(5)..];
            if last.len() == 5 && last.iter().all(|&pct| pct > 20.0) {
                Ok(cpu)
            } else {
                Err(format!("{cpu:?}"))
            }
        });
    recorder.stop();
    // One process takes at most one CPU: a sample with more holds the time
    // of samples that showed none.
    assert!(cpu.iter().all(|&pct| pct <= 150.0), "{cpu:?}");
}
