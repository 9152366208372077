//! `/dev/kmsg`: the kernel's log as it arrives, for the messages that explain
//! a crash or a freeze (OOM kills, hung tasks, lockups, I/O errors, oopses).
//! Each `read()` of the device returns one record, e.g.
//! `3,1201,86400123456,-;INFO: task imapd:4242 blocked for more than 122 seconds.`
//! (priority and facility, sequence number, µs since boot, flags; then the
//! text), possibly followed by ` KEY=value` continuation lines.
//!
//! `KmsgReader` drains what arrived since the previous sample without blocking
//! and keeps what matters, bounded whatever the rate; `parse_record` and
//! `keep` are pure. The previous boot's last words are in `pstore`, not here.

use crate::sample::KernelMessage;
use anyhow::{Context, Result, bail};
use nix::time::{ClockId, clock_gettime};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

const PATH: &str = "/dev/kmsg";

/// Distinct messages kept per `read`; the rest of a flood is counted in one
/// "N more kernel messages not kept" message.
pub const KEPT_MAX: usize = 100;

/// Records read per `read`, so a kernel logging faster than we read cannot
/// hold up a sample; what is left is read next time (or, if the kernel
/// overwrites it first, counted as lost).
const READS_MAX: usize = 20_000;

/// The kernel fails a read into a buffer smaller than the record with EINVAL
/// and does not advance; no kernel formats a record longer than 8 KiB
/// (CONSOLE_EXT_LOG_MAX; recent ones stop at 2 KiB).
const RECORD_MAX: usize = 8192;

/// Texts worth keeping whatever their priority: several of these are logged
/// at info level (`segfault`, `oom-kill:`, SYN flooding). Matched with case, as
/// the kernel spells them, so a boot's `panic=1` on the command line or "NMI
/// watchdog: Perf NMI watchdog permanently disabled" do not match.
const PATTERNS: &[&str] = &[
    "Out of memory",
    "oom-kill",
    "Killed process",
    "blocked for more than",
    "soft lockup",
    "hard LOCKUP",
    "watchdog: BUG",
    "I/O error",
    "blk_update_request",
    "segfault",
    "NMI received",
    "NMI backtrace",
    "BUG:",
    "Call Trace",
    "general protection",
    "Oops",
    "Kernel panic",
    "EXT4-fs error",
    "nf_conntrack: table full",
    "TCP: out of memory",
    "SYN flooding",
];

/// The least severe priority kept for itself: warning (0 emergency ... 7 debug).
const WARNING: u8 = 4;

/// An open `/dev/kmsg` and what it takes to read it incrementally.
pub struct KmsgReader {
    file: File,
    buf: Vec<u8>,
    stream: Stream,
}

impl KmsgReader {
    /// Opens `/dev/kmsg` positioned after the newest record, so only
    /// messages logged from now on are read. Fails with a message saying so
    /// where reading the kernel log is not permitted (not root, or without
    /// CAP_SYSLOG when `kernel.dmesg_restrict` is 1).
    pub fn open() -> Result<KmsgReader> {
        let mut file = match OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(PATH) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::PermissionDenied => bail!(
                "opening {PATH}: not permitted ({err}); kernel messages are recorded only as root \
                 or with CAP_SYSLOG"
            ),
            Err(err) => return Err(err).with_context(|| format!("opening {PATH}")),
        };
        file.seek(SeekFrom::End(0)).with_context(|| format!("seeking to the end of {PATH}"))?;
        Ok(KmsgReader { file, buf: vec![0; RECORD_MAX], stream: Stream::default() })
    }

    /// The messages worth keeping among those logged since the previous
    /// call, oldest first, with identical texts collapsed into `repeats`.
    /// Never blocks. Records the kernel overwrote before they were read come
    /// back as one "N kernel messages lost" message; a flood beyond
    /// `KEPT_MAX` distinct texts as one "N more kernel messages not kept".
    pub fn read(&mut self) -> Vec<KernelMessage> {
        let boot_ms = boot_wall_ms();
        let mut batch = Batch::default();
        let mut failure = None;
        for _ in 0..READS_MAX {
            match self.file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(len) => self.stream.take(&self.buf[..len], boot_ms, &mut batch),
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                // Records were overwritten under us; the kernel moved us to
                // the oldest one left, and its sequence number tells how many.
                Err(err) if err.raw_os_error() == Some(nix::libc::EPIPE) => self.stream.overrun = true,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let mut kept = batch.finish();
        if let Some(err) = failure {
            // A record the kernel cannot hand over would fail every read
            // after it: skip to the newest to stay unstuck, and say so.
            let skipped = self.file.seek(SeekFrom::End(0)).is_ok();
            self.stream = Stream::default();
            let text = format!(
                "reading {PATH} failed: {err}{}",
                if skipped { "; skipped to the newest message" } else { "" }
            );
            let time_ms = clock_ms(ClockId::CLOCK_REALTIME);
            kept.push(KernelMessage { time_ms, priority: WARNING, text, repeats: 0 });
        }
        kept
    }
}

