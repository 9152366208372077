//! Control groups: the services and containers of a machine, each with its
//! own limits. Both hierarchies are read: cgroup v2 (one `cgroup2` mount)
//! and v1 (one `cgroup` mount per controller, or per group of controllers:
//! `cpu,cpuacct` is one mount on systemd hosts, two on others), found in
//! `/proc/self/mountinfo`. A cgroup is known by its path below the
//! hierarchy's root (`/system.slice/postfix.service`), which is the same in
//! every hierarchy, so its figures from all of them make one `CgroupStats`.
//!
//! Which cgroups: on systemd hosts the slices `system.slice`, `user.slice`
//! and `machine.slice` and what is below them, down to `depth` levels from
//! the root (2 by default: the units and containers); elsewhere every
//! cgroup down to `depth`. At most `MAX_CGROUPS`, the rest counted.
//!
//! Cost: a cgroup file is one `pread` of a kept-open file into a buffer
//! zeroed once (`ProcFile::record`; 1 to 2.5 µs each on Linux 6.18), and a
//! machine has many idle services, so what is read follows what can have
//! changed:
//! - every tick, the CPU time of the cgroups where a process ran, came or
//!   went (the process table says which, in every hierarchy a process is
//!   in) and of those above them; where it moved, memory and tasks (a
//!   cgroup that ran no task cannot have changed them but by reclaim), and
//!   the event counters of a resource near its limit. The other cgroups
//!   are carried, and read on their detail ticks; one whose CPU time moved
//!   there all the same (a process moved in without an exec, threads that
//!   ran less than a clock tick) is read every tick from then on;
//! - every `DETAIL_EVERY` ticks, the slow counters (I/O per device, swap,
//!   peak, the events, the user/system split on v1), stamped in
//!   `detail_read_ms`, but only where the CPU time moved in the last two
//!   such periods: the second covers writeback charged to the cgroup after
//!   its tasks went quiet. An idle cgroup's row then stays the same and
//!   costs nothing stored;
//! - every `LIMITS_EVERY` ticks, the limits (quotas, `MemoryMax`,
//!   `TasksMax`), which change only when someone sets them;
//! - pressure only when the machine stalled on that resource and the
//!   cgroup ran, or the cgroup is held at its own limit.
//!
//! Each cgroup has a phase of its own, so that no one tick reads every
//! cgroup's detail. Walking every hierarchy costs more than reading the
//! cgroups found, so it is done every `LIMITS_EVERY` ticks; in between, a
//! cgroup that vanishes is dropped at once and one that appears is added
//! when a new process is seen in it (`learn`). Each cgroup keeps the id it
//! got when first followed, which the processes in it name.

pub mod parse;

use crate::collect::procfile::ProcFile;
use crate::collect::{mounts, pressure};
use crate::sample::{CgroupStats, DeviceIo, Psi};
use crate::warn::Warnings;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Cgroups followed at most; a machine with more is said to have more.
pub const MAX_CGROUPS: usize = 1000;

/// Levels below the root followed when the configuration does not say.
pub const DEFAULT_DEPTH: usize = 2;

/// Ticks between reads of the slow counters (I/O, swap, peak, events).
const DETAIL_EVERY: u64 = 12;

/// Ticks between reads of the limits, and between walks of the
/// hierarchies: a multiple of `DETAIL_EVERY`, so that limits are read on a
/// detail tick.
const LIMITS_EVERY: u64 = DETAIL_EVERY * 5;

/// An event counter is read every tick once its resource is this full.
const NEAR_LIMIT: f64 = 0.9;

/// The slices systemd puts services, sessions and containers in.
const SYSTEMD_SLICES: &[&str] = &["system.slice", "user.slice", "machine.slice"];

/// Where each hierarchy is mounted.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Layout {
    pub unified: Option<PathBuf>,
    /// v1 mounts with the controllers each carries (`name=systemd` counts
    /// as one), in mountinfo order.
    pub v1: Vec<(Vec<String>, PathBuf)>,
}

impl Layout {
    /// The cgroup mounts in `/proc/self/mountinfo`'s text. Lines read
    /// `32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu`.
    pub fn parse(mountinfo: &str) -> Layout {
        let mut layout = Layout::default();
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(separator) = fields.iter().position(|field| *field == "-") else { continue };
            let (Some(mount_point), Some(fs_type), Some(options)) =
                (fields.get(4), fields.get(separator + 1), fields.get(separator + 3))
            else {
                continue;
            };
            let mount_point = PathBuf::from(mounts::unescape(mount_point));
            match *fs_type {
                "cgroup2" => layout.unified = Some(mount_point),
                "cgroup" => {
                    let controllers = options
                        .split(',')
                        .filter(|option| CONTROLLERS.contains(option) || option.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    layout.v1.push((controllers, mount_point));
                }
                _ => {}
            }
        }
        layout
    }

