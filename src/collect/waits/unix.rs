//! Unix stream sockets from sock_diag: a `struct unix_diag_msg` followed by
//! the attributes asked for (include/uapi/linux/unix_diag.h): the bound
//! path (an accepted socket carries its listener's), the peer's inode, and
//! the queues.

use super::diag::{self, u32_at};
use anyhow::{Result, ensure};
use nix::libc;

/// `sizeof(struct unix_diag_req)`.
const REQUEST_LEN: usize = 24;
/// `sizeof(struct unix_diag_msg)`.
const MSG_LEN: usize = 16;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_ICONS: u32 = 0x08;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_ICONS: u16 = 3;
const UNIX_DIAG_RQLEN: u16 = 4;

pub const STATE_ESTABLISHED: u8 = 1;
pub const STATE_LISTEN: u8 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct UnixSocket {
    pub state: u8,
    pub inode: u64,
    /// The bound path, `@name` for an abstract one; `None` when unbound.
    pub path: Option<String>,
    /// The inode of the socket at the other end, for connected ones.
    pub peer: Option<u64>,
    /// For a listener: the accept queue and the backlog limit; otherwise
    /// bytes received and not read, and bytes sent that the peer has not
    /// read.
    pub rqueue: u32,
    pub wqueue: u32,
    /// For a listener: the inodes of the clients whose connections wait to
    /// be accepted (the server ends of those are not in the dump).
    pub pending: Vec<u64>,
}

/// The `unix_diag_req` asking for listening and connected sockets with
/// their names, peers, queues and connections not yet accepted.
pub fn request() -> [u8; REQUEST_LEN] {
    let mut body = [0; REQUEST_LEN];
    body[0] = libc::AF_UNIX as u8;
    let states: u32 = 1 << STATE_ESTABLISHED | 1 << STATE_LISTEN;
    body[4..8].copy_from_slice(&states.to_ne_bytes());
    body[12..16].copy_from_slice(
        &(UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN).to_ne_bytes(),
    );
    body
}

/// Every listening or connected unix stream socket, in dump order.
pub fn dump(socket: &mut diag::DiagSocket, sockets: &mut Vec<UnixSocket>) -> Result<()> {
    socket.dump(&request(), |record| {
        sockets.extend(parse(record)?);
        Ok(())
    })
}

/// One `unix_diag_msg` and its attributes; `None` for datagram and
/// seqpacket sockets.
pub fn parse(record: &[u8]) -> Result<Option<UnixSocket>> {
    ensure!(record.len() >= MSG_LEN, "unix socket record of {} bytes, expected {MSG_LEN}", record.len());
    if i32::from(record[1]) != libc::SOCK_STREAM {
        return Ok(None);
    }
    let mut socket = UnixSocket {
        state: record[2],
        inode: u64::from(u32_at(record, 4)),
        path: None,
        peer: None,
        rqueue: 0,
        wqueue: 0,
        pending: Vec::new(),
    };
    for attribute in diag::attributes(&record[MSG_LEN..]) {
        match attribute? {
            (UNIX_DIAG_NAME, name) => socket.path = Some(display_name(name)),
            (UNIX_DIAG_PEER, peer) => {
                ensure!(peer.len() >= 4, "UNIX_DIAG_PEER of {} bytes", peer.len());
                socket.peer = Some(u64::from(u32_at(peer, 0)));
            }
            (UNIX_DIAG_ICONS, inodes) => {
                socket.pending = inodes.chunks_exact(4).map(|inode| u64::from(u32_at(inode, 0))).collect();
            }
            (UNIX_DIAG_RQLEN, queues) => {
                ensure!(queues.len() >= 8, "UNIX_DIAG_RQLEN of {} bytes", queues.len());
                socket.rqueue = u32_at(queues, 0);
                socket.wqueue = u32_at(queues, 4);
            }
            _ => {}
        }
    }
    Ok(Some(socket))
}

/// A path as `ss` shows it: an abstract name (leading NUL) as `@name`.
fn display_name(name: &[u8]) -> String {
    match name.split_first() {
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest)),
        _ => String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default()).into_owned(),
    }
}
