//! What flightrec says about itself: `--version` (with the database schema
//! it writes and the commit it was built from), shell completions and man
//! pages. Completions and pages are made from the command line's own
//! definition (`cli::Cli`), so they cannot describe an option that no longer
//! exists. `flightrec completions SHELL` prints one script for those who
//! install with cargo; the hidden `flightrec generate DIR` writes all of
//! them for the Debian package, whose assets must be files in the tree
//! before `cargo deb` runs. What clap does not know (TIME, files, exit
//! codes, environment, examples) is written here once, in `SECTIONS` and
//! `EXAMPLES`.

use crate::cli::Cli;
use crate::store::migrate::MIGRATIONS;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// The commit this binary was built from, when built from a git checkout.
pub const COMMIT: Option<&str> = option_env!("FLIGHTREC_COMMIT");

/// What `--version` prints after the name: the release, the schema version
/// of the databases it writes, the commit.
pub fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{}\ndatabase schema version {}\ncommit {}",
            env!("CARGO_PKG_VERSION"),
            MIGRATIONS.len(),
            COMMIT.unwrap_or("unknown (not built from a git checkout)")
        )
    })
}

/// Shells the package ships completions for, with the file name each one's
/// completion loader looks for and the directory Debian's packages of that
/// shell read them from.
pub const COMPLETIONS: &[(Shell, &str, &str)] = &[
    (Shell::Bash, "flightrec", "/usr/share/bash-completion/completions"),
    (Shell::Zsh, "_flightrec", "/usr/share/zsh/vendor-completions"),
    (Shell::Fish, "flightrec.fish", "/usr/share/fish/vendor_completions.d"),
];

/// The completion script for `shell`. Made in memory first: clap_complete
/// panics on a failed write, and `flightrec completions bash | head` is no
/// failure.
pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "flightrec", &mut script);
    out.write_all(&script)?;
    Ok(out.flush()?)
}

