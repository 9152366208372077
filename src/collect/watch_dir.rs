//! Watched directories (`--watch-dir`): how many regular files lie below a
//! directory and their total size, e.g. Postfix's deferred queue, which nests
//! hashed subdirectories (`deferred/A/B/3F2A51C0B9`) and grew to 80,000
//! messages in one of our incidents.
//!
//! Input: the directory tree, walked afresh every sample; the result is a
//! snapshot, growth is left to whoever compares two samples.
//!
//! The walk is bounded so a runaway directory cannot stall a sample: at most
//! `MAX_DEPTH` levels of subdirectories, `MAX_ENTRIES` entries and `BUDGET`
//! of wall time per call. Cut short, it says so (`complete = false`) and the
//! counts are lower bounds. Each directory is opened relative to its parent's
//! descriptor (`openat`) and each file is sized with `fstatat`, so no path
//! string is built per entry and a directory renamed mid-walk cannot send the
//! walk elsewhere. Symbolic links are never followed below the top (the top
//! itself is resolved like `du DIR` does) and are not counted.
//!
//! Every entry costs one `fstatat`, and on a hung network or FUSE filesystem
//! that call blocks like any `stat`; the time budget is checked between
//! entries and cannot interrupt it. The collector therefore runs each walk on
//! a thread of its own, with a deadline (see `collect::deadline`).

use crate::sample::WatchedDir;
use anyhow::{Context, Result};
use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Levels of subdirectories entered below the top (Postfix uses at most 2).
const MAX_DEPTH: usize = 8;
/// Directory entries looked at per call, files or not.
const MAX_ENTRIES: u64 = 1_000_000;
/// Wall time per call: a sample is due every few seconds.
const BUDGET: Duration = Duration::from_millis(200);
/// The clock is read at the first entry and then once per this many: reading
/// it costs about as much as the work done per entry.
const CLOCK_EVERY: u64 = 256;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_CLOEXEC);

pub struct DirWatcher {
    path: PathBuf,
    limits: Limits,
}

/// The bounds of one walk; fixed in production, small in tests.
struct Limits {
    max_depth: usize,
    max_entries: u64,
    budget: Duration,
}

impl DirWatcher {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DirWatcher {
            path: path.into(),
            limits: Limits { max_depth: MAX_DEPTH, max_entries: MAX_ENTRIES, budget: BUDGET },
        }
    }

    /// Counts the regular files below the directory and their bytes. Only a
    /// missing or unreadable top directory is an error; anything below that
    /// vanishes mid-walk is simply not counted (it is gone), and anything
    /// below that cannot be read makes the result incomplete.
    pub fn read(&mut self) -> Result<WatchedDir> {
        let top = open(self.path.as_path(), DIR_FLAGS, Mode::empty())
            .with_context(|| format!("opening watched directory {}", self.path.display()))?;
        let mut walk = Walk {
            limits: &self.limits,
            deadline: Instant::now() + self.limits.budget,
            files: 0,
            bytes: 0,
            entries: 0,
            complete: true,
            stopped: false,
        };
        walk.directory(top, 0)
            .with_context(|| format!("listing watched directory {}", self.path.display()))?;
        Ok(WatchedDir {
            path: self.path.display().to_string(),
            files: walk.files,
            bytes: walk.bytes,
            complete: walk.complete,
        })
    }
}

struct Walk<'a> {
    limits: &'a Limits,
    deadline: Instant,
    files: u64,
    bytes: u64,
    entries: u64,
    complete: bool,
    /// A bound was reached: unwind without looking at anything more.
    stopped: bool,
}

