//! The command line: arguments only. `main` hands each subcommand's
//! arguments to its function in `commands`; the flags of `record` come from
//! the table of settings in `config`.

use crate::analyze::report;
use crate::config::{Config, SETTINGS, Setting};
use crate::model::catalogue::RowKind;
use crate::render::report::Format as ReportFormat;
use crate::render::rows::Format;
use clap::builder::TypedValueParser;
use clap::{Arg, ArgAction, ArgMatches, Args, Parser, Subcommand};
use std::ffi::OsString;
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
    /// Configuration file: `record`'s settings, and the `db` every command opens
    /// [default: /etc/flightrec.toml when it exists]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Step through the samples in a full-screen view, as `atop -r` does
    Replay(ReplayArgs),
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
/// the configuration file, which wins over the defaults shown. The flags
/// come from the table of settings (`config::SETTINGS`).
pub struct RecordArgs {
    /// The settings given, each with its values as given.
    pub given: Vec<(&'static Setting, Vec<OsString>)>,
}

impl clap::Args for RecordArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        let flags = SETTINGS.iter().filter_map(|setting| {
            let flag = setting.flag?;
            let help = match setting.default {
                Some(default) => format!("{} [default: {default}]", setting.help),
                None => setting.help.to_string(),
            };
            let many = (setting.slot)(&mut Config::default()).is_list();
            Some(
                Arg::new(setting.key)
                    .long(flag.trim_start_matches('-'))
                    .value_name(setting.value_name)
                    .value_parser(clap::value_parser!(OsString))
                    .action(if many { ArgAction::Append } else { ArgAction::Set })
                    .help(help),
            )
        });
        command.args(flags)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for RecordArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = SETTINGS
            .iter()
            .filter(|setting| setting.flag.is_some())
            .filter_map(|setting| {
                let values = matches.get_many::<OsString>(setting.key)?;
                Some((setting, values.cloned().collect()))
            })
            .collect();
        Ok(RecordArgs { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[derive(Args)]
pub struct ReportArgs {
    /// Explain period N of `flightrec gaps` (1 is the newest)
    #[arg(long, value_name = "N", conflicts_with = "at")]
    pub period: Option<usize>,
    /// Explain the window ending at TIME instead of a period
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// How much time before the period to explain
    #[arg(long, default_value = report::DEFAULT_WINDOW)]
    pub window: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Fit text to COLUMNS characters [default: the terminal's width, 80 when not a terminal]
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

#[derive(Args)]
pub struct GapsArgs {
    #[arg(long, default_value = "text", value_parser = gaps_format())]
    pub format: ReportFormat,
    /// Fit text to COLUMNS characters [default: the terminal's width, 80 when not a terminal]
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

/// `gaps` is a list: text or JSON, no page.
fn gaps_format() -> impl TypedValueParser<Value = ReportFormat> {
    clap::builder::PossibleValuesParser::new(["text", "json"])
        .map(|format| <ReportFormat as clap::ValueEnum>::from_str(&format, false).expect("a listed format"))
}

#[derive(Args)]
pub struct ShowArgs {
    /// The sample nearest this time [default: the latest]. TIME: 18:05, "2026-11-22 18:05",
    /// RFC 3339, @EPOCH, "10m ago", -10m, now
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// How many processes, filesystems and ports to list
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Fit text to COLUMNS characters [default: the terminal's width, 80 when not a terminal]
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Start at the sample at or before this time [default: the last sample before the
    /// incident `report` explains]. TIME: 18:05, "2026-11-22 18:05", RFC 3339, @EPOCH, -10m, now
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Follow the recorder: show each new sample as it is committed
    #[arg(long)]
    pub live: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Which rows
    #[arg(long, value_enum, default_value = "system")]
    pub what: RowKind,
    /// First time to export [default: the first sample]
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Last time to export [default: the latest sample]
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Rows (CSV, JSON lines), or metrics for Prometheus and VictoriaMetrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
    Openmetrics,
}

impl ExportFormat {
    /// The row format, or `None` for metrics.
    pub fn rows(self) -> Option<Format> {
        match self {
            ExportFormat::Csv => Some(Format::Csv),
            ExportFormat::Jsonl => Some(Format::Jsonl),
            ExportFormat::Openmetrics => None,
        }
    }
}
