//! Watched logs (`--watch-log`): how fast a log file grows, and what it says
//! most often, e.g. a scanner looping on one error line until the log disk
//! filled, or Postfix deferring the same mail to a dead relay 80,000 times.
//!
//! Input: the file's size and identity (device, inode) each sample, and the
//! bytes appended since the previous one.
//!
//! - Reading starts at the END of the file as it is found on the first
//!   `read`: only what is appended while recording counts. A file that was
//!   missing then and appears later is new, so it is read from its start.
//! - `bytes_written` comes from sizes, exactly, whatever the rate: the new
//!   bytes are the size minus the position reached.
//! - Rotation by rename (the path names a new inode, or none): the old file
//!   stays open and its tail is counted, and the new file is counted from
//!   offset 0. The old one is kept until a sample finds it no longer growing,
//!   because a daemon writes to it until it reopens its log; then it is
//!   closed, so a deleted log's space is not held by us.
//! - Rotation by copytruncate (same inode, smaller than the position reached,
//!   or the bytes just before that position changed): counting restarts at 0.
//!   What was appended between the previous sample and the truncation is
//!   gone from the file and is not counted; a file truncated and regrown past
//!   the old position with the very same bytes there looks merely appended.
//! - Templates (see `template`) come from a bounded read: at most
//!   `READ_LIMIT` bytes per sample, the LAST ones appended (after a rotation,
//!   newest file first), as the latest lines are the ones that explain a
//!   freeze. When anything appended was not read, `sampled` is set, and
//!   `lines_written`, counted in what was read, is a lower bound.
//! - Lines are looked at up to `MAX_LINE` bytes; a line in progress at the
//!   end of a read waits for the next sample, bounded by the same limit.
//!
//! Memory is bounded whatever the line rate: one read buffer, one line in
//! progress per open file, and the template map of one sample. Like any
//! `stat`, a read blocks while the log's filesystem hangs (a dead NFS
//! server): the collector runs it on a thread of its own, with a deadline
//! (see `collect::deadline`).

mod template;

use crate::collect::redact::Redactor;
use crate::error::BadInput;
use crate::sample::WatchedLog;
use anyhow::{Context, Result, bail};
use nix::libc;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use template::{Templates, utf8_floor};

/// New bytes read per sample and log; beyond that they are only counted.
/// 1 MiB is a few milliseconds of masking.
const READ_LIMIT: u64 = 1 << 20;
/// Bytes of one line looked at: a template does not need more, and a line
/// without end cannot grow our memory.
const MAX_LINE: usize = 1000;
/// Templates reported per sample.
const TOP_TEMPLATES: usize = 10;
/// Bytes remembered just before the position reached, to notice a file
/// truncated and regrown past that position between two samples.
const FINGERPRINT: usize = 16;

pub struct LogWatcher {
    path: PathBuf,
    redactor: Redactor,
    /// The file the path names.
    current: Option<Followed>,
    /// The file the path named before a rotation, read until it stops growing.
    previous: Option<Followed>,
    /// The path was looked at before: a file found now is new since then.
    looked: bool,
    tally: Tally,
}

/// What reading produces, apart from the files read.
struct Tally {
    bytes_written: u64,
    lines_written: u64,
    /// Not every new byte was read since the last reported sample.
    sampled: bool,
    templates: Templates,
    buf: Vec<u8>,
}

/// One open log file and how far it has been read.
struct Followed {
    file: File,
    dev: u64,
    ino: u64,
    /// Everything before this is counted.
    offset: u64,
    /// The bytes just before `offset` as they were read (the last
    /// `fingerprint_len` of the array).
    fingerprint: [u8; FINGERPRINT],
    fingerprint_len: usize,
    /// The beginning of the line in progress at `offset`.
    partial: Vec<u8>,
    line: Line,
}

/// What is known of the line in progress.
#[derive(PartialEq)]
enum Line {
    /// Its bytes so far are in `partial`.
    Kept,
    /// `partial` holds its first `MAX_LINE` bytes; the rest is skipped.
    Cut,
    /// It began in bytes that were not read: its newline counts, its text
    /// is unknown.
    Headless,
}

