//! Listen-queue overflow, reproduced on loopback: a server that stopped
//! calling accept(), as a hung Postfix smtpd pool does, while clients keep
//! connecting.

use crate::common::*;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, getsockname, listen, socket,
};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

/// A TCP socket on loopback listening with `backlog`, never accepting
/// (std's `TcpListener` always asks for 128). Closed when dropped.
fn listener(backlog: i32) -> (OwnedFd, u16) {
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))).unwrap();
    listen(&fd, Backlog::new(backlog).unwrap()).unwrap();
    let port = getsockname::<SockaddrIn>(fd.as_raw_fd()).unwrap().port();
    (fd, port)
}

/// A connection attempt that does not wait: when the queue is full the
/// kernel drops its SYN, and it stays in SYN_SENT, retrying.
fn connect_without_waiting(port: u16) -> OwnedFd {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(AddressFamily::Inet, SockType::Stream, flags, None).unwrap();
    match connect(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))) {
        Ok(()) | Err(Errno::EINPROGRESS) | Err(Errno::EAGAIN) => fd,
        Err(e) => panic!("connecting to port {port}: {e}"),
    }
}

#[test]
fn listener_that_never_accepts_fills_its_queue_and_overflows() {
    let dir = TempDir::new("listen");
    let (server, port) = listener(4);
    let port_col = i64::from(port);
    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    let clients: Vec<OwnedFd> = (0..20).map(|_| connect_without_waiting(port)).collect();

    // The kernel reports a listener's queue and backlog over sock_diag.
    let listen = eventually_in_export(&mut recorder, "sockets", &[], "the full accept queue", |rows| {
        let row =
            latest(&rows).into_iter().find(|r| r.int("port") == port_col && r.text("direction") == "listen");
        match row {
            Some(row) if row.int("accept_queue") >= 4 => Ok(row.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(listen.int("backlog"), 4, "{listen:?}");
    assert!(listen.int("accept_queue") <= 5, "the kernel queues at most backlog + 1: {listen:?}");

    // Every SYN dropped for the full queue counts in ListenOverflows; the
    // clients left waiting retry theirs (after 1 s, 3 s, ...).
    let overflows = eventually_in_export(&mut recorder, "net", &[], "listen overflows", |rows| {
        let rates: Vec<f64> = rows
            .iter()
            .filter(|r| r.text("interface") == "total")
            .filter_map(|r| r.real("listen_overflows_per_s"))
            .collect();
        if rates.iter().any(|r| *r > 0.0) { Ok(rates) } else { Err(format!("{rates:?}")) }
    });
    recorder.stop();

    let report = report_now(&db);
    let full = finding(&report, "accept_queue_full", &format!("port {port}"));
    assert_eq!(full["severity"], "high", "{full}");
    assert_eq!(full["values"]["backlog"], 4, "{full}");
    let summary = full["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("port {port} accept queue full (")), "{summary}");
    assert!(summary.contains("/4)"), "queued/backlog: {summary}");
    eprintln!("listen overflows per second: {overflows:?}");
    drop((clients, server));
}
