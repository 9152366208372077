//! A /proc or /sys file kept open and re-read from offset 0 each sample into
//! a reused buffer: one `pread` instead of open + read + close + allocation.
//! The kernel regenerates the text on every read from offset 0. A file the
//! kernel hands out whole in one read (`ProcFile::record`: a cgroup control
//! file, a pressure file) is read with one `pread` into a buffer zeroed
//! once; others are read until a `pread` returns 0.

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct ProcFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    /// Read with `read_record_at`: `buf` keeps its length between reads.
    one_record: bool,
}

/// Where a one-record file starts: a cgroup control file is a few dozen
/// bytes, and a collector keeps thousands of them open. A longer file
/// grows the buffer once, on its first read.
const RECORD_START: usize = 512;

impl ProcFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ProcFile { path: path.into(), file: None, buf: Vec::with_capacity(4096), one_record: false }
    }

    /// A file of one record, which the kernel hands out whole in one read
    /// (see `read_record_at`): one `pread` per read instead of two, and no
    /// zeroing of the buffer each time.
    pub fn record(path: impl Into<PathBuf>) -> Self {
        ProcFile { path: path.into(), file: None, buf: vec![0; RECORD_START], one_record: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's whole current text. Opens it on first use, and again after
    /// a failed read (a file can vanish and come back, e.g. a network
    /// namespace change).
    pub fn read(&mut self) -> Result<&str> {
        let path = &self.path;
        let bytes = read_into(path, &mut self.file, &mut self.buf, self.one_record)?;
        std::str::from_utf8(bytes).with_context(|| format!("{}: not UTF-8", path.display()))
    }

    /// The file's whole current content, as bytes.
    pub fn read_bytes(&mut self) -> Result<&[u8]> {
        read_into(&self.path, &mut self.file, &mut self.buf, self.one_record)
    }
}

/// `ProcFile::read_bytes` on its parts, so that the path can still be
/// named while the bytes are borrowed.
fn read_into<'b>(
    path: &Path,
    file: &mut Option<File>,
    buf: &'b mut Vec<u8>,
    one_record: bool,
) -> Result<&'b [u8]> {
    if file.is_none() {
        *file = Some(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    }
    let open = file.as_ref().expect("opened above");
    let read =
        if one_record { read_record_at(open, buf) } else { read_all_at(open, buf).map(|()| buf.as_slice()) };
    read.map_err(|err| {
        *file = None;
        anyhow::Error::new(err).context(format!("reading {}", path.display()))
    })
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

/// Reads a file of one record, such as /proc/PID/stat, io or status, from
/// offset 0 and gives its text: one `pread` where it fits in `buf`. The
/// kernel hands such a file out whole, so a read that leaves room in the
/// buffer has reached the end, and the `pread` that would return 0 is
/// saved (on hundreds of processes every tick, one syscall per file).
/// `buf` keeps its length between reads, so it is zeroed once, not per read.
pub fn read_record_at<'b>(file: &File, buf: &'b mut Vec<u8>) -> std::io::Result<&'b [u8]> {
    if buf.is_empty() {
        buf.resize(4096, 0);
    }
    let mut len = 0;
    loop {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(&buf[..len]),
            Ok(n) => {
                len += n;
                if len < buf.len() {
                    return Ok(&buf[..len]);
                }
                buf.resize(buf.len() * 2, 0);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_whole_in_any_buffer() {
        // status outgrows the smaller buffers; the values move, the lines not.
        for path in ["/proc/self/stat", "/proc/self/io", "/proc/self/status"] {
            let file = File::open(path).unwrap();
            let lines = std::fs::read_to_string(path).unwrap().lines().count();
            for start in [0, 16, 8192] {
                let mut buf = vec![b'x'; start];
                let text = String::from_utf8(read_record_at(&file, &mut buf).unwrap().to_vec()).unwrap();
                assert!(text.ends_with('\n'), "{path} with a buffer of {start}: {text:?}");
                assert_eq!(text.lines().count(), lines, "{path} with a buffer of {start}: {text:?}");
            }
        }
    }

    #[test]
    fn a_one_record_file_longer_than_its_first_buffer_reads_whole() {
        let mut file = ProcFile::record("/proc/self/status");
        for _ in 0..2 {
            let text = file.read().unwrap().to_string();
            assert!(text.len() > RECORD_START, "{text:?}");
            assert!(text.starts_with("Name:") && text.ends_with('\n'), "{text:?}");
            assert!(text.contains("\nVmRSS:"), "{text:?}");
        }
    }
}
