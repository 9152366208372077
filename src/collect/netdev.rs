//! `/proc/net/dev`: per-interface traffic counters since boot, and their
//! sum. After two header lines, lines read
//! `  eth0: 80644151    5365    0    0    0     0          0         0   424191    4518    0    0 ...`:
//! eight receive columns (bytes packets errs drop fifo frame compressed
//! multicast), then the transmit ones (bytes packets errs drop ...).

use crate::sample::{Interface, NetTotals};
use anyhow::{Context, Result, ensure};

/// Receive and transmit columns up to the last one kept (transmit drops).
const COLUMNS: usize = 12;

pub fn parse(text: &str) -> Result<Vec<Interface>> {
    let mut lines = text.lines();
    for _ in 0..2 {
        let header = lines.next().unwrap_or_default();
        ensure!(header.contains('|'), "line {header:?}: expected a header line");
    }
    let mut interfaces = Vec::new();
    for line in lines {
        // Interface names cannot contain ':', and a long counter can touch
        // it (`eth0:80644151`), so split there rather than at whitespace.
        let (name, counters) =
            line.split_once(':').with_context(|| format!("line {line:?}: expected `name: counters`"))?;
        let name = name.trim();
        ensure!(!name.is_empty(), "line {line:?}: expected an interface name");
        let mut fields = counters.split_ascii_whitespace();
        let mut c = [0u64; COLUMNS];
        for slot in &mut c {
            let field =
                fields.next().with_context(|| format!("line {line:?}: expected {COLUMNS} counters"))?;
            *slot =
                field.parse().with_context(|| format!("line {line:?}: expected a number, got {field:?}"))?;
        }
        interfaces.push(Interface {
            name: name.to_string(),
            rx_bytes: c[0],
            rx_packets: c[1],
            rx_errors: c[2],
            rx_drops: c[3],
            tx_bytes: c[8],
            tx_packets: c[9],
            tx_errors: c[10],
            tx_drops: c[11],
        });
    }
    Ok(interfaces)
}

/// Sets the interface totals in `net` to the sums over every interface but
/// loopback, whose traffic never leaves the machine.
pub fn totals(interfaces: &[Interface], net: &mut NetTotals) {
    let mut sum = [0u64; 8];
    for i in interfaces.iter().filter(|i| i.name != "lo") {
        let counters = [
            i.rx_bytes,
            i.tx_bytes,
            i.rx_packets,
            i.tx_packets,
            i.rx_errors,
            i.tx_errors,
            i.rx_drops,
            i.tx_drops,
        ];
        for (total, value) in sum.iter_mut().zip(counters) {
            *total = total.saturating_add(value);
        }
    }
    [
        net.rx_bytes,
        net.tx_bytes,
        net.rx_packets,
        net.tx_packets,
        net.rx_errors,
        net.tx_errors,
        net.rx_drops,
        net.tx_drops,
    ] = sum;
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../../tests/fixtures/proc/net-dev");

    #[test]
    fn parses_captured_net_dev() {
        let interfaces = parse(CAPTURED).unwrap();
        let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        assert_eq!(
            interfaces[3],
            Interface {
                name: "eth0".into(),
                rx_bytes: 80_644_151,
                tx_bytes: 424_191,
                rx_packets: 5365,
                tx_packets: 4518,
                rx_errors: 0,
                tx_errors: 0,
                rx_drops: 0,
                tx_drops: 0,
            }
        );
        assert_eq!((interfaces[0].rx_bytes, interfaces[0].tx_packets), (3193, 29));
    }

    #[test]
    fn totals_leave_out_loopback() {
        let mut interfaces = parse(CAPTURED).unwrap();
        interfaces[1].rx_errors = 2;
        interfaces[2].tx_drops = 5;
        let mut net = NetTotals { rx_bytes: 1, ..NetTotals::default() };
        totals(&interfaces, &mut net);
        assert_eq!(
            net,
            NetTotals {
                rx_bytes: 80_644_151,
                tx_bytes: 424_191,
                rx_packets: 5365,
                tx_packets: 4518,
                rx_errors: 2,
                tx_errors: 0,
                rx_drops: 0,
                tx_drops: 5,
                ..NetTotals::default()
            }
        );
    }

    #[test]
    fn counter_touching_the_colon() {
        let text = "Inter-|\n face |\n  eth0:4294967296 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";
        let eth0 = &parse(text).unwrap()[0];
        assert_eq!((eth0.rx_bytes, eth0.tx_bytes, eth0.tx_drops), (4_294_967_296, 8, 11));
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let truncated = &CAPTURED[..CAPTURED.find("   424191").unwrap()];
        let err = parse(truncated).unwrap_err();
        assert!(format!("{err:#}").ends_with("expected 12 counters"), "{err:#}");
        assert_eq!(parse("").unwrap_err().to_string(), "line \"\": expected a header line");
        let headers: String = CAPTURED.lines().take(2).map(|l| format!("{l}\n")).collect();
        for line in [
            "garbage",
            ": 1 2 3 4 5 6 7 8 9 10 11 12",
            "eth0: 1 2 3 4 5 6 7 8 9 10 11 -12",
            "eth0: 1 2 3 4 5 6 7 8 18446744073709551616 10 11 12",
        ] {
            assert!(parse(&format!("{headers}{line}\n")).is_err(), "{line:?}");
        }
    }
}
