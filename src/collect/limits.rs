//! Kernel limits under `/proc/sys`: open file handles against their maximum
//! (`/proc/sys/fs/file-nr` reads `314 0 2466181`, tab-separated: allocated,
//! unused, max) and single-number files such as `/proc/sys/kernel/pid_max`
//! (`32768`).

use crate::sample::FileHandles;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_file_nr() {
        let files = parse_file_nr(include_str!("../../tests/fixtures/proc/file-nr")).unwrap();
        assert_eq!(files, FileHandles { allocated: 314, max: 2_466_181 });
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