    /// The v1 mount that carries `controller`.
    fn v1(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, p)| p.as_path())
    }

    /// The hierarchies walked for cgroups: v1 mounts of controllers that
    /// are not read (`cpuset`, `freezer`, systemd's own) add no figures.
    fn roots(&self) -> impl Iterator<Item = &Path> {
        let read = |controllers: &Vec<String>| controllers.iter().any(|c| CONTROLLERS.contains(&c.as_str()));
        let v1 =
            self.v1.iter().filter(move |(controllers, _)| read(controllers)).map(|(_, path)| path.as_path());
        self.unified.iter().map(PathBuf::as_path).chain(v1)
    }
}

/// v1 controllers whose files are read (others are not worth a mount's walk).
const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "blkio"];

/// All cgroups of one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cgroups {
    pub groups: Vec<CgroupStats>,
    /// Cgroups beyond `MAX_CGROUPS`, not read.
    pub left_out: usize,
}

/// Which resources the whole machine stalled on since the last sample:
/// every cgroup's pressure for those is read, not only the busy ones'.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stalled {
    pub cpu: bool,
    pub memory: bool,
    pub io: bool,
}

pub struct CgroupCollector {
    layout: Layout,
    depth: usize,
    /// The cgroups followed, from the walks and what `notice` added, by
    /// path.
    groups: BTreeMap<String, Group>,
    /// The id the next cgroup followed gets: ids are never reused in a
    /// run, so a process's `cgroup` never names another cgroup.
    next_id: u32,
    left_out: usize,
    ticks: u64,
}

impl CgroupCollector {
    /// Reads the layout once; a machine without cgroups gives an empty one
    /// and empty samples.
    pub fn new(depth: usize) -> Self {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Self::with_layout(Layout::parse(&mountinfo), depth)
    }

    pub fn with_layout(layout: Layout, depth: usize) -> Self {
        CgroupCollector { layout, depth, groups: BTreeMap::new(), next_id: 1, left_out: 0, ticks: 0 }
    }

    /// Follows a cgroup learned between walks, from a new process's
    /// `/proc/PID/cgroup` (see `process_cgroup`), and gives its id; 0 when
    /// it is left out. Walking every hierarchy costs more than reading the
    /// cgroups, so it is done with the detail.
    pub fn notice(&mut self, path: &str) -> u32 {
        if let Some(group) = self.groups.get(path) {
            return group.id;
        }
        if self.groups.len() >= MAX_CGROUPS {
            self.left_out += 1;
            return 0;
        }
        self.follow(path.to_string())
    }

