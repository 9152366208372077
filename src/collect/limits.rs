//! `/proc/sys` limits.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse_file_nr(_text: &str) -> Result<FileHandles> {
    bail!("unimplemented")
}
pub fn parse_number(_text: &str) -> Result<u64> {
    bail!("unimplemented")
}
