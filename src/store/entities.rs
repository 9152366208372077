//! How each per-entity table of a `Sample` is written into snapshot frames
//! (`codec`): the key it is sorted and matched by, and its fields in order.
//! Adding a field means adding it at the end of both `encode` and `decode`
//! behind a new frame version; never reorder.

use super::codec::{Entity, Reader, Writer};
use crate::model::waits::{Client, Endpoint, Identity, StateCount, Transport};
use crate::sample::{
    BlockedTask, CgroupStats, DeviceIo, Direction, Disk, Filesystem, Interface, Limits, LogTemplate,
    PortSockets, ProbeOutcome, ProbeResult, Process, ProcessLimits, Psi, WatchedDir, WatchedLog,
};
use anyhow::{Result, bail};

/// Version 1 added the cgroup.
impl Entity for Process {
    const VERSION: u8 = 1;
    type Key = (u32, u64);

    fn key(&self) -> (u32, u64) {
        Process::key(self)
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.int(self.pid.into(), b.pid.into());
        w.int(self.start_ticks, b.start_ticks);
        w.int(self.ppid.into(), b.ppid.into());
        w.int(self.uid.into(), b.uid.into());
        w.text(&self.comm, &b.comm);
        w.text(&self.cmdline, &b.cmdline);
        w.int(u64::from(self.state), u64::from(b.state));
        w.int(self.threads.into(), b.threads.into());
        w.int(self.utime_ticks, b.utime_ticks);
        w.int(self.stime_ticks, b.stime_ticks);
        w.int(self.rss_bytes, b.rss_bytes);
        w.int(self.vsize_bytes, b.vsize_bytes);
        w.int(self.swap_bytes, b.swap_bytes);
        w.int(self.minor_faults, b.minor_faults);
        w.int(self.major_faults, b.major_faults);
        w.opt_int(self.fds.map(u64::from), b.fds.map(u64::from));
        w.opt_int(self.read_bytes, b.read_bytes);
        w.opt_int(self.write_bytes, b.write_bytes);
        w.int(self.cgroup.into(), b.cgroup.into());
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(Process {
            pid: r.int_as(b.pid)?,
            start_ticks: r.int(b.start_ticks)?,
            ppid: r.int_as(b.ppid)?,
            uid: r.int_as(b.uid)?,
            comm: r.text(&b.comm)?,
            cmdline: r.text(&b.cmdline)?,
            state: char::from_u32(r.int_as(u32::from(b.state))?).unwrap_or('?'),
            threads: r.int_as(b.threads)?,
            utime_ticks: r.int(b.utime_ticks)?,
            stime_ticks: r.int(b.stime_ticks)?,
            rss_bytes: r.int(b.rss_bytes)?,
            vsize_bytes: r.int(b.vsize_bytes)?,
            swap_bytes: r.int(b.swap_bytes)?,
            minor_faults: r.int(b.minor_faults)?,
            major_faults: r.int(b.major_faults)?,
            fds: r.opt_int(b.fds.map(u64::from))?.map(u32::try_from).transpose()?,
            read_bytes: r.opt_int(b.read_bytes)?,
            write_bytes: r.opt_int(b.write_bytes)?,
            cgroup: if r.version() >= 1 { r.int_as(b.cgroup)? } else { 0 },
        })
    }
}

impl Entity for ProcessLimits {
    type Key = (u32, u64);

    fn key(&self) -> (u32, u64) {
        ProcessLimits::key(self)
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.int(self.pid.into(), b.pid.into());
        w.int(self.start_ticks, b.start_ticks);
        w.opt_int(self.limits.open_files, b.limits.open_files);
        w.opt_int(self.limits.processes, b.limits.processes);
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(ProcessLimits {
            pid: r.int_as(b.pid)?,
            start_ticks: r.int(b.start_ticks)?,
            limits: Limits {
                open_files: r.opt_int(b.limits.open_files)?,
                processes: r.opt_int(b.limits.processes)?,
            },
        })
    }
}

impl Entity for Filesystem {
    type Key = String;

