//! Keeping the recorder alive on a dying machine, when started as root:
//! memory locked so it is never paged out, last in line for the OOM killer,
//! first in line for the CPU and the disk. Each step is optional: a failure
//! is logged and recording goes on.

use nix::libc;

/// What the recorder asks for; the systemd unit in contrib/ sets the same.
const OOM_SCORE_ADJ: &str = "-1000";
const NICE: i32 = -5;
/// Best-effort I/O class at its highest level: ahead of ordinary work,
/// without the starvation risk of the real-time class.
const IOPRIO_CLASS_BE: i32 = 2;
const IOPRIO_LEVEL: i32 = 0;
const IOPRIO_CLASS_SHIFT: i32 = 13;
const IOPRIO_WHO_PROCESS: i32 = 1;

pub fn apply() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    report("locking memory", lock_memory());
    report(
        "lowering the OOM score",
        std::fs::write("/proc/self/oom_score_adj", OOM_SCORE_ADJ).map_err(|e| e.to_string()),
    );
    report("raising CPU priority", raise_cpu_priority());
    report("raising I/O priority", raise_io_priority());
}

fn report(step: &str, result: Result<(), String>) {
    if let Err(err) = result {
        eprintln!("flightrec: warning: {step}: {err}; recording anyway");
    }
}

/// Locks pages as they are touched (MCL_ONFAULT), so reserved but unused
/// memory such as thread stacks does not become resident.
fn lock_memory() -> Result<(), String> {
    // SAFETY: mlockall takes flags only and touches no Rust-visible memory.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().to_string()) }
}

fn raise_cpu_priority() -> Result<(), String> {
    // SAFETY: setpriority takes plain integers.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().to_string()) }
}

fn raise_io_priority() -> Result<(), String> {
    let prio = (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | IOPRIO_LEVEL;
    // SAFETY: ioprio_set takes plain integers; 0 means this process.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().to_string()) }
}
