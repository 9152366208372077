//! Hung-task evidence: where in the kernel a process in D state
//! (uninterruptible sleep: waiting on a disk, an NFS server, a kernel lock)
//! waits. `/proc/PID/wchan` holds one function name (`0` when there is none
//! to tell); `/proc/PID/stack` one frame a line, innermost first:
//! `[<0>] folio_wait_bit_common+0x13d/0x350`. The caller picks the D-state
//! processes from its process table, most telling first; this reads a
//! bounded number of them.
//!
//! Both files are safe to read on a machine that is hanging: the kernel
//! builds them from the task's saved stack without taking its mmap_lock,
//! which `cmdline` and `environ` need and which a task stuck in a page fault
//! can hold for ever. `stack` takes only the task's exec_update_lock for
//! reading, killably, held for writing only during an exec (fs/proc/base.c:
//! proc_pid_stack, lock_trace); `wchan` only a spinlock. `stack` is root's
//! (CAP_SYS_ADMIN): without it the stack is left empty.

use crate::sample::BlockedTask;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Frames kept per stack, innermost first: where the task waits and why.
pub const FRAMES_MAX: usize = 32;
/// Bytes kept per stack.
pub const STACK_MAX: usize = 2048;
/// Bytes read from `stack`: the kernel lists at most 64 frames.
const STACK_READ: u64 = 4096;
/// Bytes read from `wchan`: one symbol name.
const WCHAN_READ: u64 = 256;

/// Wait channel and kernel stack of the first `budget` processes of
/// `pids_in_d_state` (pid, comm) still there. A process gone since it was
/// listed is skipped; one whose files cannot be read (not root) comes back
/// with what could be read. A pid may be a thread id: /proc/TID has it too.
pub fn read_blocked(pids_in_d_state: &[(u32, &str)], budget: usize) -> Vec<BlockedTask> {
    pids_in_d_state.iter().filter_map(|&(pid, comm)| read_task(pid, comm)).take(budget).collect()
}

/// `None` when the process is gone.
fn read_task(pid: u32, comm: &str) -> Option<BlockedTask> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let wchan = read_bounded(&dir.join("wchan"), WCHAN_READ).map(|text| parse_wchan(&text));
    let stack = read_bounded(&dir.join("stack"), STACK_READ).map(|text| parse_stack(&text));
    // A failed read is a process gone (ENOENT, ESRCH) only if its directory
    // went too; otherwise the read was not permitted, or the kernel lacks the
    // file (no CONFIG_STACKTRACE), and the field stays empty.
    if (wchan.is_err() || stack.is_err()) && !dir.exists() {
        return None;
    }
    Some(BlockedTask {
        pid,
        comm: comm.to_owned(),
        wchan: wchan.unwrap_or_default(),
        stack: stack.unwrap_or_default(),
    })
}

fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The function named in `/proc/PID/wchan`; empty for `0`, which the kernel
/// writes for a running task, one it may not tell about, or no symbol.
pub fn parse_wchan(text: &str) -> String {
    match text.trim() {
        "0" => String::new(),
        name => name.to_owned(),
    }
}

