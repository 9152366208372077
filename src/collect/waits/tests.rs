//! The picture of real hangs, reproduced on loopback: servers that accept
//! and never answer, a listener that never accepts, SYNs a firewall rule
//! drops. The sockets are handed to child processes with names of their
//! own (links to `sleep`), so that the picture must name the right
//! processes; every child, file and rule goes away when a test ends, pass
//! or fail.

use super::*;
use crate::collect::sockets::SocketReader;
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

/// The picture as the recorder draws it: from the socket table's dump.
fn picture(reader: &mut SocketReader) -> Waits {
    let read = reader.read().unwrap();
    assert_eq!(read.source, crate::sample::SocketSource::Netlink, "fell back");
    read.waits.expect("the picture is drawn").unwrap()
}

/// Reads pictures until `check` accepts one (or panics after `PATIENCE`,
/// with the last picture of `address`).
fn picture_until(
    reader: &mut SocketReader,
    address: &str,
    mut check: impl FnMut(&Endpoint) -> bool,
) -> Endpoint {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let waits = picture(reader);
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
    let clients: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(&address).unwrap()).collect();
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

    let mut reader = SocketReader::with_picture();
    let picture = picture_until(&mut reader, &address, |e| e.clients.iter().any(|c| c.comm == client_name));
    let waited = sent.elapsed();

    assert!(picture.listening, "{picture:#?}");
    let identity = picture.server.as_ref().expect("the server named");
    assert_eq!((identity.pid, identity.comm.as_str()), (server.0[0].id(), server_name.as_str()));
    assert_eq!(state_count(&picture, "ESTABLISHED"), 50, "{picture:#?}");
    assert_eq!(picture.waiting, 50, "{picture:#?}");
    assert!(picture.no_reply_ms >= 3_000, "{picture:#?}");
    assert!(picture.no_reply_ms <= waited.as_millis() as u64 + 20, "{picture:#?} after {waited:?}");
    assert_eq!(picture.server_rqueue, 50 * REQUEST.len() as u64, "the requests lie unread: {picture:#?}");
    assert_eq!(picture.clients.len(), 1, "{picture:#?}");
    let client = &picture.clients[0];
    assert_eq!((client.connections, client.processes), (50, 50), "{picture:#?}");
    assert_eq!(client.pids, waiting.pids()[..8], "{picture:#?}");
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

    // Unix sockets have no clocks: the picture times an unread queue
    // from the first picture that shows it.
    let mut reader = SocketReader::with_picture();
    for mut client in &clients {
        client.write_all(REQUEST).unwrap();
    }
    let first_seen = Instant::now();
    picture(&mut reader);
    drop((listener, accepted, clients));
    let address = path.to_str().unwrap();
    let picture = picture_until(&mut reader, address, |e| e.clients.iter().any(|c| c.comm == client_name));
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

#[test]
fn names_the_clients_of_a_unix_listener_that_never_accepts() {
    let scratch = Scratch::new("waits-unix-deaf");
    let (server_name, client_name) = (unique_name("clam"), unique_name("scan"));
    let path = scratch.0.join("clamd.ctl");
    let listener = UnixListener::bind(&path).unwrap();
    let clients: Vec<UnixStream> = (0..4).map(|_| UnixStream::connect(&path).unwrap()).collect();
    for mut client in &clients {
        client.write_all(REQUEST).unwrap();
    }
    let server = Children(vec![holding(&program(&scratch.0, &server_name), vec![listener.as_raw_fd()])]);
    let client_program = program(&scratch.0, &client_name);
    let waiting = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());
    drop((listener, clients));

    let mut reader = SocketReader::with_picture();
    let address = path.to_str().unwrap();
    let picture = picture_until(&mut reader, address, |e| e.clients.iter().any(|c| c.comm == client_name));

    let identity = picture.server.as_ref().expect("the server named");
    assert_eq!((identity.pid, identity.comm.as_str()), (server.0[0].id(), server_name.as_str()));
    assert_eq!(picture.accept_queue, 4, "{picture:#?}");
    assert!(picture.states.is_empty(), "none accepted: {picture:#?}");
    assert_eq!(picture.waiting, 4, "{picture:#?}");
    assert!(picture.no_reply_ms >= 3_000, "{picture:#?}");
    assert!(picture.client_wqueue >= 4 * REQUEST.len() as u64, "{picture:#?}");
    assert_eq!(picture.clients.len(), 1, "{picture:#?}");
    assert_eq!(picture.clients[0].pids, waiting.pids(), "{picture:#?}");
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

    let mut reader = SocketReader::with_picture();
    let picture = picture_until(&mut reader, &address, |e| e.clients.iter().any(|c| c.comm == client_name));

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

    let mut reader = SocketReader::with_picture();
    let picture = picture_until(&mut reader, &address.to_string(), |e| {
        e.clients.iter().any(|c| c.comm == client_name && c.connections == 3)
    });

    assert!(!picture.listening, "{picture:#?}");
    assert_eq!(picture.server, None, "{picture:#?}");
    assert_eq!((picture.syn_sent, state_count(&picture, "SYN_SENT")), (3, 3), "{picture:#?}");
    assert!(picture.syn_retransmits >= 1, "{picture:#?}");
    assert!(picture.trying_ms >= 3_000, "{picture:#?}");
    assert_eq!(picture.clients[0].pids, trying.pids(), "{picture:#?}");
}

