//! A /proc or /sys file kept open and re-read from offset 0 each sample into
//! a reused buffer: one `pread` instead of open + read + close + allocation.
//! The kernel regenerates the text on every read from offset 0.

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct ProcFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
}

impl ProcFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ProcFile { path: path.into(), file: None, buf: Vec::with_capacity(4096) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's whole current text. Opens it on first use, and again after
    /// a failed read (a file can vanish and come back, e.g. a network
    /// namespace change).
    pub fn read(&mut self) -> Result<&str> {
        self.read_bytes()?;
        std::str::from_utf8(&self.buf).with_context(|| format!("{}: not UTF-8", self.path.display()))
    }

    /// The file's whole current content, as bytes.
    pub fn read_bytes(&mut self) -> Result<&[u8]> {
        if self.file.is_none() {
            let file = File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
            self.file = Some(file);
        }
        let file = self.file.as_ref().expect("opened above");
        match read_all_at(file, &mut self.buf) {
            Ok(()) => Ok(&self.buf),
            Err(err) => {
                self.file = None;
                Err(err).with_context(|| format!("reading {}", self.path.display()))
            }
        }
    }
}

/// Reads a whole file from offset 0 into `buf`, growing it as needed.
pub fn read_all_at(file: &File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(4096));
        }
        let len = buf.len();
        let spare = buf.capacity() - len;
        buf.resize(len + spare, 0);
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(());
            }
            Ok(n) => buf.truncate(len + n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
            Err(err) => {
                buf.truncate(len);
                return Err(err);
            }
        }
    }
}
