//! The text of cgroup control files, both hierarchies. Pure: no paths, no
//! I/O. Three shapes cover nearly all of them:
//! - one value: `memory.current` reads `8388608`, `pids.max` reads `max`;
//! - flat keyed: `cpu.stat` reads `usage_usec 2391285` per line, as do
//!   `memory.events`, `pids.events`, v1 `cpuacct.stat` and
//!   `memory.oom_control`;
//! - per device: v2 `io.stat` reads `8:0 rbytes=1 wbytes=2 rios=3 wios=4`,
//!   v1 `blkio.throttle.io_service_bytes` reads `8:0 Read 4096` per line.

use crate::sample::DeviceIo;
use anyhow::{Context, Result};

/// v1 writes "no limit" as the largest page-aligned counter
/// (9223372036854771712 with 4 KiB pages); anything from 2^62 up is that.
const V1_UNLIMITED: u64 = 1 << 62;

/// A single unsigned number, as in `memory.current` or `pids.current`.
pub fn number(text: &str) -> Result<u64> {
    let value = text.trim();
    value.parse().with_context(|| format!("expected a number, found {value:?}"))
}

/// A limit: `max` (v2) or the v1 "unlimited" value is `None`.
pub fn limit(text: &str) -> Result<Option<u64>> {
    let value = text.trim();
    if value == "max" {
        return Ok(None);
    }
    let limit: u64 = value.parse().with_context(|| format!("expected a number or max, found {value:?}"))?;
    Ok((limit < V1_UNLIMITED).then_some(limit))
}

/// The values of `keys` in a flat keyed file, in one pass; `None` for a key
/// the kernel does not write (older kernels write fewer).
pub fn keyed<const N: usize>(text: &str, keys: [&str; N]) -> Result<[Option<u64>; N]> {
    let mut values = [None; N];
    for line in text.lines() {
        let Some((name, value)) = line.split_once(' ') else { continue };
        if let Some(index) = keys.iter().position(|key| *key == name) {
            let number = value.trim().parse().with_context(|| format!("line {line:?}: expected a number"))?;
            values[index] = Some(number);
        }
    }
    Ok(values)
}

/// A CPU quota as (quota µs, period µs), or `None` when unlimited. v2
/// `cpu.max` reads `50000 100000` or `max 100000`.
pub fn cpu_max(text: &str) -> Result<Option<(u64, u64)>> {
    let mut fields = text.split_ascii_whitespace();
    let (Some(quota), Some(period)) = (fields.next(), fields.next()) else {
        anyhow::bail!("expected a quota and a period, found {:?}", text.trim());
    };
    let period = number(period)?;
    if quota == "max" {
        return Ok(None);
    }
    Ok(Some((number(quota)?, period)))
}

/// A v1 CPU quota from `cpu.cfs_quota_us` (`-1` when unlimited) and
/// `cpu.cfs_period_us`.
pub fn cfs_quota(quota: &str, period: &str) -> Result<Option<(u64, u64)>> {
    let quota = quota.trim();
    if quota.starts_with('-') {
        return Ok(None);
    }
    Ok(Some((number(quota)?, number(period)?)))
}

/// v2 `io.stat`: one line per device with `key=value` fields; keys this
/// code does not use (`dbytes`, `dios`, cost model fields) are skipped.
pub fn io_stat(text: &str) -> Result<Vec<DeviceIo>> {
    let mut devices = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(device) = fields.next() else { continue };
        let mut io = DeviceIo { device: device.to_string(), ..DeviceIo::default() };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else { continue };
            let slot = match key {
                "rbytes" => &mut io.read_bytes,
                "wbytes" => &mut io.write_bytes,
                "rios" => &mut io.read_ops,
                "wios" => &mut io.write_ops,
                _ => continue,
            };
            *slot = value.parse().with_context(|| format!("line {line:?}: expected a number in {key}"))?;
        }
        devices.push(io);
    }
    Ok(devices)
}

