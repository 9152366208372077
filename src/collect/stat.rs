//! `/proc/stat`: CPU time summed over all CPUs, in ticks (USER_HZ), and the
//! scheduler counters. Lines read `cpu  26854 0 3717 50028 245 0 45 73 0 0`
//! and `ctxt 259172`. Per-CPU lines are only counted; `intr`, `softirq` and
//! `btime` are left to others (`host` reads `btime`).

use crate::sample::CpuTimes;
use anyhow::{Context, Result, bail, ensure};

type Slot = fn(&mut CpuTimes) -> &mut u64;

/// Lines holding one number, with where each goes.
const COUNTERS: [(&str, Slot); 4] = [
    ("ctxt", |cpu| &mut cpu.ctxt),
    ("processes", |cpu| &mut cpu.forks),
    ("procs_running", |cpu| &mut cpu.procs_running),
    ("procs_blocked", |cpu| &mut cpu.procs_blocked),
];

/// Runs every tick, and the `intr` line alone can be kilobytes long: lines
/// are split in place, and skipped lines are never scanned past their key.
pub fn parse(text: &str) -> Result<CpuTimes> {
    let mut cpu = CpuTimes::default();
    let mut seen_cpu = false;
    let mut seen = [false; COUNTERS.len()];
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if key == "cpu" {
            // Columns after `steal` (guest, guest_nice) are already counted
            // in user and nice.
            for slot in [
                &mut cpu.user,
                &mut cpu.nice,
                &mut cpu.system,
                &mut cpu.idle,
                &mut cpu.iowait,
                &mut cpu.irq,
                &mut cpu.softirq,
                &mut cpu.steal,
            ] {
                *slot = next_number(line, &mut fields)?;
            }
            seen_cpu = true;
        } else if is_one_cpu(key) {
            cpu.ncpu += 1;
        } else if let Some(i) = COUNTERS.iter().position(|(name, _)| *name == key) {
            *COUNTERS[i].1(&mut cpu) = next_number(line, &mut fields)?;
            seen[i] = true;
        }
    }
    ensure!(seen_cpu, "no cpu line");
    if let Some(i) = seen.iter().position(|seen| !seen) {
        bail!("no {} line", COUNTERS[i].0);
    }
    ensure!(cpu.ncpu > 0, "no cpuN lines");
    Ok(cpu)
}

/// `cpu0`, `cpu17`: one CPU's line.
fn is_one_cpu(key: &str) -> bool {
    key.strip_prefix("cpu").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn next_number<'a>(line: &str, fields: &mut impl Iterator<Item = &'a str>) -> Result<u64> {
    let field = fields.next().with_context(|| format!("line {line:?}: expected more numbers"))?;
    field.parse().with_context(|| format!("line {line:?}: expected a number, got {field:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/fixtures/proc/stat");

    #[test]
    fn parses_captured_stat() {
        let cpu = parse(CAPTURED).unwrap();
        assert_eq!(
            cpu,
            CpuTimes {
                user: 26854,
                nice: 0,
                system: 3717,
                idle: 50028,
                iowait: 245,
                irq: 0,
                softirq: 45,
                steal: 73,
                ctxt: 259172,
                forks: 7230,
                procs_running: 3,
                procs_blocked: 0,
                ncpu: 2,
            }
        );
    }

    #[test]
    fn missing_line_is_named() {
        let text = CAPTURED.replace("procs_blocked", "procs_stuck");
        assert_eq!(parse(&text).unwrap_err().to_string(), "no procs_blocked line");
        let text = CAPTURED.replace("cpu  ", "all  ");
        assert_eq!(parse(&text).unwrap_err().to_string(), "no cpu line");
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let truncated = &CAPTURED[..CAPTURED.find("procs_running").unwrap()];
        assert_eq!(parse(truncated).unwrap_err().to_string(), "no procs_running line");
        let err = parse("cpu  26854 0 3717\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"cpu  26854 0 3717\": expected more numbers");
        let err = parse("ctxt 99999999999999999999\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"ctxt 99999999999999999999\": expected a number, got \
             \"99999999999999999999\": number too large to fit in target type"
        );
        for text in ["", "garbage", "cpu -1 0 0 0 0 0 0 0", "cpu\n"] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn counts_cpu_lines_only() {
        assert!(is_one_cpu("cpu0"));
        assert!(is_one_cpu("cpu127"));
        assert!(!is_one_cpu("cpu"));
        assert!(!is_one_cpu("cpux"));
    }
}
