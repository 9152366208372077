//! Masks secrets in command lines before they are stored: values of
//! password=, token=, secret=, key= style arguments, credentials in URLs,
//! and whatever the user's `--redact` patterns match. The database is
//! mode 0600, but a copy sent with a bug report should not leak passwords.

use crate::error::BadInput;
use regex::Regex;

const MASK: &str = "***";

/// `name=value` and `name:value` where the name says it is a secret; the
/// value runs to the next space.
const SECRET_ARGUMENT: &str =
    r"(?i)(\b[\w.-]*(?:password|passwd|pwd|token|secret|key|credential)s?[=:])[^\s]+";
/// `scheme://user:password@host`.
const URL_CREDENTIALS: &str = r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@";

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
        let mut text = line.to_string();
        for (regex, replacement) in &self.patterns {
            if regex.is_match(&text) {
                text = regex.replace_all(&text, *replacement).into_owned();
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_arguments_and_url_credentials() {
        let r = Redactor::new(&[]).unwrap();
        assert_eq!(r.apply("mysql --password=hunter2 -u root"), "mysql --password=*** -u root");
        assert_eq!(
            r.apply("app token=abc123 api_key=zzz SECRET:xyz"),
            "app token=*** api_key=*** SECRET:***"
        );
        assert_eq!(r.apply("curl https://bob:s3cret@example.org/x"), "curl https://bob:***@example.org/x");
        assert_eq!(r.apply("sleep 1000"), "sleep 1000");
        assert_eq!(r.apply("ssh-keygen -t ed25519"), "ssh-keygen -t ed25519", "key without a value is kept");
    }

    #[test]
    fn user_patterns_mask_their_whole_match() {
        let r = Redactor::new(&["--pin \\d+".into()]).unwrap();
        assert_eq!(r.apply("app --pin 1234 --verbose"), "app *** --verbose");
        let err = Redactor::new(&["(".into()]).err().unwrap();
        assert!(err.to_string().contains("--redact \"(\""), "{err}");
    }
}
