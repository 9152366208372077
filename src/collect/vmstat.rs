//! `/proc/vmstat`: major faults, swap traffic and OOM kills since boot.
//! Lines read `pgmajfault 703`. The other ~180 counters are skipped.

use crate::sample::VmCounters;
use anyhow::{Context, Result, bail};

type Slot = fn(&mut VmCounters) -> &mut u64;

/// Counters, where each goes, and whether every kernel has it: `oom_kill`
/// arrived in 4.13, and 0 is the truth for a kernel that does not count.
const FIELDS: [(&str, Slot, bool); 4] = [
    ("pgmajfault", |vm| &mut vm.major_faults, true),
    ("pswpin", |vm| &mut vm.swap_in, true),
    ("pswpout", |vm| &mut vm.swap_out, true),
    ("oom_kill", |vm| &mut vm.oom_kills, false),
];

pub fn parse(text: &str) -> Result<VmCounters> {
    let mut vm = VmCounters::default();
    let mut seen = [false; FIELDS.len()];
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let Some(i) = FIELDS.iter().position(|(name, ..)| *name == key) else {
            continue;
        };
        *FIELDS[i].1(&mut vm) =
            value.trim().parse().with_context(|| format!("line {line:?}: expected a number"))?;
        seen[i] = true;
    }
    if let Some(i) = (0..FIELDS.len()).find(|&i| FIELDS[i].2 && !seen[i]) {
        bail!("no {} line", FIELDS[i].0);
    }
    Ok(vm)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/fixtures/proc/vmstat");

    #[test]
    fn parses_captured_vmstat() {
        assert_eq!(
            parse(CAPTURED).unwrap(),
            VmCounters { major_faults: 703, swap_in: 0, swap_out: 0, oom_kills: 0 }
        );
    }

    #[test]
    fn kernel_without_oom_kill_counts_zero() {
        let vm = parse(include_str!("../../tests/fixtures/proc/vmstat-4.9")).unwrap();
        assert_eq!(vm, VmCounters { major_faults: 4101, swap_in: 12, swap_out: 340, oom_kills: 0 });
    }

    #[test]
    fn reads_oom_kill() {
        let text = CAPTURED.replace("oom_kill 0", "oom_kill 3");
        assert_eq!(parse(&text).unwrap().oom_kills, 3);
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        assert_eq!(parse("pgmajfault 703\n").unwrap_err().to_string(), "no pswpin line");
        let err = parse("pswpin 1\npswpout 2\npgmajfault 7x\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"pgmajfault 7x\": expected a number: invalid digit found in string"
        );
        for text in ["", "garbage", "pgmajfault", "pgmajfault 18446744073709551616"] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
