//! The Debian package, installed for real (as root): `dpkg -i` of the
//! package `cargo deb` built (.ci/run builds it before the tests), its
//! files where Debian puts them and matching the current options, man pages
//! that render without warnings, bash completion as bash loads it, the
//! installed binary recording with exactly the unit's capabilities, the
//! unit accepted by `systemd-analyze verify`, then `dpkg -r` and `dpkg -P`.
//! And the unit itself: hardened, asking for the priorities the recorder
//! sets for itself, and allowing the system calls it makes.

use crate::common::*;
use flightrec::generate;
use flightrec::store::migrate::MIGRATIONS;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SOURCE_UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/flightrec.service");
const SOURCE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/flightrec.toml.example");
const UNIT: &str = "/usr/lib/systemd/system/flightrec.service";
const INSTALLED: &str = "/usr/bin/flightrec";
const CONFIG: &str = "/etc/flightrec.toml";
const DATA: &str = "/var/lib/flightrec";
const DOC: &str = "/usr/share/doc/flightrec";
/// Where systemd is PID 1; elsewhere no unit may be started.
const SYSTEMD_RUNNING: &str = "/run/systemd/system";
/// What `deb-systemd-helper enable` leaves, and purge must take away.
const ENABLED_LINK: &str = "/etc/systemd/system/multi-user.target.wants/flightrec.service";
const ENABLED_STATE: &str = "/var/lib/systemd/deb-systemd-helper-enabled/flightrec.service.dsh-also";

/// The unit's `KEY=VALUE` lines, in order (a key may repeat).
fn unit_keys(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The last value given for `key`; fails the test when there is none.
fn unit_value<'a>(keys: &'a [(String, String)], key: &str) -> &'a str {
    keys.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

/// Capability numbers (linux/capability.h) of the names a unit may give.
fn capability_bit(name: &str) -> u32 {
    match name {
        "CAP_DAC_OVERRIDE" => 1,
        "CAP_DAC_READ_SEARCH" => 2,
        "CAP_IPC_LOCK" => 14,
        "CAP_SYS_PTRACE" => 19,
        "CAP_SYS_ADMIN" => 21,
        "CAP_SYS_NICE" => 23,
        "CAP_SYS_RESOURCE" => 24,
        "CAP_SYSLOG" => 34,
        other => panic!("{other}: add its number (linux/capability.h) to this table"),
    }
}

