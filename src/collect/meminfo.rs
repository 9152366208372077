//! `/proc/meminfo`: memory and swap, in bytes.
//! Lines read `MemAvailable:   24218912 kB`. Keys not in `FIELDS` are
//! skipped (kernels add keys); every key in `FIELDS` must be present.

use crate::sample::Memory;
use anyhow::{Context, Result, bail};

type Slot = fn(&mut Memory) -> &mut u64;

const FIELDS: [(&str, Slot); 12] = [
    ("MemTotal", |mem| &mut mem.total),
    ("MemFree", |mem| &mut mem.free),
    ("MemAvailable", |mem| &mut mem.available),
    ("Buffers", |mem| &mut mem.buffers),
    ("Cached", |mem| &mut mem.cached),
    ("SwapTotal", |mem| &mut mem.swap_total),
    ("SwapFree", |mem| &mut mem.swap_free),
    ("Dirty", |mem| &mut mem.dirty),
    ("Writeback", |mem| &mut mem.writeback),
    ("Shmem", |mem| &mut mem.shmem),
    ("Slab", |mem| &mut mem.slab),
    ("Committed_AS", |mem| &mut mem.committed),
];

pub fn parse(text: &str) -> Result<Memory> {
    let mut mem = Memory::default();
    let mut seen = [false; FIELDS.len()];
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Some(i) = FIELDS.iter().position(|(name, _)| *name == key) else {
            continue;
        };
        let kib: u64 = value
            .trim()
            .strip_suffix(" kB")
            .with_context(|| format!("line {line:?}: expected a number of kB"))?
            .trim_end()
            .parse()
            .with_context(|| format!("line {line:?}: expected a number of kB"))?;
        *FIELDS[i].1(&mut mem) =
            kib.checked_mul(1024).with_context(|| format!("line {line:?}: too many kB to count in bytes"))?;
        seen[i] = true;
    }
    if let Some(i) = seen.iter().position(|seen| !seen) {
        bail!("no {} line", FIELDS[i].0);
    }
    Ok(mem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/fixtures/proc/meminfo");

    #[test]
    fn parses_captured_meminfo() {
        let mem = parse(CAPTURED).unwrap();
        assert_eq!(
            mem,
            Memory {
                total: 24_683_656 * 1024,
                available: 24_218_912 * 1024,
                free: 22_843_556 * 1024,
                buffers: 7_108 * 1024,
                cached: 1_560_300 * 1024,
                dirty: 30_464 * 1024,
                writeback: 0,
                shmem: 8_896 * 1024,
                slab: 75_328 * 1024,
                swap_total: 0,
                swap_free: 0,
                committed: 131_204 * 1024,
            }
        );
    }

    #[test]
    fn missing_key_is_named() {
        let text = CAPTURED.replace("MemAvailable:", "MemGuess:");
        assert_eq!(parse(&text).unwrap_err().to_string(), "no MemAvailable line");
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let truncated = &CAPTURED[..CAPTURED.find("Committed_AS").unwrap()];
        assert_eq!(parse(truncated).unwrap_err().to_string(), "no Committed_AS line");
        let err = parse("MemTotal:       24683656\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"MemTotal:       24683656\": expected a number of kB");
        let err = parse("MemTotal: 18446744073709551615 kB\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"MemTotal: 18446744073709551615 kB\": too many kB to count in bytes"
        );
        for text in ["", "MemTotal: -5 kB", "MemTotal: lots kB", "\u{0}:\n:"] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
