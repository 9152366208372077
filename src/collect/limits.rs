//! Kernel limits under `/proc/sys`: open file handles against their maximum
//! (`/proc/sys/fs/file-nr` reads `314 0 2466181`, tab-separated: allocated,
//! unused, max) and single-number files such as `/proc/sys/kernel/pid_max`
//! (`32768`); and a process's own limits in `/proc/PID/limits`.

use crate::sample::{FileHandles, Limits};
use anyhow::{Context, Result, ensure};

pub fn parse_file_nr(text: &str) -> Result<FileHandles> {
    let line = text.lines().next().unwrap_or_default();
    let mut fields = line.split_ascii_whitespace();
    let mut next = || -> Result<u64> {
        let field =
            fields.next().with_context(|| format!("line {line:?}: expected allocated, unused and max"))?;
        field.parse().with_context(|| format!("line {line:?}: expected a number, got {field:?}"))
    };
    let allocated = next()?;
    // The unused count has been 0 since 2.6; it is checked, not kept.
    next()?;
    let max = next()?;
    Ok(FileHandles { allocated, max })
}

pub fn parse_number(text: &str) -> Result<u64> {
    let line = text.lines().next().unwrap_or_default();
    let mut fields = line.split_ascii_whitespace();
    let field = fields.next().unwrap_or_default();
    ensure!(fields.next().is_none(), "line {line:?}: expected one number");
    field.parse().with_context(|| format!("line {line:?}: expected a number"))
}

/// The soft limits of open files and processes from `/proc/PID/limits`, a
/// table of `name  soft  hard  units` with names of several words:
/// `Max open files            1024                 524288               files`.
/// `None` when the text has neither line.
pub fn parse_process_limits(text: &str) -> Option<Limits> {
    let soft = |name: &str| -> Option<Option<u64>> {
        let line = text.lines().find_map(|line| line.strip_prefix(name))?;
        match line.split_ascii_whitespace().next()? {
            "unlimited" => Some(None),
            number => number.parse().ok().map(Some),
        }
    };
    let (open_files, processes) = (soft("Max open files"), soft("Max processes"));
    if open_files.is_none() && processes.is_none() {
        return None;
    }
    Some(Limits { open_files: open_files.flatten(), processes: processes.flatten() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_file_nr() {
        let files = parse_file_nr(include_str!("../../tests/fixtures/proc/file-nr")).unwrap();
        assert_eq!(files, FileHandles { allocated: 314, max: 2_466_181 });
    }

    #[test]
    fn parses_captured_process_limits() {
        let limits = parse_process_limits(include_str!("../../tests/fixtures/proc/limits")).unwrap();
        assert_eq!(limits, Limits { open_files: Some(20_000), processes: Some(96_365) });
        let unlimited = "Max processes             unlimited            unlimited            processes\n";
        assert_eq!(parse_process_limits(unlimited), Some(Limits { open_files: None, processes: None }));
        assert_eq!(parse_process_limits("Max cpu time  unlimited  unlimited  seconds\n"), None);
        assert_eq!(parse_process_limits(""), None);
    }

    #[test]
    fn parses_captured_pid_max() {
        let pid_max = parse_number(include_str!("../../tests/fixtures/proc/pid_max")).unwrap();
        assert_eq!(pid_max, 32768);
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let err = parse_file_nr("314\t0").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"314\\t0\": expected allocated, unused and max");
        for text in ["", "x 0 1", "1 0 -1", "1 0 18446744073709551616"] {
            assert!(parse_file_nr(text).is_err(), "{text:?}");
        }
        let err = parse_number("32768 4\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"32768 4\": expected one number");
        let err = parse_number("").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"\": expected a number: cannot parse integer from empty string"
        );
        for text in ["\n", "-1", "0x10", "99999999999999999999"] {
            assert!(parse_number(text).is_err(), "{text:?}");
        }
    }
}