    /// The ids of the followed cgroups a process is in, from the text of
    /// its /proc/PID/cgroup (`process_cgroups`), the one it is recorded
    /// with first; none where it is in none followed.
    pub fn learn(&mut self, proc_cgroup: &str) -> Vec<u32> {
        if self.depth == 0 {
            return Vec::new();
        }
        let mut ids: Vec<u32> = Vec::new();
        for path in process_cgroups(proc_cgroup, self.depth) {
            let id = self.notice(&path);
            if id != 0 && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    fn follow(&mut self, path: String) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let phase = u64::from(id) % LIMITS_EVERY;
        let group = Group::open(&self.layout, &path, id, phase);
        self.groups.insert(path, group);
        id
    }

    /// One sample of every cgroup followed. `busy`: the ids of the cgroups
    /// where a process ran, came or went since the last read
    /// (`ProcessTable::busy_cgroups`); the others are read only on their
    /// detail ticks, and carried in between. `None` reads every cgroup.
    pub fn read(
        &mut self,
        stalled: Stalled,
        busy: Option<&HashSet<u32>>,
        warnings: &mut Warnings,
    ) -> Cgroups {
        let tick = self.ticks;
        self.ticks += 1;
        if tick.is_multiple_of(LIMITS_EVERY) {
            // Cgroups followed before keep their ids; one that vanished
            // is dropped when its read fails.
            let (found, left_out) = select(&self.layout, self.depth);
            self.left_out = left_out;
            for path in found {
                if !self.groups.contains_key(&path) && self.groups.len() < MAX_CGROUPS {
                    self.follow(path);
                }
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        let busy = busy.map(|ids| self.with_ancestors(ids));
        let mut groups = Vec::with_capacity(self.groups.len());
        self.groups.retain(|path, group| {
            let due = Due {
                cpu: group.unattributed || busy.as_ref().is_none_or(|busy| busy.contains(path)),
                detail: (tick + group.phase).is_multiple_of(DETAIL_EVERY),
                limits: (tick + group.phase).is_multiple_of(LIMITS_EVERY),
            };
            match group.read(path, now_ms, due, stalled) {
                Ok(Some(stats)) => groups.push(stats),
                Ok(None) => return false,
                Err(err) => warnings.warn("cgroups", &format!("{path}: {err:#}")),
            }
            true
        });
        Cgroups { groups, left_out: self.left_out }
    }
}

impl CgroupCollector {
    /// The paths of the cgroups `ids` name and of the followed cgroups
    /// above them, whose CPU time and memory include theirs.
    fn with_ancestors(&self, ids: &HashSet<u32>) -> HashSet<String> {
        let mut paths = HashSet::new();
        for (path, group) in &self.groups {
            if ids.contains(&group.id) {
                let mut above = path.as_str();
                while !above.is_empty() && paths.insert(above.to_string()) {
                    above = &above[..above.rfind('/').unwrap_or(0)];
                }
            }
        }
        paths
    }
}

/// The cgroup paths to follow, sorted, and how many more there were.
pub fn select(layout: &Layout, depth: usize) -> (BTreeSet<String>, usize) {
    let mut paths = BTreeSet::new();
    let mut left_out = 0;
    for root in layout.roots() {
        let systemd = SYSTEMD_SLICES.iter().any(|slice| root.join(slice).is_dir());
        walk(root, "", depth, systemd, &mut paths, &mut left_out);
    }
    (paths, left_out)
}

fn walk(
    dir: &Path,
    path: &str,
    depth: usize,
    systemd_top: bool,
    paths: &mut BTreeSet<String>,
    left_out: &mut usize,
) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if systemd_top && !SYSTEMD_SLICES.contains(&name.as_str()) {
            continue;
        }
        let child = format!("{path}/{name}");
        if !paths.contains(&child) {
            if paths.len() >= MAX_CGROUPS {
                *left_out += 1;
                continue;
            }
            paths.insert(child.clone());
        }
        walk(&entry.path(), &child, depth - 1, false, paths, left_out);
    }
}

/// The followed cgroups a process belongs to, from the text of
/// `/proc/PID/cgroup` (`0::/system.slice/x.service` for v2, one
/// `4:memory:/...` line per v1 hierarchy), each cut to `depth` levels so
/// that a process deep in a unit counts for the unit. On hybrid and v1
/// hosts a process may sit in a different cgroup in each hierarchy; the
/// first is the one it is recorded with: the unified line when it names a
/// cgroup below the root (on hybrid hosts it may not), then systemd's own
/// v1 hierarchy, then the v1 lines in their order.
pub fn process_cgroups(text: &str, depth: usize) -> Vec<String> {
    let mut lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            (path != "/").then_some((controllers, path))
        })
        .collect();
    let rank = |controllers: &str| match controllers {
        "" => 0,
        "name=systemd" => 1,
        _ => 2,
    };
    lines.sort_by_key(|(controllers, _)| rank(controllers));
    let mut paths: Vec<String> = Vec::new();
    for (_, path) in lines {
        let kept: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).take(depth).collect();
        let path = format!("/{}", kept.join("/"));
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// The control files one cgroup has, opened once.
struct Group {
    id: u32,
    files: Vec<(File, ProcFile)>,
    last: Option<CgroupStats>,
    /// Which of the `LIMITS_EVERY` ticks reads its limits (and, modulo
    /// `DETAIL_EVERY`, its detail).
    phase: u64,
    /// Its CPU time at its last two detail ticks, the older first: it
    /// ran lately where the time moved since the older.
    usage_at_detail_ticks: [Option<u64>; 2],
    /// Its CPU time moved while the process table saw none of its
    /// processes run (one moved in without an exec, threads shorter than a
    /// clock tick): from then on it is read every tick.
    unattributed: bool,
}

/// What of a cgroup is read this tick.
#[derive(Debug, Clone, Copy)]
struct Due {
    /// Its CPU time: a process of it ran, came or went (or that is not
    /// known); on its detail ticks in any case.
    cpu: bool,
    detail: bool,
    limits: bool,
}

/// Every control file read, by hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    CpuStat,
    CpuMax,
    MemoryCurrent,
    MemoryPeak,
    MemoryMax,
    MemoryHigh,
    SwapCurrent,
    MemoryEvents,
    PidsCurrent,
    PidsMax,
    PidsEvents,
    IoStat,
    CpuPressure,
    MemoryPressure,
    IoPressure,
    V1CpuacctUsage,
    V1CpuacctStat,
    V1CpuStat,
    V1CfsQuota,
    V1CfsPeriod,
    V1MemoryUsage,
    V1MemoryMaxUsage,
    V1MemoryLimit,
    V1MemswUsage,
    V1MemoryFailcnt,
    V1OomControl,
    V1PidsCurrent,
    V1PidsMax,
    V1PidsEvents,
    V1BlkioBytes,
    V1BlkioOps,
}

