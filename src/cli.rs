//! The command line: arguments only. Each subcommand's work lives in its
//! own module; `main` calls one function per subcommand.

use crate::render::export::What;
use crate::render::fields::Format;
use crate::render::report::Format as ReportFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "flightrec",
    version,
    long_version = crate::generate::long_version(),
    about = "A flight recorder for Linux servers"
)]
pub struct Cli {
    /// The database file [default: $FLIGHTREC_DB, /var/lib/flightrec/flightrec.db for root,
    /// else $XDG_STATE_HOME/flightrec/flightrec.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Sample the machine every interval into the database, until SIGTERM or SIGINT
    Record(RecordArgs),
    /// Explain the minutes before an unresponsive period (the newest by default)
    Report(ReportArgs),
    /// List unresponsive periods: unclean stops, reboots, stalls, suspends
    Gaps(GapsArgs),
    /// Show one sample: load, CPU, memory, top processes, filesystems, ports
    Show(ShowArgs),
    /// Write samples as rows for other tools
    Export(ExportArgs),
    /// Check the database: SQLite's integrity check and every snapshot decoded
    Check,
    /// Print the completion script for a shell, e.g. into
    /// ~/.local/share/bash-completion/completions/flightrec
    Completions { shell: clap_complete::Shell },
    /// Write the man pages and completion scripts below DIR (for packaging)
    #[command(hide = true)]
    Generate { dir: PathBuf },
}

/// Every setting of `record` is optional here: the command line wins over
/// the configuration file, which wins over the defaults shown.
#[derive(Args)]
pub struct RecordArgs {
    /// Configuration file [default: /etc/flightrec.toml when it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time between samples, 100ms to 1h [default: 5s]
    #[arg(long)]
    pub interval: Option<String>,
    /// Probe a dependency every sample (repeatable): tcp:HOST:PORT, smtp:HOST:PORT,
    /// milter:HOST:PORT, milter:unix:/PATH, clamd:HOST:PORT, clamd:unix:/PATH, http:URL
    #[arg(long, value_name = "SPEC")]
    pub probe: Vec<String>,
    /// Count the files and bytes below DIR every sample, e.g. a mail queue (repeatable)
    #[arg(long, value_name = "DIR")]
    pub watch_dir: Vec<PathBuf>,
    /// Measure what is appended to FILE every sample, with its most frequent lines (repeatable)
    #[arg(long, value_name = "FILE")]
    pub watch_log: Vec<PathBuf>,
    /// Mask what REGEX matches in command lines before storing them (repeatable;
    /// password=, token=, secret=, key= values and user:pass@ in URLs are always masked)
    #[arg(long, value_name = "REGEX")]
    pub redact: Vec<String>,
    /// Delete samples older than this [default: 14d]
    #[arg(long)]
    pub retain: Option<String>,
    /// Largest the database may grow; the oldest samples go first [default: 1GiB]
    #[arg(long)]
    pub max_size: Option<String>,
    /// Free space kept inside the database so recording goes on when the disk is full [default: 64MiB]
    #[arg(long)]
    pub reserve: Option<String>,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Explain period N of `flightrec gaps` (1 is the newest)
    #[arg(long, value_name = "N", conflicts_with = "at")]
    pub period: Option<usize>,
    /// Explain the window ending at TIME instead of a period
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// How much time before the period to explain
    #[arg(long, default_value = "15m")]
    pub window: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct GapsArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The sample nearest this time [default: the latest]. TIME: 18:05, "2026-11-22 18:05",
    /// RFC 3339, @EPOCH, "10m ago", -10m, now
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// How many processes, filesystems and ports to list
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Which rows
    #[arg(long, value_enum, default_value = "system")]
    pub what: What,
    /// First time to export [default: the first sample]
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Last time to export [default: the latest sample]
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}
