//! Facts about this boot, read once when recording starts: the boot id
//! (`/proc/sys/kernel/random/boot_id` reads
//! `83cfaed0-0ddd-4d12-9f78-3782c03fb4e7`), the boot time (the `btime
//! 1795366429` line of `/proc/stat`), the hostname, and the kernel release
//! (`/proc/sys/kernel/osrelease` reads `6.18.44-fc-v769`).

use anyhow::{Context, Result, ensure};
use std::fs;

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
const STAT: &str = "/proc/stat";
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub boot_id: String,
    pub boot_time_ms: i64,
    pub hostname: String,
    pub kernel: String,
}

pub fn read() -> Result<HostInfo> {
    let hostname = nix::unistd::gethostname().context("reading the hostname")?;
    Ok(HostInfo {
        boot_id: read_with(BOOT_ID, parse_line)?,
        boot_time_ms: read_with(STAT, parse_boot_time)?,
        hostname: hostname.to_string_lossy().into_owned(),
        kernel: read_with(OSRELEASE, parse_line)?,
    })
}

fn read_with<T>(path: &str, parse: fn(&str) -> Result<T>) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse(&text).with_context(|| format!("parsing {path}"))
}

/// The text of a one-line file.
fn parse_line(text: &str) -> Result<String> {
    let line = text.trim();
    ensure!(!line.is_empty(), "expected one line, found none");
    Ok(line.to_string())
}

/// Boot time in milliseconds since the epoch, from `/proc/stat`.
fn parse_boot_time(text: &str) -> Result<i64> {
    let (line, value) =
        text.lines().find_map(|line| Some((line, line.strip_prefix("btime ")?))).context("no btime line")?;
    let seconds: u64 =
        value.trim().parse().with_context(|| format!("line {line:?}: expected seconds since the epoch"))?;
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| seconds.checked_mul(1000))
        .with_context(|| format!("line {line:?}: boot time out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_files() {
        let stat = include_str!("../../tests/fixtures/proc/stat");
        assert_eq!(parse_boot_time(stat).unwrap(), 1_795_366_429_000);
        let boot_id = include_str!("../../tests/fixtures/proc/boot_id");
        assert_eq!(parse_line(boot_id).unwrap(), "83cfaed0-0ddd-4d12-9f78-3782c03fb4e7");
        let osrelease = include_str!("../../tests/fixtures/proc/osrelease");
        assert_eq!(parse_line(osrelease).unwrap(), "6.18.44-fc-v769");
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        assert_eq!(parse_boot_time("cpu 1 2 3\n").unwrap_err().to_string(), "no btime line");
        let err = parse_boot_time("btime 18446744073709551615\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"btime 18446744073709551615\": boot time out of range");
        for text in ["btime", "btime \n", "btime -1", "btime 1e9", "btime 99999999999999999999"] {
            assert!(parse_boot_time(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_line(" \n").unwrap_err().to_string(), "expected one line, found none");
    }

    #[test]
    fn errors_name_the_file() {
        let err = read_with("/proc/no-such-file", parse_line).unwrap_err();
        assert_eq!(err.to_string(), "reading /proc/no-such-file");
        let err = read_with("/proc/self/cgroup", parse_boot_time).unwrap_err();
        assert_eq!(format!("{err:#}"), "parsing /proc/self/cgroup: no btime line");
    }

    #[test]
    fn reads_this_machine() {
        let host = read().unwrap();
        assert_eq!(host.boot_id.len(), 36, "{:?}", host.boot_id);
        assert!(host.boot_time_ms > 0);
        assert!(!host.kernel.is_empty());
    }
}
