//! Bad input: a `--db` that is not a flightrec database this build can use,
//! or an option value that makes no sense, is refused with exit 2 and one
//! line naming the file or option at fault, and the file is left as it was,
//! byte for byte.

use crate::common::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs `record`, `show` and `export` on `db`: each must exit 2 with an
/// error naming the file and `reason`, print nothing on stdout and leave
/// the file's bytes unchanged.
fn assert_refused_everywhere(db: &Path, reason: &str) {
    let before = fs::read(db).unwrap();
    let path = path_str(db);
    for command in [&["record", "--interval", "200ms"][..], &["show"], &["export"]] {
        let mut args = command.to_vec();
        args.extend(["--db", path]);
        // Refusing takes no time; a recorder that accepted the file would
        // run until killed.
        let out = flightrec_within(Duration::from_secs(15), &args);
        let shown = format!("flightrec {}", args.join(" "));
        assert_eq!(out.code(), Some(2), "{shown}: stderr:\n{}", out.stderr);
        // The error is the last line (warnings may come before it).
        let error = out.stderr.trim_end().lines().last().unwrap_or_default();
        assert!(
            error.starts_with("flightrec: ") && error.contains(path) && error.contains(reason),
            "{shown}: expected a last line naming {path} and {reason:?}, got:\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{shown}: stdout:\n{}", out.stdout);
        let after = fs::read(db).unwrap();
        assert!(after == before, "{shown} changed the bytes of {path}");
    }
}

/// A real flightrec database, recorded for a moment, whose schema version
/// is then set beyond what this build knows.
fn newer_schema_db(dir: &TempDir, journal_mode: &str) -> PathBuf {
    let db = dir.join("newer.db");
    record_samples(dir, &db, 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", journal_mode, |r| r.get(0)).unwrap();
    assert_eq!(mode, journal_mode);
    conn.pragma_update(None, "user_version", 9999).unwrap();
    // Closing the last connection checkpoints the WAL into the file.
    conn.close().unwrap();
    db
}

#[test]
fn random_bytes_are_refused() {
    let dir = TempDir::new("random");
    let db = dir.join("random.db");
    let mut bytes = vec![0u8; 64 * 1024];
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    fs::write(&db, &bytes).unwrap();
    assert_refused_everywhere(&db, "not an SQLite database");
}

#[test]
fn an_empty_file_is_refused() {
    let dir = TempDir::new("empty");
    let db = dir.join("empty.db");
    fs::write(&db, b"").unwrap();
    assert_refused_everywhere(&db, "empty");
}

#[test]
fn another_programs_sqlite_file_is_refused() {
    let dir = TempDir::new("foreign");
    let db = dir.join("contacts.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
         INSERT INTO contacts (name, email) VALUES ('Ada', 'ada@example.org'), ('Alan', 'alan@example.org');",
    )
    .unwrap();
    conn.close().unwrap();
    assert_refused_everywhere(&db, "another program");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let db = newer_schema_db(&dir, "wal");
    assert_refused_everywhere(&db, "newer");
}

/// `record` must not switch such a file to WAL (which rewrites its header)
/// before it finds the schema is too new.
#[test]
fn a_newer_schema_in_rollback_journal_mode_is_refused_untouched() {
    let dir = TempDir::new("newer-delete");
    let db = newer_schema_db(&dir, "delete");
    assert_refused_everywhere(&db, "newer");
}

/// A recorded flightrec file with pages `first..` (1-based; to the end
/// when `count` is `None`) overwritten with random bytes.
fn damaged_db(
    dir: &TempDir,
    first: impl FnOnce(&rusqlite::Connection) -> i64,
    count: Option<usize>,
) -> PathBuf {
    let db = dir.join("damaged.db");
    record_samples(dir, &db, 3);
    let wal = dir.join("damaged.db-wal");
    assert!(
        fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the stopped recorder left its WAL unmerged: the damage would not be seen"
    );
    let conn = open_read_only(&db).unwrap();
    let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap() as usize;
    let first = first(&conn) as usize;
    drop(conn);
    let mut bytes = fs::read(&db).unwrap();
    let start = (first - 1) * page_size;
    let end = count.map_or(bytes.len(), |n| start + n * page_size);
    assert!(first > 1 && end <= bytes.len(), "pages {first}.. of {} bytes", bytes.len());
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes[start..end]).unwrap();
    fs::write(&db, &bytes).unwrap();
    db
}

/// A flightrec file whose first page is intact (SQLite header, application
/// id, schema) but whose tables are garbage.
#[test]
fn a_damaged_database_is_refused_untouched() {
    let dir = TempDir::new("damaged");
    let db = damaged_db(&dir, |_| 2, None);
    assert_refused_everywhere(&db, "damaged");
}

/// Only the samples table's root page is garbage: the runs table still
/// reads, so a recorder that checks no more than it needs could start a
/// run and then fail every commit (and, before the fix, ignore SIGTERM).
#[test]
fn a_damaged_samples_table_is_refused_untouched() {
    let dir = TempDir::new("damaged-samples");
    let samples_root = |conn: &rusqlite::Connection| {
        conn.query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'samples'", [], |r| r.get(0)).unwrap()
    };
    let db = damaged_db(&dir, samples_root, Some(1));
    assert_refused_everywhere(&db, "damaged");
}