/// Netlink messages of a captured reply (one or more datagrams end to
/// end), each whole, header included.
fn messages(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    while bytes.len() >= 16 {
        let len = (diag::u32_at(bytes, 0) as usize).next_multiple_of(4).min(bytes.len());
        messages.push(&bytes[..len]);
        bytes = &bytes[len..];
    }
    messages
}

/// Writes `tests/fixtures/netlink/{tcp4,tcp6,unix}`: the kernel's replies
/// to the collector's three dump requests, keeping only the messages about
/// the sockets set up here (and the end of each dump). See the README
/// there for the scene. Run by hand:
/// `cargo test --lib waits::tests::capture_fixtures -- --ignored`.
#[test]
#[ignore = "writes the netlink fixtures; run by hand"]
fn capture_fixtures() {
    let scratch = Scratch::new("waits-capture");
    let answered = TcpListener::bind("[::1]:0").unwrap();
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_clients: Vec<TcpStream> =
        (0..4).map(|_| TcpStream::connect(hung.local_addr().unwrap()).unwrap()).collect();
    let hung_accepted: Vec<TcpStream> = (0..3).map(|_| hung.accept().unwrap().0).collect();
    for mut client in &hung_clients[..3] {
        client.write_all(REQUEST).unwrap();
    }
    let mut answered_client = TcpStream::connect(answered.local_addr().unwrap()).unwrap();
    let (mut answered_server, _) = answered.accept().unwrap();
    answered_client.write_all(REQUEST).unwrap();
    let mut request = [0; REQUEST.len()];
    std::io::Read::read_exact(&mut answered_server, &mut request).unwrap();
    answered_server.write_all(b"OK\n").unwrap();
    let dropped = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let std::net::SocketAddr::V4(dropped_v4) = dropped else { unreachable!("bound on 127.0.0.1") };
    let _rule = DropSyns::to(&dropped_v4);
    let _trying = connect_without_waiting(&dropped.to_string());
    let path = scratch.0.join("milter.sock");
    let unix_listener = UnixListener::bind(&path).unwrap();
    let unix_clients: Vec<UnixStream> = (0..3).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let unix_accepted: Vec<UnixStream> = (0..2).map(|_| unix_listener.accept().unwrap().0).collect();
    for mut client in &unix_clients {
        client.write_all(REQUEST).unwrap();
    }
    // Long enough for the hung server's clients to count as waiting.
    std::thread::sleep(Duration::from_millis(1_500));

    let ports = [answered.local_addr().unwrap().port(), hung.local_addr().unwrap().port(), dropped.port()];
    let mut socket = diag::DiagSocket::open().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netlink");
    std::fs::create_dir_all(&fixtures).unwrap();
    let ours_tcp = |record: &[u8]| {
        let socket = inet::parse(record).unwrap();
        ports.contains(&socket.local.port()) || ports.contains(&socket.remote.port())
    };
    for (name, family) in [("tcp4", nix::libc::AF_INET), ("tcp6", nix::libc::AF_INET6)] {
        let bytes = socket.capture(&inet::request(family as u8)).unwrap();
        write_fixture(&fixtures.join(name), &bytes, ours_tcp);
    }
    let bytes = socket.capture(&unix::request()).unwrap();
    let sockets: Vec<unix::UnixSocket> =
        messages(&bytes).iter().filter_map(|m| unix::parse(&m[16..]).ok().flatten()).collect();
    let dir = scratch.0.to_str().unwrap();
    let servers: Vec<&unix::UnixSocket> =
        sockets.iter().filter(|s| s.path.as_deref().is_some_and(|p| p.starts_with(dir))).collect();
    let ours: std::collections::HashSet<u64> =
        servers.iter().flat_map(|s| std::iter::once(s.inode).chain(s.peer)).collect();
    let pending: std::collections::HashSet<u64> =
        servers.iter().flat_map(|s| s.pending.iter().copied()).collect();
    write_fixture(&fixtures.join("unix"), &bytes, |record| {
        let socket = unix::parse(record).ok().flatten();
        socket.is_some_and(|s| ours.contains(&s.inode) || s.peer.is_some_and(|peer| pending.contains(&peer)))
    });
    eprintln!("ports {ports:?}, path {}", path.display());
    drop((hung_clients, hung_accepted, unix_clients, unix_accepted));
}