/// The `Cap*:` mask of /proc/PID/status named `field`.
fn capability_mask(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("reading the recorder's status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    u64::from_str_radix(line.trim(), 16).expect("a hexadecimal mask")
}

/// Whether this test may have `name` at all (some containers withhold
/// capabilities even from root).
fn has_capability(name: &str) -> bool {
    capability_mask(std::process::id(), "CapBnd:") & 1 << capability_bit(name) != 0
}

/// What the recorder warns about when a capability is missing, and which.
const WARNINGS: &[(&str, &str)] = &[
    ("lowering the OOM score", "CAP_SYS_RESOURCE"),
    ("locking memory", "CAP_IPC_LOCK"),
    ("raising CPU priority", "CAP_SYS_NICE"),
];

/// A field of /proc/PID/stat after the command name (3 is the state).
fn stat_field(pid: u32, n: usize) -> String {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading the recorder's stat");
    let after_comm = stat.rsplit_once(')').expect("a command name in parentheses").1;
    after_comm.split_whitespace().nth(n - 3).expect("enough fields").to_owned()
}

#[test]
fn version_names_the_schema_it_writes_and_the_commit() {
    let version = flightrec(&["--version"]).ok();
    let lines: Vec<&str> = version.lines().collect();
    assert_eq!(lines[0], concat!("flightrec ", env!("CARGO_PKG_VERSION")), "{version}");
    assert_eq!(lines[1], format!("database schema version {}", MIGRATIONS.len()), "{version}");
    let head = run(Command::new("git").args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"]));
    if head.status.success() {
        assert_eq!(lines[2], format!("commit {}", head.stdout.trim()), "{version}");
    } else {
        assert!(lines[2].starts_with("commit unknown"), "{version}");
    }
}

/// `flightrec completions bash | head`: the reader gone before the script
/// is written is no failure.
#[test]
fn completions_into_a_closed_pipe_exit_0() {
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end);
    let mut child = Guard::spawn(
        Command::new(BIN)
            .args(["completions", "bash"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::piped()),
    );
    let status = wait_with_deadline(&mut child.0, "flightrec completions bash");
    let mut stderr = String::new();
    child.0.stderr.take().expect("piped stderr").read_to_string(&mut stderr).unwrap();
    assert!(status.success() && stderr.is_empty(), "{status}: {stderr}");
}

#[test]
fn unit_is_hardened_and_asks_for_the_priorities_the_recorder_sets() {
    let keys = unit_keys(&fs::read_to_string(SOURCE_UNIT).unwrap());
    assert_eq!(
        unit_value(&keys, "ExecStart"),
        "/usr/bin/flightrec record",
        "no --db: readers find the same file"
    );
    assert_eq!(unit_value(&keys, "DevicePolicy"), "closed");
    assert_eq!(unit_value(&keys, "DeviceAllow"), "/dev/kmsg r");
    assert_eq!(unit_value(&keys, "NoNewPrivileges"), "true");
    assert_eq!(unit_value(&keys, "ProtectSystem"), "strict");
    let capabilities = unit_value(&keys, "CapabilityBoundingSet");
    assert!(!capabilities.contains("CAP_SYS_ADMIN"), "{capabilities}");

    let security = run(Command::new("systemd-analyze").args(["security", "--offline=yes", SOURCE_UNIT]));
    let exposure: f64 = security
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("→ Overall exposure level for flightrec.service: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{}{}", security.stdout, security.stderr));
    assert!(exposure < 4.0, "exposure {exposure}:\n{}", security.stdout);

    // The recorder, started as root outside systemd, sets the same.
    let dir = TempDir::new("unit-priorities");
    let mut recorder = Recorder::start(&dir, &dir.join("flightrec.db"));
    recorder.wait_for_samples(1);
    let pid = recorder.pid();
    assert_eq!(stat_field(pid, 19), unit_value(&keys, "Nice"), "nice");
    let oom = fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    if has_capability("CAP_SYS_RESOURCE") {
        assert_eq!(oom.trim(), unit_value(&keys, "OOMScoreAdjust"), "OOM score");
    } else {
        eprintln!("OOM score not checked: this machine withholds CAP_SYS_RESOURCE even from root");
    }
    let ionice = run(Command::new("ionice").args(["-p", &pid.to_string()])).ok();
    let expected = format!(
        "{}: prio {}",
        unit_value(&keys, "IOSchedulingClass"),
        unit_value(&keys, "IOSchedulingPriority")
    );
    assert_eq!(ionice.trim(), expected, "I/O priority");
    recorder.stop();
}

/// Every system call in `group` (`@system-service`, ...) or its groups,
/// as systemd defines them.
fn syscall_group(group: &str) -> Vec<String> {
    let listing = run(Command::new("systemd-analyze").args(["syscall-filter", group])).ok();
    let mut calls = Vec::new();
    for entry in listing.lines().skip(1).map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if entry.starts_with('@') {
            calls.extend(syscall_group(entry));
        } else {
            calls.push(entry.to_owned());
        }
    }
    calls
}

/// The unit's `SystemCallFilter=` lines applied in order: an allow list
/// first, then `~` lines taking calls away.
fn allowed_syscalls(keys: &[(String, String)]) -> Vec<String> {
    let mut allowed: Vec<String> = Vec::new();
    for (_, value) in keys.iter().filter(|(k, _)| k == "SystemCallFilter") {
        let (deny, list) = match value.strip_prefix('~') {
            Some(list) => (true, list),
            None => (false, value.as_str()),
        };
        let named: Vec<String> = list
            .split_whitespace()
            .flat_map(|n| if n.starts_with('@') { syscall_group(n) } else { vec![n.to_owned()] })
            .collect();
        if deny {
            allowed.retain(|call| !named.contains(call));
        } else {
            allowed.extend(named);
        }
    }
    allowed
}

