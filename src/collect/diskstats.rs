//! `/proc/diskstats`: I/O counters of whole block devices since boot.
//! Lines read `254 0 vda 9828 3944 2167682 7585 2542 13129 3043968 17661 0 5156 26415 ...`:
//! major, minor, name, then the counters of the kernel's
//! Documentation/admin-guide/iostats.rst. Which names are whole devices
//! (not partitions) is the caller's knowledge, from /sys/block.

use crate::sample::Disk;
use anyhow::{Context, Result};

/// Counters up to the last one kept, "time spent doing I/Os (ms)". Kernels
/// before 4.18 print 11, later ones 15 or 17.
const COUNTERS: usize = 10;

pub fn parse(text: &str, is_whole_disk: impl Fn(&str) -> bool) -> Result<Vec<Disk>> {
    let mut disks = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let name = fields.nth(2).with_context(|| format!("line {line:?}: expected major, minor and name"))?;
        if !is_whole_disk(name) {
            continue;
        }
        let mut c = [0u64; COUNTERS];
        for slot in &mut c {
            let field =
                fields.next().with_context(|| format!("line {line:?}: expected {COUNTERS} counters"))?;
            *slot =
                field.parse().with_context(|| format!("line {line:?}: expected a number, got {field:?}"))?;
        }
        let (reads, writes) = (c[0], c[4]);
        // Every loop and ram device exists from boot, most never used.
        let unused = reads == 0 && writes == 0;
        if unused && (name.starts_with("loop") || name.starts_with("ram")) {
            continue;
        }
        disks.push(Disk {
            name: name.to_string(),
            reads,
            read_sectors: c[2],
            read_ms: c[3],
            writes,
            write_sectors: c[6],
            write_ms: c[7],
            in_flight: c[8],
            io_ms: c[9],
        });
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/fixtures/proc/diskstats");
    const KERNEL_4_14: &str = include_str!("../../tests/fixtures/proc/diskstats-4.14");

    /// /sys/block of the fixtures' machines: all but the partition sda1.
    fn whole(name: &str) -> bool {
        name != "sda1"
    }

    #[test]
    fn parses_captured_diskstats() {
        let disks = parse(CAPTURED, whole).unwrap();
        assert_eq!(
            disks,
            [
                Disk {
                    name: "vda".into(),
                    reads: 9828,
                    read_sectors: 2_167_682,
                    read_ms: 7585,
                    writes: 2542,
                    write_sectors: 3_043_968,
                    write_ms: 17661,
                    in_flight: 0,
                    io_ms: 5156,
                },
                Disk { name: "zram0".into(), ..Disk::default() },
            ]
        );
    }

    #[test]
    fn parses_kernel_4_14_and_skips_partitions_and_idle_loops() {
        let disks = parse(KERNEL_4_14, whole).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sda", "loop1", "ram1", "dm-0"]);
        assert_eq!(
            disks[3],
            Disk {
                name: "dm-0".into(),
                reads: 80211,
                read_sectors: 4_966_010,
                read_ms: 58320,
                writes: 124_202,
                write_sectors: 3_456_784,
                write_ms: 612_004,
                in_flight: 2,
                io_ms: 76100,
            }
        );
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let truncated = &CAPTURED[..CAPTURED.find(" 3043968").unwrap()];
        let err = parse(truncated, whole).unwrap_err();
        assert!(format!("{err:#}").ends_with("expected 10 counters"), "{err:#}");
        let err = parse("   8 0\n", whole).unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"   8 0\": expected major, minor and name");
        for text in [
            "garbage",
            "8 0 sda 1 2 3 4 5 6 7 8 9 x 11",
            "8 0 sda 1 2 3 -4 5 6 7 8 9 10 11",
            "8 0 sda 18446744073709551616 2 3 4 5 6 7 8 9 10 11",
        ] {
            assert!(parse(text, whole).is_err(), "{text:?}");
        }
    }

    #[test]
    fn garbage_for_a_partition_is_not_read() {
        let disks = parse("8 1 sda1 not counters\n", whole).unwrap();
        assert!(disks.is_empty());
    }
}
