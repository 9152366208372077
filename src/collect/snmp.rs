//! TCP counters from `/proc/net/snmp` and `/proc/net/netstat`, and socket
//! counts from `/proc/net/sockstat`, written into `NetTotals`.
//! The first two files hold pairs of lines, names then values:
//! `Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens ...` then
//! `Tcp: 1 200 120000 -1 49 ...`. Columns are matched by name, since kernels
//! add them. sockstat lines read
//! `TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 96`.

use crate::sample::NetTotals;
use anyhow::{Context, Result, bail};

type Slot = fn(&mut NetTotals) -> &mut u64;

const TCP: [(&str, Slot); 7] = [
    ("ActiveOpens", |net| &mut net.tcp_active_opens),
    ("PassiveOpens", |net| &mut net.tcp_passive_opens),
    ("AttemptFails", |net| &mut net.tcp_attempt_fails),
    ("EstabResets", |net| &mut net.tcp_estab_resets),
    ("CurrEstab", |net| &mut net.tcp_curr_estab),
    ("RetransSegs", |net| &mut net.tcp_retrans_segs),
    ("OutRsts", |net| &mut net.tcp_out_resets),
];

const TCP_EXT: [(&str, Slot); 2] =
    [("ListenOverflows", |net| &mut net.listen_overflows), ("ListenDrops", |net| &mut net.listen_drops)];

/// Line label, key within the line, and where the value goes.
const SOCKSTAT: [(&str, &str, Slot); 5] = [
    ("sockets:", "used", |net| &mut net.sockets_used),
    ("TCP:", "inuse", |net| &mut net.tcp_inuse),
    ("TCP:", "orphan", |net| &mut net.tcp_orphan),
    ("TCP:", "tw", |net| &mut net.tcp_time_wait),
    ("UDP:", "inuse", |net| &mut net.udp_inuse),
];

pub fn parse_snmp(text: &str, net: &mut NetTotals) -> Result<()> {
    parse_table(text, "Tcp:", &TCP, net)
}

pub fn parse_netstat(text: &str, net: &mut NetTotals) -> Result<()> {
    parse_table(text, "TcpExt:", &TCP_EXT, net)
}

pub fn parse_sockstat(text: &str, net: &mut NetTotals) -> Result<()> {
    let mut seen = [false; SOCKSTAT.len()];
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        while let Some(key) = fields.next() {
            let value = fields.next();
            let Some(i) = SOCKSTAT.iter().position(|(l, k, _)| *l == label && *k == key) else {
                continue;
            };
            let value = value.with_context(|| format!("line {line:?}: expected a value for {key}"))?;
            *SOCKSTAT[i].2(net) =
                value.parse().with_context(|| format!("line {line:?}: expected a number for {key}"))?;
            seen[i] = true;
        }
    }
    if let Some(i) = seen.iter().position(|seen| !seen) {
        let (label, key, _) = SOCKSTAT[i];
        bail!("no {key} in a {label} line");
    }
    Ok(())
}

