//! Collectors: one module per source, each a pure `parse` over the text the
//! kernel gives. `Collector` owns the open files, buffers and per-process
//! state that make a sample cheap, and turns one tick into one `Sample`.
//! A source that fails is `None` in that sample, with a rate-limited warning.
//! Control groups are read after the processes, which tell the cgroup
//! collector of cgroups that appeared since its last walk.
//! Watched directories and logs, which can hang with their filesystem, are
//! read on threads of their own and waited for until a deadline
//! (`deadline`); one that misses it is named in `Sample::watch_timeouts`.
//! The socket table and the wait-for picture (`sockets`, `waits`), drawn
//! from one netlink dump, are read on a thread of their own as well: the
//! picture's first walk of every process's fds takes far longer than a tick
//! should, and a netlink reply may be late; a sample they miss lacks both.

pub mod cgroup;
pub mod cmdline;
pub mod deadline;
pub mod diskstats;
pub mod host;
pub mod kmsg;
pub mod limits;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod netdev;
pub mod pressure;
pub mod probe;
pub mod process;
pub mod procfile;
pub mod pstore;
pub mod redact;
pub mod snmp;
pub mod sockets;
pub mod stacks;
pub mod stat;
pub mod vmstat;
pub mod waits;
pub mod watch_dir;
pub mod watch_log;

use crate::sample::{Disk, NetTotals, Pressure, Sample, Tasks};
use crate::warn::Warnings;
use anyhow::Result;
use procfile::ProcFile;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Collector {
    loadavg: ProcFile,
    stat: ProcFile,
    meminfo: ProcFile,
    vmstat: ProcFile,
    psi_cpu: ProcFile,
    psi_memory: ProcFile,
    psi_io: ProcFile,
    file_nr: ProcFile,
    pid_max: ProcFile,
    threads_max: ProcFile,
    net_dev: ProcFile,
    snmp: ProcFile,
    netstat: ProcFile,
    sockstat: ProcFile,
    diskstats: ProcFile,
    mountinfo: ProcFile,
    processes: process::ProcessTable,
    cgroups: cgroup::CgroupCollector,
    sockets: deadline::Offloaded<sockets::SocketRead>,
    /// `None` where /dev/kmsg cannot be read (not root, no CAP_SYSLOG).
    kmsg: Option<kmsg::KmsgReader>,
    /// Stacks of D-state processes are readable by root only.
    read_stacks: bool,
    dirs: Vec<Watched<crate::sample::WatchedDir>>,
    logs: Vec<Watched<crate::sample::WatchedLog>>,
    /// How long a tick waits for watched directories and logs, and sockets.
    watch_within: Duration,
    warnings: Warnings,
}

/// Directories and log files to watch (`--watch-dir`, `--watch-log`).
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub dirs: Vec<std::path::PathBuf>,
    pub logs: Vec<std::path::PathBuf>,
}

/// A watched directory or log, read off the sampling thread.
struct Watched<T> {
    path: String,
    reader: deadline::Offloaded<T>,
}

impl<T: Send + 'static> Watched<T> {
    fn spawn(path: &Path, name: &str, read: impl FnMut() -> Result<T> + Send + 'static) -> Result<Self> {
        Ok(Watched { path: path.display().to_string(), reader: deadline::Offloaded::spawn(name, read)? })
    }
}

/// D-state processes whose kernel stacks are read per sample at most.
const STACKS_PER_SAMPLE: usize = 16;

/// A resource the machine stalls on for this share of the last 10 s
/// (`some`, %) has its pressure read in every cgroup that ran, not only in
/// those at their own limits: which service stalls is then the question.
const STALLED_FROM_PCT: f64 = 10.0;

