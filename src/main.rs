//! flightrec's entry point: parse arguments, run one subcommand, turn its
//! error into a message and an exit code (2 bad input, 1 runtime failure).

use anyhow::{Context, Result};
use clap::Parser;
use flightrec::cli::{Cli, Command, ExportArgs, GapsArgs, RecordArgs, ReportArgs, ShowArgs};
use flightrec::collect::Watch;
use flightrec::collect::probe;
use flightrec::collect::redact::Redactor;
use flightrec::config::{self, Config, ProbeConfig};
use flightrec::error::BadInput;
use flightrec::render::{self, export, show};
use flightrec::report::{self, Target};
use flightrec::store::{self, Limits, Store, Tables};
use flightrec::{generate, record, time};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `record` also takes the database from its configuration file.
    let db = cli.db.clone().or_else(store::env_path).unwrap_or_else(store::default_path);
    let result = match cli.command {
        Command::Record(args) => record_command(cli.db, args),
        Command::Report(args) => report_command(&db, args),
        Command::Gaps(args) => gaps_command(&db, args),
        Command::Show(args) => show_command(&db, args),
        Command::Export(args) => export_command(&db, args),
        Command::Check => check_command(&db),
        Command::Completions { shell } => generate::completions(shell, &mut io::stdout().lock()),
        Command::Generate { dir } => generate::generate(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(err, &db),
    }
}

fn record_command(db: Option<PathBuf>, args: RecordArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => config::load(path)?,
        None => config::load_default()?.unwrap_or_default(),
    };
    let settings = config::merge(file, command_line_config(&args)?);
    let defaults = Limits::default();
    let limits = Limits {
        retain: settings.retain.unwrap_or(defaults.retain),
        max_size: settings.max_size.unwrap_or(defaults.max_size),
        reserve: settings.reserve.unwrap_or(defaults.reserve),
    };
    if limits.reserve >= limits.max_size {
        return Err(BadInput::BadValue {
            option: "--reserve",
            value: limits.reserve.to_string(),
            reason: format!("must be smaller than --max-size ({} bytes)", limits.max_size),
        }
        .into());
    }
    let interval = settings.interval.unwrap_or(record::DEFAULT_INTERVAL);
    let options = record::Options {
        interval,
        limits,
        redactor: Redactor::new(&settings.redact)?,
        probes: probe_specs(&settings.probes, interval)?,
        watch: Watch { dirs: settings.watch_dirs, logs: settings.watch_logs },
    };
    // --db, then $FLIGHTREC_DB, then the file's `db`, then the default.
    let db = db.or_else(store::env_path).or(settings.db).unwrap_or_else(store::default_path);
    record::run(&db, options)
}

