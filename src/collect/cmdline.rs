//! Command lines, read by a worker thread once per process.
//!
//! Reading /proc/PID/cmdline takes the target's mmap lock; behind a process
//! stuck in D state that read can block for as long as the process is stuck.
//! The worker takes that risk instead of the sampling loop: if it hangs, new
//! processes go unnamed (their `comm` still shows) until it returns.

use super::redact::Redactor;
use crate::sample::CMDLINE_MAX;
use anyhow::{Context, Result};
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// Bytes of a command line read, redacted, and only then cut to
/// `CMDLINE_MAX`: cut first, a secret cut short could escape its pattern.
const CMDLINE_READ: usize = 4096;

/// Requests beyond this many waiting are refused (and asked again on a later
/// tick): a hung worker must not grow memory.
const QUEUE: usize = 8192;

pub struct CmdlineReader {
    requests: SyncSender<(u32, u64)>,
    answers: Receiver<Answer>,
}

pub struct Answer {
    pub pid: u32,
    pub start_ticks: u64,
    pub cmdline: Arc<str>,
}

impl CmdlineReader {
    pub fn spawn(redactor: Redactor) -> Result<Self> {
        let (requests, inbox) = sync_channel::<(u32, u64)>(QUEUE);
        let (outbox, answers) = sync_channel::<Answer>(QUEUE);
        std::thread::Builder::new()
            .name("cmdline".into())
            .spawn(move || {
                for (pid, start_ticks) in inbox {
                    let Some(cmdline) = read(pid, start_ticks, &redactor) else {
                        continue;
                    };
                    if outbox.send(Answer { pid, start_ticks, cmdline }).is_err() {
                        return;
                    }
                }
            })
            .context("starting the command-line reader thread")?;
        Ok(CmdlineReader { requests, answers })
    }

    /// Asks for a command line without blocking; false when the queue is
    /// full (the worker is stuck), so the caller asks again later.
    pub fn ask(&self, pid: u32, start_ticks: u64) -> bool {
        self.requests.try_send((pid, start_ticks)).is_ok()
    }

    /// Answers ready now, waiting up to `wait` for `expected` of them.
    pub fn answers(&self, expected: usize, wait: Duration) -> Vec<Answer> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        loop {
            while let Ok(answer) = self.answers.try_recv() {
                got.push(answer);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if got.len() >= expected || left.is_zero() {
                return got;
            }
            match self.answers.recv_timeout(left) {
                Ok(answer) => got.push(answer),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return got,
            }
        }
    }
}

/// Reads the first `CMDLINE_MAX` bytes of one command line, arguments joined
/// by spaces. `None` when the process is gone or is another one by now.
fn read(pid: u32, start_ticks: u64, redactor: &Redactor) -> Option<Arc<str>> {
    // Opening the directory pins the process: if the pid has been reused
    // since it was asked for, the start time read through it differs.
    let dir = File::open(format!("/proc/{pid}")).ok()?;
    let open = |name: &str| -> Option<File> {
        let fd = openat(dir.as_fd(), name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
        Some(File::from(fd))
    };
    let mut stat = Vec::with_capacity(512);
    open("stat")?.read_to_end(&mut stat).ok()?;
    if super::process::parse_stat(&stat).ok()?.start_ticks != start_ticks {
        return None;
    }
    let mut raw = Vec::with_capacity(CMDLINE_READ);
    open("cmdline")?.take(CMDLINE_READ as u64).read_to_end(&mut raw).ok()?;
    Some(Arc::from(stored_line(&raw, redactor)))
}

/// The line stored for the first `CMDLINE_READ` bytes of a command line:
/// redacted whole, then cut to `CMDLINE_MAX`. Where the read itself was cut,
/// the argument it cut is dropped: the pattern that would mask it may need
/// its end.
fn stored_line(raw: &[u8], redactor: &Redactor) -> String {
    let whole = if raw.len() < CMDLINE_READ {
        raw
    } else {
        raw.iter().rposition(|&b| b == 0).map_or(&raw[..0], |end| &raw[..end])
    };
    redactor.apply_and_cut(&join_args(whole), CMDLINE_MAX)
}

/// NUL-separated arguments → one line; invalid UTF-8 is replaced, never
/// fatal, and a cut in the middle of a character is dropped.
pub fn join_args(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    let spaced: Vec<u8> = trimmed.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    let text = String::from_utf8_lossy(&spaced);
    text.trim_end_matches('\u{FFFD}').trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_arguments_with_spaces() {
        assert_eq!(join_args(b"sleep\x001000\x00--tag\x00"), "sleep 1000 --tag");
        assert_eq!(join_args(b""), "");
        assert_eq!(join_args(b"a\xff\x00b\x00"), "a\u{FFFD} b");
    }

    #[test]
    fn redacts_before_cutting_to_the_stored_length() {
        let redactor = Redactor::new(&[]).unwrap();
        let url = "https://bob:hunter2hunter2@example.org/";
        let raw = format!("fetch\0{}\0{url}\0", "a".repeat(CMDLINE_MAX - 24));
        let line = stored_line(raw.as_bytes(), &redactor);
        assert!(
            line.len() <= CMDLINE_MAX && line.contains("https://bob:***@") && !line.contains("hun"),
            "{line}"
        );

        // Cut by the read inside a secret: that argument is dropped.
        let mut long = b"fetch\0https://bob:".to_vec();
        long.resize(CMDLINE_READ, b'z');
        assert_eq!(stored_line(&long, &redactor), "fetch");
    }

    #[test]
    fn reads_own_command_line() {
        let me = std::process::id();
        let stat = std::fs::read(format!("/proc/{me}/stat")).unwrap();
        let start = super::super::process::parse_stat(&stat).unwrap().start_ticks;
        let none = Redactor::new(&[]).unwrap();
        let line = read(me, start, &none).unwrap();
        let first = std::env::args().next().unwrap();
        assert!(line.starts_with(&first), "{line:?} should start with {first:?}");
        assert!(read(me, start + 1, &none).is_none(), "another start time is another process");
    }
}