    fn key(&self) -> String {
        self.mount_point.clone()
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.mount_point, &b.mount_point);
        w.text(&self.device, &b.device);
        w.text(&self.fs_type, &b.fs_type);
        w.int(self.size_bytes, b.size_bytes);
        w.int(self.used_bytes, b.used_bytes);
        w.int(self.avail_bytes, b.avail_bytes);
        w.int(self.inodes_total, b.inodes_total);
        w.int(self.inodes_used, b.inodes_used);
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(Filesystem {
            mount_point: r.string(&b.mount_point)?,
            device: r.string(&b.device)?,
            fs_type: r.string(&b.fs_type)?,
            size_bytes: r.int(b.size_bytes)?,
            used_bytes: r.int(b.used_bytes)?,
            avail_bytes: r.int(b.avail_bytes)?,
            inodes_total: r.int(b.inodes_total)?,
            inodes_used: r.int(b.inodes_used)?,
        })
    }
}

impl Entity for Disk {
    type Key = String;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.name, &b.name);
        for (value, base) in disk_counters(self).into_iter().zip(disk_counters(b)) {
            w.int(value, base);
        }
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(Disk {
            name: r.string(&b.name)?,
            reads: r.int(b.reads)?,
            read_sectors: r.int(b.read_sectors)?,
            read_ms: r.int(b.read_ms)?,
            writes: r.int(b.writes)?,
            write_sectors: r.int(b.write_sectors)?,
            write_ms: r.int(b.write_ms)?,
            in_flight: r.int(b.in_flight)?,
            io_ms: r.int(b.io_ms)?,
        })
    }
}

/// Disk counters in their stored order (the order `decode` reads them).
fn disk_counters(d: &Disk) -> [u64; 8] {
    [d.reads, d.read_sectors, d.read_ms, d.writes, d.write_sectors, d.write_ms, d.in_flight, d.io_ms]
}

impl Entity for Interface {
    type Key = String;

    fn key(&self) -> String {
        self.name.clone()
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.name, &b.name);
        for (value, base) in interface_counters(self).into_iter().zip(interface_counters(b)) {
            w.int(value, base);
        }
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(Interface {
            name: r.string(&b.name)?,
            rx_bytes: r.int(b.rx_bytes)?,
            tx_bytes: r.int(b.tx_bytes)?,
            rx_packets: r.int(b.rx_packets)?,
            tx_packets: r.int(b.tx_packets)?,
            rx_errors: r.int(b.rx_errors)?,
            tx_errors: r.int(b.tx_errors)?,
            rx_drops: r.int(b.rx_drops)?,
            tx_drops: r.int(b.tx_drops)?,
        })
    }
}

/// Interface counters in their stored order (the order `decode` reads them).
fn interface_counters(i: &Interface) -> [u64; 8] {
    [i.rx_bytes, i.tx_bytes, i.rx_packets, i.tx_packets, i.rx_errors, i.tx_errors, i.rx_drops, i.tx_drops]
}

impl Entity for PortSockets {
    type Key = (Direction, u16, String);

    fn key(&self) -> Self::Key {
        (self.direction, self.port, self.state.clone())
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.int(direction_code(self.direction), direction_code(b.direction));
        w.int(self.port.into(), b.port.into());
        w.text(&self.state, &b.state);
        w.int(self.count.into(), b.count.into());
        w.int(self.queued.into(), b.queued.into());
        w.int(self.backlog.into(), b.backlog.into());
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        let direction = match r.int(direction_code(b.direction))? {
            0 => Direction::Listen,
            1 => Direction::Incoming,
            2 => Direction::Outgoing,
            other => bail!("unknown socket direction {other}"),
        };
        Ok(PortSockets {
            direction,
            port: r.int_as(b.port)?,
            state: r.string(&b.state)?,
            count: r.int_as(b.count)?,
            queued: r.int_as(b.queued)?,
            backlog: r.int_as(b.backlog)?,
        })
    }
}

impl Entity for ProbeResult {
    type Key = String;