impl Collector {
    /// `watch_within`: how long after the start of a sample its watched
    /// directories and logs, and its sockets, may answer; `cgroup_depth`:
    /// the levels of control groups followed below each hierarchy's root;
    /// `waits`: whether to draw the wait-for picture.
    pub fn new(
        redactor: redact::Redactor,
        watch: &Watch,
        watch_within: Duration,
        cgroup_depth: usize,
        waits: bool,
    ) -> Result<Self> {
        let dirs = watch.dirs.iter().map(|path| {
            let mut watcher = watch_dir::DirWatcher::new(path);
            Watched::spawn(path, "watch-dir", move || watcher.read())
        });
        let logs = watch.logs.iter().map(|path| {
            let mut watcher = watch_log::LogWatcher::new(path, redactor.clone())?;
            Watched::spawn(path, "watch-log", move || watcher.read())
        });
        let mut cgroups = cgroup::CgroupCollector::new(cgroup_depth);
        let mut socket_reader =
            if waits { sockets::SocketReader::with_picture() } else { sockets::SocketReader::new() };
        // The picture's first read walks every process's fds to name the
        // listeners: done here, before the first tick, so that the first
        // samples do not lose their socket table waiting for it. What it
        // found is kept; its failure is the next read's to report.
        let _ = socket_reader.read();
        Ok(Collector {
            loadavg: ProcFile::new("/proc/loadavg"),
            stat: ProcFile::new("/proc/stat"),
            meminfo: ProcFile::new("/proc/meminfo"),
            vmstat: ProcFile::new("/proc/vmstat"),
            psi_cpu: ProcFile::new("/proc/pressure/cpu"),
            psi_memory: ProcFile::new("/proc/pressure/memory"),
            psi_io: ProcFile::new("/proc/pressure/io"),
            file_nr: ProcFile::new("/proc/sys/fs/file-nr"),
            pid_max: ProcFile::new("/proc/sys/kernel/pid_max"),
            threads_max: ProcFile::new("/proc/sys/kernel/threads-max"),
            net_dev: ProcFile::new("/proc/net/dev"),
            snmp: ProcFile::new("/proc/net/snmp"),
            netstat: ProcFile::new("/proc/net/netstat"),
            sockstat: ProcFile::new("/proc/net/sockstat"),
            diskstats: ProcFile::new("/proc/diskstats"),
            mountinfo: ProcFile::new("/proc/self/mountinfo"),
            processes: process::ProcessTable::new(redactor.clone(), cgroup_depth > 0, &mut |text| {
                cgroups.learn(text)
            })?,
            cgroups,
            sockets: deadline::Offloaded::spawn("sockets", move || socket_reader.read())?,
            kmsg: kmsg::KmsgReader::open()
                .map_err(|err| eprintln!("flightrec: warning: kernel messages: {err:#}; not recording them"))
                .ok(),
            read_stacks: nix::unistd::geteuid().is_root(),
            dirs: dirs.collect::<Result<_>>()?,
            logs: logs.collect::<Result<_>>()?,
            watch_within,
            warnings: Warnings::new(),
        })
    }

    /// Reads every source once. Time fields are left to the caller, which
    /// knows the schedule.
    pub fn sample(&mut self) -> Sample {
        let deadline = Instant::now() + self.watch_within;
        self.dirs.iter_mut().for_each(|dir| dir.reader.ask());
        self.logs.iter_mut().for_each(|log| log.reader.ask());
        self.sockets.ask();
        let w = &mut self.warnings;
        let mut sample = Sample {
            load: w.check("loadavg", parse_file(&mut self.loadavg, loadavg::parse)),
            cpu: w.check("stat", parse_file(&mut self.stat, stat::parse)),
            memory: w.check("meminfo", parse_file(&mut self.meminfo, meminfo::parse)),
            vm: w.check("vmstat", parse_file(&mut self.vmstat, vmstat::parse)),
            pressure: Pressure {
                cpu: optional_file(&mut self.psi_cpu, w),
                memory: optional_file(&mut self.psi_memory, w),
                io: optional_file(&mut self.psi_io, w),
            },
            files: w.check("file-nr", parse_file(&mut self.file_nr, limits::parse_file_nr)),
            ..Sample::default()
        };
        let interfaces = w.check("net/dev", parse_file(&mut self.net_dev, netdev::parse));
        let net = self.net_totals(interfaces.as_deref());
        sample.net = self.warnings.check("net counters", net);
        sample.interfaces = interfaces;

        let cgroups = &mut self.cgroups;
        let processes = self.processes.read(&mut self.warnings, &mut |text| cgroups.learn(text));
        let w = &mut self.warnings;
        sample.processes = w.check("processes", processes);
        sample.process_limits = sample.processes.is_some().then(|| self.processes.limits());
        let tasks = tasks(sample.processes.as_deref(), &mut self.pid_max, &mut self.threads_max);
        sample.tasks = w.check("task limits", tasks);
        sample.cgroups = self.read_cgroups(&sample.pressure, sample.processes.is_some());
        let w = &mut self.warnings;
        if self.read_stacks {
            sample.blocked_tasks = sample.processes.as_deref().map(blocked_stacks);
        }
        sample.kernel_messages = self.kmsg.as_mut().map(kmsg::KmsgReader::read);
        sample.disks = w.check("diskstats", read_disks(&mut self.diskstats));
        sample.filesystems = w
            .check("mountinfo", parse_file(&mut self.mountinfo, mounts::parse_mountinfo))
            .map(|list| mounts::filesystems(&list));
        let timeouts = &mut sample.watch_timeouts;
        if !self.dirs.is_empty() {
            sample.watched_dirs = Some(answers(&mut self.dirs, deadline, "watched directory", timeouts, w));
        }
        if !self.logs.is_empty() {
            sample.watched_logs = Some(answers(&mut self.logs, deadline, "watched log", timeouts, w));
        }
        match self.sockets.answer(deadline) {
            Some(answer) => {
                if let Some(read) = w.check("sockets", answer) {
                    sample.sockets_source = Some(read.source);
                    sample.sockets = Some(read.rows);
                    sample.waits = read.waits.and_then(|waits| w.check("waits", waits)).map(|w| w.endpoints);
                }
            }
            None => {
                w.warn("sockets", "no answer in time; this sample has no socket table or wait-for picture")
            }
        }
        sample
    }

