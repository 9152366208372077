//! `/sys/fs/pstore`: what the kernel saved as it died, in storage that
//! survives a reboot (RAM kept over a warm reset, EFI variables, ACPI ERST):
//! the end of the log of the previous boot's panic or oops, which /dev/kmsg
//! of this boot no longer has. One file per record, named TYPE-BACKEND-ID
//! (`dmesg-ramoops-0`, `console-ramoops-0`, `dmesg-efi-165123456701001`),
//! dated (mtime) when the kernel wrote it; a dmesg record reads
//! `Panic#1 Part1` then lines like `<0>[ 7745.119988] Kernel panic - ...`.
//!
//! Where systemd-pstore runs at boot, it has moved the records before we
//! start, to /var/lib/systemd/pstore (`read_archive`): older versions as
//! the files themselves (`dmesg-ramoops-0`), newer ones into a directory per
//! record id holding the parts and `dmesg.txt`, the parts joined
//! (`1795313345/001/dmesg.txt` for an EFI record written at that second).
//!
//! Read once at start; the recorder keeps each record once and attaches it
//! to the run it belongs to. Files are left in place: removing them to free
//! the backend is for the operator or systemd-pstore.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Most of a record kept: its end, where the crash is.
pub const TEXT_MAX: u64 = 64 * 1024;

/// One crash record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PstoreRecord {
    /// File name: type, backend and id, e.g. `dmesg-ramoops-0`.
    pub name: String,
    /// When the kernel wrote the record (the file's mtime), ms since the
    /// epoch. A backend that stores no time gives the time pstore was
    /// mounted, in this boot.
    pub time_ms: i64,
    /// Size of the whole record in bytes.
    pub size: u64,
    /// The record's text, or its last `TEXT_MAX` bytes from a line start.
    pub text: String,
    /// Why `text` is not the whole record: cut, compressed, binary or
    /// unreadable. `None` when it is whole.
    pub note: Option<String>,
}

/// Every record in `dir` (normally /sys/fs/pstore), oldest first. No
/// directory (pstore not mounted, or a kernel without it) is no records. A
/// record that cannot be read is still listed, with a note: that the kernel
/// saved something is evidence of a crash.
pub fn read_records(dir: &Path) -> Result<Vec<PstoreRecord>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        if !fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.is_file() {
            continue;
        }
        let record = read_record(&path, entry.file_name().to_string_lossy().into_owned())?;
        records.push(record);
    }
    records.sort_by(|a, b| (a.time_ms, &a.name).cmp(&(b.time_ms, &b.name)));
    Ok(records)
}

/// Every record systemd-pstore moved to `dir` (normally
/// /var/lib/systemd/pstore), oldest first, named by their path below it. A
/// directory holding `dmesg.txt` is one record, that file (the parts beside
/// it are in it); other files are records of their own. No directory is no
/// records.
pub fn read_archive(dir: &Path) -> Result<Vec<PstoreRecord>> {
    let mut records = Vec::new();
    archived(dir, "", ARCHIVE_DEPTH, &mut records)?;
    records.sort_by(|a, b| (a.time_ms, &a.name).cmp(&(b.time_ms, &b.name)));
    Ok(records)
}

/// Levels of directories below the archive: `ID/NNN/dmesg.txt`.
const ARCHIVE_DEPTH: usize = 2;
/// The joined dmesg parts of one record, in the archive.
const JOINED: &str = "dmesg.txt";

/// Adds the records of `dir`, whose path below the archive is `prefix`.
fn archived(dir: &Path, prefix: &str, depth: usize, records: &mut Vec<PstoreRecord>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // No archive, or a record removed while we read.
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let kind = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
        names.push((entry.file_name().to_string_lossy().into_owned(), kind));
    }
    let joined = names.iter().any(|(name, kind)| name == JOINED && kind.is_file());
    for (name, kind) in names {
        let path = dir.join(&name);
        let below = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if kind.is_dir() && depth > 0 {
            archived(&path, &below, depth - 1, records)?;
        } else if kind.is_file() && (!joined || name == JOINED) {
            let mut record = read_record(&path, below)?;
            if let Some(time_ms) = archive_time(&record.name) {
                record.time_ms = time_ms;
            }
            records.push(record);
        }
    }
    Ok(())
}