/// v1 `blkio.throttle.io_service_bytes` and `blkio.throttle.io_serviced`:
/// lines `8:0 Read 4096` per device and operation, then `Total N`.
pub fn blkio(bytes: &str, ops: &str) -> Result<Vec<DeviceIo>> {
    let mut devices: Vec<DeviceIo> = Vec::new();
    for (text, is_bytes) in [(bytes, true), (ops, false)] {
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(device), Some(operation), Some(value)) = (fields.next(), fields.next(), fields.next())
            else {
                continue; // `Total N` and blank lines
            };
            let value: u64 = value.parse().with_context(|| format!("line {line:?}: expected a number"))?;
            let index = match devices.iter().position(|d| d.device == device) {
                Some(index) => index,
                None => {
                    devices.push(DeviceIo { device: device.to_string(), ..DeviceIo::default() });
                    devices.len() - 1
                }
            };
            let io = &mut devices[index];
            let slot = match (operation, is_bytes) {
                ("Read", true) => &mut io.read_bytes,
                ("Write", true) => &mut io.write_bytes,
                ("Read", false) => &mut io.read_ops,
                ("Write", false) => &mut io.write_ops,
                _ => continue,
            };
            *slot = value;
        }
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($dir:expr, $name:literal) => {
            include_str!(concat!("../../../tests/fixtures/cgroup/", $dir, "/", $name))
        };
    }

    #[test]
    fn reads_v2_cpu_stat_and_quota() {
        let text = fixture!("v2/system.slice/postfix.service", "cpu.stat");
        assert_eq!(
            keyed(text, ["usage_usec", "nr_throttled", "throttled_usec", "no_such_key"]).unwrap(),
            [Some(2_391_285_112), Some(1_472), Some(73_599_876), None]
        );
        assert_eq!(
            cpu_max(fixture!("v2/system.slice/postfix.service", "cpu.max")).unwrap(),
            Some((50_000, 100_000))
        );
        assert_eq!(cpu_max("max 100000\n").unwrap(), None);
        assert!(cpu_max("max\n").is_err());
    }

    #[test]
    fn reads_v2_memory_and_pids() {
        assert_eq!(
            number(fixture!("v2/system.slice/postfix.service", "memory.current")).unwrap(),
            268_140_544
        );
        assert_eq!(
            limit(fixture!("v2/system.slice/postfix.service", "memory.max")).unwrap(),
            Some(268_435_456)
        );
        assert_eq!(limit(fixture!("v2/system.slice/postfix.service", "memory.high")).unwrap(), None);
        let events = fixture!("v2/system.slice/postfix.service", "memory.events");
        assert_eq!(keyed(events, ["max", "oom_kill"]).unwrap(), [Some(9_145), Some(2)]);
        assert_eq!(limit(fixture!("v2/system.slice/postfix.service", "pids.max")).unwrap(), Some(4_915));
        assert_eq!(
            keyed(fixture!("v2/system.slice/postfix.service", "pids.events"), ["max"]).unwrap(),
            [Some(1_233)]
        );
    }

    #[test]
    fn reads_v2_io_stat() {
        let devices = io_stat(fixture!("v2/system.slice/postfix.service", "io.stat")).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(
            devices[0],
            DeviceIo {
                device: "254:0".into(),
                read_bytes: 11_374_592,
                write_bytes: 942_080_000,
                read_ops: 301,
                write_ops: 20_117
            }
        );
    }

    #[test]
    fn reads_v1_files() {
        let oom = fixture!("v1/memory", "memory.oom_control");
        assert_eq!(keyed(oom, ["under_oom", "oom_kill"]).unwrap(), [Some(0), Some(0)]);
        assert_eq!(limit(fixture!("v1/memory", "memory.limit_in_bytes")).unwrap(), None);
        assert_eq!(keyed(fixture!("v1/cpuacct", "cpuacct.stat"), ["user"]).unwrap(), [Some(46_579)]);
        assert_eq!(cfs_quota("-1\n", "100000\n").unwrap(), None);
        assert_eq!(cfs_quota("25000\n", "100000\n").unwrap(), Some((25_000, 100_000)));
        let devices = blkio(
            fixture!("v1/blkio", "blkio.throttle.io_service_bytes"),
            fixture!("v1/blkio", "blkio.throttle.io_serviced"),
        )
        .unwrap();
        assert_eq!(
            devices,
            vec![DeviceIo {
                device: "254:0".into(),
                read_bytes: 1_806_336,
                write_bytes: 4_096_000,
                read_ops: 71,
                write_ops: 1_000
            }]
        );
    }

    #[test]
    fn refuses_garbage_with_the_line() {
        let err = keyed("usage_usec lots\n", ["usage_usec"]).unwrap_err();
        assert!(format!("{err:#}").contains("usage_usec lots"), "{err:#}");
        assert!(limit("unlimited").is_err());
        assert!(io_stat("8:0 rbytes=x").is_err());
    }
}
