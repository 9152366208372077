//! Mounted filesystems and their space: `/proc/self/mountinfo` lists them,
//! `statvfs` measures them. Lines read
//! `27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard`:
//! id, parent, device, root, mount point, options, optional fields, `-`,
//! type, source, superblock options (see proc_pid_mountinfo(5)).
//! Only filesystems that hold data and answer without a server are kept.

use crate::sample::Filesystem;
use anyhow::{Context, Result, bail};
use nix::sys::statvfs::statvfs;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
}

/// Kernel interfaces mounted as filesystems: no space to run out of.
const PSEUDO: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "cpuset",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nfsd",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "smackfs",
    "sysfs",
    "tracefs",
];

/// Filesystems answered by a server or a user-space daemon: `statvfs` waits
/// for it, and a dead one would hang the sampling loop. FUSE (`fuse`,
/// `fuseblk`, `fuse.*`) is matched by prefix.
const REMOTE: &[&str] = &[
    "9p",
    "afs",
    "beegfs",
    "ceph",
    "cifs",
    "coda",
    "davfs",
    "glusterfs",
    "gpfs",
    "lustre",
    "ncpfs",
    "nfs",
    "nfs4",
    "smb3",
    "smbfs",
    "sshfs",
    "virtiofs",
];

/// The filesystems worth measuring, in mountinfo order. Where a mount point
/// is mounted over, only the last (visible) mount counts: `statvfs` on the
/// path can only reach that one, and if it is a pseudo or remote filesystem
/// the mount point is dropped.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>> {
    let mut visible = HashSet::new();
    let mut mounts = Vec::new();
    for line in text.lines().rev() {
        let (mount_point, fs_type, source) = split_line(line)?;
        if visible.insert(mount_point) && holds_data(fs_type, source) {
            mounts.push(Mount {
                mount_point: unescape(mount_point),
                device: unescape(source),
                fs_type: unescape(fs_type),
            });
        }
    }
    mounts.reverse();
    Ok(mounts)
}

/// Mount point, type and source of one line, still escaped. Fields are split
/// at single spaces because a source can be the empty string.
fn split_line(line: &str) -> Result<(&str, &str, &str)> {
    let mut fields = line.split(' ');
    let mount_point =
        fields.nth(4).with_context(|| format!("line {line:?}: expected a mount point in the fifth field"))?;
    let mut after_separator = fields.skip(1).skip_while(|field| *field != "-").skip(1);
    let (Some(fs_type), Some(source)) = (after_separator.next(), after_separator.next()) else {
        bail!("line {line:?}: expected `- type source` after the optional fields");
    };
    Ok((mount_point, fs_type, source))
}

