//! One sample of the whole machine: plain data, produced by `collect`,
//! committed by `store`, read back by `analyze` and `render`.
//!
//! Cumulative kernel counters (CPU ticks, bytes, faults, packets) are kept raw
//! here; rates are derived in one place, `rates`, from two samples. Each
//! source is an `Option`: `None` when it could not be read at that tick.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything recorded at one tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Wall-clock time of the tick, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// How late the timer fired against its schedule, on CLOCK_MONOTONIC.
    pub lateness_ms: i64,
    /// Time the machine spent suspended since the previous tick: the growth
    /// of CLOCK_BOOTTIME beyond that of CLOCK_MONOTONIC.
    pub suspended_ms: i64,
    /// Time spent collecting this sample.
    pub collect_us: i64,
    pub load: Option<LoadAvg>,
    pub cpu: Option<CpuTimes>,
    pub memory: Option<Memory>,
    pub vm: Option<VmCounters>,
    pub pressure: Pressure,
    pub files: Option<FileHandles>,
    pub tasks: Option<Tasks>,
    pub net: Option<NetTotals>,
    pub processes: Option<Vec<Process>>,
    /// The limits of the processes that came near them: read only once a
    /// process's open files or threads grew past a floor (`collect::process`),
    /// so most processes have no row. `None` where the process table failed.
    #[serde(default)]
    pub process_limits: Option<Vec<ProcessLimits>>,
    pub filesystems: Option<Vec<Filesystem>>,
    pub disks: Option<Vec<Disk>>,
    pub sockets: Option<Vec<PortSockets>>,
    /// Where `sockets` came from this sample.
    #[serde(default)]
    pub sockets_source: Option<SocketSource>,
    /// Who waits on whom (`model::waits`): `None` where the socket
    /// diagnostics failed or did not answer in time this sample.
    #[serde(default)]
    pub waits: Option<Vec<super::waits::Endpoint>>,
    pub interfaces: Option<Vec<Interface>>,
    /// Configured dependency probes, one result each.
    pub probes: Option<Vec<ProbeResult>>,
    /// Watched directories (`--watch-dir`), e.g. mail queues.
    pub watched_dirs: Option<Vec<WatchedDir>>,
    /// Watched log files (`--watch-log`).
    pub watched_logs: Option<Vec<WatchedLog>>,
    /// Watched directories and logs that did not answer in time this sample
    /// (a hung filesystem), by path: absent from the two lists above.
    #[serde(default)]
    pub watch_timeouts: Vec<String>,
    /// Kernel messages that arrived since the previous sample, worth keeping
    /// (warning or worse, or a known incident pattern).
    pub kernel_messages: Option<Vec<KernelMessage>>,
    /// Processes in D state with their kernel stacks (root only).
    pub blocked_tasks: Option<Vec<BlockedTask>>,
    /// Control groups followed (services, containers, sessions).
    #[serde(default)]
    pub cgroups: Option<Vec<CgroupStats>>,
}

impl Sample {
    /// The sample's scalars alone, without copying the tables: what a
    /// system row reads, and the base of a sample cut down for one output.
    pub fn scalars(&self) -> Sample {
        Sample {
            time_ms: self.time_ms,
            lateness_ms: self.lateness_ms,
            suspended_ms: self.suspended_ms,
            collect_us: self.collect_us,
            load: self.load,
            cpu: self.cpu,
            memory: self.memory,
            vm: self.vm,
            pressure: self.pressure,
            files: self.files,
            tasks: self.tasks,
            net: self.net,
            ..Sample::default()
        }
    }
}

/// `/proc/loadavg`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadAvg {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
}

/// `/proc/stat`: the summed `cpu` line in ticks (USER_HZ) and the scheduler
/// counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    /// Context switches since boot.
    pub ctxt: u64,
    /// Processes created since boot.
    pub forks: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
    /// Number of CPUs (`cpuN` lines), to scale per-process CPU.
    pub ncpu: u64,
}

/// `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    pub free: u64,
    pub buffers: u64,
    pub cached: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub shmem: u64,
    pub slab: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    pub committed: u64,
}

/// `/proc/vmstat` counters since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VmCounters {
    pub major_faults: u64,
    pub swap_in: u64,
    pub swap_out: u64,
    pub oom_kills: u64,
}

/// `/proc/pressure/{cpu,memory,io}`; each `None` where the kernel lacks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub cpu: Option<Psi>,
    pub memory: Option<Psi>,
    pub io: Option<Psi>,
}

/// One PSI file: the `avg10` percentages and the `total` stall time in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    pub some_avg10: f64,
    pub some_total_us: u64,
    /// `None` where the kernel has no `full` line (CPU before 5.13).
    pub full_avg10: Option<f64>,
    pub full_total_us: Option<u64>,
}

/// `/proc/sys/fs/file-nr` and `file-max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FileHandles {
    pub allocated: u64,
    pub max: u64,
}