impl LogWatcher {
    /// Refuses a path that names anything but a regular file now (a FIFO,
    /// a device, a terminal, a directory, a symbolic link); a missing file
    /// is watched for.
    /// Template examples are redacted with `redactor`.
    pub fn new(path: impl Into<PathBuf>, redactor: Redactor) -> Result<Self, BadInput> {
        let path = path.into();
        if let Ok(meta) = fs::symlink_metadata(&path)
            && !meta.is_file()
        {
            return Err(BadInput::BadValue {
                option: "--watch-log",
                value: path.display().to_string(),
                reason: format!("{}; pass a log file itself", not_regular(&meta)),
            });
        }
        Ok(LogWatcher {
            path,
            redactor,
            current: None,
            previous: None,
            looked: false,
            tally: Tally {
                bytes_written: 0,
                lines_written: 0,
                sampled: false,
                templates: Templates::default(),
                buf: Vec::new(),
            },
        })
    }

    /// Counts what was appended since the previous call. A missing file is
    /// an error for this sample only: it is picked up when it appears, and
    /// what was counted meanwhile (the tail of a rotated file) is reported
    /// then.
    pub fn read(&mut self) -> Result<WatchedLog> {
        let path = &self.path;
        // The path itself, not where a symbolic link points: a link is
        // refused when opened.
        let found = match fs::symlink_metadata(path) {
            Ok(meta) => Some(meta),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(err).with_context(|| format!("looking at watched log {}", path.display()));
            }
        };
        self.follow(found.as_ref())?;

        // The newest bytes first: the current file's, then the rotated one's.
        let (path, tally) = (&self.path, &mut self.tally);
        let mut current_size = None;
        let mut budget = READ_LIMIT;
        if let Some(current) = &mut self.current {
            let size = match &found {
                Some(meta) if current.is(meta) => Ok(meta.len()),
                // Replaced between the look and the open: the open file rules.
                _ => current.file.metadata().map(|meta| meta.len()),
            }
            .with_context(|| format!("looking at watched log {}", path.display()))?;
            let new = current
                .consume(size, budget, tally)
                .with_context(|| format!("reading {}", path.display()))?;
            budget -= new.min(budget);
            current_size = Some(size);
        }
        if let Some(previous) = &mut self.previous {
            let size = previous.file.metadata().map(|meta| meta.len());
            let new = size.and_then(|size| previous.consume(size, budget, tally));
            if new.with_context(|| format!("reading rotated log {}", path.display()))? == 0 {
                let drained = self.previous.take().expect("matched above");
                drained.close(tally);
            }
        }
        let Some(size) = current_size else {
            bail!("watched log {}: no such file; counting resumes when it appears", path.display());
        };
        let log = WatchedLog {
            path: path.display().to_string(),
            bytes_written: tally.bytes_written,
            lines_written: tally.lines_written,
            size,
            templates: tally.templates.take(TOP_TEMPLATES, &self.redactor),
            sampled: tally.sampled,
        };
        tally.sampled = false;
        Ok(log)
    }

    /// Keeps `current` the file the path names (`found`, when it exists):
    /// after a rotation the old one becomes `previous`, and the new one is
    /// opened.
    fn follow(&mut self, found: Option<&Metadata>) -> Result<()> {
        let path = &self.path;
        if self.current.as_ref().is_some_and(|current| !found.is_some_and(|meta| current.is(meta))) {
            let rotated = self.current.take().expect("checked above");
            retire(&mut self.previous, rotated, &mut self.tally)
                .with_context(|| format!("reading rotated log {}", path.display()))?;
        }
        if let (None, Some(meta)) = (&self.current, found) {
            if self.previous.as_ref().is_some_and(|previous| previous.is(meta)) {
                // Renamed back: the same file, counted up to its offset.
                self.current = self.previous.take();
            } else {
                let at_end = !self.looked;
                let opened = Followed::open(path, at_end)
                    .with_context(|| format!("opening watched log {}", path.display()))?;
                self.current = Some(opened);
            }
        }
        self.looked = true;
        Ok(())
    }
}

