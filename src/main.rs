//! flightrec's entry point: parse arguments, run one subcommand, turn its
//! error into a message and an exit code (2 bad input, 1 runtime failure).

use clap::Parser;
use flightrec::cli::{Cli, Command};
use flightrec::error::BadInput;
use flightrec::{commands, generate, store};
use std::io;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `record` reads its configuration file with its settings; the readers
    // read it here for its `db` alone; the rest need no database.
    let db = match &cli.command {
        Command::Record(_) | Command::Completions { .. } | Command::Generate { .. } => {
            Ok(cli.db.clone().or_else(store::env_path).unwrap_or_else(store::default_path))
        }
        _ => commands::reader_db(cli.db.clone(), cli.config.as_deref()),
    };
    let db = match db {
        Ok(db) => db,
        Err(err) => return fail(err, &store::default_path()),
    };
    let result = match cli.command {
        Command::Record(args) => commands::record(cli.db, cli.config.as_deref(), args),
        Command::Report(args) => commands::report(&db, args),
        Command::Gaps(args) => commands::gaps(&db, args),
        Command::Show(args) => commands::show(&db, args),
        Command::Replay(args) => commands::replay(&db, args),
        Command::Export(args) => commands::export(&db, args),
        Command::Check => commands::check(&db),
        Command::Completions { shell } => generate::completions(shell, &mut io::stdout().lock()),
        Command::Generate { dir } => generate::generate(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(err, &db),
    }
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
