//! Filesystems.
use crate::sample::*;
use anyhow::{Result, bail};

pub fn parse_mountinfo(_text: &str) -> Result<Vec<Mount>> {
    bail!("unimplemented")
}
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
}
pub fn filesystems(_mounts: &[Mount]) -> Vec<Filesystem> {
    Vec::new()
}
