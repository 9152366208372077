//! Processes, sockets, filesystems and watched directories and logs.

use super::*;
use crate::analyze::Severity;
use crate::model::sample::{Direction, Filesystem, Memory, PortSockets, WatchedDir, WatchedLog};

/// `counts[i]` processes of `comm` in sample `i`, in `state`.
fn processes(comm: &str, state: char, counts: &[u32]) -> Vec<StoredSample> {
    samples(counts.len(), |i, s| {
        s.processes = Some((0..counts[i]).map(|n| Process { state, ..process(1000 + n, comm) }).collect());
    })
}

#[test]
fn process_pileup_from_twenty_more_and_double() {
    let f = the(&found_in(&processes("smtpd", 'S', &[10, 20, 30]), &[]), "process_pileup");
    assert_values(&f, &[("from", j(10.0)), ("to", j(30.0)), ("from_ms", j(t(0))), ("to_ms", j(t(2)))]);
    assert_eq!((f.subject.as_str(), f.severity), ("smtpd", Severity::Medium));
    none_of(&found_in(&processes("smtpd", 'S', &[10, 20, 29]), &[]), "process_pileup");
}

/// 505 `sleep`s throughout, and from sample 3 on 80 more started as
/// `piler` (their comm is still `sleep`).
fn piled_under_another_comm() -> Vec<StoredSample> {
    samples(6, |i, s| {
        let sleeps = (0..505).map(|pid| Process { cmdline: "sleep 1000".into(), ..process(pid, "sleep") });
        let count = if i >= 3 { 80 } else { 0 };
        let pilers =
            (0..count).map(|n| Process { cmdline: "piler 1000".into(), ..process(1000 + n, "sleep") });
        s.processes = Some(sleeps.chain(pilers).collect());
    })
}

#[test]
fn process_pileup_by_the_name_a_person_recognises() {
    let found = found_in(&piled_under_another_comm(), &[]);
    let f = the(&found, "process_pileup");
    assert_eq!(f.subject, "piler", "{f:#?}");
    assert_values(&f, &[("from", j(0.0)), ("to", j(80.0)), ("from_ms", j(t(2))), ("to_ms", j(t(3)))]);
    assert!(f.summary.starts_with("piler processes rose from 0 to 80 in 5s"), "{}", f.summary);
}

#[test]
fn a_sudden_rise_counts_without_doubling() {
    let f = the(&found_in(&processes("httpd", 'S', &[100, 100, 150]), &[]), "process_pileup");
    assert_values(&f, &[("from", j(100.0)), ("to", j(150.0)), ("from_ms", j(t(1)))]);
    // The same 50 more over more than a minute must double to count.
    let slow: Vec<u32> = (0..15).map(|i| 100 + i * 50 / 14).collect();
    none_of(&found_in(&processes("httpd", 'S', &slow), &[]), "process_pileup");
}

#[test]
fn a_level_held_only_where_samples_exist() {
    let mut window = processes("smtpd", 'S', &[0, 100, 100, 100, 100]);
    // Nothing was recorded for 30 s between the third and fourth sample.
    for s in &mut window[3..] {
        s.sample.time_ms += 30_000;
    }
    let f = the(&found_in(&window, &[]), "process_pileup");
    assert!(f.summary.ends_with("then held at exactly 100 for 10s (a limit?)"), "{}", f.summary);
}

#[test]
fn a_burst_of_short_lived_processes_is_info() {
    let f = the(&found_in(&processes("rustc", 'S', &[0, 0, 60, 0, 0]), &[]), "process_pileup");
    assert_eq!(f.severity, Severity::Info, "{f:#?}");
}

#[test]
fn a_process_opening_files_as_it_starts_is_info() {
    let window = samples(4, |i, s| {
        let fds = [0, 10, 700, 700][i];
        s.processes =
            Some(if i == 0 { vec![] } else { vec![Process { fds: Some(fds), ..process(42, "java") }] });
    });
    assert_eq!(the(&found_in(&window, &[]), "fd_growth").severity, Severity::Info);
}

#[test]
fn zombies_from_twenty() {
    let f = the(&found_in(&processes("defunct", 'Z', &[0, 20]), &[]), "zombies");
    assert_values(&f, &[("peak", j(20.0)), ("peak_ms", j(t(1)))]);
    none_of(&found_in(&processes("defunct", 'Z', &[0, 19]), &[]), "zombies");
}

#[test]
fn d_state_from_five() {
    let f = the(&found_in(&processes("dd", 'D', &[5, 2]), &[]), "d_state");
    assert_values(&f, &[("peak", j(5.0)), ("peak_ms", j(t(0)))]);
    assert_eq!(f.subject, "dd ×5");
    none_of(&found_in(&processes("dd", 'D', &[4, 2]), &[]), "d_state");
}

/// One process whose RSS and open files go from the first to the second
/// value, on a machine of 1000 MiB.
fn growing(rss_mib: (u64, u64), fds: (u32, u32)) -> Vec<StoredSample> {
    samples(3, |i, s| {
        let (rss, fd) = if i == 0 { (rss_mib.0, fds.0) } else { (rss_mib.1, fds.1) };
        s.memory = Some(Memory { total: 1000 * MIB, available: 500 * MIB, ..Memory::default() });
        s.processes = Some(vec![Process { rss_bytes: rss * MIB, fds: Some(fd), ..process(42, "leaky") }]);
    })
}

