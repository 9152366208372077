//! Bad input never panics: every parser of kernel text, the time, size and
//! interval parsers, the probe specs, the configuration file and the
//! snapshot decoder are fed real captures cut short, with huge numbers and
//! flipped bytes, and plain random bytes. Each must give a value or an
//! error; a panic fails the property.

use flightrec::collect::{
    cmdline, diskstats, kmsg, limits, loadavg, meminfo, mounts, netdev, pressure, probe, process, snmp,
    stacks, stat, vmstat,
};
use flightrec::sample::NetTotals;
use proptest::prelude::*;

/// Captured /proc text, the starting point of the mutations.
const CAPTURES: &[&str] = &[
    include_str!("../fixtures/proc/stat"),
    include_str!("../fixtures/proc/meminfo"),
    include_str!("../fixtures/proc/vmstat"),
    include_str!("../fixtures/proc/loadavg"),
    include_str!("../fixtures/proc/pressure-cpu"),
    include_str!("../fixtures/proc/file-nr"),
    include_str!("../fixtures/proc/net-dev"),
    include_str!("../fixtures/proc/net-snmp"),
    include_str!("../fixtures/proc/net-netstat"),
    include_str!("../fixtures/proc/net-sockstat"),
    include_str!("../fixtures/proc/diskstats"),
    include_str!("../fixtures/proc/mountinfo"),
    include_str!("../fixtures/proc/pid-stat"),
    include_str!("../fixtures/proc/pid-status"),
    include_str!("../fixtures/proc/pid-stack"),
];

/// A capture, cut at a random point, with a few of its bytes replaced by
/// a digit run far past u64, a random byte or nothing.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..CAPTURES.len(),
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..8),
    )
        .prop_map(|(which, cut, edits)| {
            let text = CAPTURES[which].as_bytes();
            let mut bytes = text[..cut.index(text.len() + 1)].to_vec();
            for (at, how, byte) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match how {
                    0 => bytes.splice(i..i, b"99999999999999999999999999".iter().copied()).for_each(drop),
                    1 => bytes[i] = byte,
                    2 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, b'\n'),
                }
            }
            bytes
        })
}

fn inputs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![mutated(), prop::collection::vec(any::<u8>(), 0..2048)]
}

/// Every parser of kernel text, on the same input.
fn parse_everything(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = stat::parse(&text);
    let _ = meminfo::parse(&text);
    let _ = vmstat::parse(&text);
    let _ = loadavg::parse(&text);
    let _ = pressure::parse(&text);
    let _ = limits::parse_file_nr(&text);
    let _ = limits::parse_number(&text);
    let _ = netdev::parse(&text);
    let mut net = NetTotals::default();
    let _ = snmp::parse_snmp(&text, &mut net);
    let _ = snmp::parse_netstat(&text, &mut net);
    let _ = snmp::parse_sockstat(&text, &mut net);
    let _ = diskstats::parse(&text, |_| true);
    let _ = mounts::parse_mountinfo(&text);
    let _ = process::parse_stat(bytes);
    let _ = process::parse_status(&text);
    let _ = process::parse_io(&text);
    let _ = process::parse_pid(bytes);
    let _ = stacks::parse_stack(&text);
    let _ = stacks::parse_wchan(&text);
    let _ = kmsg::parse_record(bytes);
    let _ = cmdline::join_args(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn kernel_text_parsers_never_panic(bytes in inputs()) {
        parse_everything(&bytes);
    }

    #[test]
    fn user_values_never_panic(value in prop_oneof![
        "\\PC{0,40}",
        "[0-9@: -]{0,30}(ago|m|h|s|ms|d|w|y|GiB|KiB|x)?",
        "(tcp|smtp|milter|clamd|http):[\\PC]{0,40}",
    ]) {
        let now = chrono::Local::now();
        let _ = flightrec::time::parse_time("--at", &value, now);
        let _ = flightrec::time::parse_interval(
            "--interval",
            &value,
            std::time::Duration::from_millis(100),
            std::time::Duration::from_secs(3600),
        );
        let _ = flightrec::time::parse_size("--max-size", &value);
        let _ = probe::parse(&value);
    }

    #[test]
    fn configuration_files_never_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "((interval|retain|max_size|reserve|db|probes|redact|watch_dirs|watch_logs|x) = (\"[\\PC]{0,12}\"|[0-9]{1,25}|\\[\"[a-z:0-9.]{0,20}\"\\]|true)\n|\\[\\[probe\\]\\]\n|target = \"[a-z:0-9.]{0,20}\"\n){0,8}".prop_map(String::into_bytes),
    ]) {
        let name = format!("flightrec-garbage-{}-{}.toml", std::process::id(), rand_name(&bytes));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let _ = flightrec::config::load(&path);
        let _ = std::fs::remove_file(&path);
    }
}

/// A file name that differs per input, so parallel cases do not collide.
fn rand_name(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}