fn write_fixture(path: &Path, captured: &[u8], ours: impl Fn(&[u8]) -> bool) {
    let mut kept = Vec::new();
    for message in messages(captured) {
        let record = diag::u16_at(message, 4) == diag::SOCK_DIAG_BY_FAMILY;
        if !record || ours(&message[16..]) {
            kept.extend_from_slice(message);
        }
    }
    std::fs::write(path, kept).unwrap();
}

/// The captured replies as the collector would read them: every record of
/// the dump's request (its sequence number is the first message's).
fn parse_fixture<T>(bytes: &[u8], parse: impl Fn(&[u8]) -> anyhow::Result<Option<T>>) -> Vec<T> {
    let seq = diag::u32_at(bytes, 8);
    let mut sockets = Vec::new();
    let progress = diag::walk(bytes, seq, &mut |record| {
        sockets.extend(parse(record)?);
        Ok(())
    });
    assert_eq!(progress.unwrap(), diag::Progress::Done);
    sockets
}

#[test]
fn pictures_captured_replies() {
    let mut tcp =
        parse_fixture(include_bytes!("../../../tests/fixtures/netlink/tcp4"), |r| inet::parse(r).map(Some));
    tcp.extend(parse_fixture(include_bytes!("../../../tests/fixtures/netlink/tcp6"), |r| {
        inet::parse(r).map(Some)
    }));
    let unix = parse_fixture(include_bytes!("../../../tests/fixtures/netlink/unix"), unix::parse);
    let mut clocks = picture::Clocks::default();
    let now = Instant::now();
    let waits = Waits { endpoints: picture::finish(picture::draft(&tcp, &unix, &mut clocks, now), |_| None) };
    let found =
        |address: &str| endpoint(&waits, address).unwrap_or_else(|| panic!("no {address} in {waits:#?}"));

    // 4 clients of a server that accepted 3 and answers none; 3 sent a
    // request 1.5 s before the capture.
    let hung = found("127.0.0.1:45465");
    assert!(hung.listening);
    assert_eq!((hung.accept_queue, hung.backlog), (1, 128));
    assert_eq!(state_count(hung, "ESTABLISHED"), 4);
    assert_eq!((hung.server_rqueue, hung.client_wqueue), (45, 0));
    assert_eq!((hung.waiting, hung.no_reply_ms), (3, 1508));

    // Asked and answered within the same millisecond: not waiting.
    let answered = found("[::1]:45575");
    assert_eq!(state_count(answered, "ESTABLISHED"), 1);
    assert_eq!((answered.waiting, answered.client_rqueue), (0, 3));

    // SYNs dropped for 1.5 s: one retransmission so far; the estimate
    // from the backoff stays below the truth.
    let dropped = found("127.0.0.1:44663");
    assert!(!dropped.listening);
    assert_eq!((dropped.syn_sent, state_count(dropped, "SYN_SENT")), (1, 1));
    assert_eq!((dropped.syn_retransmits, dropped.trying_ms), (1, 984));

    // 3 unix clients, 2 accepted, each with a request left unread; the
    // third one's lies in its connection not yet accepted, out of sight.
    let milter = found("/tmp/flightrec-waits-capture-27217/milter.sock");
    assert_eq!((milter.accept_queue, milter.backlog), (1, 4096));
    assert_eq!(state_count(milter, "ESTABLISHED"), 2);
    assert_eq!(milter.server_rqueue, 30);
    assert_eq!(milter.waiting, 0, "first seen now");
    assert_eq!(waits.endpoints.len(), 4, "{waits:#?}");

    // The same queues 2 s later: waiting since the first picture.
    let later =
        picture::finish(picture::draft(&tcp, &unix, &mut clocks, now + Duration::from_secs(2)), |_| None);
    let milter = later.iter().find(|e| e.transport == Transport::Unix).unwrap();
    assert_eq!((milter.waiting, milter.no_reply_ms), (2, 2_000));
}

#[test]
fn a_request_after_an_answered_one_waits_from_the_moment_it_came() {
    let tcp =
        parse_fixture(include_bytes!("../../../tests/fixtures/netlink/tcp6"), |r| inet::parse(r).map(Some));
    let server = tcp.iter().find(|s| s.local.port() == 45575 && s.state == inet::TCP_ESTABLISHED).unwrap();
    let mut info = server.info.unwrap();
    assert_eq!(picture::server_silence(server, &info), None);
    (info.last_data_sent_ms, info.last_data_recv_ms) = (9_000, 4_000);
    assert_eq!(picture::server_silence(server, &info), Some(4_000));
}
