//! The configuration file of `flightrec record`: `--config FILE`, else
//! /etc/flightrec.toml when it exists. Every setting of `record` has a key,
//! spelled like its flag with `_` for `-` (lists in the plural), and a probe
//! can also carry what a flag cannot say well: its timeout and the banner it
//! expects. Values are written as on the command line, in quotes:
//!
//! ```toml
//! db         = "/var/lib/flightrec/flightrec.db"  # --db
//! interval   = "5s"                               # --interval, 100ms to 1h
//! retain     = "14d"                              # --retain, 1h to 10y
//! max_size   = "1GiB"                             # --max-size
//! reserve    = "64MiB"                            # --reserve
//! cgroup_depth = "2"                              # --cgroup-depth, 0 (none) to 8
//! redact     = ['--password[= ]\S+']              # --redact...
//! watch_dirs = ["/var/spool/postfix/deferred"]    # --watch-dir...
//! watch_logs = ["/var/log/mail.log"]              # --watch-log...
//! probes     = ["tcp:127.0.0.1:25"]               # --probe...
//!
//! [[probe]]                 # one table per probe that needs more than a target
//! target  = "smtp:127.0.0.1:25"
//! timeout = "2s"            # 10ms to 1h
//! expect  = "220"           # the answer must start with this
//! ```
//!
//! Probes from `probes` and from `[[probe]]` tables are run alike, in the
//! order the file lists them; a target may appear only once, since it is the
//! probe's identity in the database. Relative paths are taken from the
//! directory holding the file, not from wherever `record` was started.
//!
//! A mistake (an unknown key, a value of the wrong type or out of range, a
//! file that is not TOML) is [`BadInput::BadConfig`] naming the file, the
//! line and the key, so `main` exits 2 before anything is recorded: a
//! recorder silently running without the probe someone configured would be
//! found out only after the next incident. [`merge`] then lays the command
//! line over the file.

use std::fs::File;
use std::io::{self, Read};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

mod settings;

use settings::Slot;
pub use settings::{SETTINGS, Setting};

use crate::cli::RecordArgs;
use crate::collect::Watch;
use crate::collect::probe;
use crate::collect::redact::Redactor;
use crate::error::BadInput;
use crate::store::Limits;
use crate::{record, time};

/// Settings for `record` from one source, the file or the command line.
/// `None` and empty lists mean "not given": defaults are applied by the
/// recorder after [`merge`], so that a default never hides a file's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub db: Option<PathBuf>,
    pub interval: Option<Duration>,
    pub retain: Option<Duration>,
    pub max_size: Option<u64>,
    pub reserve: Option<u64>,
    pub cgroup_depth: Option<u64>,
    /// Regular expressions, as written: the recorder compiles them.
    pub redact: Vec<String>,
    pub watch_dirs: Vec<PathBuf>,
    pub watch_logs: Vec<PathBuf>,
    pub probes: Vec<ProbeConfig>,
    pub textfile_dir: Option<PathBuf>,
    pub waits: Option<bool>,
}

/// One dependency to probe each sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// `KIND:ADDRESS` as written, e.g. `milter:127.0.0.1:8891`; the probe
    /// module parses it.
    pub target: String,
    /// `None`: the recorder's default, which it also caps at the interval.
    pub timeout: Option<Duration>,
    /// A prefix the first answer must start with, e.g. `220` for SMTP.
    pub expect: Option<String>,
}

impl ProbeConfig {
    /// A probe as `--probe` gives it: a target and nothing else.
    pub fn new(target: impl Into<String>) -> Self {
        Self { target: target.into(), timeout: None, expect: None }
    }
}

/// Accepted sampling intervals, as `--interval` takes them.
pub const INTERVAL_RANGE: RangeInclusive<Duration> = Duration::from_millis(100)..=Duration::from_secs(3600);
/// Accepted retention: less than an hour cannot cover an incident and its
/// report; humantime's year is 365.25 days, so `10y` is the longest.
pub const RETAIN_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(3600)..=Duration::from_secs(10 * 31_557_600);
/// Accepted cgroup depths: 0 records no cgroups; deeper than 8 levels are
/// the inner cgroups of one service, rarely worth a row each.
pub const CGROUP_DEPTH_RANGE: RangeInclusive<u64> = 0..=8;
/// Accepted probe timeouts: a loopback connect takes well under 10ms.
pub const PROBE_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(3600);

