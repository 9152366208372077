//! The process table: every process in /proc, one `Process` each.
//!
//! Every figure in a sample is as of that sample. Cost is what matters here
//! (it runs every tick over hundreds or thousands of processes), so:
//! - `/proc/PID/stat`, `schedstat` and `io` stay open per process and are
//!   re-read with `pread`; an open file is pinned to its process, so a
//!   reused pid can never be mistaken for the old one (the read fails with
//!   ESRCH instead).
//! - Only a process that ran can have done I/O, opened a file or changed
//!   its uid, and a process can do all three with less than one clock tick
//!   of CPU, so "ran" is the leader's run time in `schedstat` (nanoseconds,
//!   unlike the clock ticks of `stat`), its CPU ticks (any thread), or its
//!   state R. `io` and the fd count are read again when it ran, and every
//!   tick for a process of several threads (the others' run time is not in
//!   the leader's `schedstat`); `status` (uid, swap) when it ran or its RSS
//!   or state changed (swapping out lowers RSS). Otherwise the values of
//!   the last read are still the values as of this sample.
//! - Each process is read at the same point of every tick (in pid order,
//!   its files already open), so the time between two samples is the time
//!   between the two reads their rates come from.
//! - The cgroup a process is in (its service or container) is read from
//!   `/proc/PID/cgroup` once, when it is first seen, and again after an
//!   exec, not every tick: processes rarely move.
//! - Command lines are read once per process by a worker thread (`cmdline`),
//!   because reading one takes the target's mmap lock and can hang behind a
//!   process stuck in D state; the sampling loop never waits on it for long.

use super::cmdline::CmdlineReader;
use super::limits;
use super::procfile::read_record_at;
use super::redact::Redactor;
use crate::sample::{Limits, Process, ProcessLimits};
use crate::warn::Warnings;
use anyhow::{Context, Result, bail};
use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// How long a tick waits for the command lines of processes it saw for the
/// first time; later ticks pick up any that arrive after.
const CMDLINE_WAIT: Duration = Duration::from_millis(20);

/// Open files left, below the soft limit, for everything but the process
/// table: the database, sockets, probes, watched directories and logs.
const FILES_LEFT_FOR_THE_REST: usize = 1024;

/// Open files or threads past which a process's limits are read, when the
/// count grows: no soft limit in use is this low, and the many processes
/// below it are never asked.
const LIMITS_FROM: u64 = 64;
/// The ids of the followed cgroups a process is in, from the text of its
/// /proc/PID/cgroup, the one it is recorded with first; none for none.
pub type CgroupOf<'a> = &'a mut dyn FnMut(&str) -> Vec<u32>;

/// `PF_KTHREAD` in the flags field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

pub struct ProcessTable {
    proc_dir: Dir,
    proc_fd: OwnedFd,
    entries: HashMap<u32, Entry>,
    tick: u64,
    page_size: u64,
    /// Since Linux 6.2, `stat` of /proc/PID/fd gives the number of open fds
    /// in `st_size`, which saves a directory walk per process.
    fd_count_in_size: bool,
    cmdlines: CmdlineReader,
    buf: Vec<u8>,
    /// Files the entries hold open, and how many they may: each keeps its
    /// stat file, and its schedstat and io files while the limit on open
    /// files leaves room (beyond it they are opened for each read).
    kept_files: usize,
    max_kept_files: usize,
    /// Whether each process's cgroup is read: not where no cgroups are
    /// recorded (`--cgroup-depth 0`).
    follow_cgroups: bool,
    /// The cgroups of the processes that ran, appeared, changed size or
    /// exited since the last read (`busy_cgroups`).
    busy_cgroups: HashSet<u32>,
}

