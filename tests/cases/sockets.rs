//! The sockets export: connections counted per port, direction and state.

use crate::common::*;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

/// How long to wait for the counts once samples are being written: the
/// connections exist before the recorder starts, so its first sample with
/// a socket table should already have them.
const SOCKETS_PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn held_connections_show_as_established_on_their_port() {
    let dir = TempDir::new("sockets");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = i64::from(listener.local_addr().unwrap().port());
    let clients: Vec<TcpStream> =
        (0..20).map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port as u16)).unwrap()).collect();
    // Accepted, so the accept queue is empty again.
    let servers: Vec<TcpStream> = (0..20).map(|_| listener.accept().unwrap().0).collect();

    let db = dir.join("flightrec.db");
    let mut recorder = Recorder::start(&dir, &db);
    recorder.wait_for_samples(3);
    let rows = eventually_in_export_within(
        SOCKETS_PATIENCE,
        &mut recorder,
        "sockets",
        &[],
        "the sockets of the test's port",
        |rows| {
            let ours: Vec<Row> =
                latest(&rows).into_iter().filter(|r| r.int("port") == port).cloned().collect();
            let established = |direction: &str| {
                ours.iter()
                    .find(|r| r.text("direction") == direction && r.text("state") == "ESTABLISHED")
                    .map(|r| r.int("count"))
            };
            let listening = ours.iter().any(|r| r.text("direction") == "listen");
            if listening && established("incoming") == Some(20) && established("outgoing") == Some(20) {
                Ok(ours)
            } else {
                Err(format!("port {port}: {ours:?} ({} rows in all)", rows.len()))
            }
        },
    );

    let listen = rows.iter().find(|r| r.text("direction") == "listen").unwrap();
    assert_eq!(listen.int("accept_queue"), 0, "all connections were accepted: {listen:?}");
    // No assertion on `backlog`: /proc/net/tcp does not show a listener's
    // limit (its tx_queue is 0), only sock_diag does.
    for direction in ["incoming", "outgoing"] {
        let states: Vec<&str> =
            rows.iter().filter(|r| r.text("direction") == direction).map(|r| r.text("state")).collect();
        assert_eq!(states, ["ESTABLISHED"], "{direction} rows of port {port}: {rows:?}");
    }
    drop((clients, servers));
}
