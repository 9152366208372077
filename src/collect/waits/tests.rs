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

#[test]
fn names_a_unix_socket_server_that_leaves_requests_unread_and_its_waiting_clients() {
    let scratch = Scratch::new("waits-unix");
    let (server_name, client_name) = (unique_name("milt"), unique_name("smtp"));
    let path = scratch.0.join("milter.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let clients: Vec<UnixStream> = (0..5).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let accepted: Vec<UnixStream> = clients.iter().map(|_| listener.accept().unwrap().0).collect();
    let mut server_fds = vec![listener.as_raw_fd()];
    server_fds.extend(accepted.iter().map(AsRawFd::as_raw_fd));
    let server = Children(vec![holding(&program(&scratch.0, &server_name), server_fds)]);
    let client_program = program(&scratch.0, &client_name);
    let waiting = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());

    // Unix sockets have no clocks: the collector times an unread queue
    // from the first picture that shows it.
    let mut collector = WaitCollector::new().unwrap();
    for mut client in &clients {
        client.write_all(REQUEST).unwrap();
    }
    let first_seen = Instant::now();
    collector.read().unwrap();
    drop((listener, accepted, clients));
    let address = path.to_str().unwrap();
    let picture = picture_until(&mut collector, address, |e| e.clients.iter().any(|c| c.comm == client_name));
    let waited = first_seen.elapsed();

    assert_eq!(picture.transport, Transport::Unix);
    assert!(picture.listening, "{picture:#?}");
    let identity = picture.server.as_ref().expect("the server named");
    assert_eq!((identity.pid, identity.comm.as_str()), (server.0[0].id(), server_name.as_str()));
    assert_eq!(state_count(&picture, "ESTABLISHED"), 5, "{picture:#?}");
    assert_eq!(picture.waiting, 5, "{picture:#?}");
    assert!(picture.no_reply_ms >= 3_000, "{picture:#?}");
    assert!(picture.no_reply_ms <= waited.as_millis() as u64, "{picture:#?} after {waited:?}");
    assert_eq!(picture.server_rqueue, 5 * REQUEST.len() as u64, "the requests lie unread: {picture:#?}");
    assert!(picture.client_wqueue >= 5 * REQUEST.len() as u64, "{picture:#?}");
    let client = &picture.clients[..];
    assert_eq!(client.len(), 1, "{picture:#?}");
    assert_eq!((client[0].connections, client[0].processes), (5, 5), "{picture:#?}");
    assert_eq!(client[0].pids, waiting.pids(), "{picture:#?}");
}

/// A TCP socket on loopback listening with `backlog` (std's `TcpListener`
/// always asks for 128).
fn listener_with_backlog(backlog: i32) -> (std::os::fd::OwnedFd, String) {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, getsockname, listen, socket,
    };
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&fd, Backlog::new(backlog).unwrap()).unwrap();
    let port = getsockname::<SockaddrIn>(fd.as_raw_fd()).unwrap().port();
    (fd, format!("127.0.0.1:{port}"))
}

/// A connection attempt that does not wait for its answer.
fn connect_without_waiting(address: &str) -> std::os::fd::OwnedFd {
    use nix::errno::Errno;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, connect, socket};
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(AddressFamily::Inet, SockType::Stream, flags, None).unwrap();
    let target: std::net::SocketAddrV4 = address.parse().unwrap();
    match connect(fd.as_raw_fd(), &SockaddrIn::from(target)) {
        Ok(()) | Err(Errno::EINPROGRESS) => fd,
        Err(e) => panic!("connecting to {address}: {e}"),
    }
}

