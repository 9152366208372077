//! One function per subcommand: turn its arguments into values, open the
//! store, let `analyze` or `record` do the work and `render` write it. No
//! subcommand's logic lives here, only the joining of the layers.

use crate::analyze::replay::Cursor;
use crate::analyze::report::{self, Target};
use crate::analyze::{charts, incidents, periods};
use crate::cli::{ExportArgs, GapsArgs, RecordArgs, ReplayArgs, ReportArgs, ShowArgs};
use crate::error::BadInput;
use crate::model::human::format_ms_local;
use crate::render::report::Format as ReportFormat;
use crate::render::{self, export, openmetrics, replay, show};
use crate::store::query::Range;
use crate::store::{self, Store, Tables};
use crate::{config, record, time};
use anyhow::{Context, Result, bail};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `db` is `--db` as given: the configuration file may name the database too.
pub fn record(db: Option<PathBuf>, config: Option<&Path>, args: RecordArgs) -> Result<()> {
    let (settings_db, options) = config::record_options(config, &args)?;
    // --db, then $FLIGHTREC_DB, then the file's `db`, then the default.
    let db = db.or_else(store::env_path).or(settings_db).unwrap_or_else(store::default_path);
    record::run(&db, options)
}

/// The database the readers (`report`, `gaps`, `show`, `export`,
/// `check`) open: `--db`, then $FLIGHTREC_DB, then the `db` of the
/// configuration file (`--config`, else /etc/flightrec.toml), then the
/// default: the one `record` writes with the same arguments.
pub fn reader_db(db: Option<PathBuf>, config: Option<&Path>) -> Result<PathBuf> {
    if let Some(db) = db.or_else(store::env_path) {
        return Ok(db);
    }
    let configured = config::load_chosen(config)?.db;
    Ok(configured.unwrap_or_else(store::default_path))
}

pub fn report(db: &Path, args: ReportArgs) -> Result<()> {
    let now = chrono::Local::now();
    let window = report::parse_window(&args.window)?;
    let target = match (args.period, &args.at) {
        (Some(n), _) => Target::Period(n),
        (None, Some(at)) => Target::At(time::parse_time("--at", at, now)?),
        (None, None) => Target::Newest,
    };
    // Before any work: a path that cannot be written is said at once.
    let file = args.output.as_deref().map(WholeFile::create).transpose()?;
    let store = Store::open_read_only(db)?;
    let now_ms = now.timestamp_millis();
    let found = report::report(&store, target, window, now_ms)?;
    let width = text_width(args.width, args.output.is_none());
    let write = |out: &mut dyn Write| -> Result<()> {
        match args.format {
            ReportFormat::Html => {
                let charts = report_charts(&store, &found, now_ms)?;
                let runs = store.runs()?;
                let run = match &found.period {
                    Some(p) => runs.iter().find(|r| r.id == p.run_id),
                    None => runs.iter().rev().find(|r| r.start_ms <= found.window.to_ms),
                };
                render::html::page(
                    &render::html::Page { report: &found, charts: &charts, run, now_ms },
                    out,
                )?;
            }
            format => render::report::report(&found, format, width, out)?,
        }
        Ok(())
    };
    match file {
        Some(file) => file.write(write),
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            write(&mut out)?;
            Ok(out.flush()?)
        }
    }
}

/// The report's charts from every sample on their axis, streamed: a day of
/// samples is never held whole.
fn report_charts(store: &Store, found: &report::Report, now_ms: i64) -> Result<charts::Charts> {
    let (from_ms, to_ms) = charts::axis(found, now_ms);
    let interval_ms = store.runs()?.last().map_or(5000, |r| r.interval_ms);
    let mut builder = charts::Builder::new(from_ms, to_ms, interval_ms, &found.findings);
    let tables = Tables {
        processes: builder.needs_processes(),
        sockets: true,
        filesystems: true,
        probes: true,
        watched_dirs: true,
        watched_logs: true,
        ..Tables::NONE
    };
    store.pairs(from_ms, to_ms, tables, |prev, cur| {
        builder.push(prev, cur);
        Ok(())
    })?;
    Ok(builder.finish(&found.findings))
}

pub fn gaps(db: &Path, args: GapsArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let now_ms = chrono::Local::now().timestamp_millis();
    let window = report::parse_window(report::DEFAULT_WINDOW)?;
    let incidents = report::incidents(&store, now_ms, window)?;
    let width = text_width(args.width, true);
    render::report::gaps(&incidents, now_ms, args.format, width, &mut io::stdout().lock())?;
    Ok(())
}

pub fn show(db: &Path, args: ShowArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let asked =
        args.at.as_deref().map(|at| time::parse_time("--at", at, chrono::Local::now())).transpose()?;
    let (prev, cur) = store.sample_with_previous(asked)?;
    let run = store.runs()?.into_iter().find(|run| run.id == cur.run_id);
    if let Some(asked) = asked {
        // Further than a stall from the time asked, the sample says
        // nothing about it.
        let near = periods::stall_threshold_ms(run.as_ref().map_or(5000, |run| run.interval_ms));
        if (cur.sample.time_ms - asked).abs() > near {
            bail!(
                "{}: no samples between {} and {} (the nearest is from {}); recording began {}; \
                 `flightrec gaps` lists the times without samples",
                db.display(),
                format_ms_local(asked - near),
                format_ms_local(asked + near),
                format_ms_local(cur.sample.time_ms),
                store
                    .first_at_or_after(i64::MIN)?
                    .map_or("(never)".into(), |(_, time)| format_ms_local(time))
            );
        }
    }
    let boot_time_ms = run.map(|run| run.boot_time_ms);
    let width = text_width(args.width, true);
    show::show(prev.as_ref(), &cur, asked, boot_time_ms, args.top, width, &mut io::stdout().lock())?;
    Ok(())
}

