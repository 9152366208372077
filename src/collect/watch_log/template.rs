//! Log line templates: a line with its variable parts masked, so that lines
//! of one shape count together. The typical mail.log line
//! `Nov 18 18:00:09 mail-server postfix/smtpd[632203]: warning: connect to Milter service inet:localhost:8891: Connection refused`
//! becomes `postfix/smtpd[#]: warning: connect to Milter service inet:localhost:#: Connection refused`.
//!
//! Masked, each to one `#`: numbers (digit runs, decimals, dotted quads, so
//! IPv4 addresses and `[pid]`), IPv6 addresses, hex ids (6 or more hex
//! characters with a digit, e.g. Postfix queue ids, and `0x…`), and long
//! tokens mixing letters and digits (session ids, long queue ids). Digits
//! inside other words are masked run by run (`mx01` → `mx#`). The leading
//! syslog timestamp and host are dropped. One pass over the bytes, no regex:
//! this runs over up to a MiB of lines per log per sample.
//!
//! `Templates` counts them for one sample in bounded memory; the caller
//! decides which lines it sees.

use crate::collect::redact::Redactor;
use crate::sample::LogTemplate;
use std::collections::HashMap;

/// Distinct templates counted per sample; lines of any further template
/// count as `OTHER`, so a log of ever-new shapes cannot grow the map.
const MAX_TEMPLATES: usize = 1000;
/// Bytes of a line kept as its template's example.
const EXAMPLE_BYTES: usize = 300;
/// Words at least this long that hold a digit are ids, not words.
const LONG_ID: usize = 12;
/// Stands for the lines whose template did not fit in the map.
pub const OTHER: &str = "(other templates)";

/// Template counts for one sample.
#[derive(Default)]
pub struct Templates {
    slots: HashMap<Box<[u8]>, Slot>,
    other: Slot,
    /// The masked line, reused from line to line.
    scratch: Vec<u8>,
}

#[derive(Default)]
struct Slot {
    count: u64,
    example: Vec<u8>,
}

impl Slot {
    /// The example is kept whole (lines come cut to the watcher's bound): it
    /// is cut to `EXAMPLE_BYTES` only once redacted.
    fn add(&mut self, line: &[u8]) {
        if self.count == 0 {
            self.example = line.to_vec();
        }
        self.count += 1;
    }
}

impl Templates {
    /// Counts one line (without its newline).
    pub fn add(&mut self, line: &[u8]) {
        mask(line, &mut self.scratch);
        if let Some(slot) = self.slots.get_mut(self.scratch.as_slice()) {
            slot.add(line);
        } else if self.slots.len() < MAX_TEMPLATES {
            self.slots.entry(self.scratch.as_slice().into()).or_default().add(line);
        } else {
            self.other.add(line);
        }
    }

    /// The `top` most frequent templates (ties in template order), most
    /// frequent first; starts the count afresh. Templates and examples are
    /// redacted (a log line can hold a password as well as a command line),
    /// examples before they are cut.
    pub fn take(&mut self, top: usize, redactor: &Redactor) -> Vec<LogTemplate> {
        let mut all: Vec<LogTemplate> = self
            .slots
            .drain()
            .map(|(template, slot)| template_of(&template, slot))
            .chain(
                (self.other.count > 0)
                    .then(|| template_of(OTHER.as_bytes(), std::mem::take(&mut self.other))),
            )
            .collect();
        all.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.template.cmp(&b.template)));
        all.truncate(top);
        for kept in &mut all {
            kept.template = redactor.apply(&kept.template);
            kept.example = redactor.apply_and_cut(&kept.example, EXAMPLE_BYTES);
        }
        all
    }
}

fn template_of(template: &[u8], slot: Slot) -> LogTemplate {
    LogTemplate {
        template: String::from_utf8_lossy(template).into_owned(),
        count: slot.count,
        example: String::from_utf8_lossy(&slot.example).into_owned(),
    }
}

/// The longest prefix of `bytes` of at most `max` bytes that does not end
/// inside a UTF-8 character.
pub fn utf8_floor(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut end = max;
    while end > 0 && bytes[end] & 0b1100_0000 == 0b1000_0000 {
        end -= 1;
    }
    end
}