/// Calls the unit refuses knowingly: the caller ignores the failure.
const REFUSED_KNOWINGLY: &[&str] = &[
    // SQLite, as root, gives the -wal and -shm files the database's owner
    // and ignores the result; under the unit that owner is root already,
    // and without CAP_CHOWN no other owner could be given anyway.
    "fchown",
];

/// Under strace, the recorder with a probe, a watched directory and a
/// watched log makes no system call that the unit's filter refuses (it
/// would get EPERM, and lose that source, only under systemd).
#[test]
fn recorder_makes_only_system_calls_the_unit_allows() {
    let keys = unit_keys(&fs::read_to_string(SOURCE_UNIT).unwrap());
    let allowed = allowed_syscalls(&keys);
    assert!(allowed.iter().any(|c| c == "ioprio_set"), "the filter takes away what the recorder needs");

    let dir = TempDir::new("syscalls");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let probe = format!("tcp:127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (db, trace, log) = (dir.join("flightrec.db"), dir.join("strace.out"), dir.join("watched.log"));
    fs::write(&log, "a line\n").unwrap();
    let mut strace = Guard::spawn(
        Command::new("strace")
            .args(["-f", "-qq", "-o", path_str(&trace), "--", BIN, "record", "--interval", "200ms"])
            .args(["--db", path_str(&db), "--probe", &probe])
            .args(["--watch-dir", path_str(&dir.join("")), "--watch-log", path_str(&log)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let outer = strace.pid();
    let children = format!("/proc/{outer}/task/{outer}/children");
    let recorder: i32 = eventually("strace to start the recorder", || {
        let text = fs::read_to_string(&children).map_err(|e| format!("{children}: {e}"))?;
        text.split_whitespace().next().and_then(|pid| pid.parse().ok()).ok_or(text)
    });
    eventually("3 samples under strace", || {
        let conn = open_read_only(&db).map_err(|e| e.to_string())?;
        let n: i64 =
            conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        if n >= 3 { Ok(()) } else { Err(format!("{n} samples")) }
    });
    kill(Pid::from_raw(recorder), Signal::SIGTERM).unwrap();
    let status = wait_with_deadline(&mut strace.0, "strace and the recorder");
    assert!(status.success(), "the recorder under strace exited with {status}");

    // Lines read `PID name(arguments) = result`.
    let text = fs::read_to_string(&trace).unwrap();
    let mut refused: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, call)| call.trim_start()))
        .filter_map(|call| call.split_once('(').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .filter(|name| !allowed.iter().any(|a| a == name) && !REFUSED_KNOWINGLY.contains(name))
        .collect();
    refused.sort_unstable();
    refused.dedup();
    assert!(refused.is_empty(), "the unit's SystemCallFilter refuses {refused:?}");
}

/// The package `cargo deb` wrote for this version.
fn package_file() -> String {
    let arch = run(Command::new("dpkg").arg("--print-architecture")).ok();
    let path = format!(
        "{}/target/debian/flightrec_{}-1_{}.deb",
        env!("CARGO_MANIFEST_DIR"),
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    );
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: build it as .ci/run does (cargo build --release, \
         target/release/flightrec generate target/generated, cargo deb --no-build)"
    );
    path
}

/// flightrec as dpkg knows it: "installed", "config-files", or "" when
/// dpkg has never heard of it or it was purged.
fn package_state() -> String {
    let query = run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", "flightrec"]));
    if query.status.success() { query.stdout.trim().replace("not-installed", "") } else { String::new() }
}

/// Where installing the package leaves traces besides its own files:
/// systemd's configuration and deb-systemd-helper's records.
const TRACES: &[&str] = &["/etc/systemd", "/var/lib/systemd"];

/// Every path below `TRACES` that names flightrec, to compare before and
/// after (other packages may come and go meanwhile).
fn traces() -> Vec<String> {
    fn walk(dir: &Path, paths: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.display().to_string().contains("flightrec") {
                paths.push(path.display().to_string());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, paths);
            }
        }
    }
    let mut paths = Vec::new();
    for root in TRACES {
        walk(Path::new(root), &mut paths);
    }
    paths.sort();
    paths
}