/// Where `record` looks for a configuration when `--config` is not given.
pub fn default_path() -> PathBuf {
    PathBuf::from("/etc/flightrec.toml")
}

/// The configuration at `path`, which was asked for and so must exist.
pub fn load(path: &Path) -> Result<Config> {
    load_if_present(path)?.ok_or_else(|| {
        BadInput::Unusable {
            path: path.to_owned(),
            reason: "no such configuration file; check the path given to --config".to_owned(),
        }
        .into()
    })
}

/// The configuration at `--config`'s path, which must exist, else the one
/// at [`default_path`] where there is one: running without a file is the
/// normal case.
pub fn load_chosen(given: Option<&Path>) -> Result<Config> {
    match given {
        Some(path) => load(path),
        None => Ok(load_if_present(&default_path())?.unwrap_or_default()),
    }
}

/// The largest file read. No configuration comes close; the limit keeps a
/// mistaken `--config /dev/zero` or `--config /var/log/syslog` from filling
/// memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

fn load_if_present(path: &Path) -> Result<Option<Config>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(BadInput::Unusable {
            path: path.to_owned(),
            reason: "larger than 1 MiB, which no configuration is; is this the configuration file?"
                .to_owned(),
        }
        .into());
    }
    Ok(Some(parse_bytes(path, &bytes)?))
}

/// The settings of `record`: the command line's where it gives one, the
/// file's otherwise. A list given on the command line replaces the file's
/// list instead of adding to it: `--probe X` then probes exactly X, and it
/// is the only way to leave out, for one run, something the file lists.
pub fn merge(mut file: Config, mut cli: Config) -> Config {
    for setting in SETTINGS {
        (setting.slot)(&mut file).take_from((setting.slot)(&mut cli));
    }
    file
}

/// The key of `[[probe]]` tables: a probe that needs more than a target.
const PROBE_TABLE: &str = "probe";
const PROBE_KEYS: &[&str] = &["target", "timeout", "expect"];

fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Config, BadInput> {
    let text = std::str::from_utf8(bytes).map_err(|err| BadInput::BadConfig {
        path: path.to_owned(),
        line: line_at(bytes, err.valid_up_to()),
        key: None,
        reason: "not UTF-8 text, so not TOML; is this the configuration file?".to_owned(),
    })?;
    parse(path, text)
}

