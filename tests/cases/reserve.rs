//! The disk reserve holds on a full disk: the filesystem is filled right
//! after a checkpoint (which cuts the database file to its page count) and
//! the recorder still commits 600 samples at 100 ms with every process
//! table, on tmpfs, ext4 and xfs (on loop images).

use crate::common::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A filesystem mounted for one test; unmounted, its loop device detached
/// and its image removed when dropped, whatever happened.
struct Mounted {
    dir: PathBuf,
    loop_device: Option<String>,
    image: Option<PathBuf>,
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Mounted {
    fn mount_point(kind: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flightrec-reserve-{kind}-{}", unique()));
        fs::create_dir(&dir).unwrap();
        dir
    }

    fn tmpfs(mib: u64) -> Mounted {
        let dir = Self::mount_point("tmpfs");
        let mounted = Mounted { dir, loop_device: None, image: None };
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs", path_str(&mounted.dir)],
        );
        mounted
    }

    /// `mkfs.FS` on a sparse image of `mib` MiB, mounted through a loop device.
    fn image(fs_type: &str, mib: u64) -> Mounted {
        let dir = Self::mount_point(fs_type);
        let image = std::env::temp_dir().join(format!("flightrec-reserve-{fs_type}-{}.img", unique()));
        let mut mounted = Mounted { dir, loop_device: None, image: Some(image.clone()) };
        fs::File::create(&image).unwrap().set_len(mib << 20).unwrap();
        run(&format!("mkfs.{fs_type}"), &["-q", path_str(&image)]);
        mounted.loop_device = Some(run("losetup", &["--find", "--show", path_str(&image)]));
        run("mount", &[mounted.loop_device.as_deref().unwrap(), path_str(&mounted.dir)]);
        mounted
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        if let Some(device) = &self.loop_device {
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
        if let Some(image) = &self.image {
            let _ = fs::remove_file(image);
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

fn query(db: &Path, sql: &str) -> i64 {
    open_read_only(db).and_then(|c| c.query_row(sql, [], |r| r.get(0))).unwrap_or(0)
}

/// Writes zeros into `path` until the filesystem refuses more.
fn fill(path: &Path) {
    let mut file = fs::File::create(path).unwrap();
    for size in [1 << 20, 4096, 512, 1] {
        let chunk = vec![0u8; size];
        while file.write_all(&chunk).is_ok() {}
    }
    let _ = file.sync_all();
}

fn commits_600_samples_on_a_full_disk(mounted: &Mounted) {
    let dir = TempDir::new("reserve");
    let db = mounted.dir.join("flightrec.db");
    let log = dir.join("recorder.log");
    let mut recorder = Guard::spawn(
        Command::new(BIN)
            .args(["record", "--db", path_str(&db), "--interval", "100ms", "--reserve", "8MiB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap()),
    );
    let alive = |recorder: &mut Guard| {
        if let Some(status) = recorder.0.try_wait().unwrap() {
            panic!("the recorder exited ({status}):\n{}", fs::read_to_string(&log).unwrap_or_default());
        }
    };
    // The reserve is made before the first commit; 30 samples in, it is
    // in place whatever form it takes.
    eventually_within(Duration::from_secs(300), "30 samples", || {
        alive(&mut recorder);
        let have = query(&db, "SELECT count(*) FROM samples");
        if have >= 30 { Ok(()) } else { Err(format!("{have} samples")) }
    });
    // A checkpoint: pages copied into the file, the file cut to its page
    // count, as the recorder's own checkpoints do.
    let checkpointer = rusqlite::Connection::open(&db).unwrap();
    checkpointer.busy_timeout(Duration::from_secs(10)).unwrap();
    checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
    drop(checkpointer);
    fill(&mounted.dir.join("filler"));

    let before = query(&db, "SELECT count(*) FROM samples");
    // 60 s at 100 ms on an idle machine; a loaded one skips late ticks.
    // A reserve that did not hold shows at once: the recorder says so.
    eventually_within(Duration::from_secs(1200), "600 samples committed on the full disk", || {
        alive(&mut recorder);
        let full = query(&db, "SELECT count(*) FROM events WHERE kind = 'disk-full'");
        assert_eq!(full, 0, "the reserve did not hold: a disk-full event");
        let have = query(&db, "SELECT count(*) FROM samples") - before;
        if have >= 600 { Ok(()) } else { Err(format!("{have} samples since the disk filled")) }
    });
    let full = query(&db, "SELECT count(*) FROM events WHERE kind = 'disk-full'");
    let dropped = query(&db, "SELECT count(*) FROM samples WHERE process_table IS NULL");
    assert_eq!((full, dropped), (0, 0), "the reserve held: no disk-full event, no process table dropped");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(recorder.pid() as i32), nix::sys::signal::SIGTERM)
        .unwrap();
    let status = wait_with_deadline(&mut recorder.0, "the recorder");
    assert!(status.success(), "{status}: {}", fs::read_to_string(&log).unwrap_or_default());
}

#[test]
fn the_reserve_survives_a_checkpoint_on_tmpfs() {
    commits_600_samples_on_a_full_disk(&Mounted::tmpfs(48));
}

#[test]
fn the_reserve_survives_a_checkpoint_on_ext4() {
    commits_600_samples_on_a_full_disk(&Mounted::image("ext4", 64));
}

#[test]
fn the_reserve_survives_a_checkpoint_on_xfs() {
    commits_600_samples_on_a_full_disk(&Mounted::image("xfs", 320));
}
