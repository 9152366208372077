//! The CPU one cgroup sample costs, on this machine's real hierarchies:
//! reads them READS times at DEPTH and prints the cgroups followed, the
//! CPU time (user + system) per read on average, and that of the slowest
//! read (the walk of the hierarchies comes every few reads).
//! `scripts/bench-cgroups.sh` makes the cgroups to read.
//!
//!     cargo run --release --example cgroup_cost -- [READS] [DEPTH]

use anyhow::Result;
use flightrec::collect::cgroup::{CgroupCollector, DEFAULT_DEPTH, Stalled};
use flightrec::warn::Warnings;
use nix::time::{ClockId, clock_gettime};

/// CPU time of the process, to the nanosecond (a single read is short).
fn cpu_seconds() -> Result<f64> {
    let now = clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)?;
    Ok(now.tv_sec() as f64 + now.tv_nsec() as f64 / 1e9)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let reads: u32 = args.get(1).map_or(Ok(200), |a| a.parse())?;
    let depth: usize = args.get(2).map_or(Ok(DEFAULT_DEPTH), |a| a.parse())?;
    let mut collector = CgroupCollector::new(depth);
    let mut warnings = Warnings::new();
    let first = collector.read(Stalled::default(), None, &mut warnings);
    let start = cpu_seconds()?;
    let mut slowest_s: f64 = 0.0;
    for _ in 0..reads {
        let before = cpu_seconds()?;
        collector.read(Stalled::default(), None, &mut warnings);
        slowest_s = slowest_s.max(cpu_seconds()? - before);
    }
    let per_read_ms = (cpu_seconds()? - start) * 1000.0 / f64::from(reads);
    println!(
        "{} cgroups followed ({} left out), {reads} reads: {per_read_ms:.3} ms CPU per read, {:.1} µs per cgroup; \
         the slowest read: {:.3} ms",
        first.groups.len(),
        first.left_out,
        per_read_ms * 1000.0 / first.groups.len().max(1) as f64,
        slowest_s * 1000.0,
    );
    Ok(())
}