    fn key(&self) -> String {
        self.target.clone()
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.target, &b.target);
        w.int(outcome_code(self.outcome), outcome_code(b.outcome));
        w.int(self.latency_us, b.latency_us);
        w.opt_int(self.connect_us, b.connect_us);
        w.text(&self.detail, &b.detail);
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        let target = r.string(&b.target)?;
        let outcome = match r.int(outcome_code(b.outcome))? {
            0 => ProbeOutcome::Ok,
            1 => ProbeOutcome::Refused,
            2 => ProbeOutcome::Timeout,
            3 => ProbeOutcome::ProtocolError,
            4 => ProbeOutcome::NoRoute,
            5 => ProbeOutcome::Error,
            other => bail!("unknown probe outcome {other}"),
        };
        Ok(ProbeResult {
            target,
            outcome,
            latency_us: r.int(b.latency_us)?,
            connect_us: r.opt_int(b.connect_us)?,
            detail: r.string(&b.detail)?,
        })
    }
}

impl Entity for BlockedTask {
    type Key = u32;

    fn key(&self) -> u32 {
        self.pid
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.int(self.pid.into(), b.pid.into());
        w.text(&self.comm, &b.comm);
        w.text(&self.wchan, &b.wchan);
        w.text(&self.stack, &b.stack);
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(BlockedTask {
            pid: r.int_as(b.pid)?,
            comm: r.string(&b.comm)?,
            wchan: r.string(&b.wchan)?,
            stack: r.string(&b.stack)?,
        })
    }
}

impl Entity for WatchedDir {
    type Key = String;

    fn key(&self) -> String {
        self.path.clone()
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.path, &b.path);
        w.int(self.files, b.files);
        w.int(self.bytes, b.bytes);
        w.int(self.complete.into(), b.complete.into());
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        Ok(WatchedDir {
            path: r.string(&b.path)?,
            files: r.int(b.files)?,
            bytes: r.int(b.bytes)?,
            complete: r.int(b.complete.into())? != 0,
        })
    }
}

impl Entity for WatchedLog {
    type Key = String;

    fn key(&self) -> String {
        self.path.clone()
    }

    /// Templates are new each sample: written whole, not as deltas.
    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.path, &b.path);
        w.int(self.bytes_written, b.bytes_written);
        w.int(self.lines_written, b.lines_written);
        w.int(self.size, b.size);
        w.int(self.sampled.into(), b.sampled.into());
        w.varint(self.templates.len() as u64);
        for t in &self.templates {
            w.text(&t.template, "");
            w.int(t.count, 0);
            w.text(&t.example, "");
        }
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        let path = r.string(&b.path)?;
        let bytes_written = r.int(b.bytes_written)?;
        let lines_written = r.int(b.lines_written)?;
        let size = r.int(b.size)?;
        let sampled = r.int(b.sampled.into())? != 0;
        let count = r.varint()?;
        // Each template takes at least three bytes: a count beyond what
        // the frame could hold is damage, not a reason to allocate.
        let mut templates = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            templates.push(LogTemplate { template: r.string("")?, count: r.int(0)?, example: r.string("")? });
        }
        Ok(WatchedLog { path, bytes_written, lines_written, size, templates, sampled })
    }
}

/// A wait-table row: the counts as deltas against the endpoint's previous
/// row; its lists (states, clients) are short and written whole.
impl Entity for Endpoint {
    type Key = (Transport, String);

    fn key(&self) -> Self::Key {
        Endpoint::key(self)
    }