/// Writes the template of `line` into `out`.
pub fn mask(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = syslog_prefix_len(line);
    while i < line.len() {
        let byte = line[i];
        let at_boundary = i == 0 || !(line[i - 1].is_ascii_alphanumeric() || line[i - 1] == b'.');
        if at_boundary
            && (byte.is_ascii_hexdigit() || byte == b':')
            && let Some(end) = ipv6_end(line, i)
        {
            out.push(b'#');
            i = end;
            continue;
        }
        if !byte.is_ascii_alphanumeric() {
            out.push(byte);
            i += 1;
            continue;
        }
        let end = run_end(line, i, u8::is_ascii_alphanumeric);
        let word = &line[i..end];
        i = end;
        if word.iter().all(u8::is_ascii_digit) {
            // 42, 0.37, 10.1.2.3, 3.4.13: one number each.
            while line.get(i) == Some(&b'.') && line.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i = run_end(line, i + 1, u8::is_ascii_digit);
            }
            out.push(b'#');
        } else if is_id(word) {
            out.push(b'#');
        } else {
            for (j, &b) in word.iter().enumerate() {
                if !b.is_ascii_digit() {
                    out.push(b);
                } else if j == 0 || !word[j - 1].is_ascii_digit() {
                    out.push(b'#');
                }
            }
        }
    }
}

fn run_end(line: &[u8], start: usize, class: fn(&u8) -> bool) -> usize {
    line[start..].iter().position(|b| !class(b)).map_or(line.len(), |n| start + n)
}

/// A word of letters and digits that names one thing, not a kind of thing.
fn is_id(word: &[u8]) -> bool {
    let has_digit = word.iter().any(u8::is_ascii_digit);
    let hex = |w: &[u8]| w.iter().all(u8::is_ascii_hexdigit);
    (word.len() >= 6 && has_digit && hex(word))
        || (word.len() > 2 && (word.starts_with(b"0x") || word.starts_with(b"0X")) && hex(&word[2..]))
        || (word.len() >= LONG_ID && has_digit)
}

/// Where an IPv6 address starting at `start` ends, if one does: hex groups
/// of at most 4 joined by colons, at least two colons, `::` at most once,
/// optionally an IPv4 address as the last group. Times like `18:00:09` pass
/// too, which is fine: they are variable.
fn ipv6_end(line: &[u8], start: usize) -> Option<usize> {
    let mut end = run_end(line, start, |b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.');
    if line.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None; // a word goes on: `dead:beef:cafe1x`
    }
    // Punctuation after the address, not part of it: `to ::1.`, `[fe80::1]:`.
    while end > start && line[end - 1] == b'.' {
        end -= 1;
    }
    if line[start..end].ends_with(b":") && !line[start..end].ends_with(b"::") {
        end -= 1;
    }
    let text = &line[start..end];
    let colons = text.iter().filter(|&&b| b == b':').count();
    let double = text.windows(2).filter(|w| w == b"::").count();
    if !(2..=8).contains(&colons) || double > 1 || text.windows(3).any(|w| w == b":::") {
        return None;
    }
    let groups = text.split(|&b| b == b':').count();
    for (n, group) in text.split(|&b| b == b':').enumerate() {
        let last = n + 1 == groups;
        let hex_group = group.len() <= 4 && group.iter().all(u8::is_ascii_hexdigit);
        let ipv4_group =
            last && group.contains(&b'.') && group.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        if !hex_group && !ipv4_group {
            return None;
        }
    }
    (double == 1 || text.iter().any(u8::is_ascii_digit)).then_some(end)
}