fn holds_data(fs_type: &str, source: &str) -> bool {
    let fuse = fs_type == "fuse" || fs_type == "fuseblk" || fs_type.starts_with("fuse.");
    // A network filesystem of a type not listed still names its server:
    // `server:/export` or `//server/share`.
    let served = source.contains(":/") || source.starts_with("//");
    !(fuse || served || PSEUDO.contains(&fs_type) || REMOTE.contains(&fs_type))
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). The kernel escapes only those ASCII bytes, so
/// anything else after a backslash is kept as it is.
pub(crate) fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .filter(|digits| digits.bytes().all(|b| matches!(b, b'0'..=b'7')))
            .and_then(|digits| u8::from_str_radix(digits, 8).ok())
            .filter(u8::is_ascii);
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One `statvfs` per mount. A mount that fails it has usually just been
/// unmounted, which is not worth a warning every tick.
pub fn filesystems(mounts: &[Mount]) -> Vec<Filesystem> {
    mounts
        .iter()
        .filter_map(|mount| {
            let stat = statvfs(mount.mount_point.as_str()).ok()?;
            // The counts are u64 here but 32-bit on some 32-bit targets.
            let blocks = stat.blocks() as u64;
            // No blocks: a pseudo filesystem not in `PSEUDO`, with no space
            // to run out of and a size that would divide by zero downstream.
            if blocks == 0 {
                return None;
            }
            let frsize = stat.fragment_size() as u64;
            let bytes = |count: u64| count.saturating_mul(frsize);
            let files = stat.files() as u64;
            Some(Filesystem {
                mount_point: mount.mount_point.clone(),
                device: mount.device.clone(),
                fs_type: mount.fs_type.clone(),
                size_bytes: bytes(blocks),
                used_bytes: bytes(blocks.saturating_sub(stat.blocks_free() as u64)),
                avail_bytes: bytes(stat.blocks_available() as u64),
                inodes_total: files,
                inodes_used: files.saturating_sub(stat.files_free() as u64),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(mount_point: &str, device: &str, fs_type: &str) -> Mount {
        Mount { mount_point: mount_point.into(), device: device.into(), fs_type: fs_type.into() }
    }

    #[test]
    fn parses_captured_mountinfo() {
        let mounts = parse_mountinfo(include_str!("../../tests/fixtures/proc/mountinfo")).unwrap();
        assert_eq!(
            mounts,
            [
                mount("/", "/dev/vda", "ext4"),
                mount("/mnt/sandboxing/model_tools_env/v1/python", "model_tools_unavailable", "tmpfs"),
                mount("/dev/shm", "tmpfs", "tmpfs"),
                mount("/sys/fs/cgroup", "tmpfs", "tmpfs"),
            ]
        );
    }

    #[test]
    fn unescapes_skips_remote_and_keeps_the_visible_mount() {
        let text = include_str!("../../tests/fixtures/proc/mountinfo-escaped");
        assert_eq!(
            parse_mountinfo(text).unwrap(),
            [
                mount("/", "/dev/sda1", "ext4"),
                mount("/srv/mail spool", "/dev/sdb1", "xfs"),
                mount("/var/spool/postfix", "/dev/sdc1", "ext4"),
                mount("/mnt/tab\tand\\backslash", "/dev/disk/by-label/my disk", "ext4"),
                mount("/mnt/auto", "/dev/sde1", "ext4"),
                mount("/dev/shm", "tmpfs", "tmpfs"),
            ]
        );
    }

    #[test]
    fn keeps_an_empty_source() {
        let mounts = parse_mountinfo("40 21 0:60 / /scratch rw - tmpfs  rw\n").unwrap();
        assert_eq!(mounts, [mount("/scratch", "", "tmpfs")]);
    }

    #[test]
    fn unescape_leaves_what_the_kernel_does_not_write() {
        assert_eq!(unescape(r"a\040b\012c"), "a b\nc");
        assert_eq!(unescape(r"\\"), r"\\");
        assert_eq!(unescape(r"end\04"), r"end\04");
        assert_eq!(unescape(r"\+12\377\400é\"), "\\+12\\377\\400é\\");
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        let err = parse_mountinfo("27 1 254:0 / / rw,relatime - ext4").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"27 1 254:0 / / rw,relatime - ext4\": \
             expected `- type source` after the optional fields"
        );
        let err = parse_mountinfo("garbage\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"garbage\": expected a mount point in the fifth field");
        let err = parse_mountinfo("27 1 254:0 / / rw shared:1 ext4 /dev/vda rw").unwrap_err();
        assert!(format!("{err:#}").contains("expected `- type source`"));
    }

    #[test]
    fn measures_the_root_and_skips_vanished_mounts() {
        let mounts = [mount("/", "/dev/root", "ext4"), mount("/no/such/mount/point", "/dev/gone", "ext4")];
        let filesystems = filesystems(&mounts);
        assert_eq!(filesystems.len(), 1);
        let root = &filesystems[0];
        assert_eq!(root.mount_point, "/");
        assert!(root.size_bytes > 0);
        assert!(root.used_bytes <= root.size_bytes);
        assert!(root.avail_bytes <= root.size_bytes - root.used_bytes);
        assert!(root.inodes_used <= root.inodes_total);
    }
}