impl Followed {
    /// Opens the log, positioned at its end or its start. The path is first
    /// opened with O_PATH, which opens nothing: no device is opened (a pty
    /// slave can never become our controlling terminal), no FIFO is waited
    /// on, and a final symbolic link is not followed. Only a regular file is
    /// then opened for reading, through that descriptor: the very inode
    /// checked.
    fn open(path: &Path, at_end: bool) -> io::Result<Followed> {
        let handle =
            OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_NOFOLLOW).open(path)?;
        let meta = handle.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other(not_regular(&meta)));
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))?;
        let size = meta.len();
        let mut followed = Followed {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            offset: if at_end { size } else { 0 },
            fingerprint: [0; FINGERPRINT],
            fingerprint_len: 0,
            partial: Vec::new(),
            line: Line::Kept,
        };
        if at_end && size > 0 {
            let len = size.min(FINGERPRINT as u64) as usize;
            let mut tail = [0; FINGERPRINT];
            if followed.file.read_exact_at(&mut tail[..len], size - len as u64).is_ok() {
                followed.remember(&tail[..len]);
            }
            // A line in progress at the end began before we looked.
            followed.line = if tail[len - 1] == b'\n' { Line::Kept } else { Line::Headless };
        }
        Ok(followed)
    }

    fn is(&self, meta: &Metadata) -> bool {
        self.dev == meta.dev() && self.ino == meta.ino()
    }

    /// Truncated since the last read (copytruncate), and maybe regrown.
    fn rewritten(&self, size: u64) -> bool {
        if size < self.offset {
            return true;
        }
        if size == self.offset || self.fingerprint_len == 0 {
            return false;
        }
        let len = self.fingerprint_len;
        let mut seen = [0; FINGERPRINT];
        // A failed read tells nothing: take the file as appended to.
        match self.file.read_exact_at(&mut seen[..len], self.offset - len as u64) {
            Ok(()) => seen[..len] != self.fingerprint[FINGERPRINT - len..],
            Err(err) => err.kind() == io::ErrorKind::UnexpectedEof,
        }
    }

    /// Keeps the last bytes of `before`, the bytes just before `offset`.
    fn remember(&mut self, before: &[u8]) {
        let len = before.len().min(FINGERPRINT);
        self.fingerprint[FINGERPRINT - len..].copy_from_slice(&before[before.len() - len..]);
        self.fingerprint_len = len;
    }

    /// Counts the bytes appended up to `size` and reads the last `budget`
    /// of them; returns how many were appended. The position moves to
    /// `size` even when the read fails, so no byte is counted twice.
    fn consume(&mut self, size: u64, budget: u64, tally: &mut Tally) -> io::Result<u64> {
        let start = if self.rewritten(size) {
            self.partial.clear();
            self.line = Line::Kept;
            self.fingerprint_len = 0;
            0
        } else {
            self.offset
        };
        let new = size - start;
        tally.bytes_written += new;
        self.offset = size;
        if new == 0 {
            return Ok(0);
        }
        self.fingerprint_len = 0;
        let from = size - new.min(budget);
        // Reading from further on skips bytes; one byte more, the one before
        // `from`, tells whether the read starts at the beginning of a line.
        let lead = u64::from(from > start);
        tally.sampled |= from > start;
        let wanted = (size - from + lead) as usize;
        if tally.buf.len() < wanted {
            tally.buf.resize(wanted, 0);
        }
        let buf = &mut tally.buf[..wanted];
        let got = match read_at_most(&self.file, buf, from - lead) {
            Ok(got) => got,
            Err(err) => {
                tally.sampled = true;
                self.partial.clear();
                self.line = Line::Headless;
                return Err(err);
            }
        };
        let mut data = &buf[..got];
        if lead == 1 {
            self.partial.clear();
            self.line = if data.first() == Some(&b'\n') { Line::Kept } else { Line::Headless };
            data = data.get(1..).unwrap_or_default();
        }
        if got == wanted {
            self.remember(buf);
        }
        tally.lines_written += self.feed(data, &mut tally.templates);
        Ok(new)
    }

    /// Splits what was read into lines, continuing the line in progress;
    /// returns the number of lines ended.
    fn feed(&mut self, data: &[u8], templates: &mut Templates) -> u64 {
        let mut lines = 0;
        let mut rest = data;
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = (&rest[..n], &rest[n + 1..]);
            match self.line {
                Line::Kept if self.partial.is_empty() => {
                    let end = utf8_floor(line, MAX_LINE);
                    templates.add(whole_words(&line[..end], end < line.len()));
                }
                Line::Kept | Line::Cut => {
                    self.keep(line);
                    templates.add(whole_words(&self.partial, self.line == Line::Cut));
                }
                Line::Headless => {}
            }
            self.partial.clear();
            self.line = Line::Kept;
            lines += 1;
            rest = after;
        }
        self.keep(rest);
        lines
    }

    /// Adds to the line in progress what fits in `MAX_LINE`.
    fn keep(&mut self, bytes: &[u8]) {
        if self.line != Line::Kept {
            return;
        }
        let take = utf8_floor(bytes, MAX_LINE - self.partial.len());
        self.partial.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            self.line = Line::Cut;
        }
    }

    /// Done with this file: an unfinished last line still was a line.
    fn close(self, tally: &mut Tally) {
        if self.line == Line::Headless || !self.partial.is_empty() {
            tally.lines_written += 1;
        }
        if self.line != Line::Headless && !self.partial.is_empty() {
            tally.templates.add(whole_words(&self.partial, self.line == Line::Cut));
        }
    }
}