    fn encode(&self, b: &Self, w: &mut Writer) {
        w.int(transport_code(self.transport), transport_code(b.transport));
        w.text(&self.address, &b.address);
        w.int(self.listening.into(), b.listening.into());
        let pid = |e: &Endpoint| e.server.as_ref().map(|s| u64::from(s.pid));
        w.opt_int(pid(self), pid(b));
        let comm = |e: &Endpoint| e.server.as_ref().map_or(String::new(), |s| s.comm.clone());
        w.text(&comm(self), &comm(b));
        for (value, base) in endpoint_counters(self).into_iter().zip(endpoint_counters(b)) {
            w.int(value, base);
        }
        w.varint(self.states.len() as u64);
        for s in &self.states {
            w.text(&s.state, "");
            w.int(s.count.into(), 0);
        }
        w.varint(self.clients.len() as u64);
        for c in &self.clients {
            w.text(&c.comm, "");
            w.int(c.connections.into(), 0);
            w.int(c.processes.into(), 0);
            w.varint(c.pids.len() as u64);
            c.pids.iter().for_each(|&pid| w.int(pid.into(), 0));
        }
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        let transport = match r.int(transport_code(b.transport))? {
            0 => Transport::Tcp,
            1 => Transport::Unix,
            other => bail!("unknown transport {other}"),
        };
        let address = r.string(&b.address)?;
        let listening = r.int(b.listening.into())? != 0;
        let pid = r.opt_int(b.server.as_ref().map(|s| u64::from(s.pid)))?;
        let comm = r.string(b.server.as_ref().map_or("", |s| &s.comm))?;
        let server =
            pid.map(|pid| Ok::<_, anyhow::Error>(Identity { pid: u32::try_from(pid)?, comm })).transpose()?;
        let mut counters = endpoint_counters(b);
        for (slot, base) in counters.iter_mut().zip(endpoint_counters(b)) {
            *slot = r.int(base)?;
        }
        let small = |v: u64| u32::try_from(v).map_err(anyhow::Error::from);
        // Each list item takes at least two bytes: a count beyond what the
        // frame could hold is damage, not a reason to allocate.
        let count = r.varint()?;
        let mut states = Vec::with_capacity(count.min(16) as usize);
        for _ in 0..count {
            states.push(StateCount { state: r.string("")?, count: r.int_as(0)? });
        }
        let count = r.varint()?;
        let mut clients = Vec::with_capacity(count.min(16) as usize);
        for _ in 0..count {
            let (comm, connections, processes) = (r.string("")?, r.int_as(0)?, r.int_as(0)?);
            let pids = (0..r.varint()?.min(1 << 16)).map(|_| r.int_as(0)).collect::<Result<_>>()?;
            clients.push(Client { comm, connections, processes, pids });
        }
        let [
            accept_queue,
            backlog,
            server_rqueue,
            server_wqueue,
            client_rqueue,
            client_wqueue,
            waiting,
            no_reply_ms,
            syn_sent,
            syn_retransmits,
            trying_ms,
        ] = counters;
        Ok(Endpoint {
            transport,
            address,
            listening,
            server,
            accept_queue: small(accept_queue)?,
            backlog: small(backlog)?,
            states,
            server_rqueue,
            server_wqueue,
            client_rqueue,
            client_wqueue,
            waiting: small(waiting)?,
            no_reply_ms,
            syn_sent: small(syn_sent)?,
            syn_retransmits: small(syn_retransmits)?,
            trying_ms,
            clients,
        })
    }
}

/// Endpoint counters in their stored order (the order `decode` reads them).
fn endpoint_counters(e: &Endpoint) -> [u64; 11] {
    [
        e.accept_queue.into(),
        e.backlog.into(),
        e.server_rqueue,
        e.server_wqueue,
        e.client_rqueue,
        e.client_wqueue,
        e.waiting.into(),
        e.no_reply_ms,
        e.syn_sent.into(),
        e.syn_retransmits.into(),
        e.trying_ms,
    ]
}

fn transport_code(transport: Transport) -> u64 {
    match transport {
        Transport::Tcp => 0,
        Transport::Unix => 1,
    }
}

impl Entity for CgroupStats {
    type Key = String;

    fn key(&self) -> String {
        self.path.clone()
    }