/// The parts of one record: priority (0-7), sequence number, µs since boot
/// and the text with the kernel's `\xNN` escapes decoded. Continuation lines
/// (` SUBSYSTEM=block`) are left out. `None` for what is not a record.
pub fn parse_record(bytes: &[u8]) -> Option<(u8, u64, u64, String)> {
    let semicolon = bytes.iter().position(|&b| b == b';')?;
    let header = std::str::from_utf8(&bytes[..semicolon]).ok()?;
    // Later kernels may add fields after the flags: ignored, as the ABI asks.
    let mut fields = header.split(',');
    let prefix: u32 = fields.next()?.parse().ok()?;
    let seq: u64 = fields.next()?.parse().ok()?;
    let ts_us: u64 = fields.next()?.parse().ok()?;
    fields.next()?;
    let rest = &bytes[semicolon + 1..];
    let text = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => &rest[..end],
        None => rest,
    };
    // The low 3 bits are the priority, the rest the facility (user space
    // writing to /dev/kmsg gets facility 1, never 0 "kernel").
    Some(((prefix & 7) as u8, seq, ts_us, unescape(text)))
}

/// Whether a message is worth storing: warning or worse, or a known incident
/// pattern at any priority.
pub fn keep(priority: u8, text: &str) -> bool {
    priority <= WARNING || PATTERNS.iter().any(|pattern| text.contains(pattern))
}

/// Decodes the `\xNN` escapes the kernel puts for every byte outside
/// printable ASCII and for `\` itself, so UTF-8 text reads as written.
/// Control characters other than tab stay escaped: a message must not move
/// the cursor of the terminal that prints a report.
fn unescape(raw: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = (raw[i] == b'\\' && raw.get(i + 1) == Some(&b'x'))
            .then(|| raw.get(i + 2..i + 4))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                bytes.push(byte);
                i += 4;
            }
            None => {
                bytes.push(raw[i]);
                i += 1;
            }
        }
    }
    let mut text = String::with_capacity(bytes.len());
    for c in String::from_utf8_lossy(&bytes).chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(text, "{}", c.escape_default());
        } else {
            text.push(c);
        }
    }
    text
}

/// What must be remembered between records: the next sequence number, to
/// count records lost, and whether we are inside a call trace.
#[derive(Default)]
struct Stream {
    /// Unknown until the first record after opening: the kernel does not
    /// say where SEEK_END left us.
    next_seq: Option<u64>,
    /// The last read failed with EPIPE: records were overwritten.
    overrun: bool,
    in_trace: bool,
}

impl Stream {
    fn take(&mut self, record: &[u8], boot_ms: i64, batch: &mut Batch) {
        // Not a record: nothing the kernel writes, so nothing to keep.
        let Some((priority, seq, ts_us, text)) = parse_record(record) else {
            return;
        };
        let time_ms = boot_ms.saturating_add((ts_us / 1000) as i64);
        match (self.next_seq, self.overrun) {
            (Some(expected), _) if seq > expected => batch.lose(seq - expected, true, time_ms),
            (None, true) => batch.lose(0, false, time_ms),
            _ => {}
        }
        self.next_seq = Some(seq + 1);
        self.overrun = false;
        // The frames of a trace are separate records starting with a space,
        // at the priority of the report: info for a hung task's stack. They
        // are kept after a kept "Call Trace:" until a record is not a frame.
        let frame = self.in_trace && text.starts_with(' ');
        self.in_trace = frame || text.contains("Call Trace");
        if frame || keep(priority, &text) {
            batch.add(KernelMessage { time_ms, priority, text, repeats: 0 });
        }
    }
}

/// The messages kept from one `read`, bounded.
#[derive(Default)]
struct Batch {
    kept: Vec<KernelMessage>,
    dropped: u32,
    dropped_priority: u8,
    dropped_time_ms: i64,
    lost: Option<Lost>,
}

/// Records the kernel overwrote before we read them.
struct Lost {
    /// Where in `kept` the first loss was noticed, and when.
    at: usize,
    time_ms: i64,
    count: u64,
    /// False when a loss was noticed before the first record after opening,
    /// with no sequence number to count from.
    all_counted: bool,
}

