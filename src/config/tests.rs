//! The configuration file and the command line of `record`: parsing,
//! mistakes named with their line, merging, and the shipped examples.

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
        cgroup_depth = "3"
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
            cgroup_depth: Some(3),
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
            textfile_dir: None,
            waits: None,
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
    let config = parse_ok("probe = [{ target = \"smtp:127.0.0.1:25\" }]\nprobes = [\"tcp:127.0.0.1:22\"]\n");
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
    assert_err("interval = 5\n", 1, "interval", "expected a string in quotes, like \"5s\"; found integer 5");
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
        cgroup_depth: Some(3),
        redact: vec!["file".into()],
        watch_dirs: vec!["/file/dir".into()],
        watch_logs: vec!["/file/log".into()],
        probes: vec![ProbeConfig::new("tcp:127.0.0.1:25"), ProbeConfig::new("tcp:127.0.0.1:8891")],
        textfile_dir: None,
        waits: None,
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

/// The example's setting lines above its `[[probe]]` part: `#key = value`.
fn example_settings(example: &str) -> Vec<(&str, &str)> {
    example
        .lines()
        .take_while(|line| !line.starts_with("#[[probe]]"))
        .filter_map(|line| line.strip_prefix('#')?.split_once(" = "))
        .filter(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

#[test]
fn the_example_shows_every_setting_of_the_table_with_its_default() {
    let example = include_str!("../../contrib/flightrec.toml.example");
    let shown = example_settings(example);
    let keys: Vec<&str> = shown.iter().map(|(key, _)| *key).collect();
    for setting in SETTINGS {
        assert!(keys.contains(&setting.key), "the example does not show {}", setting.key);
    }
    for (key, value) in &shown {
        let setting =
            settings::by_key(key).unwrap_or_else(|| panic!("the example shows {key}, not a setting"));
        if let Some(default) = setting.default {
            assert_eq!(*value, format!("{default:?}"), "{key}: the example shows another default");
        }
    }
}

#[test]
fn the_defaults_of_the_table_are_the_recorders() {
    let given: Vec<(&'static Setting, Vec<std::ffi::OsString>)> = SETTINGS
        .iter()
        .filter(|s| s.flag.is_some())
        .filter_map(|s| Some((s, vec![s.default?.into()])))
        .collect();
    let defaults = settings::from_command_line(&given).unwrap();
    let limits = Limits::default();
    assert_eq!(defaults.interval, Some(record::DEFAULT_INTERVAL));
    assert_eq!(defaults.retain, Some(limits.retain));
    assert_eq!(defaults.max_size, Some(limits.max_size));
    assert_eq!(defaults.reserve, Some(limits.reserve));
}

#[test]
fn the_command_line_is_parsed_as_the_file_is() {
    let flag = |key: &str, values: &[&str]| {
        let setting = settings::by_key(key).unwrap();
        (setting, values.iter().map(std::ffi::OsString::from).collect::<Vec<_>>())
    };
    let config = settings::from_command_line(&[
        flag("interval", &["2s"]),
        flag("max_size", &["512MiB"]),
        flag("probes", &["tcp:127.0.0.1:25", "milter:127.0.0.1:8891"]),
        flag("watch_dirs", &["/var/spool/postfix/deferred"]),
    ])
    .unwrap();
    let file = parse_ok(
        "interval = \"2s\"\nmax_size = \"512MiB\"\nprobes = [\"tcp:127.0.0.1:25\", \"milter:127.0.0.1:8891\"]\n\
         watch_dirs = [\"/var/spool/postfix/deferred\"]\n",
    );
    assert_eq!(config, file);
    let wrong = settings::from_command_line(&[flag("interval", &["1ms"])]).unwrap_err();
    assert!(wrong.to_string().starts_with("--interval \"1ms\""), "{wrong}");
    let deep = settings::from_command_line(&[flag("cgroup_depth", &["9"])]).unwrap_err();
    assert!(deep.to_string().starts_with("--cgroup-depth \"9\""), "{deep}");
    assert_err("cgroup_depth = \"two\"\n", 1, "cgroup_depth", "not a whole number from 0 to 8");
}