    /// Devices are few and listed in the kernel's order: each is written
    /// as a delta against the device at the same place in the base.
    fn encode(&self, b: &Self, w: &mut Writer) {
        w.text(&self.path, &b.path);
        w.int(self.id.into(), b.id.into());
        for (value, base) in cgroup_counters(self).into_iter().zip(cgroup_counters(b)) {
            w.opt_int(value, base);
        }
        w.int(self.detail_read_ms as u64, b.detail_read_ms as u64);
        for (psi, base) in
            [(&self.psi_cpu, &b.psi_cpu), (&self.psi_memory, &b.psi_memory), (&self.psi_io, &b.psi_io)]
        {
            for (value, base) in psi_fields(psi).into_iter().zip(psi_fields(base)) {
                w.opt_int(value, base);
            }
        }
        w.varint(self.io.len() as u64);
        for (i, io) in self.io.iter().enumerate() {
            let base = b.io.get(i).cloned().unwrap_or_default();
            w.text(&io.device, &base.device);
            for (value, base) in device_counters(io).into_iter().zip(device_counters(&base)) {
                w.int(value, base);
            }
        }
    }

    fn decode(b: &Self, r: &mut Reader) -> Result<Self> {
        let path = r.string(&b.path)?;
        let id = r.int_as(b.id)?;
        let mut counters = [None; CGROUP_COUNTERS];
        for (slot, base) in counters.iter_mut().zip(cgroup_counters(b)) {
            *slot = r.opt_int(base)?;
        }
        let detail_read_ms = r.int(b.detail_read_ms as u64)? as i64;
        let mut psi = [None, None, None];
        for (slot, base) in psi.iter_mut().zip([&b.psi_cpu, &b.psi_memory, &b.psi_io]) {
            let mut fields = [None; 4];
            for (field, base) in fields.iter_mut().zip(psi_fields(base)) {
                *field = r.opt_int(base)?;
            }
            *slot = psi_from(fields);
        }
        let devices = r.varint()?;
        // Each device takes at least five bytes: a count beyond what the
        // frame could hold is damage, not a reason to allocate.
        let mut io = Vec::with_capacity(devices.min(64) as usize);
        for i in 0..devices {
            let base = b.io.get(i as usize).cloned().unwrap_or_default();
            io.push(DeviceIo {
                device: r.string(&base.device)?,
                read_bytes: r.int(base.read_bytes)?,
                write_bytes: r.int(base.write_bytes)?,
                read_ops: r.int(base.read_ops)?,
                write_ops: r.int(base.write_ops)?,
            });
        }
        let [
            cpu_usage_us,
            cpu_user_us,
            cpu_system_us,
            cpu_periods,
            cpu_throttled_periods,
            cpu_throttled_us,
            quota,
            period,
            memory_bytes,
            memory_peak_bytes,
            memory_max_bytes,
            memory_high_bytes,
            swap_bytes,
            memory_high_events,
            memory_max_events,
            oom_events,
            oom_kills,
            tasks,
            tasks_max,
            forks_refused,
        ] = counters;
        let [psi_cpu, psi_memory, psi_io] = psi;
        Ok(CgroupStats {
            path,
            id,
            cpu_usage_us,
            cpu_user_us,
            cpu_system_us,
            cpu_periods,
            cpu_throttled_periods,
            cpu_throttled_us,
            cpu_quota: quota.zip(period),
            memory_bytes,
            memory_peak_bytes,
            memory_max_bytes,
            memory_high_bytes,
            swap_bytes,
            memory_high_events,
            memory_max_events,
            oom_events,
            oom_kills,
            tasks,
            tasks_max,
            forks_refused,
            io,
            psi_cpu,
            psi_memory,
            psi_io,
            detail_read_ms,
        })
    }
}

const CGROUP_COUNTERS: usize = 20;

/// A cgroup's numbers in their stored order (the order `decode` reads them).
fn cgroup_counters(c: &CgroupStats) -> [Option<u64>; CGROUP_COUNTERS] {
    [
        c.cpu_usage_us,
        c.cpu_user_us,
        c.cpu_system_us,
        c.cpu_periods,
        c.cpu_throttled_periods,
        c.cpu_throttled_us,
        c.cpu_quota.map(|(quota, _)| quota),
        c.cpu_quota.map(|(_, period)| period),
        c.memory_bytes,
        c.memory_peak_bytes,
        c.memory_max_bytes,
        c.memory_high_bytes,
        c.swap_bytes,
        c.memory_high_events,
        c.memory_max_events,
        c.oom_events,
        c.oom_kills,
        c.tasks,
        c.tasks_max,
        c.forks_refused,
    ]
}

