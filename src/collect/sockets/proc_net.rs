//! `/proc/net/tcp` and `/proc/net/tcp6`: the kernel's TCP socket table as
//! text, the fallback where NETLINK_SOCK_DIAG is refused. Lines read
//! `   1: 0100007F:09C4 00000000:0000 0A 00000000:00000003 00:00000000 ...`:
//! local address:port, remote address:port, state, `tx_queue:rx_queue`, all
//! hex. Only ports, state and queues are used; addresses are skipped.
//!
//! The kernel prints 0 as the `tx_queue` of a listening socket, not its
//! backlog limit, so `Listen` rows read here have `backlog` 0.

use super::{Socket, Tally};
use crate::collect::procfile::ProcFile;
use anyhow::{Context, Result};
use std::io;

pub struct ProcNet {
    tcp: ProcFile,
    tcp6: ProcFile,
}

impl ProcNet {
    pub fn new() -> Self {
        ProcNet { tcp: ProcFile::new("/proc/net/tcp"), tcp6: ProcFile::new("/proc/net/tcp6") }
    }

    /// Adds every socket of both files to `tally`.
    pub fn read(&mut self, tally: &mut Tally) -> Result<()> {
        read_file(&mut self.tcp, tally)?;
        match read_file(&mut self.tcp6, tally) {
            // A kernel booted with ipv6.disable=1 has no tcp6 file at all.
            Err(err) if is_not_found(&err) => Ok(()),
            other => other,
        }
    }
}

fn read_file(file: &mut ProcFile, tally: &mut Tally) -> Result<()> {
    let path = file.path().display().to_string();
    let text = file.read()?;
    parse(text, |socket| tally.add(socket)).with_context(|| format!("parsing {path}"))
}

fn is_not_found(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|cause| cause.kind() == io::ErrorKind::NotFound)
}

/// Feeds each socket line of one file's text to `each`.
pub fn parse(text: &str, mut each: impl FnMut(Socket)) -> Result<()> {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(slot), Some(local), Some(remote), Some(state), Some(queues)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if slot == "sl" {
            continue;
        }
        each(socket(local, remote, state, queues).with_context(|| format!("line {line:?}"))?);
    }
    Ok(())
}

fn socket(local: &str, remote: &str, state: &str, queues: &str) -> Result<Socket> {
    let (tx_queue, rx_queue) = queues.split_once(':').context("expected tx_queue:rx_queue")?;
    Ok(Socket {
        state: u8::from_str_radix(state, 16).context("expected a hex state")?,
        local_port: port(local)?,
        remote_port: port(remote)?,
        rqueue: u32::from_str_radix(rx_queue, 16).context("expected a hex rx_queue")?,
        wqueue: u32::from_str_radix(tx_queue, 16).context("expected a hex tx_queue")?,
    })
}

fn port(address: &str) -> Result<u16> {
    let (_, port) =
        address.rsplit_once(':').with_context(|| format!("{address:?}: expected ADDRESS:PORT"))?;
    u16::from_str_radix(port, 16).with_context(|| format!("{address:?}: expected a hex port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_text_is_a_value_or_an_error(text in "\\PC{0,300}") {
            let _ = parse(&text, |_| {});
        }
    }

    fn parse_one(line: &str) -> Result<Vec<Socket>> {
        let mut sockets = Vec::new();
        parse(line, |socket| sockets.push(socket))?;
        Ok(sockets)
    }

    #[test]
    fn reads_ports_state_and_queues_of_a_listener() {
        let line = "   1: 00000000:09C4 00000000:0000 0A 00000000:00000003 00:00000000 \
                    00000000     0        0 15563 8 000000001ead511c 100 0 0 10 0";
        let socket = parse_one(line).unwrap()[0];
        assert_eq!((socket.local_port, socket.remote_port), (2500, 0));
        assert_eq!((socket.state, socket.rqueue, socket.wqueue), (0x0A, 3, 0));
    }

    #[test]
    fn reads_ipv6_addresses() {
        let line = "   2: 00000000000000000000000001000000:802C \
                    00000000000000000000000001000000:0A29 01 00000000:00000000 00:00000000 \
                    00000000     0        0 15616 2 00000000e7e9fce6 20 0 0 10 -1";
        let socket = parse_one(line).unwrap()[0];
        assert_eq!((socket.local_port, socket.remote_port), (0x802C, 2601));
    }

    #[test]
    fn skips_the_header_and_blank_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when\n\n";
        assert!(parse_one(text).unwrap().is_empty());
    }

    #[test]
    fn quotes_a_bad_line() {
        let err = parse_one("   0: 0100007F:09ZZ 00000000:0000 0A 00000000:00000001").unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("0100007F:09ZZ"), "{message}");
    }
}
