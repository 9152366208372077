//! Errors that mean "what the user gave us is wrong": exit 2, nothing
//! touched. Everything else is an `anyhow` runtime failure (exit 1).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    #[error(
        "{option} {value:?} is not a time; try 18:05, \"2026-11-22 18:05\", 2026-11-22T18:05:00Z, \
         @1795370700, \"10m ago\", -10m or now"
    )]
    BadTime { option: &'static str, value: String },
    #[error("{option} {value:?}: {reason}")]
    BadValue { option: &'static str, value: String, reason: String },
    /// `fix` differs for the recorder, which may also create the file, and
    /// for the readers, which need one that exists.
    #[error("{}: {reason}; {fix}", .path.display())]
    NotFlightrec { path: PathBuf, reason: String, fix: &'static str },
    #[error(
        "{}: schema version {found} is newer than this flightrec ({known}); upgrade flightrec or pass --db",
        .path.display()
    )]
    NewerSchema { path: PathBuf, found: usize, known: usize },
    /// An interactive command run where nobody can answer it.
    #[error(
        "{command} needs a terminal, and standard input or output is not one; \
         use `flightrec show` for one sample or `flightrec export` for rows"
    )]
    NotATerminal { command: &'static str },
    #[error("{}: {reason}", .path.display())]
    Unusable { path: PathBuf, reason: String },
    /// A mistake in a configuration file, located for the person fixing it.
    /// `key` is `None` where no key is to blame (not TOML, not UTF-8).
    #[error(
        "{} line {line}{}: {reason}",
        .path.display(),
        .key.as_ref().map(|key| format!(", key {key:?}")).unwrap_or_default()
    )]
    BadConfig { path: PathBuf, line: usize, key: Option<String>, reason: String },
}