/// The package installed by this test, purged (and the data directory it
/// recorded into removed) when dropped, even when the test fails. Refuses
/// to start on a machine where flightrec or its files already are: those
/// are someone's, and purging would take them.
struct Installed;

impl Installed {
    fn new(package: &str) -> Installed {
        let state = package_state();
        assert!(
            state.is_empty(),
            "flightrec is already known to dpkg ({state}): the test installs and purges it"
        );
        for path in [INSTALLED, CONFIG, DATA, UNIT, ENABLED_LINK] {
            assert!(!Path::new(path).exists(), "{path} exists: the test would install over it and purge it");
        }
        let installed = Installed;
        let dpkg = run(Command::new("dpkg").args(["-i", package]));
        assert!(dpkg.status.success(), "dpkg -i failed:\n{}{}", dpkg.stdout, dpkg.stderr);
        installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !package_state().is_empty() {
            let _ = Command::new("dpkg").args(["-P", "flightrec"]).stdout(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(DATA);
    }
}

/// Each `deb-systemd-invoke` and `systemctl` line of a maintainer script
/// sits inside an `if [ -d /run/systemd/system ]`: without systemd as
/// PID 1, no unit is started, stopped or reloaded.
fn assert_systemd_calls_guarded(script: &str) {
    let text = fs::read_to_string(format!("/var/lib/dpkg/info/flightrec.{script}")).unwrap();
    let mut guards: Vec<bool> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("if ") {
            guards.push(line.contains(SYSTEMD_RUNNING));
        } else if line == "fi" {
            guards.pop();
        } else if line.starts_with("deb-systemd-invoke") || line.starts_with("systemctl") {
            assert!(guards.contains(&true), "{script}: {line:?} runs without systemd as PID 1:\n{text}");
        }
    }
}

/// Completions bash offers for `line`, loading flightrec's completion the
/// way bash-completion does for any command (from its standard directory).
fn bash_completions(line: &str) -> Vec<String> {
    let script = r#"
        source /usr/share/bash-completion/bash_completion
        __load_completion flightrec || { echo "no completion for flightrec" >&2; exit 1; }
        COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        function=$(complete -p flightrec | sed -E 's/.* -F ([^ ]+) .*/\1/')
        "$function" flightrec "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let bash = run(Command::new("bash").args(["-c", script, "bash", line]));
    assert!(bash.status.success(), "bash completion of {line:?} failed: {}", bash.stderr);
    bash.stdout.lines().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect()
}

/// `export --what WHAT` of the default database, by the installed binary.
fn installed_export(what: &str) -> Vec<Row> {
    let out = run(Command::new(INSTALLED).args(["export", "--what", what]).env_remove("FLIGHTREC_DB"));
    parse_csv(&out.ok()).1
}

#[test]
fn package_installs_where_debian_puts_things_records_and_purges_cleanly() {
    let package = package_file();
    let traces_before = traces();
    let installed = Installed::new(&package);

    // Where Debian puts things, and what the current options generate.
    let mode = fs::metadata(INSTALLED).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o755);
    assert!(Path::new(UNIT).exists(), "{UNIT}");
    for file in ["README.md", "copyright", "changelog.Debian.gz"] {
        assert!(Path::new(DOC).join(file).exists(), "{DOC}/{file}");
    }
    let copyright = fs::read_to_string(Path::new(DOC).join("copyright")).unwrap();
    assert!(copyright.contains("License: MIT or Apache-2.0"), "{copyright}");
    assert_eq!(fs::read_to_string(CONFIG).unwrap(), fs::read_to_string(SOURCE_CONFIG).unwrap());
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "flightrec"])).ok();
    assert!(conffiles.contains(CONFIG), "{CONFIG} is not a conffile: {conffiles}");
    let version = flightrec(&["--version"]).ok();
    let installed_version = run(Command::new(INSTALLED).arg("--version")).ok();
    assert_eq!(installed_version, version, "the package is of another build: rebuild it as .ci/run does");
    for (shell, file, dir) in generate::COMPLETIONS {
        let printed = flightrec(&["completions", &shell.to_string()]).ok();
        let path = Path::new(dir).join(file);
        let shipped = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(shipped == printed, "{} differs from `flightrec completions {shell}`", path.display());
    }
    for (name, expected) in generate::man_pages().unwrap() {
        let path = format!("/usr/share/man/man1/{name}.1.gz");
        let shipped = run(Command::new("gzip").args(["-dc", &path])).ok();
        assert!(shipped.as_bytes() == expected, "{path} differs from what the current options generate");
        let man = run(Command::new("man")
            .args(["--warnings", "-l", &path])
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .env("MANPAGER", "cat"));
        assert!(man.status.success() && man.stderr.is_empty(), "man -l {path}: {}", man.stderr);
        for heading in ["SYNOPSIS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "FLIGHTREC_DB"] {
            assert!(man.stdout.contains(heading), "{path} has no {heading}:\n{}", man.stdout);
        }
    }

    // The unit is enabled the Debian way, and started only under systemd.
    assert!(fs::symlink_metadata(ENABLED_LINK).is_ok(), "{ENABLED_LINK}: not enabled");
    assert_systemd_calls_guarded("postinst");
    assert_systemd_calls_guarded("prerm");
    assert_systemd_calls_guarded("postrm");
    let postinst = fs::read_to_string("/var/lib/dpkg/info/flightrec.postinst").unwrap();
    assert!(postinst.contains("deb-systemd-invoke $_dh_action flightrec.service"), "{postinst}");
    if Path::new(SYSTEMD_RUNNING).exists() {
        // The service records into the default database: stop it, so
        // that the recording below is the only one.
        run(Command::new("systemctl").args(["stop", "flightrec"])).ok();
    }

    let verify = run(Command::new("systemd-analyze").args(["verify", UNIT]));
    assert!(
        verify.status.success() && !verify.stderr.contains("flightrec"),
        "systemd-analyze verify {UNIT}:\n{}",
        verify.stderr
    );

    let offered = bash_completions("flightrec ex");
    assert_eq!(offered, ["export"], "completions of `flightrec ex`");
    let offered = bash_completions("flightrec export --what ");
    for what in ["system", "processes", "events", "probes"] {
        assert!(offered.iter().any(|o| o == what), "--what offers {offered:?}");
    }

    record_with_the_units_capabilities();

    // Removed: the data stays, and so does the configuration.
    let removed = run(Command::new("dpkg").args(["-r", "flightrec"]));
    assert!(removed.status.success(), "dpkg -r:\n{}{}", removed.stdout, removed.stderr);
    assert!(!Path::new(INSTALLED).exists());
    assert!(Path::new(DATA).join("flightrec.db").exists(), "dpkg -r took the data");
    assert!(Path::new(CONFIG).exists(), "dpkg -r took the configuration");

    // Purged: the configuration and the enablement go, the data stays and
    // its place is said.
    let purged = run(Command::new("dpkg").args(["-P", "flightrec"]));
    assert!(purged.status.success(), "dpkg -P:\n{}{}", purged.stdout, purged.stderr);
    assert!(purged.stderr.contains(DATA), "purge does not say where the data is:\n{}", purged.stderr);
    assert!(Path::new(DATA).join("flightrec.db").exists(), "dpkg -P took the data");
    for path in [CONFIG, UNIT, ENABLED_LINK, ENABLED_STATE] {
        assert!(fs::symlink_metadata(path).is_err(), "{path} is left after purge");
    }
    assert_eq!(package_state(), "", "dpkg still knows flightrec");
    drop(installed);
    assert!(!Path::new(DATA).exists());
    let traces_after = traces();
    let left: Vec<&String> = traces_after.iter().filter(|p| !traces_before.contains(p)).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The installed binary under `setpriv` with the bounding set the unit