/// A PSI file in stored order; the averages in hundredths of a percent,
/// as the kernel writes them. All `None` when the file was not read.
fn psi_fields(psi: &Option<Psi>) -> [Option<u64>; 4] {
    let hundredths = |avg: f64| (avg * 100.0).round() as u64;
    match psi {
        None => [None; 4],
        Some(p) => [
            Some(hundredths(p.some_avg10)),
            Some(p.some_total_us),
            p.full_avg10.map(hundredths),
            p.full_total_us,
        ],
    }
}

fn psi_from([some_avg10, some_total_us, full_avg10, full_total_us]: [Option<u64>; 4]) -> Option<Psi> {
    Some(Psi {
        some_avg10: some_avg10? as f64 / 100.0,
        some_total_us: some_total_us?,
        full_avg10: full_avg10.map(|avg| avg as f64 / 100.0),
        full_total_us,
    })
}

fn device_counters(d: &DeviceIo) -> [u64; 4] {
    [d.read_bytes, d.write_bytes, d.read_ops, d.write_ops]
}

fn outcome_code(outcome: ProbeOutcome) -> u64 {
    match outcome {
        ProbeOutcome::Ok => 0,
        ProbeOutcome::Refused => 1,
        ProbeOutcome::Timeout => 2,
        ProbeOutcome::ProtocolError => 3,
        ProbeOutcome::NoRoute => 4,
        ProbeOutcome::Error => 5,
    }
}

