//! What happened once: kernel messages, crash records, and dependency
//! probes.

use super::*;
use crate::analyze::Severity;
use crate::model::sample::{ProbeOutcome, ProbeResult};

fn kernel(priority: u8, text: &str) -> Event {
    Event { time_ms: t(1), kind: "kernel".into(), priority: Some(priority), repeats: 2, detail: text.into() }
}

#[test]
fn every_known_kernel_message_is_its_own_kind() {
    let known = [
        ("kernel_hung_task", "INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds."),
        ("kernel_lockup", "watchdog: BUG: soft lockup - CPU#1 stuck for 22s!"),
        ("kernel_bug", "BUG: unable to handle page fault for address: 0000000000001234"),
        ("kernel_io_error", "blk_update_request: I/O error, dev sda, sector 2048"),
        ("kernel_network", "nf_conntrack: table full, dropping packet"),
        ("kernel_segfault", "smtpd[4242]: segfault at 0 ip 00007f sp 00007ffd error 4"),
    ];
    for (kind, text) in known {
        let found = found_in(&[], &[kernel(4, text)]);
        let f = the(&found, kind);
        assert_values(&f, &[("count", j(3)), ("last", j(text))]);
        assert_eq!(f.first_seen_ms, Some(t(1)), "{kind}");
        none_of(&found, "kernel_errors");
    }
    let quiet = found_in(&[], &[kernel(4, "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex")]);
    assert!(quiet.is_empty(), "an ordinary warning says nothing: {quiet:#?}");
}

/// What the kernel writes for one OOM kill in a cgroup, at `time_ms`.
fn oom_lines(time_ms: i64, pid: u32, name: &str) -> Vec<Event> {
    [
        format!("{name} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"),
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/app.service,task_memcg=/system.slice/app.service,task=java,pid=4242,uid=0".into(),
        format!("Memory cgroup out of memory: Killed process {pid} ({name}) total-vm:4000000kB, anon-rss:1048576kB, file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:2500kB oom_score_adj:0"),
    ]
    .into_iter()
    .map(|detail| Event { time_ms, kind: "kernel".into(), priority: Some(3), repeats: 0, detail })
    .collect()
}

#[test]
fn one_oom_episode_is_one_finding_with_its_victims_and_limit() {
    let mut events = oom_lines(t(1), 4242, "java");
    events.extend(oom_lines(t(2), 4243, "java"));
    events.extend(oom_lines(t(3), 4244, "java"));
    let counter = samples(4, |i, s| {
        s.vm = Some(crate::model::sample::VmCounters { oom_kills: 7 + i as u64, ..Default::default() })
    });
    let found = found_in(&counter, &events);
    let f = the(&found, "oom_kill");
    assert_values(
        &f,
        &[("kills", j(3)), ("constraint", j("the memory limit of cgroup /system.slice/app.service"))],
    );
    assert!(f.summary.starts_with("the OOM killer killed 3 processes from "), "{}", f.summary);
    assert!(f.summary.contains("java (pid 4242, 1.0 GiB RSS)"), "{}", f.summary);
    assert_eq!(value(&f, "victims").as_array().map(Vec::len), Some(3));
    none_of(&found, "kernel_errors");

    let far_apart = [oom_lines(t(1), 1, "a"), oom_lines(t(1) + 120_000, 2, "b")].concat();
    let found = found_in(&[], &far_apart);
    assert_eq!(found.iter().filter(|f| f.kind == "oom_kill").count(), 2, "two episodes: {found:#?}");
}

#[test]
fn kernel_errors_from_priority_three() {
    let f = the(&found_in(&[], &[kernel(3, "ata1: hard resetting link")]), "kernel_errors");
    assert_values(&f, &[("count", j(1)), ("last", j("ata1: hard resetting link"))]);
    assert_eq!(f.severity, Severity::Medium);
    none_of(&found_in(&[], &[kernel(4, "ata1: hard resetting link")]), "kernel_errors");
}

#[test]
fn crash_record_from_a_pstore_event() {
    let record = Event {
        time_ms: t(0),
        kind: "pstore".into(),
        priority: None,
        repeats: 0,
        detail: "Oops#1 Part1\nKernel panic - not syncing: Fatal exception\n".into(),
    };
    let f = the(&found_in(&[], std::slice::from_ref(&record)), "crash_record");
    assert_values(&f, &[("record", j(&record.detail))]);
    assert_eq!((f.severity, f.first_seen_ms), (Severity::High, Some(t(0))));
    assert!(f.summary.ends_with("Kernel panic - not syncing: Fatal exception"), "{}", f.summary);
    let note = Event::note(t(0), "disk-full", "the disk is full".into());
    none_of(&found_in(&[], &[note]), "crash_record");
}

/// A probe answering `outcomes[i]` at sample `i`; timeouts after a connect.
fn probed(outcomes: &[ProbeOutcome], connected: bool) -> Vec<StoredSample> {
    samples(outcomes.len(), |i, s| {
        s.probes = Some(vec![ProbeResult {
            target: "milter:127.0.0.1:8891".into(),
            outcome: outcomes[i],
            connect_us: connected.then_some(150),
            ..ProbeResult::default()
        }]);
    })
}

#[test]
fn probe_failed_on_one_refusal() {
    use ProbeOutcome::{Ok, Refused};
    let f = the(&found_in(&probed(&[Ok, Refused, Ok], false), &[]), "probe_failed");
    assert_values(&f, &[("failed", j(1)), ("probes", j(3)), ("since_ms", j(t(1)))]);
    assert_eq!((f.severity, f.first_seen_ms), (Severity::Medium, Some(t(1))));
    assert!(found_in(&probed(&[Ok, Ok, Ok], false), &[]).is_empty());
}

#[test]
fn dependency_hung_when_it_accepts_and_does_not_answer() {
    use ProbeOutcome::{Ok, Timeout};
    let f = the(&found_in(&probed(&[Ok, Timeout, Timeout], true), &[]), "dependency_hung");
    assert_values(&f, &[("failed", j(2)), ("since_ms", j(t(1)))]);
    assert_eq!(f.severity, Severity::High);
    let refused = found_in(&probed(&[Ok, Timeout, Timeout], false), &[]);
    none_of(&refused, "dependency_hung");
    the(&refused, "probe_failed");
}

#[test]
fn a_probe_that_answers_far_slower_than_in_the_hour_before() {
    let probe = |latency_ms: u64| ProbeResult {
        target: "smtp:127.0.0.1:25".into(),
        outcome: ProbeOutcome::Ok,
        latency_us: latency_ms * 1000,
        connect_us: Some(100),
        detail: String::new(),
    };
    let baseline = samples(5, |_, s| s.probes = Some(vec![probe(10)]));
    let window: Vec<StoredSample> = samples(4, |i, s| s.probes = Some(vec![probe([12, 11, 1000, 1500][i])]))
        .into_iter()
        .map(|mut s| {
            s.sample.time_ms += 3_600_000;
            s
        })
        .collect();
    let found = found_after(&baseline, &window, &[]);
    let f = the(&found, "probe_slow");
    assert_values(&f, &[("usual_us", j(10_000)), ("worst_us", j(1_500_000)), ("slow", j(2))]);
    assert!(f.summary.contains("up to 150× slower than usual: 1.5s at "), "{}", f.summary);
    let steady = samples(4, |_, s| s.probes = Some(vec![probe(50)]));
    none_of(&found_in(&steady, &[]), "probe_slow");
}
