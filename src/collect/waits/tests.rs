//! The picture of real hangs, reproduced on loopback: servers that accept
//! and never answer, a listener that never accepts, SYNs a firewall rule
//! drops. The sockets are handed to child processes with names of their
//! own (links to `sleep`), so that the picture must name the right
//! processes; every child, file and rule goes away when a test ends, pass
//! or fail.

use super::*;
use crate::scratch::Scratch;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Far above what any wait here needs on an idle machine.
const PATIENCE: Duration = Duration::from_secs(60);
const REQUEST: &[u8] = b"OPTNEG request\n";

/// A name no other process on the machine has, at most 15 bytes (the
/// kernel's command names are cut there).
fn unique_name(role: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{role}{}{n}", std::process::id()).chars().take(15).collect()
}

/// Child processes, killed and reaped when dropped.
struct Children(Vec<Child>);

impl Children {
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.0.iter().map(Child::id).collect();
        pids.sort_unstable();
        pids
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sleep` under another name, in `dir`: a process started by it has that
/// name as its command name.
fn program(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("sleep");
    std::os::unix::fs::symlink(sleep, &path).unwrap();
    path
}

/// A child running `program` that holds `fds` (the caller's copies can then
/// be closed) and nothing else of the caller's.
fn holding(program: &Path, fds: Vec<RawFd>) -> Child {
    let mut command = Command::new(program);
    command.arg("1000").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: between fork and exec this only calls fcntl, async-signal-safe,
    // on fds the parent keeps open until spawn returns, and allocates
    // nothing; the flag is cleared in this child only.
    unsafe {
        command.pre_exec(move || {
            for &fd in &fds {
                fcntl(BorrowedFd::borrow_raw(fd), FcntlArg::F_SETFD(FdFlag::empty()))?;
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

fn endpoint<'a>(waits: &'a Waits, address: &str) -> Option<&'a Endpoint> {
    waits.endpoints.iter().find(|e| e.address == address)
}

fn state_count(endpoint: &Endpoint, state: &str) -> u32 {
    endpoint.states.iter().find(|s| s.state == state).map_or(0, |s| s.count)
}

/// Reads pictures until `check` accepts one (or panics after `PATIENCE`,
/// with the last picture of `address`).
fn picture_until(
    collector: &mut WaitCollector,
    address: &str,
    mut check: impl FnMut(&Endpoint) -> bool,
) -> Endpoint {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let waits = collector.read().unwrap();
        let found = endpoint(&waits, address).cloned();
        match found {
            Some(endpoint) if check(&endpoint) => return endpoint,
            last if Instant::now() >= deadline => panic!("gave up on {address}; last: {last:#?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn names_a_tcp_server_that_accepts_and_never_answers_and_its_waiting_clients() {
    let scratch = Scratch::new("waits-tcp");
    let (server_name, client_name) = (unique_name("hang"), unique_name("wait"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let clients: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(&address).unwrap()).collect();
    let accepted: Vec<TcpStream> = clients.iter().map(|_| listener.accept().unwrap().0).collect();
    for mut client in &clients {
        client.write_all(REQUEST).unwrap();
    }
    let sent = Instant::now();

    let mut server_fds = vec![listener.as_raw_fd()];
    server_fds.extend(accepted.iter().map(AsRawFd::as_raw_fd));
    let server = Children(vec![holding(&program(&scratch.0, &server_name), server_fds)]);
    let client_program = program(&scratch.0, &client_name);
    let waiting = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());
    drop((listener, accepted, clients));

    let mut collector = WaitCollector::new().unwrap();
    let picture =
        picture_until(&mut collector, &address, |e| e.clients.iter().any(|c| c.comm == client_name));
    let waited = sent.elapsed();

    assert!(picture.listening, "{picture:#?}");
    let identity = picture.server.as_ref().expect("the server named");
    assert_eq!((identity.pid, identity.comm.as_str()), (server.0[0].id(), server_name.as_str()));
    assert_eq!(state_count(&picture, "ESTABLISHED"), 12, "{picture:#?}");
    assert_eq!(picture.waiting, 12, "{picture:#?}");
    assert!(picture.no_reply_ms >= 3_000, "{picture:#?}");
    assert!(picture.no_reply_ms <= waited.as_millis() as u64 + 20, "{picture:#?} after {waited:?}");
    assert_eq!(picture.server_rqueue, 12 * REQUEST.len() as u64, "the requests lie unread: {picture:#?}");
    assert_eq!(picture.clients.len(), 1, "{picture:#?}");
    let client = &picture.clients[0];
    assert_eq!((client.connections, client.processes), (12, 12), "{picture:#?}");
    assert_eq!(client.pids, waiting.pids()[..8], "{picture:#?}");
    assert!(client.argv0.ends_with(&client_name), "{picture:#?}");
}