/// Length of a leading `Nov 18 18:00:09 host ` (classic syslog) or
/// `2024-11-18T18:00:09.123456+01:00 host ` (RFC 3339, rsyslog's high
/// precision format) prefix, 0 when there is none.
fn syslog_prefix_len(line: &[u8]) -> usize {
    let fits = |pattern: &[u8]| {
        line.len() > pattern.len()
            && pattern.iter().zip(line).all(|(&p, &b)| match p {
                b'A' => b.is_ascii_uppercase(),
                b'a' => b.is_ascii_lowercase(),
                b'9' => b.is_ascii_digit(),
                b'_' => b == b' ' || b.is_ascii_digit(),
                _ => b == p,
            })
    };
    let stamp_end = if fits(b"Aaa _9 99:99:99 ") {
        15
    } else if fits(b"9999-99-99T99:99:99") {
        run_end(line, 19, |b| !b.is_ascii_whitespace())
    } else {
        return 0;
    };
    if line.get(stamp_end) != Some(&b' ') {
        return 0;
    }
    let host_end = run_end(line, stamp_end + 1, |b| *b != b' ');
    if host_end == stamp_end + 1 || host_end == line.len() {
        return 0;
    }
    host_end + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Log files hold anything, including broken UTF-8.
        #[test]
        fn any_line_masks_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut out = Vec::new();
            mask(&bytes, &mut out);
            let _ = utf8_floor(&bytes, bytes.len() / 2);
        }
    }

    fn template(line: &str) -> String {
        let mut out = Vec::new();
        mask(line.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_real_mail_log_lines() {
        let cases = [
            (
                "Nov 18 18:00:09 mail-server postfix/smtpd[632203]: warning: connect to Milter service inet:localhost:8891: Connection refused",
                "postfix/smtpd[#]: warning: connect to Milter service inet:localhost:#: Connection refused",
            ),
            (
                "Dec 24 03:12:45 relay postfix/smtp[2211]: 4F3A21C0B9: to=<root@example.org>, relay=none, delay=86400, delays=86399/0.02/30/0, dsn=4.4.1, status=deferred (connect to 10.1.2.3[10.1.2.3]:25: Connection timed out)",
                "postfix/smtp[#]: #: to=<root@example.org>, relay=none, delay=#, delays=#/#/#/#, dsn=#, status=deferred (connect to #[#]:#: Connection timed out)",
            ),
            (
                "Nov  8 09:01:02 mx1 postfix/smtpd[12]: lost connection after CONNECT from unknown[2001:db8::17]",
                "postfix/smtpd[#]: lost connection after CONNECT from unknown[#]",
            ),
            (
                "Feb 12 10:20:01 mx3 clamd[3321]: ERROR: accept() failed: Loaded 362916 signatures.",
                "clamd[#]: ERROR: accept() failed: Loaded # signatures.",
            ),
            (
                "Nov 18 18:00:10 mail-server postfix/master[1021]: warning: service \"smtp\" (25) has reached its process limit \"100\": new clients may experience noticeable delays",
                "postfix/master[#]: warning: service \"smtp\" (#) has reached its process limit \"#\": new clients may experience noticeable delays",
            ),
            (
                "2024-11-18T18:00:09.123456+01:00 imap dovecot: imap-login: Login: user=<a@b.c>, rip=192.168.1.20, lip=::ffff:10.0.0.1, session=<Yx3kF0GJsMAAAAAAAAAAAAAAAAAB>",
                "dovecot: imap-login: Login: user=<a@b.c>, rip=#, lip=#, session=<#>",
            ),
            (
                "Nov 18 18:00:11 host kernel: [ 1234.567890] eth0: link down, mac 0a:1b:2c:3d:4e:5f, fault at 0xffffffffc0a1",
                "kernel: [ #] eth#: link down, mac #, fault at #",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(template(line), expected, "{line}");
        }
    }

    #[test]
    fn keeps_words_and_lines_without_a_syslog_prefix() {
        assert_eq!(
            template("std::vector at inet:localhost, sha256 of utf8"),
            "std::vector at inet:localhost, sha# of utf#"
        );
        assert_eq!(template("Nov 18 18:00:09 host"), "Nov # # host");
        assert_eq!(template("plain line 18:00:09 took 5s, 1.5GB"), "plain line # took #s, #GB");
        assert_eq!(template("a cafe:babe:face word"), "a cafe:babe:face word");
        assert_eq!(template("deadbeef and dead and c0ffee"), "deadbeef and dead and #");
    }

    fn none() -> Redactor {
        Redactor::new(&[]).unwrap()
    }

    #[test]
    fn templates_and_examples_are_redacted_before_examples_are_cut() {
        let mut templates = Templates::default();
        let line = format!(
            "Nov 18 18:00:09 host app[42]: {} fetching https://bob:hunter2hunter2@example.org/ with password=hunter3",
            "x".repeat(EXAMPLE_BYTES - 60)
        );
        templates.add(line.as_bytes());
        let top = templates.take(1, &none());
        let (template, example) = (&top[0].template, &top[0].example);
        assert!(!template.contains("hunter") && template.ends_with("password=***"), "{template}");
        assert!(example.len() <= EXAMPLE_BYTES && !example.contains("hunter"), "{example}");
        assert!(example.contains("https://bob:***@"), "{example}");
    }

    #[test]
    fn counts_in_bounded_memory() {
        let mut templates = Templates::default();
        for n in 0..MAX_TEMPLATES + 50 {
            // Letters, not digits, tell these apart: each is its own template.
            let word: String = format!("{n:04}").bytes().map(|d| char::from(b'g' + d - b'0')).collect();
            templates.add(format!("shape {word} [{n}]").as_bytes());
        }
        for _ in 0..3 {
            templates.add(b"shape gggg [7]");
        }
        let top = templates.take(2, &none());
        assert_eq!((top[0].template.as_str(), top[0].count), (OTHER, 50));
        assert_eq!(top[1].template, "shape gggg [#]");
        assert_eq!((top[1].count, top[1].example.as_str()), (4, "shape gggg [0]"));
        assert!(templates.take(10, &none()).is_empty(), "take starts afresh");
    }

    #[test]
    fn examples_are_cut_on_a_character_boundary() {
        let mut templates = Templates::default();
        let line = format!("{}é", "x".repeat(EXAMPLE_BYTES - 1));
        templates.add(line.as_bytes());
        templates.add(b"bad \xff byte");
        let top = templates.take(10, &none());
        let cut = top.iter().find(|t| t.template.starts_with('x')).unwrap();
        assert_eq!(cut.example.len(), EXAMPLE_BYTES - 1);
        assert!(top.iter().any(|t| t.template == "bad \u{fffd} byte"));
    }
}