fn parse(path: &Path, text: &str) -> Result<Config, BadInput> {
    let doc = ConfigFile { path, text };
    let table = DeTable::parse(text).map_err(|err| doc.syntax_error(&err))?;
    let mut config = Config::default();
    // Each probe with where its target is written, to point at a repeat.
    let mut probes: Vec<(ProbeConfig, Range<usize>, &str)> = Vec::new();
    for (key, value) in in_file_order(table.get_ref()) {
        let name: &str = key.get_ref().as_ref();
        if name == PROBE_TABLE {
            let DeValue::Array(tables) = value.get_ref() else {
                return Err(doc.error(
                    &value.span(),
                    PROBE_TABLE,
                    "expected [[probe]] tables, in double brackets, one per probe; plain \
                     targets go in probes = [\"tcp:127.0.0.1:25\"]",
                ));
            };
            for table in tables.iter() {
                probes.push(doc.probe_table(table)?);
            }
            continue;
        }
        let Some(setting) = settings::by_key(name) else {
            return Err(doc.unknown_key(key, name, name, &top_level_keys()));
        };
        let (key, like) = (setting.key, setting.example);
        // A list's items are written like the example's.
        let item_like = like.trim_start_matches('[').trim_end_matches(']');
        match (setting.slot)(&mut config) {
            Slot::Duration(slot, range) => *slot = Some(doc.duration(key, value, &range, like)?),
            Slot::Size(slot) => *slot = Some(doc.size(key, value, like)?),
            Slot::Count(slot, range) => {
                let text = doc.string(key, value, like)?;
                let count = settings::parse_count(key, text, range)
                    .map_err(|err| doc.error(&value.span(), key, value_reason(err)))?;
                *slot = Some(count);
            }
            Slot::Path(slot) => *slot = Some(doc.path_value(key, value)?),
            Slot::Paths(list) => {
                for item in doc.array(key, value, like)? {
                    list.push(doc.path_value(key, item)?);
                }
            }
            Slot::Patterns(list) => {
                for item in doc.array(key, value, like)? {
                    list.push(doc.string(key, item, item_like)?.to_owned());
                }
            }
            Slot::Switch(slot) => {
                let text = doc.string(key, value, like)?;
                let on = settings::switch(key, text)
                    .map_err(|err| doc.error(&value.span(), key, value_reason(err)))?;
                *slot = Some(on);
            }
            Slot::Probes(_) => {
                for item in doc.array(key, value, like)? {
                    probes.push((ProbeConfig::new(doc.target(key, item)?), item.span(), key));
                }
            }
        }
    }
    for (i, (probe, span, key)) in probes.iter().enumerate() {
        if let Some((_, first, _)) = probes[..i].iter().find(|(p, ..)| p.target == probe.target) {
            let first = line_at(text.as_bytes(), first.start);
            return Err(doc.error(
                span,
                key,
                format!("{:?} is already probed at line {first}; keep one", probe.target),
            ));
        }
    }
    config.probes = probes.into_iter().map(|(probe, ..)| probe).collect();
    Ok(config)
}

/// The keys a file may have at its top level.
fn top_level_keys() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.key).chain([PROBE_TABLE]).collect()
}

/// The 1-based line holding byte `offset`.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count()
}

type Entry<'t, 'i> = (&'t Spanned<DeString<'i>>, &'t Spanned<DeValue<'i>>);

/// A table's entries as the file orders them (toml sorts them by name), so
/// that the first mistake reported is the first one in the file and probes
/// keep the order they were written in.
fn in_file_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// The file being read, to turn positions into lines in error messages.
struct ConfigFile<'a> {
    path: &'a Path,
    text: &'a str,
}

