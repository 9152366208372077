//! `/proc/diskstats`.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse(_text: &str, _is_whole_disk: impl Fn(&str) -> bool) -> Result<Vec<Disk>> {
    bail!("unimplemented")
}