/// Writes `DIR/man/*.1` (flightrec(1) and one page per subcommand) and
/// `DIR/completions/` (one script per shell in `COMPLETIONS`).
pub fn generate(dir: &Path) -> Result<()> {
    let man_dir = dir.join("man");
    let completion_dir = dir.join("completions");
    for dir in [&man_dir, &completion_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    for (name, text) in man_pages()? {
        let path = man_dir.join(format!("{name}.1"));
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    for &(shell, file, _) in COMPLETIONS {
        let path = completion_dir.join(file);
        let mut text = Vec::new();
        completions(shell, &mut text)?;
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Every man page as (name, roff text): `flightrec` first, then one per
/// visible subcommand (`flightrec-report`, ...).
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let subcommands: Vec<clap::Command> =
        root.get_subcommands().filter(|c| !c.is_hide_set()).cloned().collect();
    let names: Vec<String> = subcommands.iter().map(|c| format!("flightrec-{}", c.get_name())).collect();
    let mut pages = vec![("flightrec".to_owned(), man_page(root, "", &names)?)];
    for (command, name) in subcommands.into_iter().zip(&names) {
        let command_name = command.get_name().to_owned();
        let mut see_also = vec!["flightrec".to_owned()];
        see_also.extend(names.iter().filter(|n| *n != name).cloned());
        pages.push((name.clone(), man_page(command, &command_name, &see_also)?));
    }
    Ok(pages)
}

/// One page: clap's sections (name, synopsis, description, options,
/// subcommands), then this file's. The release is in the title line; the
/// commit is left out, so the pages change only when the options do.
fn man_page(command: clap::Command, subcommand: &str, see_also: &[String]) -> Result<Vec<u8>> {
    let has_options = command.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = command.get_subcommands().any(|c| !c.is_hide_set());
    let man = Man::new(command)
        .source(format!("flightrec {}", env!("CARGO_PKG_VERSION")))
        .manual("flightrec manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut description = Roff::new();
    for (_, text) in DESCRIPTIONS.iter().filter(|(page, _)| *page == subcommand) {
        write_paragraph(&mut description, &Paragraph::Text(text));
    }
    description.to_writer(&mut out)?;
    if has_options {
        man.render_options_section(&mut out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    for section in SECTIONS.iter().filter(|s| s.pages.is_empty() || s.pages.contains(&subcommand)) {
        roff.control("SH", [section.heading]);
        for paragraph in section.paragraphs {
            write_paragraph(&mut roff, paragraph);
        }
    }
    let page_examples: Vec<&Example> = EXAMPLES.iter().filter(|e| e.page == subcommand).collect();
    if !page_examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for example in page_examples {
            roff.control("TP", []);
            roff.text([bold(example.command)]);
            roff.text([roman(example.explains)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs = Vec::new();
    for (i, name) in see_also.iter().enumerate() {
        let separator = if i + 1 < see_also.len() { "(1), " } else { "(1)" };
        refs.push(bold(name.as_str()));
        refs.push(roman(separator));
    }
    roff.text(refs);
    roff.to_writer(&mut out)?;
    Ok(out)
}

/// A paragraph: `Term` is a tagged one (a term in bold, then its text
/// indented below it), `Text` a plain one.
enum Paragraph {
    Text(&'static str),
    Term(&'static str, &'static str),
}

fn write_paragraph(roff: &mut Roff, paragraph: &Paragraph) {
    match *paragraph {
        Paragraph::Text(text) => {
            roff.control("PP", []);
            roff.text([roman(text)]);
        }
        Paragraph::Term(term, text) => {
            roff.control("TP", []);
            roff.text([bold(term)]);
            roff.text([roman(text)]);
        }
    }
}

/// What a page's DESCRIPTION says after the command's one line of help.
const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "",
        "flightrec record samples the whole machine every few seconds (load, CPU, memory, pressure, \
         disks, filesystems, TCP sockets per port, the process table, kernel messages, dependency \
         probes, watched directories and logs) and commits every sample into one SQLite file, so that \
         what it saw survives a freeze, a crash or a power cut. flightrec report finds the unresponsive \
         periods by itself and explains the minutes before one; gaps lists them; show, export and check \
         read the same file, without ever blocking the recorder.",
    ),
    (
        "record",
        "One recorder per database: a second one is refused. Started as root, it locks its memory, \
         lowers its OOM score to -1000 and raises its CPU priority (nice -5) and I/O priority \
         (best-effort, level 0), as the systemd unit does; what it cannot do is said on standard error, \
         and recording goes on. A source that fails is left out of that sample, and said at most once a \
         minute.",
    ),
];

/// A section clap cannot write, on the pages named (every page when empty).
struct Section {
    heading: &'static str,
    pages: &'static [&'static str],
    paragraphs: &'static [Paragraph],
}

const SECTIONS: &[Section] = &[
    Section {
        heading: "TIME",
        pages: &["", "report", "show", "replay", "export"],
        paragraphs: &[
            Paragraph::Text(
                "Options that take a TIME (--at, --from, --to) accept any of these, in local time \
                 unless the value says otherwise:",
            ),
            Paragraph::Term(
                "18:05, 18:05:30",
                "the last time the clock showed it: today, or yesterday if that is still ahead",
            ),
            Paragraph::Term(
                "2026-11-22 18:05, 2026-11-22 18:05:30, 2026-11-22",
                "a date and a time of day (midnight when none is given)",
            ),
            Paragraph::Term("2026-11-22T18:05:00+01:00", "RFC 3339, with its own offset"),
            Paragraph::Term("@1795370700", "seconds since 1970 (UTC), fractions allowed"),
            Paragraph::Term("10m ago, -10m, 1h30m ago", "that long before now"),
            Paragraph::Term("now", "this moment"),
            Paragraph::Text(
                "Anything else is refused with exit status 2 and an example of each form. A local time \
                 that a daylight-saving change skipped is refused; one it repeated means its first occurrence.",
            ),
        ],
    },
    Section {
        heading: "EXIT STATUS",
        pages: &[],
        paragraphs: &[
            Paragraph::Term("0", "Success."),
            Paragraph::Term(
                "1",
                "A runtime failure: a file that cannot be read or written, a full disk at start.",
            ),
            Paragraph::Term(
                "2",
                "Bad usage or bad input, and nothing was touched: an unknown option or a bad value, a \
                 configuration file with an unknown key or a bad value, a file that is not a flightrec \
                 database, a damaged one, one written by a newer flightrec, or a second recorder on the \
                 same database. The message names the file or option and what to do.",
            ),
        ],
    },
    Section {
        heading: "ENVIRONMENT",
        pages: &[],
        paragraphs: &[
            Paragraph::Term("FLIGHTREC_DB", "The database file when --db is not given."),
            Paragraph::Term(
                "XDG_STATE_HOME",
                "Where the default database of a user other than root lives: \
                 $XDG_STATE_HOME/flightrec/flightrec.db, or ~/.local/state/flightrec/flightrec.db when unset.",
            ),
        ],
    },
    Section {
        heading: "FILES",
        pages: &[],
        paragraphs: &[
            Paragraph::Term(
                "/var/lib/flightrec/flightrec.db",
                "The default database when run as root: one SQLite file (with -wal and -shm beside it \
                 while in use), mode 0600, since command lines can hold secrets.",
            ),
            Paragraph::Term(
                "~/.local/state/flightrec/flightrec.db",
                "The default database of any other user.",
            ),
            Paragraph::Term(
                "/etc/flightrec.toml",
                "Settings of flightrec record, read when it exists (or the file given with --config). \
                 Every key has an option of the same name, and the command line wins. The other commands \
                 read its db key alone, unless --db or $FLIGHTREC_DB is given. The installed file \
                 documents each key, every one commented out.",
            ),
        ],
    },
    Section {
        heading: "SIGNALS",
        pages: &["record"],
        paragraphs: &[Paragraph::Text(
            "SIGTERM or SIGINT stop recording after the sample in progress is committed, and mark the run \
             as cleanly stopped. A run without that mark ended uncleanly (killed, crashed, frozen or a \
             power cut): flightrec report explains the minutes before it.",
        )],
    },
];

/// A command line and what it does, for a page's EXAMPLES.
struct Example {
    /// The subcommand whose page shows it; "" for flightrec(1).
    page: &'static str,
    command: &'static str,
    explains: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example {
        page: "",
        command: "flightrec record",
        explains: "Record into the default database until stopped.",
    },
    Example {
        page: "",
        command: "flightrec report",
        explains: "Explain the minutes before the last freeze, crash or reboot.",
    },
    Example {
        page: "",
        command: "flightrec show --at \"10m ago\"",
        explains: "The top view as it was ten minutes ago.",
    },
    Example {
        page: "record",
        command: "flightrec record",
        explains: "Every 5 s into the default database, with /etc/flightrec.toml when it exists.",
    },
    Example {
        page: "record",
        command: "flightrec record --interval 1s --probe milter:127.0.0.1:8891 --watch-dir /var/spool/postfix/deferred",
        explains: "Every second, with a mail filter probed and the deferred queue counted.",
    },
    Example {
        page: "report",
        command: "flightrec report",
        explains: "The newest unresponsive period: unclean stop, reboot or stall.",
    },
    Example {
        page: "report",
        command: "flightrec report --period 2 --format json -o freeze.json",
        explains: "The second newest period of flightrec gaps, for a program to read.",
    },
    Example {
        page: "report",
        command: "flightrec report --at \"2026-11-22 18:05\" --window 30m",
        explains: "The half hour before a time someone noticed trouble.",
    },
    Example {
        page: "gaps",
        command: "flightrec gaps",
        explains: "Every unresponsive period, newest first, numbered for report --period.",
    },
    Example {
        page: "show",
        command: "flightrec show --at 18:05 --top 10",
        explains: "Load, CPU, memory and the ten busiest processes at 18:05.",
    },
    Example {
        page: "replay",
        command: "flightrec replay --at 18:05",
        explains: "Step through the samples from 18:05 on, as atop -r does (t next, b TIME, ? the keys).",
    },
    Example {
        page: "export",
        command: "flightrec export --what processes --from \"1h ago\" > procs.csv",
        explains: "The process table of the last hour as CSV.",
    },
    Example {
        page: "export",
        command: "flightrec export --format jsonl --from \"15m ago\"",
        explains: "System figures of the last 15 minutes, one JSON object a line.",
    },
    Example {
        page: "check",
        command: "flightrec check --db /backup/flightrec.db",
        explains: "Is a copied database sound?",
    },
    Example {
        page: "completions",
        command: "flightrec completions bash > ~/.local/share/bash-completion/completions/flightrec",
        explains: "Completion for bash, for a flightrec installed with cargo.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn version_names_the_schema_it_writes() {
        let text = long_version();
        assert!(text.starts_with(env!("CARGO_PKG_VERSION")), "{text}");
        assert!(text.contains(&format!("database schema version {}", MIGRATIONS.len())), "{text}");
    }

    /// An example's words as a shell would split them (double quotes only),
    /// up to a redirection.
    fn shell_words(command: &str) -> Vec<String> {
        let mut words = Vec::new();
        for (i, part) in command.split('"').enumerate() {
            if i % 2 == 1 {
                words.push(part.to_owned());
            } else {
                words.extend(part.split_whitespace().map(String::from));
            }
        }
        words.into_iter().take_while(|w| w != ">").collect()
    }

    #[test]
    fn every_example_parses_and_has_its_page() {
        let pages = man_pages().unwrap();
        for example in EXAMPLES {
            let words = shell_words(example.command);
            if let Err(err) = Cli::try_parse_from(&words) {
                panic!("example {:?} does not parse: {err}", example.command);
            }
            let name = match example.page {
                "" => "flightrec".to_owned(),
                page => format!("flightrec-{page}"),
            };
            assert!(pages.iter().any(|(n, _)| *n == name), "no page {name} for {:?}", example.command);
        }
    }
}