/// systemd names an EFI record's directory for the second the kernel wrote
/// it; the files in it are dated when they were moved, at the next boot.
fn archive_time(name: &str) -> Option<i64> {
    let (id, _) = name.split_once('/')?;
    let seconds: i64 = id.parse().ok()?;
    // From 2001 to 2286: ten digits, not a small record number.
    (1_000_000_000..10_000_000_000).contains(&seconds).then_some(seconds * 1000)
}

/// One record file, named `name`.
fn read_record(path: &Path, name: String) -> Result<PstoreRecord> {
    let metadata = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let time_ms = metadata
        .modified()
        .ok()
        .and_then(|mtime| mtime.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_millis() as i64);
    let mut record = PstoreRecord { name, time_ms, size: metadata.len(), ..PstoreRecord::default() };
    // pstore names a record it could not decompress `.enc.z`: the bytes
    // are compressed with whatever the dying kernel was configured for.
    if record.name.ends_with(".enc.z") {
        record.note = Some("compressed, and the kernel could not decompress it: not read".into());
    } else {
        match read_tail(path, record.size) {
            Ok((text, note)) => (record.text, record.note) = (text, note),
            Err(err) => record.note = Some(format!("could not be read: {err}")),
        }
    }
    Ok(record)
}

/// The last `TEXT_MAX` bytes of a record as text, and a note when that is
/// not all of it.
fn read_tail(path: &Path, size: u64) -> std::io::Result<(String, Option<String>)> {
    let mut file = File::open(path)?;
    let cut = size > TEXT_MAX;
    if cut {
        file.seek(SeekFrom::Start(size - TEXT_MAX))?;
    }
    let mut bytes = Vec::new();
    file.take(TEXT_MAX).read_to_end(&mut bytes)?;
    // Trailing NULs are padding some backends leave; a NUL inside is a binary
    // record (an MCE, a backend's own format), not a log.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes.truncate(end);
    if bytes.contains(&0) {
        return Ok((String::new(), Some("binary, not a log: not read".into())));
    }
    let mut start = 0;
    if cut {
        // Start at a whole line: the one the cut fell in is partial.
        start = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    }
    let text = String::from_utf8_lossy(&bytes[start..]).into_owned();
    let note = cut.then(|| format!("the last {} KiB of {} bytes", TEXT_MAX / 1024, size));
    Ok((text, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    const PANIC: &str = include_str!("../../tests/fixtures/kmsg/pstore-dmesg-ramoops-0");

    /// A fresh directory standing in for /sys/fs/pstore, for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flightrec-pstore-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_at(dir: &Path, name: &str, bytes: &[u8], secs: u64) {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
    }

    #[test]
    fn reads_a_panic_left_by_the_previous_boot() {
        let dir = scratch("panic");
        write_at(&dir, "dmesg-ramoops-0", PANIC.as_bytes(), 1_795_313_345);
        write_at(
            &dir,
            "console-ramoops-0",
            b"[ 7745.119988] Kernel panic - not syncing\n\0\0\0",
            1_795_313_346,
        );
        let records = read_records(&dir).unwrap();
        assert_eq!(records.len(), 2);
        let dmesg = &records[0];
        assert_eq!(dmesg.name, "dmesg-ramoops-0");
        assert_eq!(dmesg.time_ms, 1_795_313_345_000);
        assert_eq!(dmesg.size, PANIC.len() as u64);
        assert_eq!(dmesg.text, PANIC);
        assert_eq!(dmesg.note, None);
        assert!(dmesg.text.starts_with("Panic#1 Part1\n"));
        assert!(dmesg.text.contains("Kernel panic - not syncing: Fatal exception in interrupt"));
        assert_eq!(records[1].text, "[ 7745.119988] Kernel panic - not syncing\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keeps_the_end_of_a_long_record_from_a_line_start() {
        let dir = scratch("long");
        let line = "<6>[  100.000000] eth0: link up, 1000 Mbps, full duplex\n";
        let mut text = line.repeat(2000);
        text.push_str("<0>[ 7745.119988] Kernel panic - not syncing: Fatal exception\n");
        write_at(&dir, "dmesg-efi-165123456701001", text.as_bytes(), 1_795_313_345);
        let records = read_records(&dir).unwrap();
        let record = &records[0];
        assert_eq!(record.size, text.len() as u64);
        assert!(record.text.len() as u64 <= TEXT_MAX);
        assert!(record.text.starts_with("<6>[  100.000000] eth0"), "{:?}", &record.text[..80]);
        assert!(record.text.ends_with("Kernel panic - not syncing: Fatal exception\n"));
        assert_eq!(record.note.as_deref(), Some(format!("the last 64 KiB of {} bytes", text.len()).as_str()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lists_compressed_and_binary_records_without_their_bytes() {
        let dir = scratch("opaque");
        write_at(&dir, "dmesg-efi-165123456702001.enc.z", &[0x78, 0x9c, 0x0b, 0xc9, 0x00, 0x17], 20);
        write_at(&dir, "mce-erst-1", &[1, 0, 0, 0, 0x9a, 0, 2, 0], 10);
        fs::create_dir(dir.join("not-a-record")).unwrap();
        let records = read_records(&dir).unwrap();
        let summary: Vec<(&str, i64, u64, &str, Option<&str>)> = records
            .iter()
            .map(|r| (r.name.as_str(), r.time_ms, r.size, r.text.as_str(), r.note.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("mce-erst-1", 10_000, 8, "", Some("binary, not a log: not read")),
                (
                    "dmesg-efi-165123456702001.enc.z",
                    20_000,
                    6,
                    "",
                    Some("compressed, and the kernel could not decompress it: not read")
                ),
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// An EFI crash at 1795313345 (two dmesg parts, Part1 the newest lines)
    /// and a ramoops one, as systemd-pstore leaves them: the EFI record in a
    /// directory with its parts and the joined `dmesg.txt`, dated at the
    /// move; the ramoops record moved as it was (older systemd versions).
    fn systemd_archive(dir: &Path) {
        let record = dir.join("1795313345/001");
        fs::create_dir_all(&record).unwrap();
        let (newest, oldest) = PANIC.split_at(PANIC.len() / 2);
        write_at(&record, "dmesg-efi-179531334501001", newest.as_bytes(), 1_795_313_400);
        write_at(&record, "dmesg-efi-179531334502001", oldest.as_bytes(), 1_795_313_400);
        write_at(&record, "dmesg.txt", PANIC.as_bytes(), 1_795_313_400);
        write_at(
            dir,
            "dmesg-ramoops-0",
            b"<0>[ 12.000000] Kernel panic - not syncing: sysrq\n",
            1_795_000_000,
        );
    }

    #[test]
    fn reads_records_moved_by_systemd_pstore() {
        let dir = scratch("archive");
        systemd_archive(&dir);
        let records = read_archive(&dir).unwrap();
        let summary: Vec<(&str, i64)> = records.iter().map(|r| (r.name.as_str(), r.time_ms)).collect();
        assert_eq!(
            summary,
            [("dmesg-ramoops-0", 1_795_000_000_000), ("1795313345/001/dmesg.txt", 1_795_313_345_000)]
        );
        assert_eq!(records[1].text, PANIC, "the joined record, not its parts");
        assert!(records[0].text.contains("Kernel panic"));
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read_archive(&dir).unwrap(), [], "no archive, no records");
    }

    #[test]
    fn no_pstore_is_no_records() {
        let dir = scratch("absent");
        fs::remove_dir(&dir).unwrap();
        assert_eq!(read_records(&dir).unwrap(), []);
        let empty = scratch("empty");
        assert_eq!(read_records(&empty).unwrap(), []);
        fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn reads_this_machine() {
        // Usually empty here, or absent in a container; it is root's only.
        let dir = Path::new("/sys/fs/pstore");
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: {} is for root", dir.display());
            return;
        }
        let records = read_records(dir).unwrap();
        assert!(records.iter().all(|r| r.time_ms <= now_ms()), "{records:?}");
    }

    fn now_ms() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
    }
}