/// (file, v1 controller or `None` for the unified hierarchy, name).
const FILES: &[(File, Option<&str>, &str)] = &[
    (File::CpuStat, None, "cpu.stat"),
    (File::CpuMax, None, "cpu.max"),
    (File::MemoryCurrent, None, "memory.current"),
    (File::MemoryPeak, None, "memory.peak"),
    (File::MemoryMax, None, "memory.max"),
    (File::MemoryHigh, None, "memory.high"),
    (File::SwapCurrent, None, "memory.swap.current"),
    (File::MemoryEvents, None, "memory.events"),
    (File::PidsCurrent, None, "pids.current"),
    (File::PidsMax, None, "pids.max"),
    (File::PidsEvents, None, "pids.events"),
    (File::IoStat, None, "io.stat"),
    (File::CpuPressure, None, "cpu.pressure"),
    (File::MemoryPressure, None, "memory.pressure"),
    (File::IoPressure, None, "io.pressure"),
    (File::V1CpuacctUsage, Some("cpuacct"), "cpuacct.usage"),
    (File::V1CpuacctStat, Some("cpuacct"), "cpuacct.stat"),
    (File::V1CpuStat, Some("cpu"), "cpu.stat"),
    (File::V1CfsQuota, Some("cpu"), "cpu.cfs_quota_us"),
    (File::V1CfsPeriod, Some("cpu"), "cpu.cfs_period_us"),
    (File::V1MemoryUsage, Some("memory"), "memory.usage_in_bytes"),
    (File::V1MemoryMaxUsage, Some("memory"), "memory.max_usage_in_bytes"),
    (File::V1MemoryLimit, Some("memory"), "memory.limit_in_bytes"),
    (File::V1MemswUsage, Some("memory"), "memory.memsw.usage_in_bytes"),
    (File::V1MemoryFailcnt, Some("memory"), "memory.failcnt"),
    (File::V1OomControl, Some("memory"), "memory.oom_control"),
    (File::V1PidsCurrent, Some("pids"), "pids.current"),
    (File::V1PidsMax, Some("pids"), "pids.max"),
    (File::V1PidsEvents, Some("pids"), "pids.events"),
    (File::V1BlkioBytes, Some("blkio"), "blkio.throttle.io_service_bytes"),
    (File::V1BlkioOps, Some("blkio"), "blkio.throttle.io_serviced"),
];

/// v1 reports user and system CPU in clock ticks of this length.
fn microseconds_per_tick() -> u64 {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
    1_000_000 / ticks.max(1) as u64
}

impl Group {
    fn open(layout: &Layout, path: &str, id: u32, phase: u64) -> Group {
        let relative = path.trim_start_matches('/');
        let files = FILES
            .iter()
            .filter_map(|&(file, controller, name)| {
                let root = match controller {
                    None => layout.unified.as_deref()?,
                    Some(controller) => layout.v1(controller)?,
                };
                let full = root.join(relative).join(name);
                full.exists().then(|| (file, ProcFile::record(full)))
            })
            .collect();
        Group { id, files, last: None, phase, usage_at_detail_ticks: [None; 2], unattributed: false }
    }

    fn has(&self, file: File) -> bool {
        self.files.iter().any(|(f, _)| *f == file)
    }

    /// The file's text; `None` where the cgroup lacks it or it failed to
    /// read (a cgroup removed since the listing).
    fn text(&mut self, file: File) -> Option<&str> {
        let (_, proc_file) = self.files.iter_mut().find(|(f, _)| *f == file)?;
        proc_file.read().ok()
    }

    fn number(&mut self, file: File) -> Result<Option<u64>> {
        self.text(file).map(parse::number).transpose()
    }

    fn limit(&mut self, file: File) -> Result<Option<u64>> {
        Ok(self.text(file).map(parse::limit).transpose()?.flatten())
    }

    fn keyed<const N: usize>(&mut self, file: File, keys: [&str; N]) -> Result<[Option<u64>; N]> {
        Ok(self.text(file).map(|text| parse::keyed(text, keys)).transpose()?.unwrap_or([None; N]))
    }

    fn psi(&mut self, file: File) -> Result<Option<Psi>> {
        self.text(file).map(pressure::parse).transpose()
    }