#[test]
fn memory_growth_from_a_tenth_of_memory() {
    let f = the(&found_in(&growing((100, 200), (10, 10)), &[]), "memory_growth");
    assert_values(&f, &[("pid", j(42)), ("rss_from", j(100 * MIB)), ("rss_to", j(200 * MIB))]);
    assert_eq!(f.first_seen_ms, Some(t(0)));
    none_of(&found_in(&growing((100, 199), (10, 10)), &[]), "memory_growth");
}

#[test]
fn fd_growth_from_double_and_two_hundred_more() {
    let f = the(&found_in(&growing((100, 100), (100, 300)), &[]), "fd_growth");
    assert_values(&f, &[("pid", j(42)), ("fds_from", j(100)), ("fds_to", j(300))]);
    none_of(&found_in(&growing((100, 100), (100, 299)), &[]), "fd_growth");
}

#[test]
fn fd_growth_when_ten_thousand_are_held() {
    let f = the(&found_in(&growing((100, 100), (10_000, 10_000)), &[]), "fd_growth");
    assert_eq!(f.severity, Severity::High);
    none_of(&found_in(&growing((100, 100), (9_999, 9_999)), &[]), "fd_growth");
}

fn socket(direction: Direction, port: u16, state: &str, count: u32) -> PortSockets {
    PortSockets { direction, port, state: state.into(), count, ..PortSockets::default() }
}

fn sockets(fill: impl Fn(usize) -> Vec<PortSockets>, n: usize) -> Vec<StoredSample> {
    samples(n, |i, s| s.sockets = Some(fill(i)))
}

fn connections(direction: Direction, port: u16, counts: &[u32]) -> Vec<StoredSample> {
    sockets(|i| vec![socket(direction, port, "ESTABLISHED", counts[i])], counts.len())
}

#[test]
fn connection_pileup_on_a_local_port() {
    let f = the(&found_in(&connections(Direction::Incoming, 25, &[10, 20, 30]), &[]), "connection_pileup");
    assert_values(&f, &[("port", j(25)), ("from", j(10.0)), ("to", j(30.0)), ("to_ms", j(t(2)))]);
    none_of(&found_in(&connections(Direction::Incoming, 25, &[10, 20, 29]), &[]), "connection_pileup");
}

#[test]
fn outgoing_connection_pileup_to_a_remote_port() {
    let window = connections(Direction::Outgoing, 8891, &[10, 20, 30]);
    let f = the(&found_in(&window, &[]), "outgoing_connection_pileup");
    assert_values(&f, &[("port", j(8891)), ("from", j(10.0)), ("to", j(30.0)), ("from_ms", j(t(0)))]);
    let below = connections(Direction::Outgoing, 8891, &[10, 20, 29]);
    none_of(&found_in(&below, &[]), "outgoing_connection_pileup");
}

