//! Every setting of `record`, once: its configuration key, its flag, its
//! default, what it holds (which is how it is parsed) and its help. The
//! command line, the configuration file, merging the two and
//! `contrib/flightrec.toml.example` all follow from this table.

use super::{CGROUP_DEPTH_RANGE, Config, INTERVAL_RANGE, ProbeConfig, RETAIN_RANGE};
use crate::error::BadInput;
use crate::time;
use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

pub struct Setting {
    /// The key in the configuration file.
    pub key: &'static str,
    /// The flag of `record`, with its dashes; `None` for `db`, whose
    /// `--db` every subcommand takes.
    pub flag: Option<&'static str>,
    pub value_name: &'static str,
    /// As written in the file and on the command line; `None` where the
    /// default is "none".
    pub default: Option<&'static str>,
    /// A value to show in messages about a wrong one.
    pub example: &'static str,
    pub help: &'static str,
    /// Where the setting lives in a `Config`, and so what it holds.
    pub slot: fn(&mut Config) -> Slot<'_>,
}

/// A setting's place in a `Config`: what it holds decides how it is parsed.
pub enum Slot<'a> {
    Duration(&'a mut Option<Duration>, RangeInclusive<Duration>),
    Size(&'a mut Option<u64>),
    Count(&'a mut Option<u64>, RangeInclusive<u64>),
    Path(&'a mut Option<PathBuf>),
    Paths(&'a mut Vec<PathBuf>),
    Patterns(&'a mut Vec<String>),
    Probes(&'a mut Vec<ProbeConfig>),
    /// `on` or `off`.
    Switch(&'a mut Option<bool>),
}

impl Slot<'_> {
    /// Takes `other`'s value where it has one (a list replaces the whole
    /// list); `other` is the same setting of another `Config`.
    pub fn take_from(self, other: Slot<'_>) {
        fn list<T>(mine: &mut Vec<T>, theirs: &mut Vec<T>) {
            if !theirs.is_empty() {
                *mine = std::mem::take(theirs);
            }
        }
        match (self, other) {
            (Slot::Duration(mine, _), Slot::Duration(theirs, _)) => *mine = theirs.take().or(mine.take()),
            (Slot::Size(mine, ..), Slot::Size(theirs)) => *mine = theirs.take().or(mine.take()),
            (Slot::Count(mine, _), Slot::Count(theirs, _)) => *mine = theirs.take().or(mine.take()),
            (Slot::Path(mine), Slot::Path(theirs)) => *mine = theirs.take().or(mine.take()),
            (Slot::Paths(mine), Slot::Paths(theirs)) => list(mine, theirs),
            (Slot::Patterns(mine), Slot::Patterns(theirs)) => list(mine, theirs),
            (Slot::Probes(mine), Slot::Probes(theirs)) => list(mine, theirs),
            (Slot::Switch(mine), Slot::Switch(theirs)) => *mine = theirs.take().or(mine.take()),
            _ => unreachable!("one setting has one slot"),
        }
    }

    pub fn is_list(&self) -> bool {
        matches!(self, Slot::Paths(_) | Slot::Patterns(_) | Slot::Probes(_))
    }
}

#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "db", flag: None, value_name: "PATH", default: None, example: "\"/var/lib/flightrec/flightrec.db\"",
        help: "The database file",
        slot: |c| Slot::Path(&mut c.db),
    },
    Setting {
        key: "interval", flag: Some("--interval"), value_name: "INTERVAL", default: Some("5s"), example: "\"5s\"",
        help: "Time between samples, 100ms to 1h",
        slot: |c| Slot::Duration(&mut c.interval, INTERVAL_RANGE),
    },
    Setting {
        key: "probes", flag: Some("--probe"), value_name: "SPEC", default: None, example: "[\"tcp:127.0.0.1:25\"]",
        help: "Probe a dependency every sample (repeatable): tcp:HOST:PORT, smtp:HOST:PORT, \
               milter:HOST:PORT, milter:unix:/PATH, clamd:HOST:PORT, clamd:unix:/PATH, http:URL",
        slot: |c| Slot::Probes(&mut c.probes),
    },
    Setting {
        key: "watch_dirs", flag: Some("--watch-dir"), value_name: "DIR", default: None,
        example: "[\"/var/spool/postfix/deferred\"]",
        help: "Count the files and bytes below DIR every sample, e.g. a mail queue (repeatable)",
        slot: |c| Slot::Paths(&mut c.watch_dirs),
    },
    Setting {
        key: "watch_logs", flag: Some("--watch-log"), value_name: "FILE", default: None,
        example: "[\"/var/log/mail.log\"]",
        help: "Measure what is appended to FILE every sample, with its most frequent lines (repeatable)",
        slot: |c| Slot::Paths(&mut c.watch_logs),
    },
    Setting {
        key: "redact", flag: Some("--redact"), value_name: "REGEX", default: None, example: "['password=\\S+']",
        help: "Mask what REGEX matches in command lines before storing them (repeatable; \
               password=, token=, secret=, key= values and user:pass@ in URLs are always masked)",
        slot: |c| Slot::Patterns(&mut c.redact),
    },
    Setting {
        key: "retain", flag: Some("--retain"), value_name: "RETAIN", default: Some("14d"), example: "\"14d\"",
        help: "Delete samples older than this",
        slot: |c| Slot::Duration(&mut c.retain, RETAIN_RANGE),
    },
    Setting {
        key: "max_size", flag: Some("--max-size"), value_name: "MAX_SIZE", default: Some("1GiB"), example: "\"1GiB\"",
        help: "Largest the database may grow; the oldest samples go first",
        slot: |c| Slot::Size(&mut c.max_size),
    },
    Setting {
        key: "reserve", flag: Some("--reserve"), value_name: "RESERVE", default: Some("64MiB"), example: "\"64MiB\"",
        help: "Free space kept inside the database so recording goes on when the disk is full",
        slot: |c| Slot::Size(&mut c.reserve),
    },
    Setting {
        key: "textfile_dir", flag: Some("--textfile-dir"), value_name: "DIR", default: None,
        example: "\"/var/lib/prometheus/node-exporter\"",
        help: "Write the latest figures to DIR/flightrec.prom after every sample, for node_exporter's \
               textfile collector",
        slot: |c| Slot::Path(&mut c.textfile_dir),
    },
    Setting {
        key: "cgroup_depth", flag: Some("--cgroup-depth"), value_name: "LEVELS", default: Some("2"), example: "\"2\"",
        help: "Levels of control groups recorded below each hierarchy's root, 0 (none) to 8: 2 is the services \
               and containers under system.slice, user.slice and machine.slice",
        slot: |c| Slot::Count(&mut c.cgroup_depth, CGROUP_DEPTH_RANGE),
    },
    Setting {
        key: "waits", flag: Some("--waits"), value_name: "on|off", default: Some("on"), example: "\"off\"",
        help: "Draw the wait-for picture every sample: who waits on which endpoint, from the kernel's \
               socket table; off saves its CPU where the picture is not wanted",
        slot: |c| Slot::Switch(&mut c.waits),
    },
];

/// A whole number within `range`, as `--cgroup-depth` takes it.
pub fn parse_count(option: &'static str, text: &str, range: RangeInclusive<u64>) -> Result<u64, BadInput> {
    let bad = || BadInput::BadValue {
        option,
        value: text.to_owned(),
        reason: format!("not a whole number from {} to {}", range.start(), range.end()),
    };
    let count: u64 = text.trim().parse().map_err(|_| bad())?;
    range.contains(&count).then_some(count).ok_or_else(bad)
}

/// `on` or `off`, as a switch is written.
pub fn switch(option: &'static str, text: &str) -> Result<bool, BadInput> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(BadInput::BadValue { option, value: text.into(), reason: "expected on or off".into() }),
    }
}

/// The setting of configuration key `key`.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The settings given on the command line, parsed as the file's are; each
/// with the flag's values as given.
pub fn from_command_line(given: &[(&'static Setting, Vec<OsString>)]) -> Result<Config, BadInput> {
    let mut config = Config::default();
    for (setting, values) in given {
        let option = setting.flag.unwrap_or(setting.key);
        for value in values {
            let text = || {
                value.to_str().ok_or_else(|| BadInput::BadValue {
                    option,
                    value: value.to_string_lossy().into_owned(),
                    reason: "is not UTF-8 text".into(),
                })
            };
            match (setting.slot)(&mut config) {
                Slot::Duration(slot, range) => {
                    *slot = Some(time::parse_interval(option, text()?, *range.start(), *range.end())?)
                }
                Slot::Size(slot) => *slot = Some(time::parse_size(option, text()?)?),
                Slot::Count(slot, range) => *slot = Some(parse_count(option, text()?, range)?),
                Slot::Path(slot) => *slot = Some(PathBuf::from(value)),
                Slot::Paths(list) => list.push(PathBuf::from(value)),
                Slot::Patterns(list) => list.push(text()?.to_owned()),
                Slot::Probes(list) => list.push(ProbeConfig::new(text()?)),
                Slot::Switch(slot) => *slot = Some(switch(option, text()?)?),
            }
        }
    }
    Ok(config)
}
