//! Families written apart, then one after the other: OpenMetrics forbids
//! interleaving families, while the store yields samples in time order with
//! every family's values in each. One pass over the store writes each
//! family's lines to its own unlinked temporary file (a buffer of 64 KiB in
//! memory each); `finish` copies them out in order. Memory stays bounded
//! whatever the length of the export; temporary space (in `$TMPDIR`) is the
//! size of the export. One pass per family instead would decode every
//! sample once per family: fifty times the work for `--what system`.

use super::family::{Dialect, Metric};
use crate::model::catalogue::Value;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, Write};
use std::path::PathBuf;

const BUFFER: usize = 64 << 10;

pub struct Spool {
    metric: Metric,
    file: BufWriter<File>,
    written: bool,
}

impl Spool {
    pub fn new(metric: Metric) -> io::Result<Self> {
        Ok(Spool { metric, file: BufWriter::with_capacity(BUFFER, unlinked_file()?), written: false })
    }

    /// Spools one sample line; gives whether there was a number to write.
    pub fn line(&mut self, labels: &str, value: &Value, time_ms: i64) -> io::Result<bool> {
        let wrote = self.metric.line(labels, value, Some(time_ms), &mut self.file)?;
        self.written |= wrote;
        Ok(wrote)
    }

    /// Writes the family (header and lines) to `out`, unless it had no lines.
    pub fn finish(self, out: &mut impl Write) -> io::Result<()> {
        if !self.written {
            return Ok(());
        }
        self.metric.header(Dialect::OpenMetrics, out)?;
        let mut file = self.file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        io::copy(&mut file, out)?;
        Ok(())
    }
}

/// A file in the temporary directory that no other process can find: its
/// name is gone as soon as it is open, and its space with it when closed.
fn unlinked_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let path: PathBuf =
        dir.join(format!("flightrec-export-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let file = fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("creating a temporary file in {}: {err}; set TMPDIR", dir.display()),
        )
    })?;
    fs::remove_file(&path)?;
    Ok(file)
}
