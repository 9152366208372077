//! Who waits on whom, through the recorder: real hangs on loopback (a TCP
//! server that accepts and never answers, the same on a unix socket, a
//! listener that never accepts, SYNs an nftables rule drops), recorded
//! with no probe, and the report's first finding naming the endpoint, the
//! waiting clients and the server. The recorder sees every socket of the
//! machine, and other tests' hangs are as real as this one's: a finding of
//! another endpoint may rank before, and so may what the kernel said (a
//! task hung in another test), but no symptom.
//! The sockets are handed to children
//! running `sleep` under names of their own, so that the names in the
//! report can only come from the picture.

use crate::common::*;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const REQUEST: &[u8] = b"OPTNEG request\n";
const CLIENTS: usize = 50;

/// Child processes, killed and reaped when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command name no other process has, at most 15 bytes.
fn name(role: &str) -> String {
    format!("{role}{}", unique()).chars().take(15).collect()
}

/// `sleep` linked under `name` in `dir`.
fn program(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.join(name);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("sleep");
    std::os::unix::fs::symlink(sleep, &path).unwrap();
    path
}

/// A child running `program` that holds `fds`, so the caller's copies can
/// be closed.
fn holding(program: &Path, fds: Vec<RawFd>) -> Child {
    let mut command = Command::new(program);
    command.arg("1000").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: between fork and exec this only calls fcntl (async-signal-
    // safe) on fds the parent keeps open until spawn returns.
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

/// The server (holding `server_fds`) and one client process per client
/// socket, under the names given.
fn hand_over(
    dir: &TempDir,
    server: &str,
    server_fds: Vec<RawFd>,
    client: &str,
    clients: &[RawFd],
) -> (Children, Children) {
    let server = Children(vec![holding(&program(dir, server), server_fds)]);
    let client_program = program(dir, client);
    (server, Children(clients.iter().map(|&fd| holding(&client_program, vec![fd])).collect()))
}

/// Records until the picture shows `endpoint` waited on for 6 s with its
/// `count` clients named, then stops and gives the report's first finding
/// of `endpoint`, checking that only findings of other endpoints waited on
/// rank before it.
fn first_finding_once_stuck(
    dir: &TempDir,
    db: &Path,
    endpoint: &str,
    client: &str,
    count: usize,
) -> serde_json::Value {
    let named = format!("{client}×{count}[");
    let mut recorder = Recorder::start(dir, db);
    eventually_in_export(&mut recorder, "waits", &[], "the endpoint stuck for 6 s", |rows| {
        let row = latest(&rows).into_iter().find(|r| r.text("endpoint") == endpoint).cloned();
        match row {
            Some(r)
                if r.int("no_reply_ms").max(r.int("trying_ms")) >= 6_000
                    && r.text("clients").contains(&named) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    });
    recorder.stop();
    let report = report_now(db);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let at = findings.iter().position(|f| f["subject"] == endpoint);
    let at = at.unwrap_or_else(|| panic!("no finding of {endpoint}: {report:#}"));
    for before in &findings[..at] {
        let category = before["category"].as_str().unwrap_or_default();
        assert!(
            ["dependency", "kernel"].contains(&category),
            "ranked before the finding of {endpoint}: {report:#}"
        );
    }
    findings[at].clone()
}

fn assert_names(finding: &serde_json::Value, words: &[&str]) {
    let summary = finding["summary"].as_str().unwrap_or_default();
    for word in words {
        assert!(summary.contains(word), "{word:?} not in the first finding: {finding:#}");
    }
}

#[test]
fn report_names_a_tcp_service_that_accepts_and_never_answers() {
    let dir = TempDir::new("waits-tcp");
    let (server, client) = (name("hang"), name("wait"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(&address).unwrap()).collect();
    let accepted: Vec<TcpStream> = clients.iter().map(|_| listener.accept().unwrap().0).collect();
    for mut c in &clients {
        c.write_all(REQUEST).unwrap();
    }
    let mut server_fds = vec![listener.as_raw_fd()];
    server_fds.extend(accepted.iter().map(AsRawFd::as_raw_fd));
    let client_fds: Vec<RawFd> = clients.iter().map(AsRawFd::as_raw_fd).collect();
    let (servers, waiting) = hand_over(&dir, &server, server_fds, &client, &client_fds);
    drop((listener, accepted, clients));

    let db = dir.join("flightrec.db");
    let first = first_finding_once_stuck(&dir, &db, &address, &client, CLIENTS);
    assert_eq!(first["kind"], "dependency_waits", "{first:#}");
    let port = address.rsplit_once(':').unwrap().1;
    let pid = servers.0[0].id().to_string();
    assert_names(&first, &[&format!("{CLIENTS} {client} connections to {address} ({server}, pid {pid})")]);
    assert_names(&first, &[&format!("the service on {port} hangs")]);
    assert_eq!(
        first["values"]["chain"],
        format!("{client} ×{CLIENTS} → {port} ({server}) hangs"),
        "{first:#}"
    );
    // The newest sample can lack the picture when its read missed the
    // tick's deadline on a loaded machine: the next one has it.
    eventually("the stuck endpoint in show", || {
        let show = flightrec(&["show", "--db", path_str(&db), "--width", "1000"]).ok();
        let listed =
            show.lines().skip_while(|l| !l.starts_with("Stuck endpoints")).any(|l| l.contains(&address));
        if listed && show.contains(&format!("{client} ×{CLIENTS}")) { Ok(()) } else { Err(show) }
    });
    drop((servers, waiting));
}

#[test]
fn report_names_a_unix_socket_service_that_leaves_requests_unread() {
    let dir = TempDir::new("waits-unix");
    let (server, client) = (name("milt"), name("smtp"));
    let path = dir.join("milter.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let clients: Vec<UnixStream> = (0..CLIENTS).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let accepted: Vec<UnixStream> = clients.iter().map(|_| listener.accept().unwrap().0).collect();
    for mut c in &clients {
        c.write_all(REQUEST).unwrap();
    }
    let mut server_fds = vec![listener.as_raw_fd()];
    server_fds.extend(accepted.iter().map(AsRawFd::as_raw_fd));
    let client_fds: Vec<RawFd> = clients.iter().map(AsRawFd::as_raw_fd).collect();
    let (servers, waiting) = hand_over(&dir, &server, server_fds, &client, &client_fds);
    drop((listener, accepted, clients));

    let db = dir.join("flightrec.db");
    let endpoint = path_str(&path).to_string();
    let first = first_finding_once_stuck(&dir, &db, &endpoint, &client, CLIENTS);
    assert_eq!(first["kind"], "dependency_waits", "{first:#}");
    let pid = servers.0[0].id().to_string();
    assert_names(&first, &[&format!("{CLIENTS} {client} connections to {endpoint} ({server}, pid {pid})")]);
    assert_names(&first, &["unread", "hangs"]);
    drop((servers, waiting));
}

#[test]
fn report_names_a_listener_that_never_accepts() {
    let dir = TempDir::new("waits-accept");
    let (server, client) = (name("deaf"), name("knock"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(&address).unwrap()).collect();
    for mut c in &clients {
        c.write_all(REQUEST).unwrap();
    }
    let client_fds: Vec<RawFd> = clients.iter().map(AsRawFd::as_raw_fd).collect();
    let (servers, waiting) = hand_over(&dir, &server, vec![listener.as_raw_fd()], &client, &client_fds);
    drop((listener, clients));

    let db = dir.join("flightrec.db");
    let first = first_finding_once_stuck(&dir, &db, &address, &client, CLIENTS);
    assert_eq!(first["kind"], "dependency_waits", "{first:#}");
    let pid = servers.0[0].id().to_string();
    assert_names(&first, &[&format!("{client} connections to {address} ({server}, pid {pid})")]);
    drop((servers, waiting));
}

/// An nftables table dropping outgoing SYNs to one loopback port, deleted
/// when dropped.
struct DropSyns(String);

impl DropSyns {
    fn to(ip: &str, port: u16) -> DropSyns {
        let table = format!("flightrec_waits_{}", unique().replace(['-', '.'], "_"));
        let rules = format!(
            "table inet {table} {{\n chain out {{\n type filter hook output priority 0;\n \
             ip daddr {ip} tcp dport {port} tcp flags syn drop\n }}\n}}\n"
        );
        let guard = DropSyns(table);
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
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.0]).status();
    }
}

#[test]
fn report_names_a_remote_endpoint_whose_syns_go_unanswered() {
    use nix::errno::Errno;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, connect, socket};
    let dir = TempDir::new("waits-syn");
    let client = name("relay");
    // A port nothing listens on: without the rule, the SYN would get a reset.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _rule = DropSyns::to("127.0.0.1", port);
    let target = SockaddrIn::new(127, 0, 0, 1, port);
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
            let fd = socket(AddressFamily::Inet, SockType::Stream, flags, None).unwrap();
            match connect(fd.as_raw_fd(), &target) {
                Ok(()) | Err(Errno::EINPROGRESS) => fd,
                Err(e) => panic!("connecting to port {port}: {e}"),
            }
        })
        .collect();
    let client_program = program(&dir, &client);
    let trying = Children(clients.iter().map(|c| holding(&client_program, vec![c.as_raw_fd()])).collect());
    drop(clients);

    let db = dir.join("flightrec.db");
    let address = format!("127.0.0.1:{port}");
    let first = first_finding_once_stuck(&dir, &db, &address, &client, 5);
    assert_eq!(first["kind"], "dependency_unreachable", "{first:#}");
    assert_names(&first, &[&format!("5 {client} connections to {address} have been trying to connect")]);
    drop(trying);
}

#[test]
fn waits_off_records_the_socket_table_without_the_picture() {
    let dir = TempDir::new("waits-off");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = i64::from(listener.local_addr().unwrap().port());
    let _clients: Vec<TcpStream> =
        (0..3).map(|_| TcpStream::connect(listener.local_addr().unwrap()).unwrap()).collect();
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start_with(&dir, &db, &["--waits", "off"]);
    eventually_in_export(&mut recorder, "sockets", &[], "the test's listener", |rows| {
        let listening = rows.iter().any(|r| r.int("port") == port && r.text("direction") == "listen");
        if listening { Ok(()) } else { Err(format!("no listen row of port {port}")) }
    });
    recorder.stop();
    let waits = export(&db, "waits", &[]);
    assert!(waits.is_empty(), "a picture was drawn: {:?}", &waits[..waits.len().min(3)]);
}