fn direction_code(direction: Direction) -> u64 {
    match direction {
        Direction::Listen => 0,
        Direction::Incoming => 1,
        Direction::Outgoing => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::{decode_frame, encode_frame};
    use super::*;
    use std::sync::Arc;

    fn process(pid: u32) -> Process {
        Process {
            pid,
            ppid: 1,
            uid: 1000,
            start_ticks: 100 + u64::from(pid),
            comm: Arc::from("smtpd"),
            cmdline: Arc::from("smtpd -n smtp -t inet -u -c"),
            state: 'S',
            threads: 1,
            utime_ticks: 5,
            stime_ticks: 2,
            rss_bytes: 4 << 20,
            vsize_bytes: 20 << 20,
            swap_bytes: 0,
            minor_faults: 900,
            major_faults: 3,
            fds: Some(12),
            read_bytes: None,
            write_bytes: Some(4096),
            cgroup: 3,
        }
    }

    #[test]
    fn every_entity_round_trips() {
        fn check<T: Entity + std::fmt::Debug>(rows: Vec<T>, changed: Vec<T>) {
            let mut frame = Vec::new();
            encode_frame(None, &rows, &mut frame).unwrap();
            assert_eq!(decode_frame::<T>(None, &frame).unwrap(), rows);
            encode_frame(Some(&rows), &changed, &mut frame).unwrap();
            assert_eq!(decode_frame(Some(rows), &frame).unwrap(), changed);
        }
        let procs: Vec<Process> = (1..100).map(process).collect();
        let mut busier = procs.clone();
        busier[5].utime_ticks += 100;
        busier[6].state = 'D';
        busier[7].fds = None;
        busier[8].cgroup = 0;
        check(procs, busier);

        let fs = Filesystem {
            mount_point: "/var/log".into(),
            device: "/dev/vda2".into(),
            fs_type: "ext4".into(),
            size_bytes: 10 << 30,
            used_bytes: 9 << 30,
            avail_bytes: 1 << 29,
            inodes_total: 655_360,
            inodes_used: 1000,
        };
        check(vec![fs.clone()], vec![Filesystem { used_bytes: 10 << 30, ..fs }]);

        let disk = Disk { name: "vda".into(), reads: 10, writes: 99, io_ms: 7, ..Disk::default() };
        check(vec![disk.clone()], vec![Disk { in_flight: 4, ..disk }]);

        let nic = Interface { name: "eth0".into(), rx_bytes: 1 << 40, tx_drops: 3, ..Interface::default() };
        check(vec![nic.clone()], vec![Interface { rx_bytes: (1 << 40) + 1500, ..nic }]);

        let listen = PortSockets {
            direction: Direction::Listen,
            port: 25,
            state: "LISTEN".into(),
            count: 1,
            queued: 100,
            backlog: 100,
        };
        let stuck = PortSockets {
            direction: Direction::Outgoing,
            port: 8891,
            state: "ESTABLISHED".into(),
            count: 100,
            queued: 0,
            backlog: 0,
        };
        check(vec![listen.clone()], vec![listen, stuck]);

        let ok = ProbeResult {
            target: "milter:127.0.0.1:8891".into(),
            outcome: ProbeOutcome::Ok,
            latency_us: 300,
            connect_us: Some(100),
            detail: String::new(),
        };
        let hung = ProbeResult { outcome: ProbeOutcome::Timeout, latency_us: 1_000_000, ..ok.clone() };
        check(vec![ok], vec![hung]);

        let io = DeviceIo {
            device: "254:0".into(),
            read_bytes: 4096,
            write_bytes: 1 << 30,
            read_ops: 1,
            write_ops: 9,
        };
        let postfix = CgroupStats {
            path: "/system.slice/postfix.service".into(),
            id: 4,
            cpu_usage_us: Some(2_391_285_112),
            cpu_quota: Some((50_000, 100_000)),
            memory_bytes: Some(268_140_544),
            memory_max_bytes: Some(268_435_456),
            tasks: Some(4_915),
            tasks_max: Some(4_915),
            forks_refused: Some(1_233),
            io: vec![io.clone()],
            psi_memory: Some(Psi {
                some_avg10: 12.5,
                some_total_us: 9,
                full_avg10: Some(0.33),
                full_total_us: Some(3),
            }),
            detail_read_ms: 1_796_020_915_223,
            ..CgroupStats::default()
        };
        let mut later = postfix.clone();
        later.cpu_usage_us = Some(2_391_985_112);
        later.forks_refused = Some(1_300);
        later.io =
            vec![DeviceIo { device: "8:0".into(), ..DeviceIo::default() }, DeviceIo { write_ops: 12, ..io }];
        later.psi_memory = None;
        later.psi_cpu =
            Some(Psi { some_avg10: 1.0, some_total_us: 10, full_avg10: None, full_total_us: None });
        later.detail_read_ms += 60_000;
        let cron = CgroupStats { path: "/system.slice/cron.service".into(), id: 5, ..postfix.clone() };
        check(vec![postfix], vec![cron, later]);

        let quiet = Endpoint {
            transport: Transport::Tcp,
            address: "127.0.0.1:8891".into(),
            listening: true,
            server: Some(Identity { pid: 4121, comm: "blackhole-milt".into() }),
            backlog: 128,
            ..Endpoint::default()
        };
        let hung = Endpoint {
            states: vec![StateCount { state: "ESTABLISHED".into(), count: 100 }],
            server_rqueue: 21_000,
            waiting: 100,
            no_reply_ms: 30_000,
            clients: vec![Client {
                comm: "smtpd".into(),
                connections: 100,
                processes: 100,
                pids: vec![7, 9],
            }],
            ..quiet.clone()
        };
        let gone = Endpoint { server: None, ..hung.clone() };
        let remote = Endpoint {
            address: "192.0.2.10:25".into(),
            listening: false,
            syn_sent: 30,
            syn_retransmits: 5,
            trying_ms: 75_000,
            ..Endpoint::default()
        };
        check(vec![quiet.clone()], vec![hung.clone(), remote]);
        check(vec![hung], vec![gone, quiet]);
    }
}