pub fn replay(db: &Path, args: ReplayArgs) -> Result<()> {
    if !(io::stdin().is_terminal() && io::stdout().is_terminal()) {
        return Err(BadInput::NotATerminal { command: "replay" }.into());
    }
    let now = chrono::Local::now();
    let asked = args.at.as_deref().map(|at| time::parse_time("--at", at, now)).transpose()?;
    let store = Store::open_read_only(db)?;
    let window_ms = report::parse_window(report::DEFAULT_WINDOW)?;
    let incidents = report::incidents(&store, now.timestamp_millis(), window_ms)?;
    // Where `report` looks by default: the last sample before the incident
    // it explains, or the newest sample.
    let start_ms = asked
        .unwrap_or_else(|| incidents::default_choice(&incidents).map_or(i64::MAX, |i| i.first().start_ms));
    let mut cursor = Cursor::new(&store, start_ms)?
        .with_context(|| format!("{}: no samples recorded yet", db.display()))?;
    // Colour unless NO_COLOR is set (to anything) or the terminal has none.
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").is_ok_and(|term| term != "dumb");
    replay::run(&mut cursor, incidents, replay::Options { live: args.live, colour, window_ms })
}

pub fn export(db: &Path, args: ExportArgs) -> Result<()> {
    let now = chrono::Local::now();
    let from =
        args.from.as_deref().map(|t| time::parse_time("--from", t, now)).transpose()?.unwrap_or(i64::MIN);
    let to = args.to.as_deref().map(|t| time::parse_time("--to", t, now)).transpose()?.unwrap_or(i64::MAX);
    if from > to {
        return Err(BadInput::BadValue {
            option: "--from",
            value: args.from.unwrap_or_default(),
            reason: "is after --to".into(),
        }
        .into());
    }
    if args.format.rows().is_none() {
        openmetrics::group(args.what)?;
    }
    let store = Store::open_read_only(db)?;
    let range = Range::new(&store, from, to)?;
    let out = output(args.output.as_deref())?;
    // Progress only where someone watches and the rows go elsewhere.
    let show_progress = args.output.is_some() && io::stderr().is_terminal();
    let mut last_said = Instant::now();
    let mut progress = |rows: u64| {
        if show_progress && last_said.elapsed() >= Duration::from_secs(1) {
            eprint!("\rflightrec: {rows} rows written");
            last_said = Instant::now();
        }
    };
    match args.format.rows() {
        Some(format) => export::export(&range, args.what, format, out, &mut progress)?,
        None => {
            let hosts = store.runs()?.into_iter().map(|run| (run.id, run.hostname)).collect();
            openmetrics::export(&range, args.what, &hosts, out, &mut progress)?
        }
    }
    if show_progress {
        eprintln!("\rflightrec: export done");
    }
    Ok(())
}

pub fn check(db: &Path) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let health = store.check()?;
    render::check::check(db, health.samples, health.runs, &health.problems, &mut io::stdout().lock())?;
    if health.problems.is_empty() {
        return Ok(());
    }
    Err(BadInput::Unusable {
        path: db.into(),
        reason: format!(
            "damaged: {} problems found; copy out what `export` can still read",
            health.problems.len()
        ),
    }
    .into())
}

/// What text output is fitted to: `--width`, else the terminal's width
/// where standard output is one and the text goes there, else 80.
fn text_width(asked: Option<u16>, to_stdout: bool) -> u16 {
    let terminal = || {
        let table = comfy_table::Table::new();
        table.width().filter(|_| to_stdout && io::stdout().is_terminal())
    };
    asked.or_else(terminal).unwrap_or(render::text::DEFAULT_WIDTH)
}

/// A file written whole or not at all: into a temporary file beside it,
/// created 0600 (a report carries command lines, as the database does),
/// renamed over `path` once complete, removed if anything fails.
struct WholeFile {
    path: PathBuf,
    temp: PathBuf,
    file: std::fs::File,
}

impl WholeFile {
    fn create(path: &Path) -> Result<WholeFile> {
        let bad = |reason: String| BadInput::Unusable { path: path.into(), reason };
        if path.is_dir() {
            return Err(bad("is a directory; pass -o with a file name".into()).into());
        }
        let name = path.file_name().ok_or_else(|| bad("names no file; pass -o with a file name".into()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(
            |e| bad(format!("cannot be written ({e}); pass -o with a path in a writable directory")),
        )?;
        Ok(WholeFile { path: path.into(), temp, file })
    }

    fn write(self, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
        let written = (|| {
            let mut out = io::BufWriter::new(&self.file);
            write(&mut out)?;
            out.flush()?;
            drop(out);
            self.file.sync_all().with_context(|| format!("writing {}", self.temp.display()))?;
            std::fs::rename(&self.temp, &self.path)
                .with_context(|| format!("renaming {} to {}", self.temp.display(), self.path.display()))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        written
    }
}

/// Standard output, or a file created at `path`.
fn output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}
