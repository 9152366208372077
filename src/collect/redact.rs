//! Masks secrets in command lines and log lines before they are stored.
//! The database is mode 0600, but a copy sent with a bug report should not
//! leak passwords. Masked:
//!
//! - the value of an option that names a secret, joined (`--password=x`,
//!   `token:x`) or as the next argument (`--password x`, `--api-key x`);
//! - options that are secrets only for their program: `mysql -px`,
//!   `sshpass -p x`, `redis-cli -a x`, the password of `curl -u user:x`;
//! - credentials in URLs, `scheme://user:x@host` (the password may hold
//!   `@`: it runs to the last one before the host);
//! - HTTP `Authorization:` header values (`-H 'Authorization: Bearer x'`);
//! - whatever the user's `--redact` patterns match.
//!
//! Text is redacted whole and cut to its stored length afterwards
//! (`apply_and_cut`): cut first, the start of a secret whose end was cut off
//! would no longer look like one.

use crate::error::BadInput;
use regex::Regex;

const MASK: &str = "***";

/// `name=value` and `name:value` where the name says it is a secret; the
/// value runs to the next space.
const SECRET_ARGUMENT: &str =
    r"(?i)(\b[\w.-]*(?:password|passwd|pwd|token|secret|key|credential)s?[=:])[^\s]+";
/// `scheme://user:password@host`: the password runs to the last `@` before
/// the path.
const URL_CREDENTIALS: &str = r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+):[^\s/]*@";
/// An `Authorization:` (or `Proxy-Authorization:`) header: its scheme is
/// kept, its credentials masked.
const AUTHORIZATION: &str =
    r"(?i)(\b(?:proxy-)?authorization:\s*(?:(?:basic|bearer|digest|negotiate|token)\s+)?)[^\s'\x22]+";

#[derive(Clone)]
pub struct Redactor {
    patterns: Vec<(Regex, &'static str)>,
}

impl Redactor {
    /// The default patterns and the user's; a user pattern's whole match is
    /// masked.
    pub fn new(user_patterns: &[String]) -> Result<Redactor, BadInput> {
        let mut patterns = vec![
            (Regex::new(SECRET_ARGUMENT).expect("valid pattern"), "${1}***"),
            (Regex::new(URL_CREDENTIALS).expect("valid pattern"), "${1}:***@"),
            (Regex::new(AUTHORIZATION).expect("valid pattern"), "${1}***"),
        ];
        for source in user_patterns {
            let regex = Regex::new(source).map_err(|err| BadInput::BadValue {
                option: "--redact",
                value: source.clone(),
                reason: format!("not a regular expression: {err}"),
            })?;
            patterns.push((regex, MASK));
        }
        Ok(Redactor { patterns })
    }

    pub fn apply(&self, line: &str) -> String {
        let mut text = mask_options(line);
        for (regex, replacement) in &self.patterns {
            if regex.is_match(&text) {
                text = regex.replace_all(&text, *replacement).into_owned();
            }
        }
        text
    }

    /// Redacts `line` whole, then keeps at most `max` bytes of it, cut on a
    /// character boundary.
    pub fn apply_and_cut(&self, line: &str, max: usize) -> String {
        let mut text = self.apply(line);
        let mut end = max.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text
    }
}

/// How much of an option's value is the secret.
#[derive(Clone, Copy)]
enum Secret {
    Whole,
    /// `user:password`: what follows the first colon (a value without one
    /// is a user name, and the program asks for the password).
    AfterColon,
}

impl Secret {
    fn mask(self, value: &str, out: &mut String) {
        match (self, value.split_once(':')) {
            (Secret::AfterColon, Some((user, _))) => {
                out.push_str(user);
                out.push(':');
                out.push_str(MASK);
            }
            (Secret::AfterColon, None) => out.push_str(value),
            (Secret::Whole, _) => out.push_str(MASK),
        }
    }
}

/// Where an option's secret is.
enum Found {
    /// In the next argument.
    Next(Secret),
    /// In this one, from this byte on (`-psecret`).
    From(usize, Secret),
}

/// Masks the secrets of options given as separate arguments, one pass over
/// the space-separated words. A program's own options count from where its
/// name appears (`sudo mysql -px`, a cron line `CMD (mysqldump -px ...)`).
fn mask_options(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut program = "";
    let mut pending: Option<Secret> = None;
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Some(secret) = pending.filter(|_| !word.is_empty()) {
            secret.mask(word, &mut out);
            pending = None;
            continue;
        }
        let name = word.trim_start_matches('(').rsplit('/').next().unwrap_or(word);
        if is_program_with_secret_options(name) {
            program = name;
        }
        match secret_option(program, word) {
            Some(Found::Next(secret)) => {
                out.push_str(word);
                pending = Some(secret);
            }
            Some(Found::From(at, secret)) => {
                out.push_str(&word[..at]);
                secret.mask(&word[at..], &mut out);
            }
            None => out.push_str(word),
        }
    }
    out
}

fn is_mysql(program: &str) -> bool {
    program.starts_with("mysql") || program.starts_with("mariadb")
}

fn is_program_with_secret_options(name: &str) -> bool {
    is_mysql(name) || matches!(name, "sshpass" | "redis-cli" | "curl")
}