#[test]
fn bad_times_and_intervals_exit_2_naming_the_option() {
    let dir = TempDir::new("options");
    let db = dir.join("flightrec.db");
    record_samples(&dir, &db, 1);
    let before = fs::read(&db).unwrap();
    let path = path_str(&db);
    let cases: [(&[&str], &str, &str); 6] = [
        (&["show", "--at", "garbage"], "--at", "garbage"),
        (&["show", "--at", "25:61"], "--at", "25:61"),
        (&["export", "--from", "yesterday-ish"], "--from", "yesterday-ish"),
        (&["export", "--to", "12:34:56:78"], "--to", "12:34:56:78"),
        (&["export", "--from", "@99999999999999999999"], "--from", "@99999999999999999999"),
        (&["export", "--from", "now", "--to", "1h ago"], "--from", "after --to"),
    ];
    for (command, option, detail) in cases {
        let mut args = command.to_vec();
        args.extend(["--db", path]);
        let out = flightrec(&args);
        let shown = format!("flightrec {}", args.join(" "));
        assert_eq!(out.code(), Some(2), "{shown}: stderr:\n{}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("flightrec: {option} ")) && out.stderr.contains(detail),
            "{shown}: expected a message about {option} and {detail:?}, got:\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{shown}: stdout:\n{}", out.stdout);
    }
    assert!(fs::read(&db).unwrap() == before, "a refused read changed the file");

    for interval in ["5x", "10ms", "2h", "", "-1s"] {
        let fresh = dir.join(&format!("never-{}.db", unique()));
        let option = format!("--interval={interval}");
        let out = flightrec(&["record", "--db", path_str(&fresh), &option]);
        assert_eq!(out.code(), Some(2), "{option}: stderr:\n{}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("flightrec: --interval {interval:?}")),
            "{option}: expected a message about --interval, got:\n{}",
            out.stderr
        );
        assert!(!fresh.exists(), "{option}: a refused record created {}", fresh.display());
    }
}

#[test]
fn a_repeated_probe_or_a_max_size_too_small_is_refused_before_the_file() {
    let dir = TempDir::new("record-limits");
    let cases: [(&[&str], &str); 3] = [
        (&["--probe", "tcp:127.0.0.1:25", "--probe", "tcp:127.0.0.1:25"], "--probe"),
        (&["--max-size", "1", "--reserve", "0"], "--max-size"),
        (&["--max-size", "1MiB", "--reserve", "1MiB"], "--reserve"),
    ];
    for (extra, option) in cases {
        let fresh = dir.join(&format!("never-{}.db", unique()));
        let mut args = vec!["record", "--db", path_str(&fresh)];
        args.extend(extra);
        let out = flightrec(&args);
        let shown = format!("flightrec {}", args.join(" "));
        assert_eq!(out.code(), Some(2), "{shown}: stderr:\n{}", out.stderr);
        assert!(out.stderr.starts_with(&format!("flightrec: {option} ")), "{shown}: {}", out.stderr);
        assert!(!fresh.exists(), "{shown}: a refused record created {}", fresh.display());
    }
}

#[test]
fn directories_the_recorder_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("private-dirs");
    let db = dir.join("state/flightrec/flightrec.db");
    record_samples(&dir, &db, 1);
    for created in [dir.join("state"), dir.join("state/flightrec")] {
        let mode = fs::metadata(&created).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", created.display());
    }
}

/// A directory given as the database is named as one, and the readers do
/// not suggest a path that does not exist yet: they cannot create one.
#[test]
fn a_directory_is_refused_in_the_words_of_each_command() {
    let dir = TempDir::new("directory");
    let db = dir.join("a-directory");
    fs::create_dir(&db).unwrap();
    let path = path_str(&db);
    for command in ["show", "gaps", "check", "report", "export"] {
        let out = flightrec(&[command, "--db", path]);
        assert_eq!(out.code(), Some(2), "{command}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("{path}: is a directory")), "{command}: {}", out.stderr);
        assert!(!out.stderr.contains("does not exist yet"), "{command}: {}", out.stderr);
    }
    let out = flightrec_within(Duration::from_secs(15), &["record", "--db", path]);
    assert_eq!(out.code(), Some(2), "record: {}", out.stderr);
    assert!(out.stderr.contains("is a directory"), "record: {}", out.stderr);
}

/// Every reader opens the database `--config` names, as `record` does with
/// the same file; a `--config` that does not exist is said, exit 2.
#[test]
fn readers_open_the_database_their_config_names() {
    let dir = TempDir::new("reader-config");
    let db = dir.join("configured.db");
    record_samples(&dir, &db, 2);
    let config = dir.join("flightrec.toml");
    fs::write(&config, format!("db = {:?}\n", path_str(&db))).unwrap();
    let config = path_str(&config);
    for command in [&["show"][..], &["gaps"], &["check"], &["export", "--what", "system"]] {
        let mut args = command.to_vec();
        args.extend(["--config", config]);
        let out = flightrec(&args);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
    }
    let missing = dir.join("missing.toml");
    let out = flightrec(&["show", "--config", path_str(&missing)]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains(path_str(&missing)) && out.stderr.contains("--config"), "{}", out.stderr);
}
