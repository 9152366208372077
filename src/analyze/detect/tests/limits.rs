//! A process at its own limits of open files and of processes.

use super::*;
use crate::model::sample::{Limits, ProcessLimits};

/// A process of uid 1000 holding `fds[i]` open files under a soft limit of
/// `limit`, its user running `threads[i]` threads under `Max processes`
/// `nproc`, sample by sample.
fn limited(fds: &[u32], limit: u64, threads: &[u32], nproc: u64) -> Vec<StoredSample> {
    samples(fds.len(), |i, s| {
        let p = Process { uid: 1000, fds: Some(fds[i]), threads: threads[i], ..process(42, "imapd") };
        let limits = Limits { open_files: Some(limit), processes: Some(nproc) };
        s.process_limits = Some(vec![ProcessLimits { pid: 42, start_ticks: 0, limits }]);
        s.processes = Some(vec![p]);
    })
}

#[test]
fn open_files_at_the_limit_are_said_so_instead_of_a_rise() {
    let found = found_in(&limited(&[100, 400, 1024, 1024], 1024, &[1; 4], 50_000), &[]);
    let f = the(&found, "open_files_limit");
    assert_eq!(f.severity, crate::analyze::Severity::High);
    assert_values(&f, &[("pid", j(42)), ("count", j(1024)), ("limit", j(1024)), ("at_limit", j(true))]);
    assert_eq!(f.first_seen_ms, Some(t(2)));
    assert!(f.summary.contains("at its limit of open files (1024 of 1024)"), "{}", f.summary);
    assert!(f.summary.contains("new files and connections fail"), "{}", f.summary);
    none_of(&found, "fd_growth");
}

#[test]
fn open_files_near_the_limit_are_medium_and_below_it_silent() {
    let near = the(&found_in(&limited(&[100, 950], 1024, &[1; 2], 50_000), &[]), "open_files_limit");
    assert_eq!(near.severity, crate::analyze::Severity::Medium);
    assert_values(&near, &[("count", j(950)), ("at_limit", j(false))]);
    assert!(near.summary.contains("near its limit"), "{}", near.summary);
    none_of(&found_in(&limited(&[100, 900], 1024, &[1; 2], 50_000), &[]), "open_files_limit");
}

#[test]
fn a_users_threads_at_its_limit_of_processes() {
    let found = found_in(&limited(&[3, 3, 3], 1024, &[10, 200, 256], 256), &[]);
    let f = the(&found, "processes_limit");
    assert_values(&f, &[("count", j(256)), ("limit", j(256)), ("at_limit", j(true))]);
    assert!(f.summary.contains("256 of 256 tasks"), "{}", f.summary);
    none_of(&found_in(&limited(&[3, 3], 1024, &[10, 200], 256), &[]), "processes_limit");
}
