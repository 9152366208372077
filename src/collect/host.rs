//! Facts about this boot.
use crate::sample::*;
use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub boot_id: String,
    pub boot_time_ms: i64,
    pub hostname: String,
    pub kernel: String,
}
pub fn read() -> Result<HostInfo> {
    bail!("unimplemented")
}