/// gives it (and nothing inheritable): it records other users' processes
/// with their I/O counters, kernel messages and a probe into the default
/// database, and raises its priorities without a warning.
fn record_with_the_units_capabilities() {
    let keys = unit_keys(&fs::read_to_string(UNIT).unwrap());
    let names: Vec<&str> = unit_value(&keys, "CapabilityBoundingSet").split_whitespace().collect();
    let bounding: Vec<String> =
        names.iter().map(|n| format!("+{}", n.trim_start_matches("CAP_").to_lowercase())).collect();
    let available = capability_mask(std::process::id(), "CapBnd:");
    let expected_mask = names.iter().fold(0u64, |mask, n| mask | 1 << capability_bit(n)) & available;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target = format!("tcp:127.0.0.1:{}", listener.local_addr().unwrap().port());
    let nobody = Guard::spawn(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "sleep",
        "600",
    ]));
    let dir = TempDir::new("package-setpriv");
    let log = dir.join("recorder.log");
    let mut recorder = Guard::spawn(
        Command::new("setpriv")
            .arg(format!("--bounding-set=-all,{}", bounding.join(",")))
            .args(["--inh-caps=-all", "--no-new-privs", "--", INSTALLED, "record", "--interval", "200ms"])
            .args(["--probe", &target])
            .env_remove("FLIGHTREC_DB")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap()),
    );
    let pid = recorder.pid();
    let db = Path::new(DATA).join("flightrec.db");
    eventually("the recorder to commit samples into the default database", || {
        if let Ok(Some(status)) = recorder.0.try_wait() {
            panic!("the recorder exited ({status}):\n{}", fs::read_to_string(&log).unwrap_or_default());
        }
        let conn = open_read_only(&db).map_err(|e| e.to_string())?;
        let n: i64 =
            conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        if n >= 2 { Ok(()) } else { Err(format!("{n} samples")) }
    });
    assert_eq!(capability_mask(pid, "CapEff:"), expected_mask, "the recorder's capabilities");

    let nobody_pid = nobody.pid().to_string();
    // Its I/O counters (/proc/PID/io) are what needs CAP_SYS_PTRACE and
    // CAP_DAC_READ_SEARCH: without either, the rate stays empty.
    let row = eventually("the other user's process with its I/O rates", || {
        let rows = installed_export("processes");
        let row = rows.into_iter().rfind(|r| r.text("pid") == nobody_pid).ok_or("not recorded yet")?;
        if row.real("read_bytes_per_s").is_none() { Err(format!("no I/O rates: {row:?}")) } else { Ok(row) }
    });
    assert!(!row.text("fds").is_empty(), "{row:?}");
    assert_eq!(row.int("uid"), 65534, "{row:?}");

    let probe = eventually("the probe's result", || {
        installed_export("probes")
            .into_iter()
            .find(|r| r.text("target") == target)
            .ok_or_else(|| "none yet".to_owned())
    });
    assert_eq!(probe.text("outcome"), "ok", "{probe:?}");

    // Writes to /dev/kmsg are rate-limited machine-wide: write again when
    // a second passed without the line showing.
    let text = format!("flightrec-package-test: kernel line {}", unique());
    let mut kmsg = OpenOptions::new().write(true).open("/dev/kmsg").expect("opening /dev/kmsg");
    let mut written_at: Option<Instant> = None;
    eventually("the kernel line among the events", || {
        if installed_export("events").iter().any(|r| r.text("detail") == text) {
            return Ok(());
        }
        if written_at.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
            kmsg.write_all(format!("<3>{text}").as_bytes()).map_err(|e| format!("writing /dev/kmsg: {e}"))?;
            written_at = Some(Instant::now());
        }
        Err("not seen yet".into())
    });

    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let status = wait_with_deadline(&mut recorder.0, "the recorder");
    let stderr = fs::read_to_string(&log).unwrap();
    assert!(status.success(), "the recorder exited with {status}:\n{stderr}");
    // Only what this machine withholds from the test itself may fail.
    for line in stderr.lines().filter(|l| l.contains("warning")) {
        let excused = WARNINGS.iter().any(|(step, cap)| line.contains(step) && !has_capability(cap));
        assert!(excused, "with the unit's capabilities:\n{stderr}");
    }
    let check = run(Command::new(INSTALLED).arg("check").env_remove("FLIGHTREC_DB")).ok();
    assert!(check.contains(" ok: "), "{check}");
}
