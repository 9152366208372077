//! What the wait-for picture costs: reads it `--reads N` times (default
//! 200) in a row, as the recorder would once per sample, and prints the
//! CPU time (user + system) per read, the endpoints of the last picture,
//! and how many processes had their fds walked. `--print` prints the last
//! picture as JSON. `scripts/bench-waits.sh` sets up the sockets and
//! processes to measure it against.

use anyhow::{Context, Result, bail};
use flightrec::collect::waits::WaitCollector;
use nix::sys::resource::{UsageWho, getrusage};
use std::time::Instant;

fn main() -> Result<()> {
    let mut reads = 200u32;
    let mut print = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reads" => reads = args.next().context("--reads takes a number")?.parse().context("--reads")?,
            "--print" => print = true,
            other => bail!("unknown argument {other:?}; try --reads N or --print"),
        }
    }
    let mut collector = WaitCollector::new()?;
    // The first read names every listener: a cost paid once, shown apart.
    let (first_cpu, first) = cpu_seconds(|| collector.read())?;
    let walked_first = collector.processes_walked();
    let started = Instant::now();
    let mut last = first;
    let mut total_cpu = 0.0;
    for _ in 0..reads {
        let (cpu, picture) = cpu_seconds(|| collector.read())?;
        total_cpu += cpu;
        last = picture;
    }
    let wall = started.elapsed().as_secs_f64();
    let sockets: u32 = last.endpoints.iter().flat_map(|e| &e.states).map(|s| s.count).sum();
    println!("first read: {:.3} ms CPU, {walked_first} processes walked", first_cpu * 1e3);
    println!(
        "{reads} reads: {:.3} ms CPU and {:.3} ms wall per read; {} endpoints, {sockets} connections; {} processes walked after the first read",
        total_cpu * 1e3 / f64::from(reads),
        wall * 1e3 / f64::from(reads),
        last.endpoints.len(),
        collector.processes_walked() - walked_first,
    );
    if print {
        println!("{}", serde_json::to_string_pretty(&last)?);
    }
    Ok(())
}

/// The CPU time this process spent in `work`, in seconds.
fn cpu_seconds<T>(work: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let before = getrusage(UsageWho::RUSAGE_SELF)?;
    let value = work()?;
    let after = getrusage(UsageWho::RUSAGE_SELF)?;
    let seconds = |usage: &nix::sys::resource::Usage| {
        let (user, system) = (usage.user_time(), usage.system_time());
        (user.tv_sec() + system.tv_sec()) as f64 + (user.tv_usec() + system.tv_usec()) as f64 * 1e-6
    };
    Ok((seconds(&after) - seconds(&before), value))
}