/// Probes as configured; a timeout never exceeds the interval, so a probe
/// can never hold back the next tick.
fn probe_specs(probes: &[ProbeConfig], interval: Duration) -> Result<Vec<probe::ProbeSpec>> {
    let mut specs = Vec::with_capacity(probes.len());
    for p in probes {
        let mut spec = probe::parse(&p.target)?;
        let timeout = p.timeout.unwrap_or(probe::DEFAULT_TIMEOUT).min(interval);
        spec = spec.with_timeout(timeout);
        if let Some(expect) = &p.expect {
            if !matches!(spec.protocol(), probe::Protocol::Tcp | probe::Protocol::Smtp) {
                return Err(BadInput::BadValue {
                    option: "expect",
                    value: expect.clone(),
                    reason: format!("only tcp and smtp probes read a banner; {} does not", p.target),
                }
                .into());
            }
            spec = spec.with_expect(expect.clone());
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// The command line's settings, parsed as the configuration file's are.
fn command_line_config(args: &RecordArgs) -> Result<Config> {
    let range = |r: &std::ops::RangeInclusive<Duration>| (*r.start(), *r.end());
    let duration = |option: &'static str, value: &Option<String>, (min, max): (Duration, Duration)| {
        value.as_deref().map(|v| time::parse_interval(option, v, min, max)).transpose()
    };
    let size = |option: &'static str, value: &Option<String>| {
        value.as_deref().map(|v| time::parse_size(option, v)).transpose()
    };
    Ok(Config {
        interval: duration("--interval", &args.interval, range(&config::INTERVAL_RANGE))?,
        retain: duration("--retain", &args.retain, range(&config::RETAIN_RANGE))?,
        max_size: size("--max-size", &args.max_size)?,
        reserve: size("--reserve", &args.reserve)?,
        redact: args.redact.clone(),
        probes: args.probe.iter().map(ProbeConfig::new).collect(),
        watch_dirs: args.watch_dir.clone(),
        watch_logs: args.watch_log.clone(),
        ..Config::default()
    })
}

/// Window before a period that `gaps` counts samples in, as `report` does.
const DEFAULT_WINDOW_MS: i64 = 15 * 60 * 1000;

fn report_command(db: &Path, args: ReportArgs) -> Result<()> {
    let now = chrono::Local::now();
    let window =
        time::parse_interval("--window", &args.window, Duration::from_secs(60), Duration::from_secs(86_400))?;
    let target = match (args.period, &args.at) {
        (Some(n), _) => Target::Period(n),
        (None, Some(at)) => Target::At(time::parse_time("--at", at, now)?),
        (None, None) => Target::Newest,
    };
    let store = Store::open_read_only(db)?;
    let found = report::report(&store, target, window.as_millis() as i64, now.timestamp_millis())?;
    let mut out = output(args.output.as_deref())?;
    render::report::report(&found, args.format, &mut out)?;
    Ok(out.flush()?)
}

fn gaps_command(db: &Path, args: GapsArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let now_ms = chrono::Local::now().timestamp_millis();
    let periods = report::gaps(&store, now_ms, DEFAULT_WINDOW_MS)?;
    render::report::gaps(&periods, now_ms, args.format, &mut io::stdout().lock())?;
    Ok(())
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

fn show_command(db: &Path, args: ShowArgs) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let asked =
        args.at.as_deref().map(|at| time::parse_time("--at", at, chrono::Local::now())).transpose()?;
    let id = match asked {
        Some(ms) => store.nearest_sample(ms)?,
        None => store.latest_sample()?,
    };
    let id = id.with_context(|| format!("{}: no samples recorded yet", db.display()))?;
    let mut pair = Vec::with_capacity(2);
    store.for_each_sample(id - 1, id, Tables::ALL, |s| {
        pair.push(s);
        Ok(())
    })?;
    let cur = pair.pop().context("the sample vanished while reading")?;
    show::show(pair.last(), &cur, asked, args.top, &mut io::stdout().lock())?;
    Ok(())
}

fn export_command(db: &Path, args: ExportArgs) -> Result<()> {
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
    let out = output(args.output.as_deref())?;
    // Progress only where someone watches and the rows go elsewhere.
    let show_progress = args.output.is_some() && io::stderr().is_terminal();
    let mut last_report = std::time::Instant::now();
    let mut progress = |rows: u64| {
        if show_progress && last_report.elapsed() >= Duration::from_secs(1) {
            eprint!("\rflightrec: {rows} rows written");
            last_report = std::time::Instant::now();
        }
    };
    export::export(&store, (from, to), args.what, args.format, out, &mut progress)?;
    if show_progress {
        eprintln!("\rflightrec: export done");
    }
    Ok(())
}

fn check_command(db: &Path) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let health = store.check()?;
    if health.problems.is_empty() {
        println!(
            "{}: ok: {} samples in {} runs, every snapshot decodes",
            db.display(),
            health.samples,
            health.runs
        );
        return Ok(());
    }
    for problem in &health.problems {
        println!("{}: {problem}", db.display());
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

fn fail(err: anyhow::Error, db: &Path) -> ExitCode {
    let broken_pipe = |e: &io::Error| e.kind() == io::ErrorKind::BrokenPipe;
    if err.chain().any(|e| e.downcast_ref().is_some_and(broken_pipe)) {
        return ExitCode::SUCCESS; // `flightrec export | head`
    }
    // Damage found in the middle of reading is bad input like damage found
    // at open: say which file and what to do.
    let damaged = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        )
    };
    if err.chain().any(|e| e.downcast_ref().is_some_and(damaged)) {
        eprintln!(
            "flightrec: {}: the database is damaged ({err:#}); `flightrec check` lists the damage",
            db.display()
        );
        return ExitCode::from(2);
    }
    eprintln!("flightrec: {err:#}");
    let bad_input = err.chain().any(|e| e.is::<BadInput>());
    ExitCode::from(if bad_input { 2 } else { 1 })
}
