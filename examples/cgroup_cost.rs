//! The CPU one cgroup sample costs, on this machine's real hierarchies:
//! reads them READS times at DEPTH and prints the cgroups followed and the
//! CPU time (user + system) per read. `scripts/bench-cgroups.sh` makes the
//! cgroups to read.
//!
//!     cargo run --release --example cgroup_cost -- [READS] [DEPTH]

use anyhow::Result;
use flightrec::collect::cgroup::{CgroupCollector, DEFAULT_DEPTH, Stalled};
use flightrec::warn::Warnings;
use nix::sys::resource::{UsageWho, getrusage};

fn cpu_seconds() -> Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let reads: u32 = args.get(1).map_or(Ok(200), |a| a.parse())?;
    let depth: usize = args.get(2).map_or(Ok(DEFAULT_DEPTH), |a| a.parse())?;
    let mut collector = CgroupCollector::new(depth);
    let mut warnings = Warnings::new();
    let first = collector.read(Stalled::default(), &mut warnings);
    let start = cpu_seconds()?;
    for _ in 0..reads {
        collector.read(Stalled::default(), &mut warnings);
    }
    let per_read_ms = (cpu_seconds()? - start) * 1000.0 / f64::from(reads);
    println!(
        "{} cgroups followed ({} left out), {reads} reads: {per_read_ms:.3} ms CPU per read, {:.1} µs per cgroup",
        first.groups.len(),
        first.left_out,
        per_read_ms * 1000.0 / first.groups.len().max(1) as f64
    );
    Ok(())
}