/// Processes and threads against their limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tasks {
    pub processes: u64,
    pub threads: u64,
    pub pid_max: u64,
    pub threads_max: u64,
}

/// Network counters since boot: interfaces summed (loopback excluded),
/// `/proc/net/snmp` TCP, `/proc/net/netstat` listen overflows, and the
/// current socket counts of `/proc/net/sockstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NetTotals {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_drops: u64,
    pub tx_drops: u64,
    pub tcp_active_opens: u64,
    pub tcp_passive_opens: u64,
    pub tcp_attempt_fails: u64,
    pub tcp_estab_resets: u64,
    pub tcp_out_resets: u64,
    pub tcp_retrans_segs: u64,
    pub tcp_curr_estab: u64,
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub sockets_used: u64,
    pub tcp_inuse: u64,
    pub tcp_orphan: u64,
    pub tcp_time_wait: u64,
    pub udp_inuse: u64,
}

impl NetTotals {
    /// The interface counters of the totals, to derive rates the same way
    /// as for one interface.
    pub fn as_interface(&self) -> Interface {
        Interface {
            name: "total".into(),
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
            rx_packets: self.rx_packets,
            tx_packets: self.tx_packets,
            rx_errors: self.rx_errors,
            tx_errors: self.tx_errors,
            rx_drops: self.rx_drops,
            tx_drops: self.tx_drops,
        }
    }
}

/// One process. Counters are cumulative; `Process::key` identifies it across
/// samples even when its pid is reused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// Start time in clock ticks after boot (field 22 of `/proc/PID/stat`).
    pub start_ticks: u64,
    pub comm: Arc<str>,
    /// Arguments joined by spaces, at most `CMDLINE_MAX` bytes; empty for
    /// kernel threads and while not yet read.
    pub cmdline: Arc<str>,
    /// `R`, `S`, `D`, `Z`, `T`, `t`, `I`, ...
    pub state: char,
    pub threads: u32,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub rss_bytes: u64,
    pub vsize_bytes: u64,
    pub swap_bytes: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    /// Open file descriptors; `None` where not permitted.
    pub fds: Option<u32>,
    /// `/proc/PID/io` storage bytes; `None` where not permitted.
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    /// The followed cgroup it runs in (`CgroupStats::id`), learned when it
    /// was first seen and after an exec; 0 for none (a kernel thread, the
    /// root cgroup, a cgroup not followed).
    pub cgroup: u32,
}

/// A process's soft limits from `/proc/PID/limits`; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// "Max open files": its open fds can reach this many.
    pub open_files: Option<u64>,
    /// "Max processes": the tasks (threads) of its real user can reach this
    /// many, unless that user is root.
    pub processes: Option<u64>,
}

/// The limits of one process, keyed as `Process` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessLimits {
    pub pid: u32,
    pub start_ticks: u64,
    pub limits: Limits,
}

impl ProcessLimits {
    pub fn key(&self) -> (u32, u64) {
        (self.pid, self.start_ticks)
    }
}

/// Longest command line stored, in bytes.
pub const CMDLINE_MAX: usize = 256;

impl Process {
    pub fn key(&self) -> (u32, u64) {
        (self.pid, self.start_ticks)
    }
}

/// One mounted filesystem, from `statvfs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filesystem {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
    /// Available to unprivileged users (`df`'s "Avail").
    pub avail_bytes: u64,
    pub inodes_total: u64,
    pub inodes_used: u64,
}

/// One whole block device, `/proc/diskstats` counters since boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub reads: u64,
    pub read_sectors: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub write_sectors: u64,
    pub write_ms: u64,
    pub in_flight: u64,
    /// Milliseconds spent with I/O in flight (for busy %).
    pub io_ms: u64,
}

/// Which side of a TCP connection a socket count groups by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Listening sockets themselves, one row per port.
    #[default]
    Listen,
    /// Connections whose local port is a listening port: grouped by local port.
    Incoming,
    /// All other connections: grouped by remote port.
    Outgoing,
}

/// The kernel interface TCP sockets were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketSource {
    /// NETLINK_SOCK_DIAG: listen backlogs known.
    Netlink,
    /// /proc/net/tcp, where netlink failed: backlogs are 0.
    ProcNet,
}

/// TCP sockets counted per port, direction and state. For `Listen` rows,
/// `queued` is the current accept-queue length summed over the port's
/// listeners and `backlog` their summed limit (0 when unknown: the
/// /proc/net/tcp fallback does not show it); elsewhere both are 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortSockets {
    pub direction: Direction,
    pub port: u16,
    /// Kernel state name: `ESTABLISHED`, `SYN_RECV`, `CLOSE_WAIT`, `LISTEN`, ...
    pub state: String,
    pub count: u32,
    pub queued: u32,
    pub backlog: u32,
}

/// One network interface, `/proc/net/dev` counters since boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_drops: u64,
    pub tx_drops: u64,
}

