//! `/proc/net/snmp`, `/proc/net/netstat`, `/proc/net/sockstat`.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse_snmp(_text: &str, _net: &mut NetTotals) -> Result<()> {
    bail!("unimplemented")
}
pub fn parse_netstat(_text: &str, _net: &mut NetTotals) -> Result<()> {
    bail!("unimplemented")
}
pub fn parse_sockstat(_text: &str, _net: &mut NetTotals) -> Result<()> {
    bail!("unimplemented")
}
