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
    /// Regular expressions, as written: the recorder compiles them.
    pub redact: Vec<String>,
    pub watch_dirs: Vec<PathBuf>,
    pub watch_logs: Vec<PathBuf>,
    pub probes: Vec<ProbeConfig>,
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

/// The configuration at [`default_path`], or `None` where there is none:
/// running without a file is the normal case.
pub fn load_default() -> Result<Option<Config>> {
    load_if_present(&default_path())
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
pub fn merge(file: Config, cli: Config) -> Config {
    fn list<T>(file: Vec<T>, cli: Vec<T>) -> Vec<T> {
        if cli.is_empty() { file } else { cli }
    }
    Config {
        db: cli.db.or(file.db),
        interval: cli.interval.or(file.interval),
        retain: cli.retain.or(file.retain),
        max_size: cli.max_size.or(file.max_size),
        reserve: cli.reserve.or(file.reserve),
        redact: list(file.redact, cli.redact),
        watch_dirs: list(file.watch_dirs, cli.watch_dirs),
        watch_logs: list(file.watch_logs, cli.watch_logs),
        probes: list(file.probes, cli.probes),
    }
}

/// The top-level keys, for the message about an unknown one.
const KEYS: &[&str] = &[
    "db",
    "interval",
    "retain",
    "max_size",
    "reserve",
    "redact",
    "watch_dirs",
    "watch_logs",
    "probes",
    "probe",
];
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
    let doc = Doc { path, text };
    let table = DeTable::parse(text).map_err(|err| doc.syntax_error(&err))?;
    let mut config = Config::default();
    // Each probe with where its target is written, to point at a repeat.
    let mut probes: Vec<(ProbeConfig, Range<usize>, &str)> = Vec::new();
    for (key, value) in in_file_order(table.get_ref()) {
        match key.get_ref().as_ref() {
            "db" => config.db = Some(doc.path_value("db", value)?),
            "interval" => {
                config.interval = Some(doc.duration("interval", value, &INTERVAL_RANGE, "\"5s\"")?)
            }
            "retain" => config.retain = Some(doc.duration("retain", value, &RETAIN_RANGE, "\"14d\"")?),
            "max_size" => config.max_size = Some(doc.size("max_size", value, "\"1GiB\"")?),
            "reserve" => config.reserve = Some(doc.size("reserve", value, "\"64MiB\"")?),
            "redact" => {
                for item in doc.array("redact", value, "['password=\\S+']")? {
                    config.redact.push(doc.string("redact", item, "'password=\\S+'")?.to_owned());
                }
            }
            "watch_dirs" => {
                for item in doc.array("watch_dirs", value, "[\"/var/spool/postfix/deferred\"]")? {
                    config.watch_dirs.push(doc.path_value("watch_dirs", item)?);
                }
            }
            "watch_logs" => {
                for item in doc.array("watch_logs", value, "[\"/var/log/mail.log\"]")? {
                    config.watch_logs.push(doc.path_value("watch_logs", item)?);
                }
            }
            "probes" => {
                for item in doc.array("probes", value, "[\"tcp:127.0.0.1:25\"]")? {
                    let target = doc.target("probes", item)?;
                    probes.push((ProbeConfig::new(target), item.span(), "probes"));
                }
            }
            "probe" => {
                let DeValue::Array(tables) = value.get_ref() else {
                    return Err(doc.error(
                        &value.span(),
                        "probe",
                        "expected [[probe]] tables, in double brackets, one per probe; plain \
                         targets go in probes = [\"tcp:127.0.0.1:25\"]",
                    ));
                };
                for table in tables.iter() {
                    probes.push(doc.probe_table(table)?);
                }
            }
            name => return Err(doc.unknown_key(key, name, name, KEYS)),
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
struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Doc<'_> {
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
            None if known == PROBE_KEYS && KEYS.contains(&name) => format!(
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

/// What `record` runs with: the configuration file (`--config`, else the
/// default one) with the command line laid over it, checked, and the
/// database the file names, if it does.
pub fn record_options(args: &RecordArgs) -> Result<(Option<PathBuf>, record::Options)> {
    let file = match &args.config {
        Some(path) => load(path)?,
        None => load_default()?.unwrap_or_default(),
    };
    let settings = merge(file, command_line_config(args)?);
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
    Ok((settings.db, options))
}

/// Probes as configured; a timeout never exceeds the interval, so a probe
/// can never hold back the next tick.
fn probe_specs(probes: &[ProbeConfig], interval: Duration) -> Result<Vec<probe::ProbeSpec>> {
    let mut specs = Vec::with_capacity(probes.len());
    for configured in probes {
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

/// The command line's settings, parsed as the configuration file's are.
fn command_line_config(args: &RecordArgs) -> Result<Config> {
    let range = |r: &RangeInclusive<Duration>| (*r.start(), *r.end());
    let duration = |option: &'static str, value: &Option<String>, (min, max): (Duration, Duration)| {
        value.as_deref().map(|v| time::parse_interval(option, v, min, max)).transpose()
    };
    let size = |option: &'static str, value: &Option<String>| {
        value.as_deref().map(|v| time::parse_size(option, v)).transpose()
    };
    Ok(Config {
        interval: duration("--interval", &args.interval, range(&INTERVAL_RANGE))?,
        retain: duration("--retain", &args.retain, range(&RETAIN_RANGE))?,
        max_size: size("--max-size", &args.max_size)?,
        reserve: size("--reserve", &args.reserve)?,
        redact: args.redact.clone(),
        probes: args.probe.iter().map(ProbeConfig::new).collect(),
        watch_dirs: args.watch_dir.clone(),
        watch_logs: args.watch_log.clone(),
        ..Config::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/flightrec.toml";

    fn parse_ok(text: &str) -> Config {
        parse(Path::new(PATH), text).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The line, key and message of the error `text` gives.
    fn parse_err(text: &str) -> (usize, Option<String>, String) {
        match parse_bytes(Path::new(PATH), text.as_bytes()) {
            Ok(config) => panic!("parsed: {config:?}"),
            Err(err @ BadInput::BadConfig { .. }) => {
                let message = err.to_string();
                let BadInput::BadConfig { line, key, .. } = err else { unreachable!() };
                (line, key, message)
            }
            Err(other) => panic!("not BadConfig: {other}"),
        }
    }

    fn assert_err(text: &str, line: usize, key: &str, says: &str) {
        let (got_line, got_key, message) = parse_err(text);
        assert_eq!((got_line, got_key.as_deref()), (line, Some(key)), "{message}");
        let head = format!("{PATH} line {line}, key {key:?}: ");
        assert!(message.starts_with(&head), "{message}");
        assert!(message.contains(says), "{message:?} does not say {says:?}");
    }

    #[test]
    fn every_key_parses() {
        let config = parse_ok(
            r#"
            db = "/var/lib/flightrec/mail.db"
            interval = "2s"
            retain = "30d"
            max_size = "2GiB"
            reserve = "128MiB"
            redact = ['--password[= ]\S+', 'token=\w+']
            watch_dirs = ["/var/spool/postfix/deferred", "spool"]
            watch_logs = ["/var/log/mail.log"]
            probes = ["tcp:127.0.0.1:25", "clamd:unix:/var/run/clamav/clamd.ctl"]

            [[probe]]
            target = "milter:127.0.0.1:8891"
            timeout = "2s"
            expect = "220"

            [[probe]]
            target = "http:http://127.0.0.1:8080/health"
            "#,
        );
        let day = 86_400;
        assert_eq!(
            config,
            Config {
                db: Some("/var/lib/flightrec/mail.db".into()),
                interval: Some(Duration::from_secs(2)),
                retain: Some(Duration::from_secs(30 * day)),
                max_size: Some(2 << 30),
                reserve: Some(128 << 20),
                redact: vec![r"--password[= ]\S+".into(), r"token=\w+".into()],
                // Relative to the file's directory.
                watch_dirs: vec!["/var/spool/postfix/deferred".into(), "/etc/spool".into()],
                watch_logs: vec!["/var/log/mail.log".into()],
                probes: vec![
                    ProbeConfig::new("tcp:127.0.0.1:25"),
                    ProbeConfig::new("clamd:unix:/var/run/clamav/clamd.ctl"),
                    ProbeConfig {
                        target: "milter:127.0.0.1:8891".into(),
                        timeout: Some(Duration::from_secs(2)),
                        expect: Some("220".into()),
                    },
                    ProbeConfig::new("http:http://127.0.0.1:8080/health"),
                ],
            }
        );
    }

    #[test]
    fn empty_and_comment_only_files_set_nothing() {
        assert_eq!(parse_ok(""), Config::default());
        assert_eq!(parse_ok("# interval = \"5s\"\n\n"), Config::default());
    }

    #[test]
    fn probes_keep_the_file_order() {
        let config =
            parse_ok("probe = [{ target = \"smtp:127.0.0.1:25\" }]\nprobes = [\"tcp:127.0.0.1:22\"]\n");
        let targets: Vec<&str> = config.probes.iter().map(|p| p.target.as_str()).collect();
        assert_eq!(targets, ["smtp:127.0.0.1:25", "tcp:127.0.0.1:22"]);
    }

    #[test]
    fn bad_duration_names_line_key_and_value() {
        assert_err("db = \"/x.db\"\n\ninterval = \"5x\"\n", 3, "interval", "\"5x\": not a duration");
        assert_err("interval = \"10ms\"\n", 1, "interval", "must be between 100ms and 1h");
        assert_err("retain = \"30m\"\n", 1, "retain", "must be between 1h and 10years");
        assert_err("retain = \"11y\"\n", 1, "retain", "must be between");
        assert_eq!(parse_ok("retain = \"10y\"\n").retain, Some(*RETAIN_RANGE.end()));
        assert_err(
            "[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\ntimeout = \"5ms\"\n",
            3,
            "probe.timeout",
            "must be between 10ms and 1h",
        );
    }

    #[test]
    fn bad_size_names_line_key_and_value() {
        assert_err("\nmax_size = \"lots\"\n", 2, "max_size", "\"lots\": not a size; try 1GiB");
        assert_err("reserve = \"64 parsecs\"\n", 1, "reserve", "not a size");
    }

    #[test]
    fn unknown_keys_are_named_with_a_way_out() {
        assert_err("interval = \"5s\"\nintervall = \"5s\"\n", 2, "intervall", "the keys are db, interval,");
        assert_err("max-size = \"1GiB\"\n", 1, "max-size", "did you mean \"max_size\"?");
        assert_err("watch_dir = [\"/tmp\"]\n", 1, "watch_dir", "did you mean \"watch_dirs\"?");
        assert_err("[record]\ninterval = \"5s\"\n", 1, "record", "unknown key");
        assert_err(
            "[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\nretries = 3\n",
            3,
            "probe.retries",
            "the keys are target, timeout, expect",
        );
        // The classic TOML slip: a top-level key below a table header.
        assert_err(
            "[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\n\ninterval = \"5s\"\n",
            4,
            "probe.interval",
            "move \"interval\" above the first [[probe]]",
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_found() {
        assert_err(
            "interval = 5\n",
            1,
            "interval",
            "expected a string in quotes, like \"5s\"; found integer 5",
        );
        assert_err("max_size = 1073741824\n", 1, "max_size", "like \"1GiB\"; found integer");
        assert_err("watch_dirs = \"/var/spool\"\n", 1, "watch_dirs", "expected a list in brackets");
        assert_err("watch_logs = [\n  \"/var/log/a\",\n  7,\n]\n", 3, "watch_logs", "found integer 7");
        assert_err("probes = [\"tcp:127.0.0.1:25\", true]\n", 1, "probes", "found boolean true");
        assert_err(
            "[probe]\ntarget = \"tcp:127.0.0.1:25\"\n",
            1,
            "probe",
            "[[probe]] tables, in double brackets",
        );
        assert_err("probe = [\"tcp:127.0.0.1:25\"]\n", 1, "probe", "expected a [[probe]] table");
        assert_err("db = \"\"\n", 1, "db", "is empty");
        assert_err(
            "[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\nexpect = 220\n",
            3,
            "probe.expect",
            "found integer 220",
        );
    }

    #[test]
    fn probe_mistakes_are_pointed_at() {
        assert_err("interval = \"5s\"\n[[probe]]\ntimeout = \"2s\"\n", 2, "probe", "has no target");
        assert_err("probes = [\"127.0.0.1:25\"]\n", 1, "probes", "not a probe target; write KIND:ADDRESS");
        assert_err("[[probe]]\ntarget = \"tcp:\"\n", 2, "probe.target", "not a probe target");
        assert_err(
            "probes = [\"tcp:127.0.0.1:25\"]\n[[probe]]\ntarget = \"tcp:127.0.0.1:25\"\n",
            3,
            "probe.target",
            "\"tcp:127.0.0.1:25\" is already probed at line 1",
        );
        assert_err(
            "probes = [\n  \"tcp:127.0.0.1:25\",\n  \"tcp:127.0.0.1:25\",\n]\n",
            3,
            "probes",
            "already probed at line 2",
        );
    }

    #[test]
    fn duplicated_key_is_named() {
        assert_err(
            "interval = \"5s\"\nretain = \"14d\"\ninterval = \"2s\"\n",
            3,
            "interval",
            "set a second time",
        );
    }

    #[test]
    fn garbage_and_non_utf8_name_the_line() {
        let (line, key, message) = parse_err("interval = \"5s\"\nthis is not toml\n");
        assert_eq!((line, key), (2, None));
        assert!(message.starts_with("/etc/flightrec.toml line 2: not valid TOML: "), "{message}");

        let (line, key, message) = parse_err("interval = \"5s\"\n\nunterminated = \"oops\n");
        assert_eq!((line, key), (3, None), "{message}");

        let mut bytes = b"interval = \"5s\"\n# caf".to_vec();
        bytes.extend([0xe9, b'\n']);
        match parse_bytes(Path::new(PATH), &bytes) {
            Err(err @ BadInput::BadConfig { line: 2, key: None, .. }) => {
                assert!(err.to_string().contains("line 2: not UTF-8"), "{err}")
            }
            other => panic!("{other:?}"),
        }
        // A binary file given by mistake.
        let (line, _, _) = parse_err("\u{0}\u{1}\u{2}ELF");
        assert_eq!(line, 1);
    }

    /// A fresh path under the temporary directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flightrec-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn load_reads_a_file_and_names_a_missing_one() {
        let path = scratch("good.toml");
        std::fs::write(&path, "interval = \"1s\"\nwatch_logs = [\"mail.log\"]\n").unwrap();
        let config = load(&path).unwrap();
        assert_eq!(config.interval, Some(Duration::from_secs(1)));
        assert_eq!(config.watch_logs, [path.with_file_name("mail.log")]);

        let missing = scratch("missing.toml");
        let err = load(&missing).unwrap_err();
        assert!(err.is::<BadInput>(), "{err:#}");
        assert!(format!("{err:#}").starts_with(&format!("{}: no such", missing.display())));
        assert!(load_if_present(&missing).unwrap().is_none());
    }

    #[test]
    fn load_errors_are_bad_input_for_exit_2() {
        let path = scratch("bad.toml");
        std::fs::write(&path, "interval = \"5s\"\nretain = \"forever\"\n").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.is::<BadInput>(), "{err:#}");
        let expected = format!("{} line 2, key \"retain\": \"forever\": not a duration", path.display());
        assert!(format!("{err:#}").starts_with(&expected), "{err:#}");

        let huge = scratch("huge.toml");
        std::fs::write(&huge, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = load(&huge).unwrap_err();
        assert!(err.is::<BadInput>() && err.to_string().contains("larger than 1 MiB"), "{err:#}");
    }

    #[test]
    fn merge_prefers_the_command_line_and_replaces_lists() {
        let file = Config {
            db: Some("/file.db".into()),
            interval: Some(Duration::from_secs(5)),
            retain: Some(Duration::from_secs(86_400)),
            max_size: Some(1 << 30),
            reserve: None,
            redact: vec!["file".into()],
            watch_dirs: vec!["/file/dir".into()],
            watch_logs: vec!["/file/log".into()],
            probes: vec![ProbeConfig::new("tcp:127.0.0.1:25"), ProbeConfig::new("tcp:127.0.0.1:8891")],
        };
        let cli = Config {
            interval: Some(Duration::from_secs(1)),
            reserve: Some(1 << 20),
            probes: vec![ProbeConfig::new("smtp:127.0.0.1:25")],
            ..Config::default()
        };
        assert_eq!(
            merge(file.clone(), cli),
            Config {
                interval: Some(Duration::from_secs(1)),
                reserve: Some(1 << 20),
                probes: vec![ProbeConfig::new("smtp:127.0.0.1:25")],
                ..file.clone()
            }
        );
        // Nothing on the command line: the file as it is; no file: the command line.
        assert_eq!(merge(file.clone(), Config::default()), file);
        assert_eq!(merge(Config::default(), file.clone()), file);
    }

    /// The example with every setting line ("#" directly before a key or a
    /// table header) switched on, to check that what it shows is accepted.
    fn uncommented(example: &str) -> String {
        example
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }

    #[test]
    fn generic_example_parses_with_and_without_its_settings() {
        let example = include_str!("../../contrib/flightrec.toml.example");
        assert_eq!(parse_ok(example), Config::default(), "every setting is left at its default");
        let all = parse_ok(&uncommented(example));
        assert_eq!(
            (all.db.is_some(), all.interval, all.retain, all.max_size, all.reserve),
            (
                true,
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(14 * 86_400)),
                Some(1 << 30),
                Some(64 << 20)
            )
        );
        let lists = [all.redact.len(), all.watch_dirs.len(), all.watch_logs.len(), all.probes.len()];
        assert!(lists.iter().all(|&n| n > 0), "{all:?}");
    }

    #[test]
    fn postfix_example_parses() {
        let config = parse_ok(include_str!("../../contrib/postfix-clamav.toml.example"));
        let targets: Vec<&str> = config.probes.iter().map(|p| p.target.as_str()).collect();
        assert_eq!(
            targets,
            ["milter:127.0.0.1:8891", "smtp:127.0.0.1:25", "clamd:unix:/var/run/clamav/clamd.ctl"]
        );
        assert_eq!(config.probes[1].expect.as_deref(), Some("220"));
        assert!(config.probes[1].timeout.is_some());
        assert_eq!(
            config.watch_dirs,
            ["/var/spool/postfix/deferred", "/var/spool/postfix/active", "/var/spool/postfix/incoming"]
                .map(PathBuf::from)
        );
        assert!(config.watch_logs.contains(&PathBuf::from("/var/log/mail.log")));
        // Nothing a probe's timeout could exceed.
        let interval = config.interval.unwrap();
        assert!(config.probes.iter().all(|p| p.timeout.unwrap_or_default() <= interval));
    }
}