/// How a probe of a dependency ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Connected and, for protocol probes, got the expected answer.
    #[default]
    Ok,
    /// Nothing listens there (ECONNREFUSED, or no such Unix socket).
    Refused,
    /// No answer within the timeout: to the connect, or (when `connect_us`
    /// is set) to the protocol after the connection was accepted.
    Timeout,
    /// Answered, but not as the protocol expects; `detail` has what came.
    ProtocolError,
    /// No route to the host, or the address does not resolve.
    NoRoute,
    /// Any other failure; `detail` says which.
    Error,
}

/// One probe of a dependency at one tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe as configured, e.g. `milter:127.0.0.1:8891`: its identity
    /// across samples.
    pub target: String,
    pub outcome: ProbeOutcome,
    /// From the start of the probe until its outcome was known.
    pub latency_us: u64,
    /// Time to connect, where the connection was accepted: a timeout with
    /// this set is a dependency that accepts but does not answer.
    pub connect_us: Option<u64>,
    /// What was received on a protocol error, the HTTP status, the SMTP
    /// greeting delay; empty when there is nothing to add.
    pub detail: String,
}

/// One watched directory: what lies below it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchedDir {
    pub path: String,
    /// Regular files below the directory, at any depth walked.
    pub files: u64,
    pub bytes: u64,
    /// False when the walk was cut short (depth, entries or time bound):
    /// the counts are then lower bounds.
    pub complete: bool,
}

/// One watched log file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchedLog {
    pub path: String,
    /// Bytes appended since watching began: a counter that survives
    /// rotation (rename and copytruncate), so any two samples give a rate.
    pub bytes_written: u64,
    /// Lines appended since watching began, counted in what was read.
    pub lines_written: u64,
    /// Current size of the file.
    pub size: u64,
    /// The most frequent message templates since the previous sample.
    pub templates: Vec<LogTemplate>,
    /// True when not every new byte was read this sample (a flood): the
    /// template counts come from a bounded read and are a sample of them.
    pub sampled: bool,
}

/// Lines of one shape: numbers, hex ids, IPs and pids masked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogTemplate {
    pub template: String,
    pub count: u64,
    /// One real line of this template.
    pub example: String,
}

/// One kernel message, or a flood of the same one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelMessage {
    /// Wall time, converted from the kernel's monotonic timestamp.
    pub time_ms: i64,
    /// syslog priority: 0 emergency ... 4 warning ... 7 debug.
    pub priority: u8,
    pub text: String,
    /// How many more times the same text came in this sample.
    pub repeats: u32,
}

/// A process in D state and where in the kernel it waits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockedTask {
    pub pid: u32,
    pub comm: String,
    /// /proc/PID/wchan: the kernel function it sleeps in.
    pub wchan: String,
    /// /proc/PID/stack, one frame per line, bounded.
    pub stack: String,
}

/// One control group at one tick: a service, a container, a session.
/// Counters are raw; `None` where no hierarchy has the file, where it was
/// not read this tick (the collector reads what changes rarely less often,
/// and keeps its last value), or where the limit is "max".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// Below the hierarchy's root: `/system.slice/postfix.service`.
    pub path: String,
    /// Its number in this run, from 1, never reused: what a process's
    /// `cgroup` names.
    pub id: u32,
    pub cpu_usage_us: Option<u64>,
    pub cpu_user_us: Option<u64>,
    pub cpu_system_us: Option<u64>,
    pub cpu_periods: Option<u64>,
    pub cpu_throttled_periods: Option<u64>,
    pub cpu_throttled_us: Option<u64>,
    /// CPU quota per period, in µs: 50000 of 100000 is half a CPU.
    pub cpu_quota: Option<(u64, u64)>,
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
    pub memory_max_bytes: Option<u64>,
    pub memory_high_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    /// Times the cgroup was throttled at `memory.high` (v2).
    pub memory_high_events: Option<u64>,
    /// Times it hit its limit: v2 `memory.events` max, v1 `memory.failcnt`.
    pub memory_max_events: Option<u64>,
    pub oom_events: Option<u64>,
    pub oom_kills: Option<u64>,
    pub tasks: Option<u64>,
    pub tasks_max: Option<u64>,
    /// Forks refused at `pids.max`.
    pub forks_refused: Option<u64>,
    pub io: Vec<DeviceIo>,
    pub psi_cpu: Option<Psi>,
    pub psi_memory: Option<Psi>,
    pub psi_io: Option<Psi>,
    /// When the limits, swap, peak and I/O were last read, in ms since the
    /// epoch: a sample where it changed read them, the others carry them.
    /// A time rather than a flag, so that a row changes once per read, not
    /// at the read and again at the sample after it.
    pub detail_read_ms: i64,
}

/// Bytes and operations one cgroup did on one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIo {
    /// `major:minor`, as in `/proc/diskstats` and `lsblk`.
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}