impl Batch {
    fn add(&mut self, message: KernelMessage) {
        let same = |kept: &&mut KernelMessage| kept.priority == message.priority && kept.text == message.text;
        if let Some(kept) = self.kept.iter_mut().find(same) {
            kept.repeats = kept.repeats.saturating_add(1);
        } else if self.kept.len() < KEPT_MAX {
            self.kept.push(message);
        } else {
            // The note carries the worst priority it stands for, so a panic
            // drowned in a flood still ranks as one.
            self.dropped_priority = if self.dropped == 0 {
                message.priority
            } else {
                self.dropped_priority.min(message.priority)
            };
            self.dropped += 1;
            self.dropped_time_ms = message.time_ms;
        }
    }

    fn lose(&mut self, count: u64, counted: bool, time_ms: i64) {
        let at = self.kept.len();
        let lost = self.lost.get_or_insert(Lost { at, time_ms, count: 0, all_counted: true });
        lost.count += count;
        lost.all_counted &= counted;
    }

    fn finish(mut self) -> Vec<KernelMessage> {
        if self.dropped > 0 {
            self.kept.push(KernelMessage {
                time_ms: self.dropped_time_ms,
                priority: self.dropped_priority,
                text: format!("{} more kernel messages not kept", self.dropped),
                repeats: 0,
            });
        }
        if let Some(lost) = self.lost {
            let what = match (lost.count, lost.all_counted) {
                (count, true) => format!("{count} kernel messages"),
                (0, false) => "kernel messages".to_owned(),
                (count, false) => format!("more than {count} kernel messages"),
            };
            let text = format!("{what} lost: overwritten before flightrec read them");
            // What was lost is unknown; that evidence is missing is a warning.
            let note = KernelMessage { time_ms: lost.time_ms, priority: WARNING, text, repeats: 0 };
            self.kept.insert(lost.at, note);
        }
        self.kept
    }
}

/// Wall time of boot as the kernel log counts it, in ms since the epoch.
/// The ABI documents record times as CLOCK_MONOTONIC µs; the kernel takes
/// them from its scheduler clock, which like CLOCK_MONOTONIC stops during
/// suspend but is not slewed by NTP, so converted times can drift from wall
/// time by the clock's error over the uptime (seconds after weeks at most).
/// Computed at every read, so clock steps are followed.
fn boot_wall_ms() -> i64 {
    clock_ms(ClockId::CLOCK_REALTIME) - clock_ms(ClockId::CLOCK_MONOTONIC)
}

