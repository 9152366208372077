//! Writes a SYNTHETIC flightrec database for benchmarks: DAYS days of
//! samples every INTERVAL seconds, PROCS processes each (a few busy, the
//! rest idle, some coming and going), a recorder restart every few days and
//! a stall now and then, so that `gaps` and `report` have work to do.
//!
//! It goes through the real `Store::commit`, with fsync turned off for
//! speed: the file is the same as a recorder would write, only faster.
//!
//!     cargo run --release --example synthetic_db -- FILE [DAYS] [PROCS] [INTERVAL_S]

use anyhow::{Context, Result};
use flightrec::sample::*;
use flightrec::store::{Run, Store};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).context("usage: synthetic_db FILE [DAYS] [PROCS] [INTERVAL_S]")?;
    let days: i64 = args.get(2).map_or(Ok(30), |a| a.parse())?;
    let procs: u32 = args.get(3).map_or(Ok(500), |a| a.parse())?;
    let interval_s: i64 = args.get(4).map_or(Ok(5), |a| a.parse())?;
    let interval = Duration::from_secs(interval_s as u64);

    let mut store = Store::open_for_recording(std::path::Path::new(path))?;
    store.conn().pragma_update(None, "synchronous", "off")?;
    let total = days * 86_400 / interval_s;
    let start_ms = chrono::Utc::now().timestamp_millis() - days * 86_400_000;
    let mut table: Vec<Process> = (0..procs).map(|i| process(i + 100, i)).collect();
    let mut run_id = 0;
    let mut boot = 0;
    for n in 0..total {
        let time_ms = start_ms + n * interval_s * 1000;
        // A new run every ~4 days: every other one after an unclean end
        // and a reboot, the rest after a clean stop.
        if n % (4 * 86_400 / interval_s) == 0 {
            if run_id > 0 && boot % 2 == 0 {
                store.end_run(run_id, time_ms - 1000, "SIGTERM")?;
            }
            boot += 1;
            run_id = store.begin_run(&Run {
                id: 0,
                boot_id: format!("synthetic-boot-{boot}"),
                boot_time_ms: time_ms - 60_000,
                hostname: "synthetic".into(),
                kernel: "6.1.0-synthetic".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                pid: 1,
                interval_ms: interval_s * 1000,
                start_ms: time_ms,
                stop_ms: None,
                stop_reason: None,
                recording: true,
            })?;
        }
        step(&mut table, n, procs);
        let stalled = n % 50_000 == 25_000;
        let sample = Sample {
            time_ms: if stalled { time_ms + 30_000 } else { time_ms },
            lateness_ms: if stalled { 30_000 } else { n % 7 },
            collect_us: 9000,
            load: Some(LoadAvg { load1: 0.5 + (n % 10) as f64 / 10.0, load5: 0.6, load15: 0.7 }),
            cpu: Some(CpuTimes {
                user: n as u64 * 40,
                system: n as u64 * 10,
                idle: n as u64 * 950,
                ctxt: n as u64 * 9000,
                forks: n as u64 * 3,
                procs_running: 2,
                ncpu: 2,
                ..CpuTimes::default()
            }),
            memory: Some(Memory {
                total: 24 << 30,
                available: (20 << 30) - (n as u64 % 1000) * 4096,
                ..Memory::default()
            }),
            vm: Some(VmCounters::default()),
            files: Some(FileHandles { allocated: 3000, max: 2_000_000 }),
            tasks: Some(Tasks {
                processes: u64::from(procs),
                threads: u64::from(procs) * 2,
                pid_max: 4_194_304,
                threads_max: 200_000,
            }),
            net: Some(NetTotals {
                rx_bytes: n as u64 * 5000,
                tx_bytes: n as u64 * 3000,
                ..NetTotals::default()
            }),
            processes: Some(table.clone()),
            filesystems: Some(vec![Filesystem {
                mount_point: "/".into(),
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                size_bytes: 100 << 30,
                used_bytes: (40 << 30) + n as u64 * 100,
                avail_bytes: (60 << 30) - n as u64 * 100,
                inodes_total: 6_000_000,
                inodes_used: 400_000,
            }]),
            disks: Some(vec![Disk {
                name: "vda".into(),
                reads: n as u64,
                writes: n as u64 * 3,
                io_ms: n as u64 * 2,
                ..Disk::default()
            }]),
            sockets: Some(vec![PortSockets {
                direction: Direction::Incoming,
                port: 25,
                state: "ESTABLISHED".into(),
                count: (n % 5) as u32,
                queued: 0,
                backlog: 0,
            }]),
            interfaces: Some(vec![Interface {
                name: "eth0".into(),
                rx_bytes: n as u64 * 5000,
                ..Interface::default()
            }]),
            ..Sample::default()
        };
        store.commit(run_id, interval, &sample)?;
        if n % 100_000 == 0 {
            eprintln!("synthetic_db: {n} of {total} samples");
        }
    }
    store.conn().pragma_update(None, "synchronous", "full")?;
    eprintln!("synthetic_db: wrote {total} samples to {path}");
    Ok(())
}

fn process(pid: u32, i: u32) -> Process {
    Process {
        pid,
        ppid: 1,
        uid: i % 5,
        start_ticks: u64::from(pid) * 10,
        comm: Arc::from(format!("daemon{}", i % 40)),
        cmdline: Arc::from(format!(
            "/usr/sbin/daemon{} --config /etc/daemon{}.conf --worker {i}",
            i % 40,
            i % 40
        )),
        state: 'S',
        threads: 1 + i % 4,
        rss_bytes: u64::from(1 + i % 50) << 20,
        vsize_bytes: u64::from(10 + i % 50) << 20,
        fds: Some(10 + i % 30),
        read_bytes: Some(0),
        write_bytes: Some(0),
        ..Process::default()
    }
}

/// One tick of activity: ten busy processes run, one process is replaced.
fn step(table: &mut [Process], n: i64, procs: u32) {
    for p in table.iter_mut().take(10) {
        p.utime_ticks += 20;
        p.stime_ticks += 5;
        p.minor_faults += 100;
        p.write_bytes = p.write_bytes.map(|w| w + 4096);
        p.state = if n % 2 == 0 { 'R' } else { 'S' };
    }
    let replaced = (n as usize % (procs as usize - 10)) + 10;
    let fresh = 100 + procs + n as u32;
    table[replaced] =
        Process { pid: fresh, start_ticks: u64::from(fresh) * 10, ..process(fresh, replaced as u32) };
    table.sort_by_key(|p| p.pid);
}