/// `/proc/PID/stack` as one frame a line without the `[<0>] ` address
/// column (always zero since 4.16), at most `FRAMES_MAX` frames and
/// `STACK_MAX` bytes, innermost first.
pub fn parse_stack(text: &str) -> String {
    let mut stack = String::new();
    for line in text.lines().take(FRAMES_MAX) {
        let frame = line.split_once("] ").map_or(line, |(_, frame)| frame).trim();
        if frame.is_empty() {
            continue;
        }
        if stack.len() + 1 + frame.len() > STACK_MAX {
            break;
        }
        if !stack.is_empty() {
            stack.push('\n');
        }
        stack.push_str(frame);
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc::{self, c_int, c_void};
    use nix::unistd::{Pid, geteuid};
    use std::os::fd::AsRawFd;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    #[test]
    fn parses_captured_stack_and_wchan() {
        let stack = parse_stack(include_str!("../../tests/fixtures/proc/pid-stack"));
        assert_eq!(
            stack,
            "hrtimer_nanosleep+0xb5/0x130\n\
             common_nsleep+0x30/0x60\n\
             __x64_sys_clock_nanosleep+0xde/0x150\n\
             do_syscall_64+0x71/0x280\n\
             entry_SYSCALL_64_after_hwframe+0x76/0x7e"
        );
        assert_eq!(parse_wchan(include_str!("../../tests/fixtures/proc/pid-wchan")), "hrtimer_nanosleep");
        assert_eq!(parse_wchan("0"), "");
        assert_eq!(parse_stack(""), "");
    }

    #[test]
    fn bounds_the_stack() {
        let deep: String = (0..64).map(|i| format!("[<0>] frame_{i}+0x10/0x20\n")).collect();
        let stack = parse_stack(&deep);
        assert_eq!(stack.lines().count(), FRAMES_MAX);
        assert!(stack.starts_with("frame_0+0x10/0x20\n"));
        assert!(stack.ends_with("\nframe_31+0x10/0x20"));

        let wide: String =
            (0..32).map(|i| format!("[<0>] {}_{i}+0x10/0x20 [module]\n", "f".repeat(90))).collect();
        let stack = parse_stack(&wide);
        assert!(stack.len() <= STACK_MAX, "{}", stack.len());
        assert_eq!(stack.lines().count(), 18);
    }

    /// A `sleep` child, killed and reaped when dropped.
    struct Sleeper(Child);

    impl Sleeper {
        fn spawn() -> Sleeper {
            let sleeper = Sleeper(Command::new("sleep").arg("30").spawn().unwrap());
            assert!(wait_for_state(sleeper.pid(), 'S'), "sleep never slept");
            sleeper
        }

        fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Waits up to 5 s for a task to settle in `state`: /proc shows the new
    /// state a moment before the task leaves the run queue, and only then
    /// does the kernel tell its wait channel.
    fn wait_for_state(tid: u32, state: char) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).unwrap_or_default();
            let now = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
            let wchan = std::fs::read_to_string(format!("/proc/{tid}/wchan")).unwrap_or_default();
            if now == Some(state) && !matches!(wchan.as_str(), "" | "0") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn reads_a_sleeping_process() {
        // A sleeping process stands in for a blocked one: same files, and a
        // stack as long as it waits (`reads_a_task_really_in_d_state` has D).
        let sleeper = Sleeper::spawn();
        let tasks = read_blocked(&[(sleeper.pid(), "sleep")], 4);
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].pid, tasks[0].comm.as_str()), (sleeper.pid(), "sleep"));
        assert!(tasks[0].wchan.contains("sleep"), "{:?}", tasks[0]);
        if geteuid().is_root() {
            assert!(tasks[0].stack.contains("nanosleep"), "{:?}", tasks[0]);
            assert!(!tasks[0].stack.contains("[<"), "{:?}", tasks[0]);
        } else {
            eprintln!("stack not checked: /proc/PID/stack is for root");
        }
    }

    #[test]
    fn skips_vanished_processes_within_the_budget() {
        let mut gone = Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let (first, second, third) = (Sleeper::spawn(), Sleeper::spawn(), Sleeper::spawn());
        let listed =
            [(gone.id(), "true"), (first.pid(), "sleep"), (second.pid(), "sleep"), (third.pid(), "sleep")];
        let pids: Vec<u32> = read_blocked(&listed, 2).iter().map(|task| task.pid).collect();
        assert_eq!(pids, [first.pid(), second.pid()]);
        assert!(read_blocked(&listed, 0).is_empty());
    }

    /// What the child of `reads_a_task_really_in_d_state` runs: it waits for
    /// the release pipe to be written, or 10 s, on a stack of its own.
    extern "C" fn vfork_child(release: *mut c_void) -> c_int {
        let mut poll = libc::pollfd { fd: release as usize as c_int, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll reads and writes the one pollfd it is given.
        unsafe { libc::poll(&mut poll, 1, 10_000) };
        0
    }

    #[test]
    fn reads_a_task_really_in_d_state() {
        // A thread that vforks waits for its child in TASK_KILLABLE, which
        // /proc shows as D, until the child exits: a real, harmless D state
        // that lasts as long as the test wants. The child is made as
        // posix_spawn makes it, clone(CLONE_VM | CLONE_VFORK) on a stack of
        // its own, so no Rust code runs twice on one stack as with vfork().
        let (wait_end, release) = nix::unistd::pipe().unwrap();
        let (send_tid, tid) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut stack = vec![0u8; 64 * 1024];
            let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
            send_tid.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
            let fd = wait_end.as_raw_fd() as usize as *mut c_void;
            // SAFETY: the child runs `vfork_child` on `stack`, which outlives
            // it (this thread is suspended until the child exits), and
            // touches nothing else of ours but the pipe's fd.
            let child = unsafe { libc::clone(vfork_child, top as *mut c_void, flags, fd) };
            assert!(child > 0, "clone: {}", std::io::Error::last_os_error());
            nix::sys::wait::waitpid(Pid::from_raw(child), None).unwrap();
        });
        let tid = tid.recv().unwrap();
        let blocked = wait_for_state(tid, 'D');
        let tasks = read_blocked(&[(tid, "vfork-waiter")], 1);
        nix::unistd::write(&release, b"x").unwrap();
        waiter.join().unwrap();

        assert!(blocked, "the vforking thread never showed D");
        assert_eq!(tasks.len(), 1);
        let task = &tasks[0];
        assert!(!task.wchan.is_empty(), "{task:?}");
        if geteuid().is_root() {
            // wait_for_vfork_done, or kernel_clone where it is inlined.
            assert!(task.stack.contains("vfork") || task.stack.contains("clone"), "{task:?}");
        } else {
            eprintln!("stack not checked: /proc/PID/stack is for root");
        }
    }
}