fn clock_ms(id: ClockId) -> i64 {
    clock_gettime(id).map(Duration::from).unwrap_or_default().as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = include_str!("../../tests/fixtures/kmsg/boot");
    const INCIDENT: &str = include_str!("../../tests/fixtures/kmsg/incident");
    /// Wall time of boot in the fixtures: 2026-11-22 00:00:00 UTC.
    const BOOT_MS: i64 = 1_795_305_600_000;

    /// Splits `cat /dev/kmsg` output into records: a record is a line and the
    /// continuation lines (starting with a space) after it.
    fn records(text: &str) -> Vec<&str> {
        let mut starts: Vec<usize> = vec![0];
        starts.extend(
            text.match_indices('\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < text.len() && !text[i..].starts_with(' ')),
        );
        starts.iter().zip(starts.iter().skip(1).chain([&text.len()])).map(|(&a, &b)| &text[a..b]).collect()
    }

    fn through_stream(records: &[&str]) -> Vec<KernelMessage> {
        let mut stream = Stream::default();
        let mut batch = Batch::default();
        for record in records {
            stream.take(record.as_bytes(), BOOT_MS, &mut batch);
        }
        batch.finish()
    }

    #[test]
    fn parses_captured_records() {
        let records = records(BOOT);
        assert_eq!(records.len(), 198);
        let parsed: Vec<_> = records.iter().map(|r| parse_record(r.as_bytes()).unwrap()).collect();
        assert!(parsed.iter().enumerate().all(|(i, (_, seq, _, _))| *seq == i as u64));
        assert_eq!(parsed[3], (4, 3, 0, "[Firmware Bug]: TSC doesn't count with P0 frequency!".to_owned()));
        // The kernel escapes a tab as \x09.
        assert_eq!(
            parsed[91],
            (6, 91, 128502, "rcu: \tRCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2.".into())
        );
        // Continuation lines are not part of the text.
        let (_, seq, ts_us, text) = &parsed[190];
        assert_eq!((*seq, *ts_us), (190, 181195));
        assert_eq!(
            text,
            "acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]"
        );
        assert!(records[190].contains("\n SUBSYSTEM=acpi\n"));
    }

    #[test]
    fn a_normal_boot_keeps_only_its_warnings() {
        let kept = through_stream(&records(BOOT));
        let texts: Vec<(u8, &str)> = kept.iter().map(|m| (m.priority, m.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                (
                    4,
                    "x86 CPU feature dependency check failure: CPU0 has '18*32+31' enabled but '18*32+26' disabled. Kernel might be fine, but no guarantees."
                ),
                (4, "[Firmware Bug]: TSC doesn't count with P0 frequency!"),
            ]
        );
        assert_eq!(kept[1].time_ms, BOOT_MS);
    }

    #[test]
    fn an_incident_keeps_causes_traces_and_counts_floods_and_losses() {
        let kept = through_stream(&records(INCIDENT));
        let lines: Vec<String> = kept
            .iter()
            .map(|m| format!("{} {} x{} {}", m.time_ms - BOOT_MS, m.priority, m.repeats, m.text))
            .collect();
        let expected = [
            "86400123 3 x0 INFO: task imapd:4242 blocked for more than 122 seconds.",
            "86400123 3 x0       Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1",
            "86400123 3 x0 \"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
            "86400123 6 x0 Call Trace:",
            "86400123 6 x0  <TASK>",
            "86400123 6 x0  __schedule+0x34d/0x9e0",
            "86400123 6 x0  schedule+0x5a/0xd0",
            "86400123 6 x0  io_schedule+0x42/0x70",
            "86400123 6 x0  folio_wait_bit_common+0x13d/0x350",
            "86400123 6 x0  ? filemap_get_folios_tag+0x1c4/0x1f0",
            "86400123 6 x0  ext4_sync_file+0xf6/0x370 [ext4]",
            "86400123 6 x0  __x64_sys_fsync+0x3b/0x70",
            "86400123 6 x0  do_syscall_64+0x58/0xc0",
            "86400123 6 x0  entry_SYSCALL_64_after_hwframe+0x64/0xce",
            "86400123 6 x0  </TASK>",
            "86401000 4 x0 imapd invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
            "86401000 6 x0 oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/dovecot.service,task=imapd,pid=4242,uid=8",
            "86401000 3 x0 Out of memory: Killed process 4242 (imapd) total-vm:2466264kB, anon-rss:1808520kB, file-rss:0kB, shmem-rss:0kB, UID:8 pgtables:3712kB oom_score_adj:0",
            "86402000 6 x0 imapd[5150]: segfault at 0 ip 00005581c6a1b2e4 sp 00007ffd1c1e0a50 error 4 in imapd[5581c6a00000+2b000] likely on CPU 1 (core 1, socket 0)",
            "86402500 6 x0 TCP: request_sock_TCP: Possible SYN flooding on port 0.0.0.0:993. Sending cookies.",
            "86403000 4 x3 nf_conntrack: nf_conntrack: table full, dropping packet",
            "86403000 4 x0 net_ratelimit: 132 callbacks suppressed",
            "86403500 4 x0 fixture-writer[77]: a warning a program wrote to /dev/kmsg",
            "86404000 3 x0 I/O error, dev sda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
            "86404000 2 x0 EXT4-fs error (device sda1): ext4_find_entry:1582: inode #2: comm imapd: reading directory lblock 0",
            "86404000 4 x0 usb 1-1: Product: Café Keyboard \\\\u{1b}[2J",
            "86405000 4 x0 98 kernel messages lost: overwritten before flightrec read them",
            "86405000 0 x0 watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [imapd:4242]",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_flood_is_counted_not_stored() {
        let texts: Vec<String> = (0..1000)
            .map(|i| match i % 4 {
                0 => format!("4,{i},{},-;nf_conntrack: nf_conntrack: table full, dropping packet", i * 1000),
                _ => format!("4,{i},{},-;eth0: rx error {i}", i * 1000),
            })
            .chain(
                ["0,1000,1000000000,-;Kernel panic - not syncing: Fatal exception in interrupt".to_owned()],
            )
            .collect();
        let records: Vec<&str> = texts.iter().map(String::as_str).collect();
        let kept = through_stream(&records);
        assert_eq!(kept.len(), KEPT_MAX + 1);
        assert_eq!(kept[0].text, "nf_conntrack: nf_conntrack: table full, dropping packet");
        assert_eq!(kept[0].repeats, 249);
        let last = kept.last().unwrap();
        // 750 distinct error lines and the panic; 99 of them fit.
        assert_eq!(last.text, "652 more kernel messages not kept");
        assert_eq!((last.priority, last.time_ms), (0, BOOT_MS + 1_000_000));
    }

    #[test]
    fn a_loss_before_the_first_record_is_noted_uncounted() {
        let mut stream = Stream { overrun: true, ..Stream::default() };
        let mut batch = Batch::default();
        stream.take(
            b"3,500,2000000,-;EXT4-fs error (device sda1): remounting read-only",
            BOOT_MS,
            &mut batch,
        );
        stream.overrun = true;
        stream.take(b"3,510,3000000,-;EXT4-fs error (device sda1): again", BOOT_MS, &mut batch);
        let kept = batch.finish();
        let texts: Vec<&str> = kept.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "more than 9 kernel messages lost: overwritten before flightrec read them",
                "EXT4-fs error (device sda1): remounting read-only",
                "EXT4-fs error (device sda1): again",
            ]
        );
        assert_eq!((kept[0].priority, kept[0].time_ms), (WARNING, BOOT_MS + 2000));
    }

    #[test]
    fn keeps_warnings_and_incident_patterns() {
        assert!(keep(0, "anything"));
        assert!(keep(4, "anything"));
        assert!(!keep(5, "Linux version 6.18.44"));
        assert!(!keep(6, "Command line: console=ttyS0 reboot=k panic=1"));
        assert!(!keep(6, "NMI watchdog: Perf NMI watchdog permanently disabled"));
        assert!(keep(6, "Uhhuh. NMI received for unknown reason 3d on CPU 0."));
        assert!(keep(7, "oom-kill:constraint=CONSTRAINT_NONE,task=imapd,pid=4242"));
        assert!(keep(6, "possible SYN flooding on port 993. Sending cookies."));
        assert!(keep(6, "TCP: out of memory -- consider tuning tcp_mem"));
    }

    #[test]
    fn rejects_what_is_not_a_record() {
        for bad in ["", "hello", "4,1;text", "x,1,2,-;text", "4,1,2;text", "4,-1,2,-;text"] {
            assert_eq!(parse_record(bad.as_bytes()), None, "{bad:?}");
        }
        // An unknown extra field is ignored; a lone or broken escape is kept.
        let record = b"3,7,1500,-,caller=T42;a \\ b \\x4 \\xzz\n";
        assert_eq!(parse_record(record), Some((3, 7, 1500, "a \\ b \\x4 \\xzz".to_owned())));
    }

    #[test]
    fn reads_a_line_written_to_dev_kmsg() {
        use std::io::Write;
        let mut reader = match KmsgReader::open() {
            Ok(reader) => reader,
            Err(err) => {
                eprintln!("skipped: {err:#}");
                return;
            }
        };
        let unique = format!("flightrec-test-{}-{}", std::process::id(), clock_ms(ClockId::CLOCK_REALTIME));
        let mut writer = match OpenOptions::new().write(true).open(PATH) {
            Ok(writer) => writer,
            Err(err) => {
                eprintln!("skipped: {PATH} is not writable here: {err}");
                return;
            }
        };
        if std::fs::read_to_string("/proc/sys/kernel/printk_devkmsg").is_ok_and(|s| s.trim() == "off") {
            eprintln!("skipped: kernel.printk_devkmsg is off: the kernel drops lines written to {PATH}");
            return;
        }
        // The newline ends the record; without it the kernel waits for more.
        writer.write_all(format!("<3>{unique}\n").as_bytes()).unwrap();
        let kept = reader.read();
        let found =
            kept.iter().find(|m| m.text == unique).unwrap_or_else(|| panic!("{unique} not in {kept:?}"));
        assert_eq!(found.priority, 3);
        let now = clock_ms(ClockId::CLOCK_REALTIME);
        assert!((found.time_ms - now).abs() < 60_000, "{} is not within a minute of {now}", found.time_ms);
        assert!(!reader.read().iter().any(|m| m.text == unique), "read twice");
    }

    #[test]
    fn open_starts_after_the_newest_record() {
        let opened = clock_ms(ClockId::CLOCK_REALTIME);
        let mut reader = match KmsgReader::open() {
            Ok(reader) => reader,
            Err(err) => {
                eprintln!("skipped: {err:#}");
                return;
            }
        };
        // Everything read was logged after open, not at boot: allow for the
        // kernel clock and the wall clock differing a little.
        for message in reader.read() {
            assert!(message.time_ms >= opened - 1000, "{message:?} is older than the reader");
        }
    }
}
