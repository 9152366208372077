//! Numbers and times for people: `1.2 GiB`, `13m`, `18:05:03`. Machine
//! formats carry raw numbers and never come here.

pub use crate::time::{format_duration_ms, format_ms_clock, format_ms_local, format_ms_rfc3339};

/// `1 sample`, `3 samples`: a count with its noun, singular for one.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Binary units, one decimal: `512 B`, `4.0 KiB`, `1.2 GiB`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = v;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Text with its control characters shown as escapes (`\n`, `\t`,
/// `\x1b`), so that a command line or a log line stays on one line and
/// cannot move the cursor.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\t' => shown.push_str("\\t"),
            '\r' => shown.push_str("\\r"),
            c if c.is_control() => shown.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => shown.push(c),
        }
    }
    std::borrow::Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1u32, "run", "runs"), "1 run");
        assert_eq!(count(0u32, "run", "runs"), "0 runs");
        assert_eq!(count(2u64, "late tick", "late ticks"), "2 late ticks");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("bash -c echo a\necho\tb\x1b[2J"), "bash -c echo a\\necho\\tb\\x1b[2J");
        assert_eq!(escape_control("plain"), "plain");
    }

    #[test]
    fn binary_units_with_one_decimal() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }
}