#[test]
fn socket_state_pileup_from_twenty() {
    let window = sockets(|i| vec![socket(Direction::Incoming, 25, "SYN_RECV", [0, 20][i])], 2);
    let f = the(&found_in(&window, &[]), "socket_state_pileup");
    assert_values(&f, &[("port", j(25)), ("state", j("SYN_RECV")), ("peak", j(20.0))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    let below = sockets(|i| vec![socket(Direction::Incoming, 25, "SYN_RECV", [0, 19][i])], 2);
    none_of(&found_in(&below, &[]), "socket_state_pileup");
}

fn listener(queued: u32) -> Vec<StoredSample> {
    sockets(|_| vec![PortSockets { queued, backlog: 4, ..socket(Direction::Listen, 25, "LISTEN", 1) }], 3)
}

#[test]
fn accept_queue_full_when_the_queue_reaches_the_backlog() {
    let f = the(&found_in(&listener(4), &[]), "accept_queue_full");
    assert_values(&f, &[("port", j(25)), ("backlog", j(4)), ("samples", j(3))]);
    assert_eq!(f.first_seen_ms, Some(t(0)));
    none_of(&found_in(&listener(3), &[]), "accept_queue_full");
}

fn listening_until(port: u16, last_listening: usize) -> Vec<StoredSample> {
    sockets(
        |i| if i <= last_listening { vec![socket(Direction::Listen, port, "LISTEN", 1)] } else { Vec::new() },
        3,
    )
}

#[test]
fn stopped_listening_names_the_port_and_when() {
    let f = the(&found_in(&listening_until(25, 0), &[]), "stopped_listening");
    assert_values(&f, &[("port", j(25))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    none_of(&found_in(&listening_until(25, 2), &[]), "stopped_listening");
    none_of(&found_in(&listening_until(40_000, 0), &[]), "stopped_listening");
}

/// /var at `used_pct` of its space and `inodes_pct` of its inodes.
fn var(used_pct: f64, inodes_pct: u64) -> Vec<StoredSample> {
    samples(2, |_, s| {
        s.filesystems = Some(vec![Filesystem {
            mount_point: "/var".into(),
            fs_type: "ext4".into(),
            used_bytes: (used_pct * 10.0) as u64,
            avail_bytes: 1000 - (used_pct * 10.0) as u64,
            inodes_total: 1000,
            inodes_used: inodes_pct * 10,
            ..Filesystem::default()
        }]);
    })
}

#[test]
fn filesystem_full_from_ninety_five_percent() {
    let f = the(&found_in(&var(95.0, 0), &[]), "filesystem_full");
    assert_values(&f, &[("mount_point", j("/var")), ("peak_pct", j(95.0))]);
    // Level all along: the peak is its last sample.
    assert_eq!((f.severity, f.first_seen_ms), (Severity::Medium, Some(t(1))));
    assert_eq!(the(&found_in(&var(100.0, 0), &[]), "filesystem_full").severity, Severity::High);
    none_of(&found_in(&var(94.9, 0), &[]), "filesystem_full");
}

#[test]
fn inodes_exhausted_from_ninety_five_percent() {
    let f = the(&found_in(&var(0.0, 95), &[]), "inodes_exhausted");
    assert_values(&f, &[("mount_point", j("/var")), ("inodes_used_pct", j(95.0))]);
    assert_eq!(f.first_seen_ms, Some(t(1)));
    none_of(&found_in(&var(0.0, 94), &[]), "inodes_exhausted");
}

fn queue(files: &[u64]) -> Vec<StoredSample> {
    samples(files.len(), |i, s| {
        s.watched_dirs = Some(vec![WatchedDir {
            path: "/var/spool/postfix/deferred".into(),
            files: files[i],
            bytes: files[i] * 4096,
            complete: true,
        }]);
    })
}

#[test]
fn directory_growth_from_a_hundred_more_and_double() {
    let f = the(&found_in(&queue(&[100, 150, 200]), &[]), "directory_growth");
    assert_values(&f, &[("path", j("/var/spool/postfix/deferred")), ("from", j(100.0)), ("to", j(200.0))]);
    assert_eq!(f.first_seen_ms, Some(t(0)));
    none_of(&found_in(&queue(&[100, 150, 199]), &[]), "directory_growth");
}

/// A log that has written `written[i]` bytes by sample `i`.
fn log(written: &[u64]) -> Vec<StoredSample> {
    samples(written.len(), |i, s| {
        s.watched_logs = Some(vec![WatchedLog {
            path: "/var/log/mail.log".into(),
            bytes_written: written[i],
            ..WatchedLog::default()
        }]);
    })
}

#[test]
fn log_flood_from_a_tenth_of_a_mebibyte_a_second() {
    // 1 MiB in the 10 s of three samples: 104857.6 B/s, the threshold.
    let f = the(&found_in(&log(&[0, 524_288, 1_048_576]), &[]), "log_flood");
    assert_values(&f, &[("path", j("/var/log/mail.log")), ("bytes_per_s", j(104_857.6))]);
    assert_eq!((f.severity, f.first_seen_ms), (Severity::Medium, Some(t(1))));
    none_of(&found_in(&log(&[0, 524_288, 1_048_575]), &[]), "log_flood");
}

/// A watched log with these templates (template, lines) since the sample
/// before.
fn log_with(templates: &[(&str, u64)]) -> WatchedLog {
    WatchedLog {
        path: "/var/log/mail.log".into(),
        templates: templates
            .iter()
            .map(|(t, count)| crate::model::sample::LogTemplate {
                template: t.to_string(),
                count: *count,
                example: t.replace("<N>", "4"),
            })
            .collect(),
        ..WatchedLog::default()
    }
}

#[test]
fn new_error_lines_in_a_watched_log_are_quoted_with_count_and_time() {
    let usual = "postfix/smtpd[<N>]: connect from unknown[<IP>]";
    let error =
        "postfix/smtpd[<N>]: warning: milter inet:localhost:<N>: can't read SMFIC_OPTNEG reply: timed out";
    let old_error = "postfix/smtpd[<N>]: lost connection after CONNECT from unknown[<IP>]";
    let baseline = samples(3, |_, s| s.watched_logs = Some(vec![log_with(&[(usual, 5), (old_error, 3)])]));
    let window: Vec<StoredSample> = samples(4, |i, s| {
        let lines = if i >= 2 { vec![(usual, 5), (error, 150), (old_error, 40)] } else { vec![(usual, 5)] };
        s.watched_logs = Some(vec![log_with(&lines)]);
    })
    .into_iter()
    .map(|mut s| {
        s.sample.time_ms += 3_600_000;
        s
    })
    .collect();
    let found = found_after(&baseline, &window, &[]);
    let f = the(&found, "log_new_errors");
    assert!(f.summary.contains(&format!("\"{error}\" ×300 from ")), "{}", f.summary);
    assert!(!f.summary.contains("lost connection"), "the hour before had it: {}", f.summary);
    let few = samples(2, |_, s| s.watched_logs = Some(vec![log_with(&[(error, 9)])]));
    none_of(&found_in(&few, &[]), "log_new_errors");
}