    /// One sample of this cgroup; `None` when none of its files answered.
    /// `now_ms`: the wall clock, stamped on a read of the detail.
    fn read(&mut self, path: &str, now_ms: i64, due: Due, stalled: Stalled) -> Result<Option<CgroupStats>> {
        let first = self.last.is_none();
        if !(first || due.cpu || due.detail || due.limits) {
            // Nothing of it ran: its row stays as it was, but pressure,
            // which is never carried.
            let stats = self.last.as_ref().expect("not the first read");
            return Ok(Some(CgroupStats { psi_cpu: None, psi_memory: None, psi_io: None, ..stats.clone() }));
        }
        let previous = self.last.take().unwrap_or_else(|| CgroupStats {
            path: path.to_string(),
            id: self.id,
            ..CgroupStats::default()
        });
        let (usage_before, throttled_before) = (previous.cpu_usage_us, previous.cpu_throttled_us);
        // What is not read this tick is carried; pressure is not.
        let mut stats = CgroupStats { psi_cpu: None, psi_memory: None, psi_io: None, ..previous };
        self.read_cpu_usage(&mut stats)?;
        let limits = first || due.limits;
        if limits {
            self.read_limits(&mut stats)?;
        }
        // The first read reads everything, and counts for both periods.
        let detail = if first {
            self.usage_at_detail_ticks = [stats.cpu_usage_us; 2];
            true
        } else {
            due.detail && self.ran_lately(stats.cpu_usage_us)
        };
        if detail {
            stats.detail_read_ms = now_ms;
            self.read_detail(&mut stats)?;
        }
        // CPU time that did not move means no task of it ran since the last
        // tick: none forked, exited or allocated, so the task count and the
        // memory (which only reclaim can have lowered) are carried.
        let ran = stats.cpu_usage_us.is_none() || stats.cpu_usage_us != usage_before;
        if ran && !first && !due.cpu {
            self.unattributed = true;
        }
        if ran || detail {
            self.read_memory(&mut stats, detail)?;
            self.read_pids(&mut stats, detail)?;
        }
        // Its own pressure says which cgroup stalls: worth its read when
        // the machine stalls on the resource and the cgroup ran, or when
        // it is held back by its own limit. Reading every cgroup's whenever
        // the machine stalls would cost most on a busy machine, and
        // storing it for idle cgroups every few ticks would change their
        // rows back and forth.
        let throttled = stats.cpu_throttled_us.is_some() && stats.cpu_throttled_us != throttled_before;
        if (stalled.cpu && ran) || throttled {
            stats.psi_cpu = self.psi(File::CpuPressure)?;
        }
        let at_limit = near(stats.memory_bytes, stats.memory_high_bytes.or(stats.memory_max_bytes));
        if (stalled.memory && ran) || at_limit {
            stats.psi_memory = self.psi(File::MemoryPressure)?;
        }
        if stalled.io && ran {
            stats.psi_io = self.psi(File::IoPressure)?;
        }
        let answered = stats.cpu_usage_us.is_some() || stats.memory_bytes.is_some() || stats.tasks.is_some();
        self.last = answered.then(|| stats.clone());
        Ok(answered.then_some(stats))
    }

    /// On a detail tick: whether its CPU time moved in the last two detail
    /// periods (or is not known), which makes the detail worth reading.
    fn ran_lately(&mut self, usage: Option<u64>) -> bool {
        let [before_last, last] = self.usage_at_detail_ticks;
        self.usage_at_detail_ticks = [last, usage];
        usage.is_none() || usage != before_last
    }

    /// The CPU time, and on v2 its split and throttling from the same file.
    fn read_cpu_usage(&mut self, stats: &mut CgroupStats) -> Result<()> {
        if let Some(text) = self.text(File::CpuStat) {
            let keys =
                ["usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"];
            [
                stats.cpu_usage_us,
                stats.cpu_user_us,
                stats.cpu_system_us,
                stats.cpu_periods,
                stats.cpu_throttled_periods,
                stats.cpu_throttled_us,
            ] = parse::keyed(text, keys)?;
        } else {
            // v1 keeps the split in `cpuacct.stat`, read with the detail.
            stats.cpu_usage_us = None;
            stats.cpu_periods = None;
            stats.cpu_throttled_periods = None;
            stats.cpu_throttled_us = None;
        }
        if stats.cpu_usage_us.is_none() {
            stats.cpu_usage_us = self.number(File::V1CpuacctUsage)?.map(|ns| ns / 1000);
        }
        // v1 throttling counts only under a quota: read it then.
        if stats.cpu_periods.is_none() && stats.cpu_quota.is_some() {
            let [periods, throttled, throttled_ns] =
                self.keyed(File::V1CpuStat, ["nr_periods", "nr_throttled", "throttled_time"])?;
            (stats.cpu_periods, stats.cpu_throttled_periods) = (periods, throttled);
            stats.cpu_throttled_us = throttled_ns.map(|ns| ns / 1000);
        }
        Ok(())
    }

    /// The quotas and limits, set by people, not by the load.
    fn read_limits(&mut self, stats: &mut CgroupStats) -> Result<()> {
        if let Some(text) = self.text(File::CpuMax) {
            stats.cpu_quota = parse::cpu_max(text)?;
        } else if self.has(File::V1CfsQuota) {
            let quota = self.text(File::V1CfsQuota).unwrap_or_default().to_string();
            let period = self.text(File::V1CfsPeriod).unwrap_or_default().to_string();
            stats.cpu_quota = parse::cfs_quota(&quota, &period)?;
        }
        if self.has(File::MemoryMax) {
            stats.memory_max_bytes = self.limit(File::MemoryMax)?;
            stats.memory_high_bytes = self.limit(File::MemoryHigh)?;
        } else {
            stats.memory_max_bytes = self.limit(File::V1MemoryLimit)?;
        }
        let tasks_max = if self.has(File::PidsMax) { File::PidsMax } else { File::V1PidsMax };
        stats.tasks_max = self.limit(tasks_max)?;
        Ok(())
    }