struct Entry {
    stat: File,
    /// `None` for kernel threads, where the kernel has no such file or does
    /// not let us read it, and past `max_kept_files`.
    schedstat: Option<File>,
    io: Option<File>,
    /// The leader's run time in ns at the last read; 0 when unknown.
    run_ns: u64,
    process: Process,
    /// Its limits, once its open files or threads grew past `LIMITS_FROM`.
    limits: Option<Limits>,
    /// The followed cgroups it is in, in every hierarchy (`process.cgroup`
    /// is the first): those its running makes busy.
    cgroups: Vec<u32>,
    seen: u64,
    cmdline_asked: bool,
}

impl Entry {
    fn files(&self) -> usize {
        1 + usize::from(self.schedstat.is_some()) + usize::from(self.io.is_some())
    }
}

impl ProcessTable {
    /// `cgroup_of`: the id of the cgroup a process is in, from the text of
    /// its /proc/PID/cgroup (`CgroupCollector::learn`), asked where
    /// `follow_cgroups`.
    pub fn new(redactor: Redactor, follow_cgroups: bool, cgroup_of: CgroupOf) -> Result<Self> {
        let proc_dir = Dir::open("/proc", OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
            .context("opening /proc")?;
        let proc_fd = nix::fcntl::open("/proc", OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .context("opening /proc")?;
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096, |size| size as u64);
        let mut table = ProcessTable {
            proc_dir,
            proc_fd,
            entries: HashMap::new(),
            tick: 0,
            page_size,
            fd_count_in_size: kernel_at_least(6, 2),
            cmdlines: CmdlineReader::spawn(redactor)?,
            buf: Vec::new(),
            kept_files: 0,
            max_kept_files: open_files_limit().saturating_sub(FILES_LEFT_FOR_THE_REST),
            follow_cgroups,
            busy_cgroups: HashSet::new(),
        };
        // Seeing a process for the first time opens its files, which takes
        // far longer than re-reading them. Done once here, so that in the
        // first sample too each process is read as soon after the tick as
        // in every later one, and its first rates divide by the real time
        // between the two reads.
        table.read(&mut Warnings::new(), cgroup_of)?;
        Ok(table)
    }

    /// Reads every process once. Processes that vanish mid-read are skipped.
    pub fn read(&mut self, warnings: &mut Warnings, cgroup_of: CgroupOf) -> Result<Vec<Process>> {
        self.tick += 1;
        self.busy_cgroups.clear();
        let mut asked_now = 0usize;
        let mut pids = Vec::with_capacity(self.entries.len() + 16);
        for entry in self.proc_dir.iter() {
            let entry = entry.context("listing /proc")?;
            if let Some(pid) = parse_pid(entry.file_name().to_bytes()) {
                pids.push(pid);
            }
        }
        for pid in pids {
            match self.read_one(pid, cgroup_of) {
                Ok(true) => asked_now += 1,
                Ok(false) => {}
                Err(err) => {
                    // A process that exits between listing and reading is
                    // normal; only other failures are worth a warning.
                    if !is_gone(&err) {
                        warnings.warn("process", &format!("pid {pid}: {err:#}"));
                    }
                    if let Some(gone) = self.entries.remove(&pid) {
                        self.kept_files -= gone.files();
                    }
                }
            }
        }
        let tick = self.tick;
        let kept_files = &mut self.kept_files;
        let busy = &mut self.busy_cgroups;
        self.entries.retain(|_, entry| {
            let alive = entry.seen == tick;
            if !alive {
                *kept_files -= entry.files();
                busy.extend(&entry.cgroups);
            }
            alive
        });
        self.collect_cmdlines(asked_now);

        let mut list: Vec<Process> = self.entries.values().map(|entry| entry.process.clone()).collect();
        list.sort_unstable_by_key(|p| p.pid);
        Ok(list)
    }

    /// Updates one process; true when its command line was asked for now.
    fn read_one(&mut self, pid: u32, cgroup_of: CgroupOf) -> Result<bool> {
        let tick = self.tick;
        let is_new = !self.entries.contains_key(&pid);
        if is_new {
            let stat = File::from(self.open_in_proc(pid, "stat")?);
            let text =
                read_record_at(&stat, &mut self.buf).with_context(|| format!("reading /proc/{pid}/stat"))?;
            let flags = parse_stat(text).with_context(|| format!("parsing /proc/{pid}/stat"))?.flags;
            let kernel_thread = flags & PF_KTHREAD != 0;
            self.kept_files += 1;
            // Kernel threads do no I/O of their own and hold no fds.
            let (schedstat, io) = if kernel_thread {
                (None, None)
            } else {
                (self.keep_open(pid, "schedstat"), self.keep_open(pid, "io"))
            };
            let process = Process { pid, ..Process::default() };
            let entry = Entry {
                stat,
                schedstat,
                io,
                run_ns: 0,
                process,
                limits: None,
                cgroups: Vec::new(),
                seen: 0,
                cmdline_asked: false,
            };
            self.entries.insert(pid, entry);
        }
        let entry = self.entries.get_mut(&pid).expect("inserted above");
        let text = read_record_at(&entry.stat, &mut self.buf)
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        let stat = parse_stat(text).with_context(|| format!("parsing /proc/{pid}/stat"))?;
        let old = &entry.process;
        let ticks_grew = stat.utime + stat.stime != old.utime_ticks + old.stime_ticks;
        let (old_fds, threads_grew) = (old.fds, stat.threads > old.threads);
        let rss_bytes = stat.rss_pages.saturating_mul(self.page_size);
        let resized = rss_bytes != old.rss_bytes || stat.state != old.state;

        let p = &mut entry.process;
        let exec = *p.comm != *stat.comm;
        if exec {
            p.comm = Arc::from(stat.comm);
            // A new name means an exec (same pid, same start time): the
            // command line changed too, so it is read again.
            entry.cmdline_asked = false;
        }
        p.ppid = stat.ppid;
        p.start_ticks = stat.start_ticks;
        p.state = stat.state;
        p.threads = stat.threads;
        p.utime_ticks = stat.utime;
        p.stime_ticks = stat.stime;
        p.rss_bytes = rss_bytes;
        p.vsize_bytes = stat.vsize;
        p.minor_faults = stat.minflt;
        p.major_faults = stat.majflt;
        entry.seen = tick;

        let kernel_thread = stat.flags & PF_KTHREAD != 0;
        // A process in D state may hold its mmap lock: reading its command
        // line could block the worker; try again on a later tick.
        let ask_cmdline = !entry.cmdline_asked && !kernel_thread && stat.state != 'D' && stat.state != 'Z';
        if ask_cmdline {
            entry.cmdline_asked = self.cmdlines.ask(pid, stat.start_ticks);
        }
        let running = stat.state == 'R';
        let multi_threaded = stat.threads > 1;
        if !kernel_thread {
            // Read every tick, so the run time compared is always last tick's.
            let proc_fd = self.proc_fd.as_fd();
            let ran = leader_ran(entry, proc_fd, &mut self.buf) || is_new || running || ticks_grew;
            // Only a thread of the process can do its I/O or open its
            // files, and the other threads' run time is not in the
            // leader's schedstat.
            if ran || multi_threaded {
                let io = read_in_proc(entry.io.as_ref(), proc_fd, pid, "io", &mut self.buf);
                let io = io.and_then(|text| parse_io(std::str::from_utf8(text).ok()?));
                (entry.process.read_bytes, entry.process.write_bytes) = io.unzip();
                entry.process.fds = count_fds(proc_fd, pid, self.fd_count_in_size);
            }
            let (p, read) = (&entry.process, entry.limits);
            let fds_near = p.fds > old_fds && near_limit(p.fds.map(u64::from), read.map(|l| l.open_files));
            let threads = Some(u64::from(p.threads));
            let threads_near = threads_grew && near_limit(threads, read.map(|l| l.processes));
            // The uid is the leader's own; swapping out lowers RSS.
            if ran || resized {
                self.read_status(pid);
            }
            if fds_near || threads_near {
                self.read_limits(pid);
            }
            if exec && self.follow_cgroups {
                self.learn_cgroup(pid, cgroup_of);
            }
            if ran || resized {
                self.busy_cgroups.extend(&self.entries[&pid].cgroups);
            }
        }
        Ok(ask_cmdline)
    }

    /// The ids of the cgroups (in any hierarchy) where a process ran,
    /// appeared, changed its memory or state, or exited since the read
    /// before: the others' CPU time and memory cannot have moved, but by
    /// a thread that ran less than a clock tick, a process moved into them
    /// without an exec, or by reclaim.
    pub fn busy_cgroups(&self) -> &HashSet<u32> {
        &self.busy_cgroups
    }

    /// Reads /proc/PID/limits; unreadable, the limits read before stay.
    fn read_limits(&mut self, pid: u32) {
        let limits = self.parse_in_proc(pid, "limits", limits::parse_process_limits);
        if let (Some(limits), Some(entry)) = (limits, self.entries.get_mut(&pid)) {
            entry.limits = Some(limits);
        }
    }

    /// The limits read so far, one row per process that came near them.
    pub fn limits(&self) -> Vec<ProcessLimits> {
        let mut rows: Vec<ProcessLimits> = self
            .entries
            .values()
            .filter_map(|entry| {
                let p = &entry.process;
                Some(ProcessLimits { pid: p.pid, start_ticks: p.start_ticks, limits: entry.limits? })
            })
            .collect();
        rows.sort_unstable_by_key(ProcessLimits::key);
        rows
    }

    /// Reads the cgroup of a process just seen or just exec'd (opened each
    /// time: it is read once per process). Where it cannot be read it
    /// keeps what it had.
    fn learn_cgroup(&mut self, pid: u32, cgroup_of: CgroupOf) {
        let Some(ids) = self.parse_in_proc(pid, "cgroup", |text| Some(cgroup_of(text))) else { return };
        if let Some(entry) = self.entries.get_mut(&pid) {
            entry.process.cgroup = ids.first().copied().unwrap_or(0);
            entry.cgroups = ids;
        }
    }

    /// Reads uid and swap from /proc/PID/status (opened each time: it is
    /// read rarely and large). Without permission (another user's process,
    /// unprivileged) they keep their last values.
    fn read_status(&mut self, pid: u32) {
        let status = self.parse_in_proc(pid, "status", parse_status);
        if let (Some((uid, swap_kib)), Some(entry)) = (status, self.entries.get_mut(&pid)) {
            entry.process.uid = uid;
            entry.process.swap_bytes = swap_kib * 1024;
        }
    }

    /// /proc/PID/NAME opened to be kept, while the budget of open files
    /// allows.
    fn keep_open(&mut self, pid: u32, name: &str) -> Option<File> {
        if self.kept_files >= self.max_kept_files {
            return None;
        }
        let file = File::from(self.open_in_proc(pid, name).ok()?);
        self.kept_files += 1;
        Some(file)
    }

    fn open_in_proc(&self, pid: u32, name: &str) -> nix::Result<OwnedFd> {
        let path = proc_path(pid, name);
        openat(self.proc_fd.as_fd(), path.as_slice(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
    }

    /// Reads /proc/PID/NAME into the reused buffer and parses it there:
    /// no allocation per process. `None` when unreadable (gone, or not
    /// permitted).
    fn parse_in_proc<T>(&mut self, pid: u32, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let text = read_in_proc(None, self.proc_fd.as_fd(), pid, name, &mut self.buf)?;
        parse(std::str::from_utf8(text).ok()?)
    }

    /// Takes the command lines the worker has read; waits briefly when this
    /// tick asked for new ones, so a new process is named in its first sample.
    fn collect_cmdlines(&mut self, asked_now: usize) {
        let wait = if asked_now > 0 { CMDLINE_WAIT } else { Duration::ZERO };
        for answer in self.cmdlines.answers(asked_now, wait) {
            if let Some(entry) = self.entries.get_mut(&answer.pid)
                && entry.process.start_ticks == answer.start_ticks
            {
                entry.process.cmdline = answer.cmdline;
            }
        }
    }
}

/// Whether a count that just grew is worth reading the limits for: past
/// `LIMITS_FROM` when they were never read, and within a quarter of the
/// limit read (which `prlimit` may have changed since) after.
fn near_limit(count: Option<u64>, limit_read: Option<Option<u64>>) -> bool {
    let Some(count) = count.filter(|&count| count >= LIMITS_FROM) else { return false };
    match limit_read {
        None => true,
        Some(None) => false,
        Some(Some(limit)) => count.saturating_mul(4) >= limit.saturating_mul(3),
    }
}

/// "1234" → 1234; anything else (".", "self", "sys") → None.
pub fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// Whether the leader ran since the last tick, by its run time in
/// nanoseconds; true when that is unknown (no schedstat, or a kernel that
/// reports 0 without scheduler statistics), so nothing is ever skipped on a
/// guess.
fn leader_ran(entry: &mut Entry, proc_fd: BorrowedFd, buf: &mut Vec<u8>) -> bool {
    let pid = entry.process.pid;
    let run_ns =
        read_in_proc(entry.schedstat.as_ref(), proc_fd, pid, "schedstat", buf).and_then(parse_schedstat);
    let run_ns = run_ns.unwrap_or(0);
    let ran = run_ns == 0 || run_ns != entry.run_ns;
    entry.run_ns = run_ns;
    ran
}

/// One record of /proc/PID/NAME, from the file kept open for it or, without
/// one, opened for this read. `None` when unreadable (gone, or not
/// permitted).
fn read_in_proc<'b>(
    kept: Option<&File>,
    proc_fd: BorrowedFd,
    pid: u32,
    name: &str,
    buf: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    let opened;
    let file = match kept {
        Some(file) => file,
        None => {
            let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
            opened = File::from(openat(proc_fd, proc_path(pid, name).as_slice(), flags, Mode::empty()).ok()?);
            &opened
        }
    };
    read_record_at(file, buf).ok()
}

/// Open fds now: one `stat` of /proc/PID/fd where its size is the count
/// (Linux 6.2+), else a walk of the directory. `None` where not permitted,
/// or gone meanwhile.
fn count_fds(proc_fd: BorrowedFd, pid: u32, count_in_size: bool) -> Option<u32> {
    let path = proc_path(pid, "fd");
    if count_in_size {
        return u32::try_from(fstatat(proc_fd, path.as_slice(), AtFlags::empty()).ok()?.st_size).ok();
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = openat(proc_fd, path.as_slice(), flags, Mode::empty()).ok()?;
    let mut dir = Dir::from_fd(fd).ok()?;
    let count =
        dir.iter().filter_map(|e| e.ok()).filter(|e| parse_pid(e.file_name().to_bytes()).is_some()).count();
    u32::try_from(count).ok()
}

/// The soft limit on open files (`record` raises it to the hard one).
fn open_files_limit() -> usize {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
}

/// `PID/NAME` relative to /proc, built without allocating.
fn proc_path(pid: u32, name: &str) -> PathBuf32 {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = pid;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut path = PathBuf32::default();
    path.push(&digits[start..]);
    path.push(b"/");
    path.push(name.as_bytes());
    path
}

/// A short path on the stack.
#[derive(Default)]
struct PathBuf32 {
    bytes: [u8; 32],
    len: usize,
}

impl PathBuf32 {
    fn push(&mut self, part: &[u8]) {
        let end = (self.len + part.len()).min(self.bytes.len());
        let take = end - self.len;
        self.bytes[self.len..end].copy_from_slice(&part[..take]);
        self.len = end;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The fields of /proc/PID/stat that flightrec keeps.
#[derive(Debug, PartialEq)]
pub struct StatFields<'a> {
    pub comm: &'a str,
    pub state: char,
    pub ppid: u32,
    pub flags: u64,
    pub minflt: u64,
    pub majflt: u64,
    pub utime: u64,
    pub stime: u64,
    pub threads: u32,
    pub start_ticks: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses `1234 (my proc) S 1 1234 ...`. The command name may hold spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(bytes: &[u8]) -> Result<StatFields<'_>> {
    let open = bytes.iter().position(|&b| b == b'(').context("no '(' before the command name")?;
    let close = bytes.iter().rposition(|&b| b == b')').context("no ')' after the command name")?;
    if close < open {
        bail!("')' before '('");
    }
    let comm = std::str::from_utf8(&bytes[open + 1..close]).unwrap_or("?");
    let mut fields = bytes[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let mut next =
        |name: &str| -> Result<&[u8]> { fields.next().with_context(|| format!("no {name} field")) };
    let state = match next("state")? {
        [c] => char::from(*c),
        other => bail!("state {:?} is not one letter", String::from_utf8_lossy(other)),
    };
    let ppid = number(next("ppid")?, "ppid")?;
    for name in ["pgrp", "session", "tty_nr", "tpgid"] {
        next(name)?;
    }
    let flags = number(next("flags")?, "flags")?;
    let minflt = number(next("minflt")?, "minflt")?;
    next("cminflt")?;
    let majflt = number(next("majflt")?, "majflt")?;
    next("cmajflt")?;
    let utime = number(next("utime")?, "utime")?;
    let stime = number(next("stime")?, "stime")?;
    for name in ["cutime", "cstime", "priority", "nice"] {
        next(name)?;
    }
    let threads = number(next("num_threads")?, "num_threads")?;
    next("itrealvalue")?;
    let start_ticks = number(next("starttime")?, "starttime")?;
    let vsize = number(next("vsize")?, "vsize")?;
    let rss_pages = number(next("rss")?, "rss")?;
    Ok(StatFields {
        comm,
        state,
        ppid: u32::try_from(ppid).context("ppid out of range")?,
        flags,
        minflt,
        majflt,
        utime,
        stime,
        threads: u32::try_from(threads).context("num_threads out of range")?,
        start_ticks,
        vsize,
        rss_pages,
    })
}

fn number(field: &[u8], name: &str) -> Result<u64> {
    let mut value: u64 = 0;
    if field.is_empty() {
        bail!("{name} is empty");
    }
    for &b in field {
        if !b.is_ascii_digit() {
            bail!("{name} {:?} is not a number", String::from_utf8_lossy(field));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .with_context(|| format!("{name} {:?} is too large", String::from_utf8_lossy(field)))?;
    }
    Ok(value)
}

/// Effective uid and VmSwap (kB) from /proc/PID/status. Kernel threads and
/// zombies have no VmSwap line: 0.
pub fn parse_status(text: &str) -> Option<(u32, u64)> {
    let mut uid = None;
    let mut swap = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            uid = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("VmSwap:") {
            swap = rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
        }
    }
    uid.map(|uid| (uid, swap))
}

/// `read_bytes` and `write_bytes` (bytes that reached storage) from
/// /proc/PID/io.
pub fn parse_io(text: &str) -> Option<(u64, u64)> {
    let mut read = None;
    let mut write = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("read_bytes:") {
            read = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("write_bytes:") {
            write = rest.trim().parse().ok();
        }
    }
    Some((read?, write?))
}

/// The run time in ns, the first of the three numbers in
/// /proc/PID/schedstat (`1585224 100120 12`).
pub fn parse_schedstat(bytes: &[u8]) -> Option<u64> {
    let first = bytes.split(|&b| b == b' ').next()?;
    number(first, "run time").ok()
}

/// Whether an error only says the process exited meanwhile.
fn is_gone(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let errno = cause.downcast_ref::<nix::Error>().copied().or_else(|| {
            cause.downcast_ref::<std::io::Error>().and_then(|e| e.raw_os_error()).map(nix::Error::from_raw)
        });
        matches!(errno, Some(nix::Error::ESRCH | nix::Error::ENOENT))
    })
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (have_major, have_minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (have_major, have_minor) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_stat() {
        let stat = parse_stat(include_bytes!("../../tests/fixtures/proc/pid-stat")).unwrap();
        assert_eq!((stat.comm, stat.state, stat.ppid, stat.threads), ("bash", 'S', 1032, 1));
        assert_eq!((stat.minflt, stat.majflt, stat.utime, stat.stime), (7860, 0, 2, 6));
        assert_eq!((stat.start_ticks, stat.vsize, stat.rss_pages), (2824, 5369856, 987));
    }

    #[test]
    fn parses_a_command_name_with_spaces_and_parentheses() {
        let line = b"42 (a (b) c) R 7 42 42 0 -1 4194304 10 0 2 0 30 40 0 0 20 0 3 0 999 1000 5 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.comm, "a (b) c");
        assert_eq!((stat.state, stat.ppid, stat.minflt, stat.majflt), ('R', 7, 10, 2));
        assert_eq!((stat.utime, stat.stime, stat.threads, stat.start_ticks), (30, 40, 3, 999));
        assert_eq!((stat.vsize, stat.rss_pages), (1000, 5));
    }

    #[test]
    fn rejects_truncated_and_garbage_stat() {
        assert!(parse_stat(b"").is_err());
        assert!(parse_stat(b"1 (x) S 1 2").is_err());
        assert!(parse_stat(b"1 x) S").is_err());
        assert!(parse_stat(b"1 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21").is_err());
        let huge = b"1 (x) S 99999999999999999999999 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 1 1 1";
        assert!(parse_stat(huge).is_err());
    }

    #[test]
    fn parses_captured_status_and_io() {
        let (uid, swap) = parse_status(include_str!("../../tests/fixtures/proc/pid-status")).unwrap();
        assert_eq!((uid, swap), (0, 0));
        let (read, write) =
            parse_io("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\n")
                .unwrap();
        assert_eq!((read, write), (4096, 8192));
        assert!(parse_io("rchar: 1\n").is_none());
    }

    #[test]
    fn parses_schedstat_run_time() {
        assert_eq!(parse_schedstat(b"240637611 8538736 431\n"), Some(240_637_611));
        assert_eq!(parse_schedstat(b"0 0 0\n"), Some(0));
        assert_eq!(parse_schedstat(b""), None);
        assert_eq!(parse_schedstat(b"x 1 2\n"), None);
    }

    /// A child's figures, as the table reads them, against the kernel's:
    /// with its files kept open, and with no room left to keep any (each
    /// then opened for every read).
    #[test]
    fn reads_a_process_with_and_without_kept_files() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exec 3</dev/null 4</dev/null 5</dev/null; exec sleep 1000"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let shown = |pid: u32| std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
        // The shell has made its redirections and become `sleep`, which
        // opens nothing more.
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
            std::thread::sleep(Duration::from_millis(10));
        }
        for room in [usize::MAX, 0] {
            let mut table =
                ProcessTable::new(Redactor::new(&[]).unwrap(), false, &mut |_| Vec::new()).unwrap();
            (table.max_kept_files, table.kept_files) = (room, 0);
            table.entries.clear();
            let list = table.read(&mut Warnings::new(), &mut |_| Vec::new()).unwrap();
            let found = list.iter().find(|p| p.pid == pid).expect("the child in the table");
            let io = parse_io(&std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap()).unwrap();
            // 3 redirections besides stdin, stdout, stderr and whatever
            // else it inherited.
            assert_eq!(found.fds, Some(shown(pid) as u32), "room {room}");
            assert!(shown(pid) >= 6, "room {room}");
            assert_eq!((found.read_bytes, found.write_bytes), (Some(io.0), Some(io.1)), "room {room}");
            let kept = table.entries.values().map(Entry::files).sum::<usize>();
            assert_eq!(table.kept_files, kept, "room {room}: the count of kept files");
            if room == 0 {
                assert_eq!(kept, table.entries.len(), "room 0: only the stat files are kept");
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"1234"), Some(1234));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }
}