/// Fills `fields` from the pair of lines labelled `label`. Errors name the
/// column rather than quote the line: a `TcpExt:` line runs to kilobytes.
fn parse_table<const N: usize>(
    text: &str,
    label: &str,
    fields: &[(&str, Slot); N],
    net: &mut NetTotals,
) -> Result<()> {
    let mut lines = text.lines().filter(|line| line.split_ascii_whitespace().next() == Some(label));
    let names = lines.next().with_context(|| format!("no {label} lines"))?;
    let values = lines.next().with_context(|| format!("{label} names without a line of values"))?;
    let mut names = names.split_ascii_whitespace().skip(1);
    let mut values = values.split_ascii_whitespace().skip(1);
    let mut seen = [false; N];
    loop {
        let (name, value) = match (names.next(), values.next()) {
            (Some(name), Some(value)) => (name, value),
            (None, None) => break,
            _ => bail!("{label} lines: not as many values as names"),
        };
        let Some(i) = fields.iter().position(|(n, _)| *n == name) else {
            continue;
        };
        *fields[i].1(net) =
            value.parse().with_context(|| format!("{label} {name}: expected a number, got {value:?}"))?;
        seen[i] = true;
    }
    if let Some(i) = seen.iter().position(|seen| !seen) {
        bail!("no {} column in the {label} lines", fields[i].0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = include_str!("../../tests/fixtures/proc/net-snmp");
    const NETSTAT: &str = include_str!("../../tests/fixtures/proc/net-netstat");
    const SOCKSTAT_TEXT: &str = include_str!("../../tests/fixtures/proc/net-sockstat");

    #[test]
    fn parses_captured_files() {
        let mut net = NetTotals::default();
        parse_snmp(SNMP, &mut net).unwrap();
        parse_netstat(NETSTAT, &mut net).unwrap();
        parse_sockstat(SOCKSTAT_TEXT, &mut net).unwrap();
        assert_eq!(
            net,
            NetTotals {
                tcp_active_opens: 49,
                tcp_passive_opens: 2,
                tcp_attempt_fails: 0,
                tcp_estab_resets: 39,
                tcp_out_resets: 41,
                tcp_retrans_segs: 0,
                tcp_curr_estab: 0,
                listen_overflows: 0,
                listen_drops: 0,
                sockets_used: 15,
                tcp_inuse: 1,
                tcp_orphan: 0,
                tcp_time_wait: 0,
                udp_inuse: 0,
                ..NetTotals::default()
            }
        );
    }

    #[test]
    fn matches_columns_by_name_not_position() {
        let text = "Tcp: CurrEstab Future ActiveOpens RetransSegs OutRsts PassiveOpens \
                    AttemptFails EstabResets\nTcp: 7 -3 1 2 3 4 5 6\n";
        let mut net = NetTotals::default();
        parse_snmp(text, &mut net).unwrap();
        assert_eq!(
            (
                net.tcp_curr_estab,
                net.tcp_active_opens,
                net.tcp_retrans_segs,
                net.tcp_out_resets,
                net.tcp_passive_opens,
                net.tcp_attempt_fails,
                net.tcp_estab_resets
            ),
            (7, 1, 2, 3, 4, 5, 6)
        );
        let text = "TcpExt: ListenDrops X ListenOverflows\nTcpExt: 12 0 11\n";
        parse_netstat(text, &mut net).unwrap();
        assert_eq!((net.listen_overflows, net.listen_drops), (11, 12));
    }

    #[test]
    fn missing_column_is_named() {
        let text = SNMP.replace(" OutRsts", " OutResets");
        let err = parse_snmp(&text, &mut NetTotals::default()).unwrap_err();
        assert_eq!(err.to_string(), "no OutRsts column in the Tcp: lines");
        let text = NETSTAT.replace("ListenDrops", "ListenDrop");
        let err = parse_netstat(&text, &mut NetTotals::default()).unwrap_err();
        assert_eq!(err.to_string(), "no ListenDrops column in the TcpExt: lines");
        let text = SOCKSTAT_TEXT.replace(" tw ", " timewait ");
        let err = parse_sockstat(&text, &mut NetTotals::default()).unwrap_err();
        assert_eq!(err.to_string(), "no tw in a TCP: line");
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let net = &mut NetTotals::default();
        let truncated = &SNMP[..SNMP.find("Tcp: 1 200").unwrap()];
        let err = parse_snmp(truncated, net).unwrap_err();
        assert_eq!(err.to_string(), "Tcp: names without a line of values");
        let truncated = &NETSTAT[..NETSTAT.find("TcpExt: 0 0 0").unwrap() + 20];
        let err = parse_netstat(truncated, net).unwrap_err();
        assert_eq!(err.to_string(), "TcpExt: lines: not as many values as names");
        let err = parse_snmp("Tcp: ActiveOpens\nTcp: 18446744073709551616\n", net).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "Tcp: ActiveOpens: expected a number, got \"18446744073709551616\": \
             number too large to fit in target type"
        );
        assert_eq!(parse_snmp("", net).unwrap_err().to_string(), "no Tcp: lines");
        assert_eq!(parse_netstat("garbage", net).unwrap_err().to_string(), "no TcpExt: lines");
        let err = parse_sockstat("sockets: used\n", net).unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"sockets: used\": expected a value for used");
        for text in ["", "garbage", "TCP: inuse -1 orphan 0 tw 0", "sockets: used x"] {
            assert!(parse_sockstat(text, net).is_err(), "{text:?}");
        }
    }
}