impl Walk<'_> {
    /// Walks one open directory at `depth` (the top is 0). Fails only when
    /// the directory itself cannot be listed; the caller decides whether
    /// that is fatal (the top) or makes the result incomplete (below).
    fn directory(&mut self, fd: OwnedFd, depth: usize) -> io::Result<()> {
        // `Dir` owns its descriptor and borrows it mutably while iterating;
        // a duplicate serves the *at calls (one dup per directory, not per
        // entry: both share the kernel's file, the listing position is not
        // used by openat/fstatat).
        let mut dir = Dir::from_fd(fd.try_clone()?)?;
        for entry in dir.iter() {
            if self.stopped {
                return Ok(());
            }
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries
                || (self.entries % CLOCK_EVERY == 1 && Instant::now() >= self.deadline)
            {
                self.complete = false;
                self.stopped = true;
                return Ok(());
            }
            match entry.file_type() {
                Some(Type::File) => self.file(fd.as_fd(), name),
                Some(Type::Directory) => self.subdirectory(fd.as_fd(), name, depth),
                // The filesystem does not fill in d_type: ask.
                None => match fstatat(fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                        SFlag::S_IFREG => self.count(st.st_size),
                        SFlag::S_IFDIR => self.subdirectory(fd.as_fd(), name, depth),
                        _ => {}
                    },
                    Err(err) => self.failed(err.into()),
                },
                // Symlinks, sockets, fifos, devices: not files in a queue.
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn file(&mut self, dir: BorrowedFd, name: &CStr) {
        match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => self.count(st.st_size),
            Err(err) => self.failed(err.into()),
        }
    }

    fn count(&mut self, size: i64) {
        self.files += 1;
        self.bytes += u64::try_from(size).unwrap_or(0);
    }

    fn subdirectory(&mut self, parent: BorrowedFd, name: &CStr, depth: usize) {
        if depth >= self.limits.max_depth {
            self.complete = false;
            return;
        }
        // O_NOFOLLOW: an entry swapped for a symlink since it was listed is
        // refused (ELOOP), never followed.
        let flags = DIR_FLAGS | OFlag::O_NOFOLLOW;
        let listed = openat(parent, name, flags, Mode::empty())
            .map_err(io::Error::from)
            .and_then(|fd| self.directory(fd, depth + 1));
        if let Err(err) = listed {
            self.failed(err);
        }
    }

    /// An entry deleted since it was listed is gone, not missed (a queue
    /// file delivered mid-walk); any other failure leaves a hole in the
    /// counts.
    fn failed(&mut self, err: io::Error) {
        if err.kind() != io::ErrorKind::NotFound {
            self.complete = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use std::fs;
    use std::path::Path;

    /// Writes `count` files of different sizes into a Postfix-like tree
    /// three levels deep (`A/B/C/file`); returns their total bytes.
    fn fill(top: &Path, first: usize, count: usize) -> u64 {
        let mut bytes = 0;
        for i in first..first + count {
            let dir = top.join(format!("{:X}/{:X}/{:X}", i % 4, i % 3, i % 5));
            fs::create_dir_all(&dir).unwrap();
            let body = vec![b'x'; i % 97];
            fs::write(dir.join(format!("Q{i:08X}")), &body).unwrap();
            bytes += body.len() as u64;
        }
        bytes
    }

    #[test]
    fn counts_nested_files_and_their_growth() {
        let scratch = Scratch::new("watch-dir-nested");
        let top = scratch.0.join("deferred");
        let bytes = fill(&top, 0, 500);
        let mut watcher = DirWatcher::new(&top);
        let first = watcher.read().unwrap();
        assert_eq!(first, WatchedDir { path: top.display().to_string(), files: 500, bytes, complete: true });

        let more = fill(&top, 500, 250);
        let second = watcher.read().unwrap();
        assert_eq!((second.files, second.bytes, second.complete), (750, bytes + more, true));
    }

    #[test]
    fn ignores_symlinks_and_other_entries() {
        let scratch = Scratch::new("watch-dir-links");
        let top = scratch.0.join("queue");
        fill(&top, 0, 10);
        let outside = scratch.0.join("outside");
        let outside_bytes = fill(&outside, 0, 20);
        assert!(outside_bytes > 0);
        std::os::unix::fs::symlink(&outside, top.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(outside.join("0/0/0/Q00000000"), top.join("link-to-file")).unwrap();
        nix::unistd::mkfifo(&top.join("fifo"), Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        let seen = DirWatcher::new(&top).read().unwrap();
        assert_eq!((seen.files, seen.complete), (10, true));
    }

    #[test]
    fn says_when_cut_short() {
        let scratch = Scratch::new("watch-dir-bounds");
        let top = scratch.0.join("deep");
        fs::create_dir_all(top.join("1/2/3")).unwrap();
        fs::write(top.join("1/a"), "12345").unwrap();
        fs::write(top.join("1/2/3/b"), "123").unwrap();
        let mut watcher = DirWatcher::new(&top);
        watcher.limits.max_depth = 2;
        let shallow = watcher.read().unwrap();
        assert_eq!((shallow.files, shallow.bytes, shallow.complete), (1, 5, false));

        let mut watcher = DirWatcher::new(&top);
        watcher.limits.max_entries = 2;
        assert!(!watcher.read().unwrap().complete);

        let mut watcher = DirWatcher::new(&top);
        watcher.limits.budget = Duration::ZERO;
        assert!(!watcher.read().unwrap().complete);
        let full = DirWatcher::new(&top).read().unwrap();
        assert_eq!((full.files, full.bytes, full.complete), (2, 8, true));
    }

    #[test]
    fn names_a_missing_top_directory() {
        let scratch = Scratch::new("watch-dir-missing");
        let gone = scratch.0.join("no-such-queue");
        let err = DirWatcher::new(&gone).read().unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(&gone.display().to_string()) && text.contains("No such file"), "{text}");
    }
}