impl ConfigFile<'_> {
    fn error(&self, at: &Range<usize>, key: &str, reason: impl Into<String>) -> BadInput {
        BadInput::BadConfig {
            path: self.path.to_owned(),
            line: line_at(self.text.as_bytes(), at.start),
            key: Some(key.to_owned()),
            reason: reason.into(),
        }
    }

    fn syntax_error(&self, err: &toml::de::Error) -> BadInput {
        let span = err.span().unwrap_or(0..0);
        // toml names no key in its errors, but for a repeated key its span
        // is the repeat itself.
        let key = err
            .message()
            .starts_with("duplicate key")
            .then(|| self.written(&span).trim_matches(['"', '\'']).to_owned());
        let reason = match key {
            Some(_) => "set a second time; keep one".to_owned(),
            None => format!("not valid TOML: {}", err.message()),
        };
        BadInput::BadConfig {
            path: self.path.to_owned(),
            line: line_at(self.text.as_bytes(), span.start),
            key,
            reason,
        }
    }

    /// The first line of what the file says at `span`, for messages.
    fn written(&self, span: &Range<usize>) -> &str {
        let text = self.text.get(span.clone()).unwrap_or_default();
        text.lines().next().unwrap_or_default()
    }

    fn unknown_key(&self, key: &Spanned<DeString<'_>>, shown: &str, name: &str, known: &[&str]) -> BadInput {
        let spelled = name.replace('-', "_");
        // watch_dir for watch_dirs, probe for probes and back.
        let near = known.iter().find(|&&k| {
            k == spelled || k.strip_suffix('s') == Some(&spelled) || spelled.strip_suffix('s') == Some(k)
        });
        let reason = match near {
            Some(near) => format!("unknown key; did you mean {near:?}?"),
            None if known == PROBE_KEYS && top_level_keys().contains(&name) => format!(
                "not a key of [[probe]]; move {name:?} above the first [[probe]]: in TOML \
                 every key after a table header belongs to that table"
            ),
            None => format!("unknown key; the keys are {}", known.join(", ")),
        };
        self.error(&key.span(), shown, reason)
    }

    fn string<'v>(
        &self,
        key: &str,
        value: &'v Spanned<DeValue<'_>>,
        like: &str,
    ) -> Result<&'v str, BadInput> {
        match value.get_ref() {
            DeValue::String(text) if text.is_empty() => Err(self.error(
                &value.span(),
                key,
                format!("is empty; write a value like {like}, or remove it"),
            )),
            DeValue::String(text) => Ok(text),
            other => Err(self.error(
                &value.span(),
                key,
                format!(
                    "expected a string in quotes, like {like}; found {} {}",
                    other.type_str(),
                    self.written(&value.span())
                ),
            )),
        }
    }

    fn array<'v, 'i>(
        &self,
        key: &str,
        value: &'v Spanned<DeValue<'i>>,
        like: &str,
    ) -> Result<&'v [Spanned<DeValue<'i>>], BadInput> {
        match value.get_ref() {
            DeValue::Array(items) => Ok(items),
            other => Err(self.error(
                &value.span(),
                key,
                format!(
                    "expected a list in brackets, like {like}; found {} {}",
                    other.type_str(),
                    self.written(&value.span())
                ),
            )),
        }
    }

    fn duration(
        &self,
        key: &'static str,
        value: &Spanned<DeValue<'_>>,
        range: &RangeInclusive<Duration>,
        like: &str,
    ) -> Result<Duration, BadInput> {
        let text = self.string(key, value, like)?;
        time::parse_interval(key, text, *range.start(), *range.end())
            .map_err(|err| self.error(&value.span(), key, value_reason(err)))
    }

    fn size(&self, key: &'static str, value: &Spanned<DeValue<'_>>, like: &str) -> Result<u64, BadInput> {
        let text = self.string(key, value, like)?;
        time::parse_size(key, text).map_err(|err| self.error(&value.span(), key, value_reason(err)))
    }

    /// A path; a relative one is taken from the file's directory, since
    /// the directory `record` starts in (/ under systemd) is no one's choice.
    fn path_value(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<PathBuf, BadInput> {
        let path = Path::new(self.string(key, value, "\"/var/log/mail.log\"")?);
        Ok(match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        })
    }

    /// A probe target: `KIND:ADDRESS`. Which kinds exist is the probe
    /// module's business; this catches the usual slip, a bare `HOST:PORT`,
    /// while the line number is still known.
    fn target(&self, key: &str, value: &Spanned<DeValue<'_>>) -> Result<String, BadInput> {
        let target = self.string(key, value, "\"tcp:127.0.0.1:25\"")?;
        match target.split_once(':') {
            Some((kind, address))
                if !address.is_empty()
                    && !kind.is_empty()
                    && kind.bytes().all(|b| b.is_ascii_lowercase()) =>
            {
                Ok(target.to_owned())
            }
            _ => Err(self.error(
                &value.span(),
                key,
                format!(
                    "{target:?} is not a probe target; write KIND:ADDRESS, like \
                     \"tcp:127.0.0.1:25\", \"milter:127.0.0.1:8891\" or \
                     \"clamd:unix:/var/run/clamav/clamd.ctl\""
                ),
            )),
        }
    }

    /// One `[[probe]]` table, with where and under which key its target
    /// is written.
    fn probe_table(
        &self,
        table: &Spanned<DeValue<'_>>,
    ) -> Result<(ProbeConfig, Range<usize>, &'static str), BadInput> {
        let DeValue::Table(entries) = table.get_ref() else {
            return Err(self.error(
                &table.span(),
                "probe",
                format!(
                    "expected a [[probe]] table with target = \"tcp:127.0.0.1:25\"; found {} {}",
                    table.get_ref().type_str(),
                    self.written(&table.span())
                ),
            ));
        };
        let mut target = None;
        let mut probe = ProbeConfig::new(String::new());
        for (key, value) in in_file_order(entries) {
            match key.get_ref().as_ref() {
                "target" => target = Some((self.target("probe.target", value)?, value.span())),
                "timeout" => {
                    probe.timeout =
                        Some(self.duration("probe.timeout", value, &PROBE_TIMEOUT_RANGE, "\"1s\"")?)
                }
                "expect" => probe.expect = Some(self.string("probe.expect", value, "\"220\"")?.to_owned()),
                name => return Err(self.unknown_key(key, &format!("probe.{name}"), name, PROBE_KEYS)),
            }
        }
        let Some((target, span)) = target else {
            return Err(self.error(
                &table.span(),
                "probe",
                "this [[probe]] has no target; add a line like target = \"tcp:127.0.0.1:25\"",
            ));
        };
        probe.target = target;
        Ok((probe, span, "probe.target"))
    }
}

