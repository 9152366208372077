//! One writer per database. `record` holds a write lock on a file beside
//! the database (`flightrec.db.lock`) for as long as it runs; a second
//! recorder is refused at once, naming the first one's pid.
//!
//! The lock is an open-file-description lock (`fcntl(F_OFD_SETLK)`), for
//! three reasons: the kernel drops it when its process dies, however it
//! dies, so a killed recorder never blocks a restart; anyone can ask
//! whether it is held (`F_OFD_GETLK`) without taking it, so a reader
//! looking never makes a starting recorder fail; and unlike a classic
//! POSIX lock it is not released when the process happens to close some
//! other descriptor of the same file. It lives on a file of its own, out
//! of the way of SQLite's locks on the database. The holder writes its pid
//! into it, for the message that refuses a second recorder; nothing in it
//! needs to survive a crash, since the lock itself does not.

use crate::error::BadInput;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How long a refused recorder waits for the winner's pid, at most.
const PID_TRIES: u32 = 50;
const PID_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// The write lock, held until dropped (the recorder keeps it for its life).
pub struct WriterLock {
    _file: File,
}

/// Who holds the writer lock of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// No recorder is writing to it.
    None,
    /// A recorder is; its pid as it wrote it (`None` until it has).
    Running(Option<u32>),
}

/// The lock file of database `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

impl WriterLock {
    /// Takes the lock, or refuses (exit 2) naming the recorder holding it.
    pub fn acquire(db: &Path) -> Result<WriterLock> {
        let path = lock_path(db);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match fcntl(&file, FcntlArg::F_OFD_SETLK(&whole_file(libc::F_WRLCK))) {
            Ok(_) => {
                let pid = format!("{}\n", std::process::id());
                file.set_len(0)
                    .and_then(|()| file.write_all(pid.as_bytes()))
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(WriterLock { _file: file })
            }
            Err(Errno::EAGAIN | Errno::EACCES) => {
                // A recorder that has just won the lock writes its pid right
                // after: give it that moment, so the refusal can name it.
                let mut found = holder(&mut file)?;
                for _ in 0..PID_TRIES {
                    if found != Writer::Running(None) {
                        break;
                    }
                    std::thread::sleep(PID_WAIT);
                    found = holder(&mut file)?;
                }
                Err(refusal(db, found))
            }
            Err(err) => Err(anyhow::anyhow!("locking {}: {err}", path.display())),
        }
    }
}

/// Why a second recorder may not start: exit 2, naming the running one.
pub fn refusal(db: &Path, writer: Writer) -> anyhow::Error {
    let who = match writer {
        Writer::Running(Some(pid)) => format!("flightrec record (pid {pid})"),
        Writer::Running(None) => "flightrec record".into(),
        Writer::None => "flightrec record (which has just exited)".into(),
    };
    BadInput::Unusable {
        path: db.into(),
        reason: format!(
            "{who} is recording into it already (lock {}); one recorder per database: stop that one \
             first (`systemctl stop flightrec` for the service), or pass another --db",
            lock_path(db).display()
        ),
    }
    .into()
}

/// Whether a recorder is writing to `db` now. A database without a lock
/// file has never had a recorder of this version: none is writing.
pub fn writer(db: &Path) -> Result<Writer> {
    let path = lock_path(db);
    match File::open(&path) {
        Ok(mut file) => holder(&mut file),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Writer::None),
        Err(err) => Err(err).with_context(|| format!("opening {}", path.display())),
    }
}

fn holder(file: &mut File) -> Result<Writer> {
    let mut query = whole_file(libc::F_WRLCK);
    fcntl(&*file, FcntlArg::F_OFD_GETLK(&mut query)).context("asking whether a recorder holds the lock")?;
    if query.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(Writer::None);
    }
    let mut text = String::new();
    let pid = file
        .rewind()
        .and_then(|()| file.take(32).read_to_string(&mut text))
        .ok()
        .and_then(|_| text.trim().parse().ok());
    Ok(Writer::Running(pid))
}

fn whole_file(kind: libc::c_int) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        // To the end of the file, however long.
        l_len: 0,
        l_pid: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_a_released_lock_never_blocks() {
        let dir = crate::scratch::Scratch::new("lock");
        let db = dir.0.join("locked.db");
        assert_eq!(writer(&db).unwrap(), Writer::None, "no lock file yet");
        let first = WriterLock::acquire(&db).unwrap();
        let me = std::process::id();
        assert_eq!(writer(&db).unwrap(), Writer::Running(Some(me)));
        let refused = WriterLock::acquire(&db).err().expect("a second writer is refused");
        assert!(refused.is::<BadInput>(), "exit 2: {refused:#}");
        assert!(format!("{refused:#}").contains(&format!("pid {me}")), "{refused:#}");
        // Looking, as readers do, takes nothing and releases nothing.
        assert!(WriterLock::acquire(&db).is_err(), "still held after a reader looked");
        drop(first);
        assert_eq!(writer(&db).unwrap(), Writer::None);
        WriterLock::acquire(&db).expect("a released lock is free again");
    }
}