/// A line as templates see it: where it was cut at `MAX_LINE`, without the
/// word the cut fell in, which could be the start of a secret that the
/// redactor no longer recognises without its end (`user:pass@` of a URL).
fn whole_words(line: &[u8], cut: bool) -> &[u8] {
    match line.iter().rposition(|&b| b == b' ') {
        Some(space) if cut => &line[..space],
        _ => line,
    }
}

/// The path no longer names `rotated`: it becomes the file read until it
/// stops growing. A file still draining from an earlier rotation (two
/// rotations within a sample or two) is counted to its end, unread.
fn retire(previous: &mut Option<Followed>, rotated: Followed, tally: &mut Tally) -> io::Result<()> {
    if let Some(mut older) = previous.replace(rotated) {
        let size = older.file.metadata()?.len();
        older.consume(size, 0, tally)?;
        older.close(tally);
    }
    Ok(())
}

/// What a path names instead of a regular file, for the user.
fn not_regular(meta: &Metadata) -> String {
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link (never followed)"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device (a terminal?)"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    format!("{what}, not a regular file")
}

/// Reads from `at` until `buf` is full or the file ends (it may have been
/// truncated since its size was taken).
fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use std::collections::HashMap;
    use std::io::Write;

    const MILTER: &str =
        "postfix/smtpd[#]: warning: connect to Milter service inet:localhost:#: Connection refused";
    const DEFERRED: &str = "postfix/smtp[#]: #: to=<root@example.org>, relay=none, delay=#, \
                            status=deferred (connect to #[#]:#: Connection timed out)";

    /// Line `i` of a mail log: even lines a refused milter, odd ones a mail
    /// deferred to a dead relay; pids, ports, times, ids and IPs vary.
    fn mail_line(i: usize) -> String {
        let (min, sec) = (i / 60 % 60, i % 60);
        if i.is_multiple_of(2) {
            format!(
                "Nov 18 18:{min:02}:{sec:02} mail-server postfix/smtpd[{}]: warning: connect to Milter \
                 service inet:localhost:{}: Connection refused\n",
                600_000 + i,
                8000 + i % 1000
            )
        } else {
            let ip = format!("10.{}.{}.{}", i % 250, i / 250 % 250, i % 7);
            format!(
                "Dec 24 03:{min:02}:{sec:02} relay postfix/smtp[{}]: {:010X}: to=<root@example.org>, \
                 relay=none, delay={}, status=deferred (connect to {ip}[{ip}]:25: Connection timed out)\n",
                2000 + i % 5000,
                0x10_0000_0000_u64 + i as u64,
                i * 3
            )
        }
    }

    /// Appends lines `range` to a writer; returns their bytes.
    fn write_lines(out: &mut File, range: std::ops::Range<usize>) -> u64 {
        let text: String = range.map(mail_line).collect();
        out.write_all(text.as_bytes()).unwrap();
        text.len() as u64
    }

    fn appender(path: &Path) -> File {
        OpenOptions::new().create(true).append(true).open(path).unwrap()
    }

    /// Template counts summed over samples.
    #[derive(Default)]
    struct Seen(HashMap<String, u64>);

    impl Seen {
        fn read(&mut self, watcher: &mut LogWatcher) -> WatchedLog {
            let log = watcher.read().unwrap();
            for t in &log.templates {
                *self.0.entry(t.template.clone()).or_default() += t.count;
            }
            log
        }

        fn count(&self, template: &str) -> u64 {
            self.0.get(template).copied().unwrap_or(0)
        }
    }

    #[test]
    fn counts_two_templates_exactly() {
        let scratch = Scratch::new("watch-log-two");
        let path = scratch.0.join("mail.log");
        let mut log = appender(&path);
        write_lines(&mut log, 0..100);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        let mut seen = Seen::default();
        // The first read starts at the end: what was there before is not counted.
        let first = seen.read(&mut watcher);
        assert_eq!((first.bytes_written, first.lines_written, first.templates.len()), (0, 0, 0));

        let mut bytes = 0;
        for batch in 0..4 {
            bytes += write_lines(&mut log, 100 + batch * 2500..100 + (batch + 1) * 2500);
            // Half a line waits for the next sample.
            let (head, tail) = ("Nov 18 18:00:09 mail-server clamd[3321]: ERROR: ", "accept() failed: 2\n");
            log.write_all(head.as_bytes()).unwrap();
            let sample = seen.read(&mut watcher);
            log.write_all(tail.as_bytes()).unwrap();
            bytes += (head.len() + tail.len()) as u64;
            assert!(!sample.sampled);
        }
        let last = seen.read(&mut watcher);
        assert_eq!(last.bytes_written, bytes);
        assert_eq!(last.lines_written, 10_004);
        assert_eq!(last.size, fs::metadata(&path).unwrap().len());
        assert_eq!(seen.count(MILTER), 5000);
        assert_eq!(seen.count(DEFERRED), 5000);
        assert_eq!(seen.count("clamd[#]: ERROR: accept() failed: #"), 4);
        assert_eq!(seen.0.len(), 3, "{:?}", seen.0);
        let example = &last.templates[0].example;
        assert!(example.starts_with("Nov 18 18:") && example.ends_with("failed: 2"), "{example}");
    }

    #[test]
    fn starting_mid_line_counts_that_line_but_not_its_text() {
        let scratch = Scratch::new("watch-log-midline");
        let path = scratch.0.join("mail.log");
        let mut log = appender(&path);
        log.write_all(b"Nov 18 18:00:09 mail-server postfix/smtpd[1]: warning: connect").unwrap();
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        watcher.read().unwrap();
        let rest = b" to Milter service inet:localhost:8891: Connection refused\n";
        log.write_all(rest).unwrap();
        let bytes = write_lines(&mut log, 0..1);
        let sample = watcher.read().unwrap();
        assert_eq!((sample.bytes_written, sample.lines_written), (rest.len() as u64 + bytes, 2));
        assert_eq!(sample.templates.len(), 1);
        assert_eq!((sample.templates[0].template.as_str(), sample.templates[0].count), (MILTER, 1));
    }

    #[test]
    fn rename_rotation_loses_and_repeats_nothing() {
        let scratch = Scratch::new("watch-log-rename");
        let path = scratch.0.join("mail.log");
        let mut old = appender(&path);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        let mut seen = Seen::default();
        seen.read(&mut watcher);
        let mut bytes = write_lines(&mut old, 0..3000);
        seen.read(&mut watcher);
        bytes += write_lines(&mut old, 3000..4000);
        // logrotate: rename, create; the daemon writes on to the old file
        // until it reopens its log.
        fs::rename(&path, scratch.0.join("mail.log.1")).unwrap();
        let mut new = appender(&path);
        bytes += write_lines(&mut old, 4000..5000);
        bytes += write_lines(&mut new, 5000..7000);
        let rotated = seen.read(&mut watcher);
        assert_eq!(rotated.bytes_written, bytes);
        assert_eq!(rotated.size, fs::metadata(&path).unwrap().len());
        bytes += write_lines(&mut old, 7000..7500);
        bytes += write_lines(&mut new, 7500..10_000);
        let last = seen.read(&mut watcher);
        assert!(watcher.previous.is_some(), "the old file grew: still followed");
        let after = seen.read(&mut watcher);
        assert!(watcher.previous.is_none(), "the old file stopped growing: closed");
        assert_eq!((last.bytes_written, after.bytes_written), (bytes, bytes));
        assert_eq!((last.lines_written, last.sampled), (10_000, false));
        assert_eq!((seen.count(MILTER), seen.count(DEFERRED)), (5000, 5000));
    }

    #[test]
    fn copytruncate_restarts_the_count() {
        let scratch = Scratch::new("watch-log-truncate");
        let path = scratch.0.join("mail.log");
        let mut log = appender(&path);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        let mut seen = Seen::default();
        seen.read(&mut watcher);
        let mut bytes = write_lines(&mut log, 0..2000);
        seen.read(&mut watcher);
        // Truncated, then less written than before: the size went down.
        log.set_len(0).unwrap();
        bytes += write_lines(&mut log, 2000..3000);
        assert_eq!(seen.read(&mut watcher).bytes_written, bytes);
        // Truncated, then more written than before: the bytes before the
        // position reached changed.
        log.set_len(0).unwrap();
        bytes += write_lines(&mut log, 3000..6000);
        let last = seen.read(&mut watcher);
        assert_eq!((last.bytes_written, last.lines_written), (bytes, 6000));
        assert_eq!((seen.count(MILTER), seen.count(DEFERRED)), (3000, 3000));
    }

    #[test]
    fn a_flood_is_measured_not_stored() {
        let scratch = Scratch::new("watch-log-flood");
        let path = scratch.0.join("clamd.log");
        let mut log = appender(&path);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        watcher.read().unwrap();
        let line = b"Feb 12 10:20:01 mx3 clamd[3321]: ERROR: accept() failed: Loaded 362916 signatures.\n";
        let flood = line.repeat(5 * READ_LIMIT as usize / line.len());
        log.write_all(&flood).unwrap();
        let sample = watcher.read().unwrap();
        assert_eq!(sample.bytes_written, flood.len() as u64);
        assert!(sample.sampled);
        let read_lines = READ_LIMIT / line.len() as u64;
        assert_eq!(sample.templates.len(), 1);
        assert!((read_lines..=read_lines + 1).contains(&sample.templates[0].count), "{sample:?}");
        assert!(sample.lines_written <= read_lines + 1);
        assert!(watcher.tally.buf.len() <= READ_LIMIT as usize + 1);

        log.write_all(line).unwrap();
        let calm = watcher.read().unwrap();
        assert_eq!((calm.bytes_written, calm.sampled), (flood.len() as u64 + line.len() as u64, false));
        assert_eq!(calm.templates[0].count, 1);
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let scratch = Scratch::new("watch-log-long");
        let path = scratch.0.join("app.log");
        let mut log = appender(&path);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        watcher.read().unwrap();
        let long = format!("payload {}", "é ".repeat(25_000));
        log.write_all(long.as_bytes()).unwrap();
        watcher.read().unwrap();
        let partial = &watcher.current.as_ref().unwrap().partial;
        assert!(partial.len() <= MAX_LINE && partial.len() > MAX_LINE - 2, "{}", partial.len());
        log.write_all(b" end\n").unwrap();
        let sample = watcher.read().unwrap();
        assert_eq!((sample.lines_written, sample.bytes_written), (1, long.len() as u64 + 5));
        let template = &sample.templates[0].template;
        assert!(template.starts_with("payload é") && !template.contains('\u{fffd}'), "{template}");
    }

    #[test]
    fn a_secret_cut_off_at_the_line_bound_is_not_kept() {
        let scratch = Scratch::new("watch-log-cut-secret");
        let path = scratch.0.join("app.log");
        let mut log = appender(&path);
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        watcher.read().unwrap();
        // The bound falls inside the password: cut there, the URL lacks the
        // `@` that marks it as credentials.
        let line = format!("{}fetching https://bob:hunter2hunter2@example.org/\n", "word ".repeat(194));
        assert!((990..MAX_LINE).contains(&line.find("hunter").unwrap()));
        log.write_all(line.as_bytes()).unwrap();
        log.write_all(line.as_bytes()).unwrap();
        let sample = watcher.read().unwrap();
        let kept = &sample.templates[0];
        assert_eq!(kept.count, 2);
        assert!(!kept.template.contains("hun") && !kept.example.contains("hun"), "{kept:?}");
    }

    #[test]
    fn a_missing_file_is_picked_up_when_it_appears() {
        let scratch = Scratch::new("watch-log-missing");
        let path = scratch.0.join("later.log");
        let mut watcher = LogWatcher::new(&path, Redactor::new(&[]).unwrap()).unwrap();
        let err = format!("{:#}", watcher.read().unwrap_err());
        assert!(err.contains(&path.display().to_string()) && err.contains("no such file"), "{err}");
        // It appeared while recording: all of it counts.
        let bytes = write_lines(&mut appender(&path), 0..10);
        let sample = watcher.read().unwrap();
        assert_eq!((sample.bytes_written, sample.lines_written), (bytes, 10));

        // Deleted: the rest of it is counted, then it is let go.
        let more = write_lines(&mut appender(&path), 10..20);
        fs::remove_file(&path).unwrap();
        assert!(watcher.read().is_err());
        assert!(watcher.read().is_err());
        assert!(watcher.previous.is_none(), "a deleted file is not held open");
        let again = write_lines(&mut appender(&path), 20..25);
        let back = watcher.read().unwrap();
        assert_eq!((back.bytes_written, back.lines_written), (bytes + more + again, 25));
    }
}
