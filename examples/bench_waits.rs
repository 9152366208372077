//! What the wait-for picture costs: reads the socket table with the
//! picture `--reads N` times (default 200) in a row, as the recorder does
//! once per sample, and prints the CPU time (user + system) per read, the
//! endpoints of the last picture, and how many processes had their fds
//! walked. Each read is paired with one of the socket table alone (the
//! same dump without tcp_info, as `record --waits off` reads it), so the
//! two figures, taken under the same load, say what the picture adds.
//! Before that it opens
//! `--sockets N` TCP sockets on loopback (a listener and N/2 connections,
//! both ends held here), of which `--stuck M` connections sent a request
//! that is never answered. `--print` prints the last picture as JSON.
//! `scripts/bench-waits.sh` starts the processes to measure it among.

use anyhow::{Context, Result, bail};
use flightrec::collect::sockets::SocketReader;
use flightrec::collect::waits::Waits;
use nix::sys::resource::{UsageWho, getrusage};
use std::io::Write;
use std::net::{TcpListener, TcpStream};

fn main() -> Result<()> {
    let mut reads = 200u32;
    let mut print = false;
    let (mut sockets, mut stuck) = (0usize, 0usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reads" => reads = args.next().context("--reads takes a number")?.parse().context("--reads")?,
            "--sockets" => {
                sockets = args.next().context("--sockets takes a number")?.parse().context("--sockets")?
            }
            "--stuck" => stuck = args.next().context("--stuck takes a number")?.parse().context("--stuck")?,
            "--print" => print = true,
            other => bail!("unknown argument {other:?}; try --reads N, --sockets N, --stuck N or --print"),
        }
    }
    let _held = open_connections(sockets / 2, stuck)?;
    let mut collector = SocketReader::with_picture();
    // The first read names every listener: a cost paid once, shown apart.
    let (first_cpu, first) = cpu_seconds(|| read_picture(&mut collector))?;
    let walked_first = collector.processes_walked();
    let mut table = SocketReader::new();
    let mut last = first;
    let (mut total_cpu, mut table_cpu) = (0.0, 0.0);
    for _ in 0..reads {
        let (cpu, picture) = cpu_seconds(|| read_picture(&mut collector))?;
        total_cpu += cpu;
        last = picture;
        table_cpu += cpu_seconds(|| table.read())?.0;
    }
    let sockets: u32 = last.endpoints.iter().flat_map(|e| &e.states).map(|s| s.count).sum();
    println!("first read: {:.3} ms CPU, {walked_first} processes walked", first_cpu * 1e3);
    println!(
        "{reads} reads: {:.3} ms CPU per read; {} endpoints, {sockets} connections; {} processes walked after the first read",
        total_cpu * 1e3 / f64::from(reads),
        last.endpoints.len(),
        collector.processes_walked() - walked_first,
    );
    println!(
        "the socket table alone (--waits off) over the same reads: {:.3} ms CPU per read",
        table_cpu * 1e3 / f64::from(reads)
    );
    if print {
        println!("{}", serde_json::to_string_pretty(&last)?);
    }
    Ok(())
}

/// One read of the socket table with its picture.
fn read_picture(reader: &mut SocketReader) -> Result<Waits> {
    reader.read()?.waits.context("the picture is drawn")?
}

/// `pairs` loopback connections to one listener, both ends kept; the
/// first `stuck` clients send a request nobody reads. The requests are
/// sent a few seconds before the measure, so that those connections look
/// stuck from the first read on.
fn open_connections(pairs: usize, stuck: usize) -> Result<(TcpListener, Vec<TcpStream>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let address = listener.local_addr()?;
    let mut held = Vec::with_capacity(pairs * 2);
    for n in 0..pairs {
        let mut client = TcpStream::connect(address).context("connecting on loopback")?;
        if n < stuck {
            client.write_all(b"request\n")?;
        }
        held.push(client);
        held.push(listener.accept().context("accepting on loopback")?.0);
    }
    if stuck > 0 {
        std::thread::sleep(std::time::Duration::from_secs(4));
    }
    Ok((listener, held))
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