    /// `None` on a machine without cgroup filesystems (or none readable).
    /// `sample_has_processes`: the process table was read this tick, so
    /// it tells which cgroups had a process run.
    fn read_cgroups(
        &mut self,
        machine: &Pressure,
        sample_has_processes: bool,
    ) -> Option<Vec<crate::sample::CgroupStats>> {
        let stalled = |psi: Option<crate::sample::Psi>| psi.is_some_and(|p| p.some_avg10 >= STALLED_FROM_PCT);
        let stalled = cgroup::Stalled {
            cpu: stalled(machine.cpu),
            memory: stalled(machine.memory),
            io: stalled(machine.io),
        };
        let busy = sample_has_processes.then(|| self.processes.busy_cgroups());
        let cgroups = self.cgroups.read(stalled, busy, &mut self.warnings);
        if cgroups.left_out > 0 {
            let why = format!(
                "{} more than the {} followed are left out; lower cgroup_depth",
                cgroups.left_out,
                cgroup::MAX_CGROUPS
            );
            self.warnings.warn("cgroups", &why);
        }
        (!cgroups.groups.is_empty()).then_some(cgroups.groups)
    }

    fn net_totals(&mut self, interfaces: Option<&[crate::sample::Interface]>) -> Result<NetTotals> {
        let mut net = NetTotals::default();
        if let Some(interfaces) = interfaces {
            netdev::totals(interfaces, &mut net);
        }
        snmp::parse_snmp(self.snmp.read()?, &mut net)?;
        snmp::parse_netstat(self.netstat.read()?, &mut net)?;
        snmp::parse_sockstat(self.sockstat.read()?, &mut net)?;
        Ok(net)
    }
}

/// The answers of watched sources by `deadline`; the ones that gave none
/// are named in `timeouts`.
fn answers<T: Send + 'static>(
    watched: &mut [Watched<T>],
    deadline: Instant,
    what: &'static str,
    timeouts: &mut Vec<String>,
    warnings: &mut Warnings,
) -> Vec<T> {
    let mut got = Vec::new();
    for source in watched {
        match source.reader.answer(deadline) {
            Some(answer) => got.extend(warnings.check(what, answer)),
            None => {
                let why = "no answer in time (a hung filesystem?); not waited for until it answers";
                warnings.warn(what, &format!("{}: {why}", source.path));
                timeouts.push(source.path.clone());
            }
        }
    }
    got
}

/// Kernel stacks of the processes in D state, longest-blocked kind first:
/// the ones using the least CPU have been waiting the longest.
fn blocked_stacks(processes: &[crate::sample::Process]) -> Vec<crate::sample::BlockedTask> {
    let mut blocked: Vec<&crate::sample::Process> = processes.iter().filter(|p| p.state == 'D').collect();
    blocked.sort_by_key(|p| p.utime_ticks + p.stime_ticks);
    let pids: Vec<(u32, &str)> = blocked.iter().map(|p| (p.pid, &*p.comm)).collect();
    stacks::read_blocked(&pids, STACKS_PER_SAMPLE)
}

fn parse_file<T>(file: &mut ProcFile, parse: fn(&str) -> Result<T>) -> Result<T> {
    let path = file.path().display().to_string();
    let text = file.read()?;
    parse(text).map_err(|err| err.context(format!("parsing {path}")))
}

/// A PSI file: absent on kernels without PSI, which is not an error.
fn optional_file(file: &mut ProcFile, warnings: &mut Warnings) -> Option<crate::sample::Psi> {
    if !file.path().exists() {
        return None;
    }
    warnings.check("pressure", parse_file(file, pressure::parse))
}

fn tasks(
    processes: Option<&[crate::sample::Process]>,
    pid_max: &mut ProcFile,
    threads_max: &mut ProcFile,
) -> Result<Tasks> {
    let list = processes.ok_or_else(|| anyhow::anyhow!("no process table this sample"))?;
    Ok(Tasks {
        processes: list.len() as u64,
        threads: list.iter().map(|p| u64::from(p.threads)).sum(),
        pid_max: parse_file(pid_max, limits::parse_number)?,
        threads_max: parse_file(threads_max, limits::parse_number)?,
    })
}

/// Whole devices are the names listed in /sys/block; partitions are not.
fn read_disks(file: &mut ProcFile) -> Result<Vec<Disk>> {
    let whole: HashSet<String> = std::fs::read_dir("/sys/block")
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let text = file.read()?;
    diskstats::parse(text, |name| whole.contains(name))
}