/// Whether `word` is an option whose value is a secret, for `program`.
fn secret_option(program: &str, word: &str) -> Option<Found> {
    if let Some(long) = word.strip_prefix("--") {
        let name = long.to_ascii_lowercase();
        if program == "curl" && matches!(name.as_str(), "user" | "proxy-user") {
            return Some(Found::Next(Secret::AfterColon));
        }
        return names_a_secret(&name).then_some(Found::Next(Secret::Whole));
    }
    let short = word.strip_prefix('-')?;
    let (flag, rest) = (short.get(..1)?, &short[1..]);
    let secret = match (program, flag) {
        (p, "p") if is_mysql(p) => return (!rest.is_empty()).then_some(Found::From(2, Secret::Whole)),
        ("sshpass", "p") | ("redis-cli", "a") => Secret::Whole,
        ("curl", "u" | "U") => Secret::AfterColon,
        _ => return None,
    };
    Some(if rest.is_empty() { Found::Next(secret) } else { Found::From(2, secret) })
}

/// A long option naming a secret that it takes as the next argument:
/// `--password`, `--db-passwd`, `--api-key`, `--auth-token`, `--pass`; not
/// one that joins its value (`--password=x`, masked by pattern) nor one
/// naming where a secret is kept (`--password-file`).
fn names_a_secret(name: &str) -> bool {
    const SECRETS: &[&str] = &["password", "passwd", "secret", "token", "credential", "api-key", "apikey"];
    const PLACES: &[&str] = &["file", "path", "fd", "env", "dir", "command", "cmd"];
    if name.contains('=') || PLACES.iter().any(|place| name.ends_with(place)) {
        return false;
    }
    name == "pass" || SECRETS.iter().any(|secret| name.contains(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(line: &str) -> String {
        Redactor::new(&[]).unwrap().apply(line)
    }

    #[test]
    fn masks_secret_arguments_and_url_credentials() {
        assert_eq!(redact("mysql --password=hunter2 -u root"), "mysql --password=*** -u root");
        assert_eq!(redact("app token=abc123 api_key=zzz SECRET:xyz"), "app token=*** api_key=*** SECRET:***");
        assert_eq!(redact("curl https://bob:s3cret@example.org/x"), "curl https://bob:***@example.org/x");
        assert_eq!(redact("sleep 1000"), "sleep 1000");
        assert_eq!(redact("ssh-keygen -t ed25519"), "ssh-keygen -t ed25519", "key without a value is kept");
    }

    #[test]
    fn masks_a_secret_given_as_the_next_argument() {
        assert_eq!(redact("backup --password hunter2 --verbose"), "backup --password *** --verbose");
        assert_eq!(redact("app --api-key abc --db-passwd xyz"), "app --api-key *** --db-passwd ***");
        assert_eq!(
            redact("app --password-file /run/secret --pass x"),
            "app --password-file /run/secret --pass ***"
        );
    }

    #[test]
    fn masks_options_that_are_secrets_for_their_program() {
        assert_eq!(redact("mysql -uroot -phunter2 mail"), "mysql -uroot -p*** mail");
        assert_eq!(redact("/usr/bin/mysqldump -psecret --all"), "/usr/bin/mysqldump -p*** --all");
        assert_eq!(redact("mysql -p mail"), "mysql -p mail", "a bare -p asks for the password");
        assert_eq!(redact("sshpass -p hunter2 ssh host"), "sshpass -p *** ssh host");
        assert_eq!(redact("sudo redis-cli -a hunter2 ping"), "sudo redis-cli -a *** ping");
        assert_eq!(redact("curl -u bob:hunter2 https://x"), "curl -u bob:*** https://x");
        assert_eq!(
            redact("curl --user bob:pw -ubob:pw2 https://x"),
            "curl --user bob:*** -ubob:*** https://x"
        );
        assert_eq!(redact("curl -u bob https://x"), "curl -u bob https://x", "a user name alone is kept");
        // The same options mean something else to other programs.
        assert_eq!(redact("ssh -p 2222 host"), "ssh -p 2222 host");
        assert_eq!(redact("mkdir -p /var/a -a"), "mkdir -p /var/a -a");
    }

    #[test]
    fn masks_authorization_headers() {
        // Arguments are joined by spaces: the header's words are apart.
        assert_eq!(
            redact("curl -H Authorization: Bearer eyJhbGciOi.x https://api"),
            "curl -H Authorization: Bearer *** https://api"
        );
        assert_eq!(
            redact("curl -H 'authorization: Basic Ym9iOnB3' x"),
            "curl -H 'authorization: Basic ***' x"
        );
        assert_eq!(redact("wget --header=Authorization:abc x"), "wget --header=Authorization:*** x");
    }

    #[test]
    fn masks_a_url_password_holding_at_signs_whole() {
        assert_eq!(redact("mongosh mongodb://u:p@ss@h:27017/db"), "mongosh mongodb://u:***@h:27017/db");
        assert_eq!(redact("x https://h/a@b"), "x https://h/a@b", "an @ in the path is no password");
    }

    #[test]
    fn redacts_before_cutting() {
        let r = Redactor::new(&[]).unwrap();
        let line = format!("{} https://bob:hunter2hunter2@example.org/", "a".repeat(240));
        let cut = r.apply_and_cut(&line, 256);
        assert!(cut.len() <= 256 && !cut.contains("hunter"), "{cut}");
        assert!(cut.ends_with(" https://bob:***"), "{cut}");
        assert_eq!(r.apply_and_cut("é".repeat(10).as_str(), 5), "éé", "cut on a character boundary");
    }

    #[test]
    fn user_patterns_mask_their_whole_match() {
        let r = Redactor::new(&["--pin \\d+".into()]).unwrap();
        assert_eq!(r.apply("app --pin 1234 --verbose"), "app *** --verbose");
        let err = Redactor::new(&["(".into()]).err().unwrap();
        assert!(err.to_string().contains("--redact \"(\""), "{err}");
    }
}
