//! `flightrec replay` driven as a person drives it: the real binary in a
//! real terminal (tmux, 80×24), keys sent, the screen read back, on a
//! database recorded for real with an unclean stop in it.

use crate::common::*;
use flightrec::model::human::format_ms_local;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A tmux server of this test's own, killed with everything in it when
/// dropped, whether the test passed or not.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in an 80×24 window; when it ends the pane says
    /// `EXITED <code>` and stays open to be read.
    fn start(command: &str) -> Tmux {
        let tmux = Tmux { socket: format!("flightrec-replay-{}", unique()) };
        let shell = format!("{command}; echo EXITED $?; sleep 600");
        tmux.run(&["new-session", "-d", "-x", "80", "-y", "24", &shell]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running tmux (apt-get install tmux)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys as tmux names them: `t`, `Enter`, `Home`, or text typed.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// Waits until the screen satisfies `check`; gives the screen. A
    /// screen is drawn in pieces: a check looks at all it needs at once.
    fn until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        eventually(what, || {
            let screen = self.screen();
            if check(&screen) { Ok(screen) } else { Err(format!("the screen is\n{screen}")) }
        })
    }

    /// The replay process under the pane's shell, through the commands
    /// that started it (`setsid`).
    fn replay_pid(&self) -> u32 {
        let mut pid: u32 = self.run(&["display-message", "-p", "#{pane_pid}"]).trim().parse().unwrap();
        while comm(pid).as_deref() != Some("flightrec") {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
            pid = children.split_whitespace().next().expect("replay runs").parse().unwrap();
        }
        pid
    }

    /// tmux's own view of the terminal: (alternate screen on, cursor shown).
    fn modes(&self) -> (bool, bool) {
        let out = self.run(&["display-message", "-p", "#{alternate_on} #{cursor_flag}"]);
        let flags: Vec<bool> = out.split_whitespace().map(|f| f == "1").collect();
        (flags[0], flags[1])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Quietly: a test may have killed the server already.
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

fn comm(pid: u32) -> Option<String> {
    Some(std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim_end().to_string())
}

/// Gone, or a zombie that nobody waits for (its shell died with the
/// terminal): either way it runs no more.
fn has_ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
}

/// A process this test did not spawn, killed when dropped if it still runs.
struct Stray(u32);

impl Drop for Stray {
    fn drop(&mut self) {
        if !has_ended(self.0) {
            let pid = nix::unistd::Pid::from_raw(self.0 as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn title(screen: &str) -> &str {
    screen.lines().next().unwrap_or_default()
}

fn bottom(screen: &str) -> &str {
    screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default()
}

/// The RSS column of the process table on the screen, in bytes, top down.
fn rss_column(screen: &str) -> Vec<f64> {
    let mut lines = screen.lines().skip_while(|l| !l.contains("PID USER"));
    let header = lines.next().expect("a process table");
    let end = header.find("RSS").expect("an RSS column") + 3;
    lines
        .take_while(|l| l.len() >= end && !l.starts_with("t/T"))
        .filter_map(|l| {
            let cell = l.get(..end)?.split_whitespace().rev().take(2).collect::<Vec<_>>();
            let (unit, value) = (cell.first()?, cell.get(1)?.parse::<f64>().ok()?);
            let scale = match *unit {
                "B" => 1.0,
                "KiB" => 1024.0,
                "MiB" => 1024.0 * 1024.0,
                "GiB" => 1024.0 * 1024.0 * 1024.0,
                _ => return None,
            };
            Some(value * scale)
        })
        .collect()
}

/// Records a process of a name of its own coming up, then an unclean stop
/// (the recorder killed) and a second run; gives the name.
fn record_history(dir: &TempDir, db: &Path) -> (String, Guard) {
    let name: String = format!("rpl{}", unique()).chars().take(15).collect();
    let program = dir.join(&name);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("sleep");
    std::os::unix::fs::symlink(sleep, &program).unwrap();

    let mut recorder = Recorder::start(dir, db);
    recorder.wait_for_samples(3);
    let child = Guard::spawn(Command::new(&program).arg("600").stdout(Stdio::null()).stderr(Stdio::null()));
    eventually_in_export(&mut recorder, "processes", &[], "a sample with the new process", |rows| {
        let seen = latest(&rows).iter().any(|r| r.text("comm") == name);
        if seen { Ok(()) } else { Err(format!("no {name} yet")) }
    });
    let have = recorder.wait_for_samples(1);
    recorder.wait_for_samples(have + 3);
    recorder.kill9();
    let mut second = Recorder::start(dir, db);
    second.wait_for_samples(3);
    second.stop();
    (name, child)
}

#[test]
fn replay_steps_orders_jumps_and_gives_the_terminal_back() {
    let dir = TempDir::new("replay");
    let db = dir.join("flightrec.db");
    let (name, child) = record_history(&dir, &db);

    // The sample before the process came and the one it first shows in.
    let processes = export(&db, "processes", &[]);
    let first_seen =
        processes.iter().filter(|r| r.text("comm") == name).map(|r| r.int("time_ms")).min().unwrap();
    let times: Vec<i64> = export(&db, "system", &[]).iter().map(|r| r.int("time_ms")).collect();
    let before = *times.iter().filter(|t| **t < first_seen).max().unwrap();
    // `gaps` lists periods newest first, each with its incident's number.
    let periods = gaps_json(&db);
    let oldest = periods.last().expect("the unclean stop is a period");

    let command = format!("NO_COLOR=1 {BIN} replay --db {} --at {}", path_str(&db), at_ms(before));
    let tmux = Tmux::start(&command);
    let shown = format_ms_local(before);
    tmux.until("replay to open on the asked sample", |s| title(s).starts_with(&shown));

    // Only the new process: absent before it started, there one step on.
    tmux.keys(&["/", &name, "Enter"]);
    tmux.until("none of it before it started", |s| {
        s.contains(&format!("matching {name:?}")) && s.contains("Processes by CPU: 0 of")
    });
    tmux.keys(&["t"]);
    // Titles show seconds, and samples come every 200 ms: the process
    // tells the next sample from this one.
    let next = format_ms_local(first_seen);
    let pid = child.pid().to_string();
    tmux.until("the next sample, with the process", |s| {
        title(s).starts_with(&next)
            && s.contains("Processes by CPU: 1 of")
            && s.lines().any(|l| l.split_whitespace().next() == Some(pid.as_str()))
    });

    // `M`: every process, largest resident memory first.
    tmux.keys(&["/", "Enter", "M"]);
    tmux.until("every process, by memory", |s| {
        let rss = rss_column(s);
        s.contains("Processes by memory (RSS)") && rss.len() >= 5 && rss.windows(2).all(|w| w[0] >= w[1])
    });

    // `b HH:MM:SS`: the sample at or at most one interval (200 ms) before.
    let (second, landed) = times
        .iter()
        .map(|t| t.div_euclid(1000) + 1)
        .find_map(|s| {
            let at = times.iter().filter(|t| **t <= s * 1000).max()?;
            (s * 1000 - at <= 200).then_some((s, *at))
        })
        .expect("a second with a sample just before it");
    let clock = chrono::DateTime::from_timestamp(second, 0).unwrap().with_timezone(&chrono::Local);
    // From the newest sample, seconds away, so that the move shows.
    tmux.keys(&["End"]);
    tmux.until("End to show the newest sample", |s| {
        title(s).starts_with(&format_ms_local(times[times.len() - 1]))
    });
    tmux.keys(&["b", &clock.format("%H:%M:%S").to_string(), "Enter"]);
    tmux.until("b to land on the sample just before", |s| title(s).starts_with(&format_ms_local(landed)));

    // An hour before the recording there is no sample: said, and it stays.
    tmux.keys(&["b", &at_ms(times[0] - 3_600_000), "Enter"]);
    tmux.until("b to say there is none and stay", |s| {
        bottom(s).contains("no sample within") && title(s).starts_with(&format_ms_local(landed))
    });

    // `]` from the oldest sample: the oldest incident, numbered as in `gaps`.
    tmux.keys(&["Home", "]"]);
    let start = format_ms_local(oldest["start_ms"].as_i64().unwrap());
    let number = &oldest["number"];
    tmux.until("] to land on the incident, numbered as in gaps", |s| {
        title(s).starts_with(&start)
            && title(s).contains(&format!("before incident {number}"))
            && bottom(s).contains(&format!("incident {number}:"))
    });
    drop(child);

    assert_eq!(tmux.modes(), (true, false), "replay draws on the alternate screen, cursor hidden");
    tmux.keys(&["q"]);
    tmux.until("replay to exit 0", |s| s.contains("EXITED 0"));
    assert_eq!(tmux.modes(), (false, true), "the alternate screen is left and the cursor shown");
}

#[test]
fn replay_on_sigterm_gives_the_terminal_back() {
    let dir = TempDir::new("replay-sigterm");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    let tmux = Tmux::start(&format!("{BIN} replay --db {}", path_str(&db)));
    tmux.until("replay to draw", |s| s.contains("Processes by CPU"));
    let replay = tmux.replay_pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(replay as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    tmux.until("replay to exit as SIGTERM ends a process", |s| s.contains("EXITED 143"));
    assert_eq!(tmux.modes(), (false, true), "the alternate screen is left and the cursor shown");
}

#[test]
fn replay_ends_when_its_terminal_vanishes_without_a_signal() {
    let dir = TempDir::new("replay-hangup");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    // In a session of its own, replay is sent no SIGHUP when the terminal
    // goes, as when an ssh connection drops and the hangup never reaches
    // it: only the terminal itself says it is gone.
    let tmux = Tmux::start(&format!("setsid -w {BIN} replay --db {}", path_str(&db)));
    tmux.until("replay to draw", |s| s.contains("Processes by CPU"));
    let replay = Stray(tmux.replay_pid());
    tmux.run(&["kill-server"]);
    eventually_within(Duration::from_secs(5), "replay to end once its terminal is gone", || {
        if has_ended(replay.0) {
            Ok(())
        } else {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", replay.0)).unwrap_or_default();
            Err(format!("it still runs: {stat}"))
        }
    });
}

#[test]
fn replay_shows_a_damaged_sample_as_missing_and_steps_past_it() {
    let dir = TempDir::new("replay-damaged");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 6);
    let samples: Vec<(i64, i64)> = {
        let conn = open_read_only(&db).unwrap();
        let mut stmt = conn.prepare("SELECT id, time_ms FROM samples ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    };
    // A delta frame cut short: a byte of flags, then a varint that never ends.
    let (damaged, time_ms) = samples[2];
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE samples SET process_table = x'01ffffff' WHERE id = ?1", [damaged]).unwrap();
    drop(conn);

    let tmux = Tmux::start(&format!("{BIN} replay --db {} --at {}", path_str(&db), at_ms(time_ms)));
    tmux.until("the damaged sample, its processes missing", |s| {
        title(s).starts_with(&format_ms_local(time_ms))
            && s.contains("missing in this sample: process_table")
            && s.contains("Processes: not in this sample")
    });
    tmux.keys(&["End"]);
    let newest = samples[samples.len() - 1].1;
    tmux.until("stepping past it", |s| {
        title(s).starts_with(&format_ms_local(newest)) && !s.contains("EXITED")
    });
}

#[test]
fn replay_not_on_a_terminal_says_to_use_show_or_export() {
    let dir = TempDir::new("replay-piped");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 2);
    let out = flightrec(&["replay", "--db", path_str(&db)]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("flightrec show") && out.stderr.contains("flightrec export"),
        "{}",
        out.stderr
    );
}