    /// The slow counters: I/O, peak, and the v1 user/system split (swap
    /// and the events are read with the memory and tasks they belong to).
    fn read_detail(&mut self, stats: &mut CgroupStats) -> Result<()> {
        if !self.has(File::CpuStat) {
            let tick = microseconds_per_tick();
            let [user, system] = self.keyed(File::V1CpuacctStat, ["user", "system"])?;
            stats.cpu_user_us = user.map(|ticks| ticks * tick);
            stats.cpu_system_us = system.map(|ticks| ticks * tick);
        }
        let peak = if self.has(File::MemoryPeak) { File::MemoryPeak } else { File::V1MemoryMaxUsage };
        stats.memory_peak_bytes = self.number(peak)?;
        stats.io = match self.text(File::IoStat) {
            Some(text) => parse::io_stat(text)?,
            None => self.read_blkio()?,
        };
        Ok(())
    }

    fn read_memory(&mut self, stats: &mut CgroupStats, detail: bool) -> Result<()> {
        let v2 = self.has(File::MemoryCurrent);
        stats.memory_bytes =
            if v2 { self.number(File::MemoryCurrent)? } else { self.number(File::V1MemoryUsage)? };
        if detail {
            stats.swap_bytes = if v2 {
                self.number(File::SwapCurrent)?
            } else {
                let with_swap = self.number(File::V1MemswUsage)?;
                with_swap.zip(stats.memory_bytes).map(|(both, memory)| both.saturating_sub(memory))
            };
        }
        let limit = stats.memory_high_bytes.or(stats.memory_max_bytes);
        if detail || near(stats.memory_bytes, limit) {
            if v2 {
                [stats.memory_high_events, stats.memory_max_events, stats.oom_events, stats.oom_kills] =
                    self.keyed(File::MemoryEvents, ["high", "max", "oom", "oom_kill"])?;
            } else {
                stats.memory_max_events = self.number(File::V1MemoryFailcnt)?;
                [stats.oom_kills] = self.keyed(File::V1OomControl, ["oom_kill"])?;
            }
        }
        Ok(())
    }

    fn read_pids(&mut self, stats: &mut CgroupStats, detail: bool) -> Result<()> {
        let (current, events) = if self.has(File::PidsCurrent) {
            (File::PidsCurrent, File::PidsEvents)
        } else {
            (File::V1PidsCurrent, File::V1PidsEvents)
        };
        stats.tasks = self.number(current)?;
        if detail || near(stats.tasks, stats.tasks_max) {
            stats.forks_refused = self.keyed(events, ["max"])?[0];
        }
        Ok(())
    }

    fn read_blkio(&mut self) -> Result<Vec<DeviceIo>> {
        let bytes = self.text(File::V1BlkioBytes).unwrap_or_default().to_string();
        let ops = self.text(File::V1BlkioOps).unwrap_or_default().to_string();
        parse::blkio(&bytes, &ops)
    }
}