#[test]
fn names_a_listener_that_never_accepts_and_the_clients_left_in_syn_sent() {
    let scratch = Scratch::new("waits-backlog");
    let (server_name, client_name) = (unique_name("deaf"), unique_name("knock"));
    let (listener, address) = listener_with_backlog(1);
    let clients: Vec<_> = (0..6).map(|_| connect_without_waiting(&address)).collect();
    let server = Children(vec![holding(&program(&scratch.0, &server_name), vec![listener.as_raw_fd()])]);
    let client_program = program(&scratch.0, &client_name);
    let _knocking = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());
    drop((listener, clients));

    let mut collector = WaitCollector::new().unwrap();
    let picture =
        picture_until(&mut collector, &address, |e| e.clients.iter().any(|c| c.comm == client_name));

    let identity = picture.server.as_ref().expect("the server named");
    assert_eq!((identity.pid, identity.comm.as_str()), (server.0[0].id(), server_name.as_str()));
    assert_eq!(picture.backlog, 1, "{picture:#?}");
    // The kernel queues at most backlog + 1 and drops the other SYNs.
    assert!((1..=2).contains(&picture.accept_queue), "{picture:#?}");
    assert_eq!(picture.syn_sent, 6 - picture.accept_queue, "{picture:#?}");
    assert_eq!(state_count(&picture, "SYN_SENT"), picture.syn_sent, "{picture:#?}");
    assert!(picture.trying_ms >= 3_000, "{picture:#?}");
    assert!(picture.syn_retransmits >= 1, "{picture:#?}");
    assert_eq!(picture.clients.len(), 1, "{picture:#?}");
    assert_eq!(picture.clients[0].connections, picture.syn_sent, "{picture:#?}");
}

/// An nftables table dropping outgoing SYNs to one loopback port, deleted
/// when dropped.
struct DropSyns {
    table: String,
}

impl DropSyns {
    fn to(address: &std::net::SocketAddrV4) -> DropSyns {
        let table = format!("flightrec_{}", unique_name("waits"));
        let comment = format!("flightrec test {}", unique_name("syn"));
        let rules = format!(
            "table inet {table} {{\n chain out {{\n type filter hook output priority 0;\n \
             ip daddr {} tcp dport {} tcp flags syn drop comment \"{comment}\"\n }}\n}}\n",
            address.ip(),
            address.port()
        );
        let guard = DropSyns { table };
        let status =
            Command::new("nft").args(["-f", "-"]).stdin(Stdio::piped()).spawn().and_then(|mut nft| {
                nft.stdin.take().expect("piped stdin").write_all(rules.as_bytes())?;
                nft.wait()
            });
        assert!(status.as_ref().is_ok_and(|s| s.success()), "nft -f - with {rules:?}: {status:?}");
        guard
    }
}

impl Drop for DropSyns {
    fn drop(&mut self) {
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.table]).status();
    }
}

#[test]
fn names_clients_whose_syns_a_firewall_drops_and_how_long_they_have_tried() {
    let scratch = Scratch::new("waits-syn");
    let client_name = unique_name("relay");
    // A port nothing listens on: without the rule, the SYN would get a reset.
    let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let std::net::SocketAddr::V4(target) = address else { unreachable!("bound on 127.0.0.1") };
    let _rule = DropSyns::to(&target);
    let clients: Vec<_> = (0..3).map(|_| connect_without_waiting(&address.to_string())).collect();
    let client_program = program(&scratch.0, &client_name);
    let trying = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());
    drop(clients);

    let mut collector = WaitCollector::new().unwrap();
    let picture = picture_until(&mut collector, &address.to_string(), |e| {
        e.clients.iter().any(|c| c.comm == client_name && c.connections == 3)
    });

    assert!(!picture.listening, "{picture:#?}");
    assert_eq!(picture.server, None, "{picture:#?}");
    assert_eq!((picture.syn_sent, state_count(&picture, "SYN_SENT")), (3, 3), "{picture:#?}");
    assert!(picture.syn_retransmits >= 1, "{picture:#?}");
    assert!(picture.trying_ms >= 3_000, "{picture:#?}");
    assert_eq!(picture.clients[0].pids, trying.pids(), "{picture:#?}");
}
