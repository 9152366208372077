//! The SQLite file: opening it safely, runs, committing samples and reading
//! them back. Knows SQLite, not what the numbers mean.
//!
//! Durability: WAL with `synchronous=FULL` and one transaction per sample,
//! so a sample whose commit returned survives kill -9 and a power cut.
//! Safety: a file is checked (SQLite header, application id, schema version)
//! through a read-only connection before anything writes to it, so a
//! foreign, damaged or newer file is refused with its bytes untouched.

mod by_time;
mod check;
pub mod clock;
pub mod codec;
pub mod columns;
mod entities;
mod events;
mod lock;
pub mod migrate;
pub mod query;
mod read;
mod retention;
mod tables;

pub use events::Event;
pub use lock::{Writer, lock_path};
pub use read::{Damage, Irregular, StoredSample};
pub use retention::Limits;
pub use tables::Tables;

use crate::error::BadInput;
use crate::sample::Sample;
use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PRAGMA application_id` of flightrec files ("FLRC").
const APPLICATION_ID: i32 = 0x464c_5243;

/// A key frame at least this often, so decoding any sample reads at most
/// this much of the run.
const KEY_FRAME_EVERY: Duration = Duration::from_secs(300);

/// Bytes of the write-ahead log kept after a checkpoint.
const WAL_SIZE_LIMIT: i64 = 8 << 20;

/// Small pages: a commit rewrites every page it touches, and a sample
/// touches few; 1 KiB pages write a third less than the default 4 KiB.
const PAGE_SIZE: i64 = 1024;

/// Pages in the WAL before it is copied into the database: frequent,
/// small checkpoints keep the WAL short and each copy cheap.
const CHECKPOINT_PAGES: i64 = 400;

/// How long a reader or the recorder waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The database named by `$FLIGHTREC_DB`, if set.
pub fn env_path() -> Option<PathBuf> {
    std::env::var_os("FLIGHTREC_DB").filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// The default database: /var/lib/flightrec for root, else the XDG state
/// directory.
pub fn default_path() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/flightrec/flightrec.db");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("flightrec/flightrec.db")
}

pub use crate::model::Run;

/// A run as the store's tests begin it: sampling every `interval_ms`.
#[cfg(test)]
pub(crate) fn test_run(interval_ms: i64) -> Run {
    Run {
        id: 0,
        boot_id: "b".into(),
        boot_time_ms: 0,
        hostname: "h".into(),
        kernel: "k".into(),
        version: "v".into(),
        pid: 1,
        interval_ms,
        start_ms: 0,
        stop_ms: None,
        stop_reason: None,
        recording: true,
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    encoder: FrameEncoder,
    /// The recorder's writer lock, held for as long as the store; `None`
    /// for readers.
    writer_lock: Option<lock::WriterLock>,
    kernel_budget: events::HourBudget,
    /// The time of the newest committed sample, to see the clock set back.
    newest_time_ms: Option<i64>,
}

impl Store {
    /// Opens (creating it, mode 0600, and its directory if missing) the
    /// database the recorder writes to.
    pub fn open_for_recording(path: &Path) -> Result<Store> {
        let writer_lock = lock_for_writing(path)?;
        let fresh = !path.exists();
        if fresh {
            create_file(path)?;
        } else {
            // Everything that could refuse the file is asked read-only,
            // before the first write (switching to WAL rewrites the header).
            let conn = validate(path, FOR_RECORDING)?;
            migrate::check_version(&conn, path)?;
            quick_check(&conn, path)?;
        }
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if fresh {
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
        anyhow::ensure!(mode == "wal", "{}: SQLite refused WAL mode (got {mode})", path.display());
        conn.pragma_update(None, "synchronous", "full")?;
        // The WAL is reused from its start after each checkpoint; capping
        // what stays of it keeps it from holding on to a burst's size.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
        migrate::migrate(&mut conn, path).with_context(|| format!("preparing {}", path.display()))?;
        create_view(&conn).with_context(|| format!("preparing {}", path.display()))?;
        Ok(Store {
            path: path.into(),
            encoder: FrameEncoder::default(),
            newest_time_ms: conn
                .query_row("SELECT time_ms FROM samples ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
                .optional()?,
            conn,
            writer_lock: Some(writer_lock),
            kernel_budget: events::HourBudget::default(),
        })
    }

    /// Opens an existing database for reading; never writes to it.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(BadInput::Unusable {
                path: path.into(),
                reason: "no such file; start `flightrec record` first, or pass --db".into(),
            }
            .into());
        }
        let conn = validate(path, FOR_READING)?;
        if migrate::check_version(&conn, path)? < migrate::READABLE_FROM {
            return Err(BadInput::Unusable {
                path: path.into(),
                reason: "written by an older flightrec; run `flightrec record` on it once to upgrade it"
                    .into(),
            }
            .into());
        }
        Ok(Store {
            conn,
            path: path.into(),
            encoder: FrameEncoder::default(),
            writer_lock: None,
            kernel_budget: events::HourBudget::default(),
            newest_time_ms: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn begin_run(&mut self, run: &Run) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (boot_id, boot_time_ms, hostname, kernel, version, pid, interval_ms, start_ms,
                               scalars_from_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
            params![
                run.boot_id,
                run.boot_time_ms,
                run.hostname,
                run.kernel,
                run.version,
                run.pid,
                run.interval_ms,
                run.start_ms
            ],
        )?;
        self.encoder = FrameEncoder::default();
        Ok(self.conn.last_insert_rowid())
    }

    pub fn end_run(&mut self, run_id: i64, stop_ms: i64, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET stop_ms = ?1, stop_reason = ?2 WHERE id = ?3",
            params![stop_ms, reason, run_id],
        )?;
        Ok(())
    }

    /// Commits one sample in its own transaction. On failure the sample is
    /// untouched, so the caller can try it again.
    pub fn commit(&mut self, run_id: i64, interval: Duration, sample: &Sample) -> Result<()> {
        let frames = self.encoder.encode(sample, interval);
        let stepped_back = self.newest_time_ms.is_some_and(|newest| sample.time_ms < newest);
        let result = frames.and_then(|frames| {
            insert_sample(&mut self.conn, &mut self.kernel_budget, run_id, sample, &frames, stepped_back)
        });
        match result {
            Ok(id) => {
                self.newest_time_ms = Some(sample.time_ms);
                self.encoder.committed(id, sample);
                Ok(())
            }
            Err(err) => {
                // The chain of frames must match what is stored: start over
                // with a key frame.
                self.encoder = FrameEncoder::default();
                Err(err)
            }
        }
    }

    /// Whether the file has `table` (with `column`, where given): a file
    /// of an older schema, opened read-only, lacks what later migrations
    /// added.
    fn has(&self, table: &str, column: Option<&str>) -> Result<bool> {
        let found = match column {
            None => self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
                [table],
                |r| r.get(0),
            ),
            Some(column) => self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
                [table, column],
                |r| r.get(0),
            ),
        };
        Ok(found?)
    }

    pub fn runs(&self) -> Result<Vec<Run>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, boot_id, boot_time_ms, hostname, kernel, version, pid, interval_ms, start_ms, stop_ms, stop_reason
             FROM runs ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Run {
                id: r.get(0)?,
                boot_id: r.get(1)?,
                boot_time_ms: r.get(2)?,
                hostname: r.get(3)?,
                kernel: r.get(4)?,
                version: r.get(5)?,
                pid: r.get(6)?,
                interval_ms: r.get(7)?,
                start_ms: r.get(8)?,
                stop_ms: r.get(9)?,
                stop_reason: r.get(10)?,
                recording: false,
            })
        })?;
        let mut runs: Vec<Run> = rows.collect::<rusqlite::Result<_>>()?;
        if let Some(newest) = runs.last_mut().filter(|r| r.stop_ms.is_none()) {
            // Where nobody can tell, assume it runs: the silence it then
            // shows is still a period once it lasts.
            newest.recording = !matches!(lock::writer(&self.path), Ok(Writer::None));
        }
        Ok(runs)
    }

    /// The id of the sample nearest to `time_ms`, if any.
    pub fn nearest_sample(&self, time_ms: i64) -> Result<Option<i64>> {
        let before = self.last_at_or_before(time_ms)?;
        let after = self.first_at_or_after(time_ms)?;
        Ok(match (before, after) {
            (Some(b), Some(a)) => Some(if time_ms - b.1 <= a.1 - time_ms { b.0 } else { a.0 }),
            (b, a) => b.or(a).map(|(id, _)| id),
        })
    }

    pub fn latest_sample_time(&self) -> Result<Option<i64>> {
        Ok(self.last_at_or_before(i64::MAX)?.map(|(_, time)| time))
    }

    pub fn latest_sample(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row("SELECT max(id) FROM samples", [], |r| r.get(0))?)
    }
}

/// The scalars and blobs of one sample as stored, `None` where its source
/// failed.
struct Frames {
    /// The key frame's sample for a delta; `None` for a key frame itself.
    key_id: Option<i64>,
    /// In `columns::SCALARS` order, integers against the key frame's.
    scalars: Vec<Option<columns::Num>>,
    blobs: Vec<Option<Vec<u8>>>,
}

/// The previous committed table of each kind, which the next frames are
/// deltas against, and the key-frame schedule.
#[derive(Default)]
struct FrameEncoder {
    bases: tables::Bases,
    /// Sample holding the current key frame; `None` before the first commit.
    key_id: Option<i64>,
    /// The key frame's own scalars, which the next samples' integers are
    /// stored against.
    key_scalars: Vec<Option<columns::Num>>,
    since_key: u32,
    pending_key_frame: bool,
}

impl FrameEncoder {
    fn encode(&mut self, sample: &Sample, interval: Duration) -> Result<Frames> {
        let every = (KEY_FRAME_EVERY.as_millis() / interval.as_millis().max(1)).max(1) as u32;
        let key_frame = self.key_id.is_none() || self.since_key >= every;
        self.pending_key_frame = key_frame;
        let mut scalars = columns::values(sample);
        if !key_frame {
            for (value, key) in scalars.iter_mut().zip(&self.key_scalars) {
                *value = value.map(|value| value.against_key(*key));
            }
        }
        Ok(Frames {
            key_id: if key_frame { None } else { self.key_id },
            scalars,
            blobs: self.bases.encode(sample, key_frame)?,
        })
    }

    /// The committed sample's tables become the base of the next deltas.
    fn committed(&mut self, id: i64, done: &Sample) {
        if self.pending_key_frame {
            self.key_id = Some(id);
            self.since_key = 0;
            // Tables absent from a key frame must not serve as a base for
            // the deltas after it: the reader starts at the key frame.
            self.bases = tables::Bases::default();
            self.key_scalars = columns::values(done);
        }
        self.since_key += 1;
        self.bases.keep(done);
    }
}

fn insert_sample(
    conn: &mut Connection,
    kernel_budget: &mut events::HourBudget,
    run_id: i64,
    sample: &Sample,
    frames: &Frames,
    stepped_back: bool,
) -> Result<i64> {
    let tx = conn.transaction()?;
    let id = {
        let mut stmt = tx.prepare_cached(&insert_sql())?;
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(columns::SCALARS.len() + 12);
        use rusqlite::types::Value as V;
        values.push(V::Integer(run_id));
        // A key frame's own id is known only after the insert.
        values.push(V::Integer(frames.key_id.unwrap_or(0)));
        values.push(V::Integer(sample.time_ms));
        values.push(V::Integer(sample.lateness_ms));
        values.push(V::Integer(sample.suspended_ms));
        values.push(V::Integer(sample.collect_us));
        for value in &frames.scalars {
            values.push(match value {
                Some(columns::Num::Int(v)) => V::Integer(*v),
                Some(columns::Num::Real(v)) => V::Real(*v),
                None => V::Null,
            });
        }
        for blob in &frames.blobs {
            values.push(blob.as_ref().map_or(V::Null, |b| V::Blob(b.clone())));
        }
        stmt.execute(rusqlite::params_from_iter(values))?;
        tx.last_insert_rowid()
    };
    if frames.key_id.is_none() {
        tx.execute("UPDATE samples SET key_id = id WHERE id = ?1", [id])?;
    }
    if stepped_back {
        tx.execute("INSERT INTO time_steps (sample_id) VALUES (?1)", [id])?;
    }
    for message in sample.kernel_messages.iter().flatten() {
        events::insert_kernel(&tx, kernel_budget, run_id, message)?;
    }
    tx.commit()?;
    Ok(id)
}

/// (Re)creates the view of the figures as recorded where this build's
/// differs from the file's: it follows the columns, which migrations add.
fn create_view(conn: &Connection) -> Result<()> {
    let wanted = columns::view_sql();
    let have: Option<String> = conn
        .query_row("SELECT sql FROM sqlite_schema WHERE type = 'view' AND name = ?1", [columns::VIEW], |r| {
            r.get(0)
        })
        .optional()?;
    if have.as_deref() != Some(wanted.as_str()) {
        conn.execute_batch(&format!("BEGIN; DROP VIEW IF EXISTS {}; {wanted}; COMMIT;", columns::VIEW))?;
    }
    Ok(())
}

/// The names of the fixed columns, the scalars and the blobs, in insert order.
pub(crate) fn sample_columns() -> Vec<&'static str> {
    let mut names = vec!["run_id", "key_id", "time_ms", "lateness_ms", "suspended_ms", "collect_us"];
    names.extend(columns::SCALARS.iter().map(|c| c.name));
    names.extend(tables::BLOB_COLUMNS);
    names
}

fn insert_sql() -> String {
    let names = sample_columns();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO samples ({}) VALUES ({})", names.join(", "), marks.join(", "))
}

/// Takes the writer lock of `path`, creating its directory. An existing
/// file is validated first, read-only, so that a file of another program
/// gets no lock file beside it.
fn lock_for_writing(path: &Path) -> Result<lock::WriterLock> {
    if path.exists()
        && let Err(err) = validate(path, FOR_RECORDING)
    {
        // A file that another recorder is creating is not valid for a
        // moment: then that recorder is what to name.
        return Err(match lock::writer(path) {
            Ok(running @ Writer::Running(_)) => lock::refusal(path, running),
            _ => err,
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // 0700 like the service's own directory: the file's name and its
        // WAL beside it are nobody else's business.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    lock::WriterLock::acquire(path)
}

/// Creates a new database file, mode 0600 (command lines can hold secrets).
fn create_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // The umask could only have narrowed it; make sure of the exact mode.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(())
}

/// SQLite's quick check (b-trees and pages, not indexes' contents): a file
/// damaged beyond its first page is refused before the recorder writes to
/// it. Readers skip it: they meet damage as they read, and say so.
fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let verdict: String =
        conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0)).unwrap_or_else(|err| err.to_string());
    if verdict != "ok" {
        // SQLite's verdict spans lines; an error message is one line.
        let verdict = verdict.lines().filter(|l| !l.starts_with("***")).collect::<Vec<_>>().join("; ");
        return Err(BadInput::Unusable {
            path: path.into(),
            reason: format!(
                "the database is damaged ({verdict}); `flightrec check` tells more, or pass another --db"
            ),
        }
        .into());
    }
    Ok(())
}

/// What to do about a file that is not a flightrec database, when
/// recording (which may create one) and when reading (which needs one).
const FOR_RECORDING: &str = "pass --db with a flightrec database, or a path that does not exist yet";
const FOR_READING: &str = "pass --db with a flightrec database";

/// Checks, without writing, that `path` is a flightrec database this build
/// can use, and gives the read-only connection that checked it; `fix` is
/// what the error tells to do otherwise.
fn validate(path: &Path, fix: &'static str) -> Result<Connection> {
    let refuse = |reason: &str| -> anyhow::Error {
        BadInput::NotFlightrec { path: path.into(), reason: reason.into(), fix }.into()
    };
    if path.is_dir() {
        return Err(refuse("is a directory"));
    }
    let mut header = [0u8; 16];
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    if len == 0 {
        return Err(refuse("the file is empty, not a flightrec database"));
    }
    if file.read_exact(&mut header).is_err() || &header != b"SQLite format 3\0" {
        return Err(refuse("not an SQLite database"));
    }
    let damaged = |err: rusqlite::Error| -> anyhow::Error {
        BadInput::Unusable {
            path: path.into(),
            reason: format!(
                "the database is damaged ({err}); `flightrec check` tells more, or pass another --db"
            ),
        }
        .into()
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(damaged)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(damaged)?;
    if app_id != APPLICATION_ID {
        return Err(refuse("an SQLite database of another program"));
    }
    // Reading the schema touches the first pages: a damaged file fails here.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map_err(damaged)?;
    Ok(conn)
}
