//! What a person calls a process: the name it was started as (argv[0],
//! without its directory), or for an interpreter the script or jar it
//! runs, falling back to the kernel's 15-byte `comm`. `python3 worker.py`
//! is `worker.py`, `java -jar billing.jar` is `billing.jar`, a process
//! started by `exec -a piler sleep` is `piler` though its comm is `sleep`,
//! and a process that retitled itself (`php-fpm: pool www`) keeps its
//! title. Every view that groups processes (the report's findings, export,
//! OpenMetrics, replay) groups by this.

use super::sample::Process;
use std::borrow::Cow;

/// Longest identity kept, in characters: a title can be a whole sentence.
const IDENTITY_MAX: usize = 40;

/// Programs whose first argument that is not an option is what they run.
const INTERPRETERS: &[&str] = &[
    "python", "pypy", "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua", "rscript", "tclsh",
    "bash", "sh", "dash", "zsh", "ksh", "java",
];

/// Options of those programs that take the next argument as their value.
const OPTIONS_WITH_VALUE: &[&str] =
    &["-cp", "-classpath", "--class-path", "-m", "-e", "-c", "-r", "-I", "-W", "-X"];

impl Process {
    pub fn identity(&self) -> Cow<'_, str> {
        identity(&self.comm, &self.cmdline)
    }
}

/// The identity of a process from its `comm` and its command line
/// (arguments joined by spaces, empty for kernel threads).
pub fn identity<'a>(comm: &'a str, cmdline: &'a str) -> Cow<'a, str> {
    let mut words = cmdline.split(' ').filter(|w| !w.is_empty());
    let Some(first) = words.next() else { return Cow::Borrowed(comm) };
    if first.ends_with(':') {
        return Cow::Owned(cmdline.trim().chars().take(IDENTITY_MAX).collect());
    }
    let program = base_name(first);
    if program.is_empty() {
        return Cow::Borrowed(comm);
    }
    if is_interpreter(program)
        && let Some(script) = script(program, words)
    {
        return Cow::Borrowed(script);
    }
    Cow::Borrowed(program)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `python3.11` and `python` are the same interpreter.
fn is_interpreter(program: &str) -> bool {
    let bare = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.').to_ascii_lowercase();
    INTERPRETERS.contains(&bare.as_str())
}

/// The script, module or jar an interpreter runs, by its file name.
fn script<'a>(program: &str, mut words: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    while let Some(word) = words.next() {
        match word {
            "-jar" if program.starts_with("java") => return words.next().map(base_name),
            // `python3 -m http.server` runs the module.
            "-m" if program.starts_with("python") || program.starts_with("pypy") => return words.next(),
            // `sh -c '...'` runs no file: the shell is what a person sees.
            "-c" | "-e" if !program.starts_with("java") => return None,
            _ if OPTIONS_WITH_VALUE.contains(&word) => {
                words.next();
            }
            _ if word.starts_with('-') => {}
            _ => return Some(base_name(word)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn names_a_person_recognises() {
        let cases = [
            ("sleep", "piler 1000", "piler"),
            ("python3", "/usr/bin/python3 -u /srv/app/worker.py --queue mail", "worker.py"),
            ("python3", "python3 -m http.server 8000", "http.server"),
            ("java", "java -Xmx2g -jar /opt/billing/billing.jar", "billing.jar"),
            ("java", "java -cp /opt/lib/x.jar org.example.Main", "org.example.Main"),
            ("php-fpm8.2", "php-fpm: pool www", "php-fpm: pool www"),
            ("smtpd", "smtpd -n smtp -t inet -u -c", "smtpd"),
            ("bash", "bash -c while true; do :; done", "bash"),
            ("bash", "/bin/bash /usr/local/bin/backup.sh", "backup.sh"),
            ("kworker/0:1", "", "kworker/0:1"),
            ("node", "node", "node"),
        ];
        for (comm, cmdline, expected) in cases {
            assert_eq!(identity(comm, cmdline), expected, "{comm} / {cmdline}");
        }
    }
}
