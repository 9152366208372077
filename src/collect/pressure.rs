//! `/proc/pressure/*`.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse(_text: &str) -> Result<Psi> {
    bail!("unimplemented")
}