/// Whether `current` is within reach of `limit`, where both are known.
fn near(current: Option<u64>, limit: Option<u64>) -> bool {
    match (current, limit) {
        (Some(current), Some(limit)) => current as f64 >= limit as f64 * NEAR_LIMIT,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_both_hierarchies_in_mountinfo() {
        let layout = Layout::parse(HYBRID);
        assert_eq!(layout.unified.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(layout.v1("cpuacct"), Some(Path::new("/sys/fs/cgroup/cpuacct")));
        assert_eq!(layout.v1("pids"), Some(Path::new("/sys/fs/cgroup/pids")));
        assert_eq!(layout.v1.len(), 5);
        assert_eq!(layout.v1("blkio"), None);
    }

    #[test]
    fn cpu_and_cpuacct_on_one_mount_are_both_found() {
        let systemd = "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let layout = Layout::parse(systemd);
        assert_eq!(layout.v1("cpu"), layout.v1("cpuacct"));
        assert_eq!(layout.v1("cpu"), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct")));
    }

    #[test]
    fn a_process_counts_for_the_followed_cgroup_above_it() {
        let v2 = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(process_cgroups(v2, 2), ["/user.slice/user-1000.slice"]);
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/c4b89a4cf4f709df\n1:cpu:/\n0::/\n";
        assert_eq!(process_cgroups(hybrid, 2), ["/process_api/c4b89a4cf4f709df"]);
        let systemd_v1 =
            "4:memory:/system.slice/cron.service\n1:name=systemd:/system.slice/postfix.service\n";
        assert_eq!(
            process_cgroups(systemd_v1, 2),
            ["/system.slice/postfix.service", "/system.slice/cron.service"]
        );
        let same = "4:memory:/system.slice/cron.service\n0::/system.slice/cron.service\n";
        assert_eq!(process_cgroups(same, 2), ["/system.slice/cron.service"]);
        assert!(process_cgroups("0::/\n", 2).is_empty());
    }

    /// A v2 layout laid out as files: the fixture directory stands for the
    /// unified hierarchy's root.
    fn fixture_layout() -> Layout {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup/v2");
        Layout { unified: Some(root), v1: Vec::new() }
    }

    #[test]
    fn reads_a_v2_service_at_its_limits() {
        let mut collector = CgroupCollector::with_layout(fixture_layout(), DEFAULT_DEPTH);
        let cgroups = collector.read(Stalled::default(), None, &mut Warnings::new());
        let paths: Vec<&str> = cgroups.groups.iter().map(|g| g.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/system.slice/postfix.service"],
            "a slice without files of its own is not a sample"
        );
        let postfix = &cgroups.groups[0];
        assert_eq!(postfix.cpu_usage_us, Some(2_391_285_112));
        assert_eq!(postfix.cpu_throttled_periods, Some(1_472));
        assert_eq!(postfix.cpu_quota, Some((50_000, 100_000)));
        assert_eq!(postfix.memory_max_bytes, Some(268_435_456));
        assert_eq!(postfix.memory_high_bytes, None);
        assert_eq!(postfix.memory_max_events, Some(9_145));
        assert_eq!(postfix.oom_kills, Some(2));
        assert_eq!(
            (postfix.tasks, postfix.tasks_max, postfix.forks_refused),
            (Some(4_915), Some(4_915), Some(1_233))
        );
        assert_eq!(postfix.io.len(), 2);
        assert_eq!(postfix.psi_memory.as_ref().map(|p| p.some_avg10), Some(12.5));
        assert!(postfix.detail_read_ms > 0);
    }

    #[test]
    fn detail_between_reads_is_carried_and_marked() {
        let mut collector = CgroupCollector::with_layout(fixture_layout(), DEFAULT_DEPTH);
        let first = collector.read(Stalled::default(), None, &mut Warnings::new());
        let second = collector.read(Stalled::default(), None, &mut Warnings::new());
        let postfix = &second.groups[0];
        assert_eq!(postfix.detail_read_ms, first.groups[0].detail_read_ms);
        assert_eq!(postfix.tasks_max, Some(4_915));
        // At its limit, the refused forks are read every tick.
        assert_eq!(postfix.forks_refused, Some(1_233));
        // It did not run since the last sample and nothing stalled.
        assert_eq!(postfix.psi_cpu, None);
    }

    /// The fixture's unit copied into a scratch hierarchy, to change its
    /// files between reads: the scratch and the unit's directory.
    fn fixture_copy(name: &str) -> (crate::scratch::Scratch, PathBuf) {
        let scratch = crate::scratch::Scratch::new(name);
        let unit = scratch.0.join("system.slice/postfix.service");
        std::fs::create_dir_all(&unit).unwrap();
        let fixture = fixture_layout().unified.unwrap().join("system.slice/postfix.service");
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), unit.join(entry.file_name())).unwrap();
        }
        (scratch, unit)
    }

    fn scratch_layout(scratch: &crate::scratch::Scratch) -> Layout {
        Layout { unified: Some(scratch.0.clone()), v1: Vec::new() }
    }

    /// Sets the CPU time in `dir`'s cpu.stat.
    fn set_usage(dir: &Path, usage_us: u64) {
        let cpu = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
        let rest: Vec<&str> = cpu.lines().filter(|line| !line.starts_with("usage_usec ")).collect();
        std::fs::write(dir.join("cpu.stat"), format!("usage_usec {usage_us}\n{}\n", rest.join("\n")))
            .unwrap();
    }

    #[test]
    fn a_cgroup_whose_cpu_moved_unseen_by_the_process_table_is_read_every_tick_after() {
        let (scratch, unit) = fixture_copy("cgroup-unseen");
        let mut collector = CgroupCollector::with_layout(scratch_layout(&scratch), DEFAULT_DEPTH);
        let nothing_ran = HashSet::new();
        let mut read = || collector.read(Stalled::default(), Some(&nothing_ran), &mut Warnings::new()).groups;
        read();
        set_usage(&unit, 3_000_000_000);
        // Its detail tick comes within DETAIL_EVERY ticks and finds it moved.
        let seen =
            (0..DETAIL_EVERY).map(|_| read()[0].cpu_usage_us).any(|usage| usage == Some(3_000_000_000));
        assert!(seen, "the detail tick did not read its CPU time");
        set_usage(&unit, 3_000_500_000);
        assert_eq!(read()[0].cpu_usage_us, Some(3_000_500_000), "not read on the next tick");
    }

    #[test]
    fn an_idle_cgroups_detail_waits_until_it_runs_again() {
        let (scratch, unit) = fixture_copy("cgroup-idle");
        let mut collector = CgroupCollector::with_layout(scratch_layout(&scratch), DEFAULT_DEPTH);
        let mut read = |ticks: u64| {
            let mut last = None;
            for _ in 0..ticks {
                last = collector.read(Stalled::default(), None, &mut Warnings::new()).groups.pop();
            }
            last.expect("the unit is read")
        };
        // Its CPU time unmoved since its first read: new I/O (writeback
        // after it went quiet, say) is left for later.
        read(1);
        std::fs::write(unit.join("io.stat"), "254:0 rbytes=1 wbytes=2 rios=3 wios=4\n").unwrap();
        let idle = read(2 * DETAIL_EVERY);
        assert_eq!(idle.io.len(), 2, "the detail of an idle cgroup was read again");
        // Once it runs, the next detail tick reads it.
        set_usage(&unit, 2_391_285_999);
        let busy = read(DETAIL_EVERY);
        assert_eq!(busy.io.len(), 1, "the detail of a cgroup that ran was not read");
    }

    #[test]
    fn a_cgroup_whose_processes_ran_is_read_with_those_above_it_and_the_rest_is_carried() {
        let (scratch, unit) = fixture_copy("cgroup-busy");
        let slice = unit.parent().unwrap().to_path_buf();
        std::fs::copy(unit.join("cpu.stat"), slice.join("cpu.stat")).unwrap();
        let mut collector = CgroupCollector::with_layout(scratch_layout(&scratch), DEFAULT_DEPTH);
        collector.read(Stalled::default(), None, &mut Warnings::new());
        for dir in [&slice, &unit] {
            set_usage(dir, 2_391_285_999);
        }
        let usage = |cgroups: Cgroups| -> Vec<Option<u64>> {
            cgroups.groups.iter().map(|group| group.cpu_usage_us).collect()
        };
        // Neither tick is a detail tick of either cgroup (ids 1 and 2).
        let quiet = collector.read(Stalled::default(), Some(&HashSet::new()), &mut Warnings::new());
        assert_eq!(usage(quiet), [Some(2_391_285_112); 2], "a cgroup where nothing ran was read");
        let unit_id = collector.notice("/system.slice/postfix.service");
        let busy = collector.read(Stalled::default(), Some(&HashSet::from([unit_id])), &mut Warnings::new());
        assert_eq!(usage(busy), [Some(2_391_285_999); 2], "the busy unit and its slice");
    }

    #[test]
    fn depth_and_the_cap_bound_what_is_followed() {
        let (paths, left_out) = select(&fixture_layout(), 1);
        assert_eq!(paths.into_iter().collect::<Vec<_>>(), ["/system.slice"]);
        assert_eq!(left_out, 0);
    }

    #[test]
    fn no_cgroup_filesystem_gives_empty_samples() {
        let mut collector = CgroupCollector::with_layout(Layout::default(), DEFAULT_DEPTH);
        assert_eq!(collector.read(Stalled::default(), None, &mut Warnings::new()), Cgroups::default());
    }

    /// A v1 pids cgroup made for the test, removed with its processes.
    struct PidsCgroup(PathBuf);

    impl Drop for PidsCgroup {
        fn drop(&mut self) {
            if let Ok(pids) = std::fs::read_to_string(self.0.join("cgroup.procs")) {
                for pid in pids.lines().filter_map(|line| line.parse().ok()) {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
                }
            }
            for _ in 0..50 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn reads_a_real_v1_pids_cgroup_at_its_limit() {
        let layout = Layout::parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
        let Some(pids_root) = layout.v1("pids").map(Path::to_path_buf) else {
            eprintln!("skipped: no v1 pids hierarchy on this machine");
            return;
        };
        let name = format!("flightrec-test-{}", std::process::id());
        std::fs::create_dir(pids_root.join(&name)).unwrap();
        let cgroup = PidsCgroup(pids_root.join(&name));
        std::fs::write(cgroup.0.join("pids.max"), "3").unwrap();
        // A shell in the cgroup starts sleeps until a fork is refused.
        let script = format!(
            "echo $$ > {}/cgroup.procs; for i in 1 2 3 4 5; do sleep 30 & done; wait",
            cgroup.0.display()
        );
        let mut shell = std::process::Command::new("sh")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let refused = |stats: &CgroupStats| stats.forks_refused.unwrap_or(0) >= 1;
        let path = format!("/{name}");
        let mut collector = CgroupCollector::with_layout(layout, DEFAULT_DEPTH);
        let mut found = None;
        for _ in 0..100 {
            let cgroups = collector.read(Stalled::default(), None, &mut Warnings::new());
            found = cgroups.groups.into_iter().find(|g| g.path == path);
            if found.as_ref().is_some_and(refused) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        drop(cgroup);
        let _ = shell.wait();
        let stats = found.expect("the test's cgroup is followed");
        assert_eq!((stats.tasks, stats.tasks_max), (Some(3), Some(3)));
        assert!(refused(&stats), "{stats:?}");
    }
}
