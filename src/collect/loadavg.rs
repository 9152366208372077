//! `/proc/loadavg`.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse(_text: &str) -> Result<LoadAvg> {
    bail!("unimplemented")
}
