//! TCP sockets per port.
use crate::sample::*;
use anyhow::{Result, bail};

pub struct SocketReader;
impl SocketReader {
    pub fn new() -> Self {
        SocketReader
    }
    pub fn read(&mut self) -> Result<Vec<PortSockets>> {
        bail!("unimplemented")
    }
}
