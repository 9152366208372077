//! One function per subcommand: turn its arguments into values, open the
//! store, let `analyze` or `record` do the work and `render` write it. No
//! subcommand's logic lives here, only the joining of the layers.

use crate::analyze::replay::Cursor;
use crate::analyze::report::{self, Target};
use crate::cli::{ExportArgs, GapsArgs, RecordArgs, ReplayArgs, ReportArgs, ShowArgs};
use crate::error::BadInput;
use crate::render::{self, export, replay, show};
use crate::store::query::Range;
use crate::store::{self, Store};
use crate::{config, record, time};
use anyhow::{Context, Result};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `db` is `--db` as given: the configuration file may name the database too.
pub fn record(db: Option<PathBuf>, args: RecordArgs) -> Result<()> {
    let (settings_db, options) = config::record_options(&args)?;
    // --db, then $FLIGHTREC_DB, then the file's `db`, then the default.
    let db = db.or_else(store::env_path).or(settings_db).unwrap_or_else(store::default_path);
    record::run(&db, options)
}

pub fn report(db: &Path, args: ReportArgs) -> Result<()> {
    let now = chrono::Local::now();
    let window = report::parse_window(&args.window)?;
    let target = match (args.period, &args.at) {
        (Some(n), _) => Target::Period(n),
        (None, Some(at)) => Target::At(time::parse_time("--at", at, now)?),
        (None, None) => Target::Newest,
    };
    let store = Store::open_read_only(db)?;
    let found = report::report(&store, target, window, now.timestamp_millis())?;
    let mut out = output(args.output.as_deref())?;
    render::report::report(&found, args.format, &mut out)?;
    Ok(out.flush()?)
}

pub fn gaps(db: &Path, args: GapsArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let now_ms = chrono::Local::now().timestamp_millis();
    let window = report::parse_window(report::DEFAULT_WINDOW)?;
    let periods = report::gaps(&store, now_ms, window)?;
    render::report::gaps(&periods, now_ms, args.format, &mut io::stdout().lock())?;
    Ok(())
}

pub fn show(db: &Path, args: ShowArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let asked =
        args.at.as_deref().map(|at| time::parse_time("--at", at, chrono::Local::now())).transpose()?;
    let (prev, cur) = store.sample_with_previous(asked)?;
    let boot_time_ms = store.runs()?.iter().find(|run| run.id == cur.run_id).map(|run| run.boot_time_ms);
    show::show(prev.as_ref(), &cur, asked, boot_time_ms, args.top, &mut io::stdout().lock())?;
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
    let periods = report::gaps(&store, now.timestamp_millis(), window_ms)?;
    // Where `report` looks by default: the last sample before the newest
    // period, or the newest sample.
    let start_ms = asked.unwrap_or_else(|| periods.first().map_or(i64::MAX, |p| p.start_ms));
    let mut cursor = Cursor::new(&store, start_ms)?
        .with_context(|| format!("{}: no samples recorded yet", db.display()))?;
    // Colour unless NO_COLOR is set (to anything) or the terminal has none.
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").is_ok_and(|term| term != "dumb");
    replay::run(&mut cursor, periods, replay::Options { live: args.live, colour, window_ms })
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
    export::export(&range, args.what, args.format, out, &mut progress)?;
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

/// Standard output, or a file created at `path`.
fn output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}