/// What [`time`]'s parsers said about a value, without the option name
/// they were given: the message names the key already.
fn value_reason(err: BadInput) -> String {
    match err {
        BadInput::BadValue { value, reason, .. } => format!("{value:?}: {reason}"),
        other => other.to_string(),
    }
}

/// The smallest `--max-size` accepted: below it retention would delete
/// every sample it can.
const MIN_MAX_SIZE: u64 = 1 << 20;

/// What `record` runs with: the configuration file (`--config`, else the
/// default one) with the command line laid over it, checked, and the
/// database the file names, if it does.
pub fn record_options(
    config: Option<&Path>,
    args: &RecordArgs,
) -> Result<(Option<PathBuf>, record::Options)> {
    let file = load_chosen(config)?;
    let settings = merge(file, settings::from_command_line(&args.given)?);
    let defaults = Limits::default();
    let limits = Limits {
        retain: settings.retain.unwrap_or(defaults.retain),
        max_size: settings.max_size.unwrap_or(defaults.max_size),
        reserve: settings.reserve.unwrap_or(defaults.reserve),
    };
    if limits.max_size < MIN_MAX_SIZE {
        return Err(BadInput::BadValue {
            option: "--max-size",
            value: limits.max_size.to_string(),
            reason: "must be at least 1MiB: the database needs room for its schema and some samples".into(),
        }
        .into());
    }
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
        textfile_dir: settings.textfile_dir,
        cgroup_depth: settings
            .cgroup_depth
            .map_or(crate::collect::cgroup::DEFAULT_DEPTH, |depth| depth as usize),
        waits: settings.waits.unwrap_or(true),
    };
    Ok((settings.db, options))
}

/// Probes as configured; a timeout never exceeds the interval, so a probe
/// can never hold back the next tick.
fn probe_specs(probes: &[ProbeConfig], interval: Duration) -> Result<Vec<probe::ProbeSpec>> {
    let mut specs = Vec::with_capacity(probes.len());
    for (i, configured) in probes.iter().enumerate() {
        // The file names the line of a repeat; the command line is checked here.
        if probes[..i].iter().any(|earlier| earlier.target == configured.target) {
            return Err(BadInput::BadValue {
                option: "--probe",
                value: configured.target.clone(),
                reason: "is given twice; keep one".into(),
            }
            .into());
        }
        let mut spec = probe::parse(&configured.target)?;
        let timeout = configured.timeout.unwrap_or(probe::DEFAULT_TIMEOUT).min(interval);
        spec = spec.with_timeout(timeout);
        if let Some(expect) = &configured.expect {
            if !matches!(spec.protocol(), probe::Protocol::Tcp | probe::Protocol::Smtp) {
                return Err(BadInput::BadValue {
                    option: "expect",
                    value: expect.clone(),
                    reason: format!("only tcp and smtp probes read a banner; {} does not", configured.target),
                }
                .into());
            }
            spec = spec.with_expect(expect.clone());
        }
        specs.push(spec);
    }
    Ok(specs)
}

#[cfg(test)]
mod tests;
