//! What the command line says about time and size, and how flightrec prints
//! instants and spans back. Parses TIME values (`--at`, `--from`, `--to`) into
//! milliseconds since the Unix epoch, durations (`--interval`, `--window`) and
//! byte sizes (`--max-size`, `--reserve`); formats milliseconds for reports.
//! Pure: the caller passes the current time in, and bad input comes back as
//! [`BadInput`] naming the option and the value, for `main` to turn into exit 2.

use std::time::Duration;

use chrono::{DateTime, Days, Local, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone};

use crate::error::BadInput;

/// A TIME value as milliseconds since the Unix epoch. `now` is the moment
/// relative times and bare clock times are measured from; pass `Local::now()`.
///
/// Accepts RFC 3339 (`2026-11-22T18:05:00Z`, `2026-11-22T19:05:00.250+01:00`),
/// local `YYYY-MM-DD HH:MM[:SS]` (or with `T`), a day alone (`2026-11-22`,
/// `today`, `yesterday`: its midnight) or with a time (`yesterday 18:05`),
/// local `HH:MM[:SS]` (the last time the clock showed it: today, or
/// yesterday if that is still ahead),
/// `@EPOCH` (seconds, optionally fractional), `10m ago` / `-10m` (humantime
/// spans such as `2h30m` or `1h 30m`) and `now`. A local time skipped by a
/// daylight-saving change is [`BadInput::BadValue`]; a repeated one means its
/// first occurrence. Everything else is [`BadInput::BadTime`].
pub fn parse_time(option: &'static str, value: &str, now: DateTime<Local>) -> Result<i64, BadInput> {
    parse_time_in(option, value, &now)
}

/// [`parse_time`] in the zone of `now`, so tests can use a zone with
/// daylight-saving changes whatever zone the machine running them is in.
fn parse_time_in<Tz: TimeZone>(
    option: &'static str,
    value: &str,
    now: &DateTime<Tz>,
) -> Result<i64, BadInput> {
    let bad_time = || BadInput::BadTime { option, value: value.to_owned() };
    let text = value.trim();
    let ms = if text == "now" {
        Some(now.timestamp_millis())
    } else if let Some(seconds) = text.strip_prefix('@') {
        epoch_ms(seconds)
    } else if let Some(span) = text.strip_prefix('-').or_else(|| before_ago(text)) {
        span_ms(span).and_then(|span| now.timestamp_millis().checked_sub(span))
    } else if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        Some(instant.timestamp_millis())
    } else {
        let wall = wall_clock(text, now).ok_or_else(bad_time)?;
        let instant =
            now.timezone().from_local_datetime(&wall).earliest().ok_or_else(|| BadInput::BadValue {
                option,
                value: value.to_owned(),
                reason: "there is no such local time: the clocks skipped it for daylight \
                         saving time; give the time in UTC, like 2026-03-29T01:30:00Z"
                    .to_owned(),
            })?;
        Some(instant.timestamp_millis())
    };
    // Only instants chrono can represent, so every parsed time can be printed.
    ms.filter(|&ms| DateTime::from_timestamp_millis(ms).is_some()).ok_or_else(bad_time)
}

/// `1795370700` or `1795370700.25` (seconds) as milliseconds; digits beyond
/// the millisecond are dropped, as RFC 3339 fractions are.
fn epoch_ms(text: &str) -> Option<i64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: i64 = digits(seconds)?;
    if !is_digits(fraction) {
        return None;
    }
    let millis: i64 = format!("{:0<3}", &fraction[..fraction.len().min(3)]).parse().ok()?;
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// The span in `10m ago`; `10mago` is not one.
fn before_ago(text: &str) -> Option<&str> {
    text.strip_suffix("ago").filter(|span| span.ends_with(char::is_whitespace))
}

fn span_ms(span: &str) -> Option<i64> {
    let span = humantime::parse_duration(span.trim()).ok()?;
    i64::try_from(span.as_millis()).ok()
}

/// The wall-clock reading `YYYY-MM-DD HH:MM[:SS]` names, or for a bare
/// `HH:MM[:SS]` the last time the clock in the zone of `now` showed it: an
/// admin typing `18:05` at 09:00 means last evening, not tonight.
fn wall_clock<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Option<NaiveDateTime> {
    if let Some(time) = clock(text) {
        let today = now.date_naive().and_time(time);
        let ahead = match now.timezone().from_local_datetime(&today).earliest() {
            Some(instant) => instant > *now,
            // Skipped today: still ahead if the clock has not reached it yet.
            None => time > now.time(),
        };
        return if ahead { today.checked_sub_days(Days::new(1)) } else { Some(today) };
    }
    // A day alone is its midnight.
    let (date, time) = text.split_once([' ', 'T']).unwrap_or((text, "00:00"));
    let day = match date {
        "today" => now.date_naive(),
        "yesterday" => now.date_naive().checked_sub_days(Days::new(1))?,
        _ => calendar_date(date)?,
    };
    Some(day.and_time(clock(time)?))
}

/// `HH:MM` or `HH:MM:SS`; the hour may have one digit (`9:05`).
fn clock(text: &str) -> Option<NaiveTime> {
    let fields: Vec<&str> = text.split(':').collect();
    let (hour, minute, second) = match fields[..] {
        [hour, minute] => (hour, minute, "00"),
        [hour, minute, second] => (hour, minute, second),
        _ => return None,
    };
    if !(1..=2).contains(&hour.len()) || minute.len() != 2 || second.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(digits(hour)?, digits(minute)?, digits(second)?)
}

/// `YYYY-MM-DD`.
fn calendar_date(text: &str) -> Option<NaiveDate> {
    let [year, month, day] = text.split('-').collect::<Vec<_>>()[..] else {
        return None;
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(year)?, digits(month)?, digits(day)?)
}

/// A run of ASCII digits as a number; `str::parse` alone would also take a
/// sign, which no field here has.
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    is_digits(text).then(|| text.parse().ok()).flatten()
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A duration such as `5s`, `100ms`, `1h` or `1m30s`, within `min..=max`.
pub fn parse_interval(
    option: &'static str,
    value: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, BadInput> {
    let bad = |reason: String| BadInput::BadValue { option, value: value.to_owned(), reason };
    let span = humantime::parse_duration(value.trim())
        .map_err(|err| bad(format!("not a duration like 5s, 100ms or 1m30s ({err})")))?;
    if span < min || span > max {
        let (min, max) = (humantime::format_duration(min), humantime::format_duration(max));
        return Err(bad(format!("must be between {min} and {max}")));
    }
    Ok(span)
}

/// A byte size: a number (`4096`, `1.5`) and an optional unit, with or
/// without a space, in any case: `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB`, `T`/`TB`/`TiB`. Every unit is a power of 1024, `1GB`
/// included: nobody sizing a database means 10^9, and one meaning per letter
/// is one thing less to look up. Fractions of a byte are dropped.
pub fn parse_size(option: &'static str, value: &str) -> Result<u64, BadInput> {
    let bad =
        |reason: &str| BadInput::BadValue { option, value: value.to_owned(), reason: reason.to_owned() };
    let not_a_size = || bad("not a size; try 1GiB, 64MiB, 512KiB or a number of bytes");
    let too_large = || bad("too large; a size must be below 16 EiB");

    let text = value.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let multiplier = size_unit(unit.trim_start()).ok_or_else(not_a_size)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    if !is_digits(whole) || !is_digits(fraction) {
        return Err(not_a_size());
    }
    // Only digits remain, so a failed parse is an overflow. Beyond 19
    // fractional digits nothing is left of a byte even for TiB.
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let fraction = &fraction[..fraction.len().min(19)];
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = fraction.parse().map_err(|_| not_a_size())?;
    let bytes = whole
        .checked_mul(multiplier)
        .and_then(|bytes| bytes.checked_add(fraction * multiplier / scale))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

fn size_unit(unit: &str) -> Option<u128> {
    let power = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        _ => return None,
    };
    Some(1024u128.pow(power))
}

/// `2026-11-22 18:05:03` in local time, for people reading reports.
pub fn format_ms_local(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(utc) => utc.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => format_ms_epoch(ms),
    }
}

/// `18:05:03` in local time: for lines that already say which day.
pub fn format_ms_clock(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(utc) => utc.with_timezone(&Local).format("%H:%M:%S").to_string(),
        None => format_ms_epoch(ms),
    }
}

/// `2026-11-22T18:05:03.250Z`, for machines reading exports.
pub fn format_ms_rfc3339(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(utc) => utc.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format_ms_epoch(ms),
    }
}

/// Beyond what chrono can represent (hundreds of thousands of years away),
/// print the number the way `--at @EPOCH` takes it rather than fail.
fn format_ms_epoch(ms: i64) -> String {
    format!("@{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A span in at most two units, the larger first: `2d3h`, `15h28m`, `13m`,
/// `40s`, `1.5s`, `250ms`; negative spans get a leading `-`. Rounds down.
pub fn format_duration_ms(ms: i64) -> String {
    const SECOND: u64 = 1000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let span = if ms < SECOND {
        format!("{ms}ms")
    } else if ms < 10 * SECOND && ms % SECOND >= 100 {
        // Under ten seconds a tenth still matters (tick lateness).
        format!("{}.{}s", ms / SECOND, ms % SECOND / 100)
    } else if ms < MINUTE {
        format!("{}s", ms / SECOND)
    } else if ms < HOUR {
        two_units(ms / MINUTE, "m", ms % MINUTE / SECOND, "s")
    } else if ms < DAY {
        two_units(ms / HOUR, "h", ms % HOUR / MINUTE, "m")
    } else {
        two_units(ms / DAY, "d", ms % DAY / HOUR, "h")
    };
    format!("{sign}{span}")
}

fn two_units(large: u64, large_unit: &str, small: u64, small_unit: &str) -> String {
    match small {
        0 => format!("{large}{large_unit}"),
        _ => format!("{large}{large_unit}{small}{small_unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, MappedLocalTime};

    /// A wall-clock time in the machine's zone, so expectations follow
    /// whatever zone the tests run in. Dates and hours are chosen away from
    /// any daylight-saving change.
    fn local(date: &str, time: &str) -> DateTime<Local> {
        let wall = calendar_date(date).unwrap().and_time(clock(time).unwrap());
        Local.from_local_datetime(&wall).single().unwrap()
    }

    fn ms(date: &str, time: &str) -> i64 {
        local(date, time).timestamp_millis()
    }

    /// Monday morning after the Sunday-evening incident.
    fn monday_morning() -> DateTime<Local> {
        local("2026-11-23", "09:00:00")
    }

    fn parse(value: &str) -> Result<i64, BadInput> {
        parse_time("--at", value, monday_morning())
    }

    #[test]
    fn parses_now_and_relative_times() {
        let now = monday_morning().timestamp_millis();
        assert_eq!(parse("now").unwrap(), now);
        assert_eq!(parse("  now\n").unwrap(), now);
        assert_eq!(parse("10m ago").unwrap(), now - 600_000);
        assert_eq!(parse("-10m").unwrap(), now - 600_000);
        assert_eq!(parse("2h30m ago").unwrap(), now - 9_000_000);
        assert_eq!(parse("1h 30m ago").unwrap(), now - 5_400_000);
        assert_eq!(parse("90s ago").unwrap(), now - 90_000);
        assert_eq!(parse("-250ms").unwrap(), now - 250);
        assert_eq!(parse("-0s").unwrap(), now);
    }

    #[test]
    fn parses_rfc3339_in_any_offset() {
        let incident = 1_795_370_700_000;
        assert_eq!(parse("2026-11-22T18:05:00Z").unwrap(), incident);
        assert_eq!(parse("2026-11-22T19:05:00+01:00").unwrap(), incident);
        assert_eq!(parse("2026-11-22T13:05:00-05:00").unwrap(), incident);
        assert_eq!(parse("2026-11-22T18:05:00.250Z").unwrap(), incident + 250);
        assert_eq!(parse("2026-11-22T18:05:00.2509Z").unwrap(), incident + 250);
    }

    #[test]
    fn parses_epoch_seconds() {
        assert_eq!(parse("@1795370700").unwrap(), 1_795_370_700_000);
        assert_eq!(parse("@1795370700.25").unwrap(), 1_795_370_700_250);
        assert_eq!(parse("@1795370700.123456").unwrap(), 1_795_370_700_123);
        assert_eq!(parse("@0").unwrap(), 0);
    }

    #[test]
    fn parses_local_date_and_time() {
        let evening = ms("2026-11-22", "18:05");
        assert_eq!(parse("2026-11-22 18:05").unwrap(), evening);
        assert_eq!(parse("2026-11-22T18:05").unwrap(), evening);
        assert_eq!(parse("2026-11-22 18:05:03").unwrap(), evening + 3000);
        assert_eq!(parse("2026-11-22T18:05:03").unwrap(), evening + 3000);
        assert_eq!(parse(" 2026-11-22 18:05 ").unwrap(), evening);
    }

    #[test]
    fn bare_time_means_the_last_time_the_clock_showed_it() {
        assert_eq!(parse("08:30").unwrap(), ms("2026-11-23", "08:30"));
        assert_eq!(parse("8:30:15").unwrap(), ms("2026-11-23", "08:30:15"));
        assert_eq!(parse("09:00").unwrap(), ms("2026-11-23", "09:00"));
        assert_eq!(parse("18:05").unwrap(), ms("2026-11-22", "18:05"));
        assert_eq!(parse("18:05:03").unwrap(), ms("2026-11-22", "18:05:03"));
        assert_eq!(parse("09:00:01").unwrap(), ms("2026-11-22", "09:00:01"));
    }

    #[test]
    fn a_day_alone_is_its_midnight_and_today_and_yesterday_name_days() {
        assert_eq!(parse("2026-11-22").unwrap(), ms("2026-11-22", "00:00"));
        assert_eq!(parse("today").unwrap(), ms("2026-11-23", "00:00"));
        assert_eq!(parse("yesterday").unwrap(), ms("2026-11-22", "00:00"));
        assert_eq!(parse("yesterday 18:05").unwrap(), ms("2026-11-22", "18:05"));
        assert_eq!(parse("today 08:30:15").unwrap(), ms("2026-11-23", "08:30:15"));
    }

    #[test]
    fn garbage_is_bad_time_naming_option_and_value() {
        let garbage = [
            "",
            "   ",
            "yesterday-ish",
            "tomorrow",
            "25:00",
            "18:60",
            "12:00:60",
            "18",
            "18:5",
            "123:00",
            "2026-13-01 00:00",
            "2026-02-30 00:00",
            "2026-11-22 18:05 UTC",
            "26-11-22 18:05",
            "2026-11-22  18:05",
            "@",
            "@abc",
            "@1.",
            "@.5",
            "@-5",
            "@+5",
            "@1e9",
            "@99999999999999999999",
            "@9223372036854775",
            "-",
            "--5m",
            "-10m ago",
            "10x ago",
            "10m",
            "10mago",
            "ago",
            "10m ago ago",
            "99999999999999999999h ago",
            "9999999y ago",
            "NOW!",
        ];
        for value in garbage {
            match parse(value) {
                Err(ref err @ BadInput::BadTime { option, value: ref given }) => {
                    assert_eq!((option, given.as_str()), ("--at", value));
                    let message = err.to_string();
                    assert!(message.starts_with(&format!("--at {value:?} is not a time")), "{message}");
                }
                other => panic!("{value:?} gave {other:?}"),
            }
        }
    }

    /// A zone with European daylight-saving changes in 2026: UTC+1, and
    /// UTC+2 from 29 March 01:00 UTC to 25 October 01:00 UTC. The clocks skip
    /// 02:00-03:00 on 29 March and show 02:00-03:00 twice on 25 October.
    #[derive(Clone, Copy, Debug)]
    struct Berlin2026;

    fn offset_hours(hours: i32) -> FixedOffset {
        FixedOffset::east_opt(hours * 3600).unwrap()
    }

    impl TimeZone for Berlin2026 {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            Berlin2026
        }

        fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
            self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
        }

        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
            // An offset fits if the instant it gives is one where the zone has it;
            // summer time first so that a repeated hour lists its earlier instant first.
            let fits: Vec<FixedOffset> = [offset_hours(2), offset_hours(1)]
                .into_iter()
                .filter(|offset| self.offset_from_utc_datetime(&(*local - *offset)) == *offset)
                .collect();
            match fits[..] {
                [] => MappedLocalTime::None,
                [one] => MappedLocalTime::Single(one),
                [earlier, later, ..] => MappedLocalTime::Ambiguous(earlier, later),
            }
        }

        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
        }

        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            let change = |date| calendar_date(date).unwrap().and_hms_opt(1, 0, 0).unwrap();
            let summer = change("2026-03-29") <= *utc && *utc < change("2026-10-25");
            offset_hours(if summer { 2 } else { 1 })
        }
    }

    fn berlin(date: &str, time: &str, hours: i32) -> DateTime<Berlin2026> {
        let wall = calendar_date(date).unwrap().and_time(clock(time).unwrap());
        Berlin2026.from_utc_datetime(&(wall - offset_hours(hours)))
    }

    fn utc_ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    #[test]
    fn skipped_local_time_is_bad_value() {
        let noon = berlin("2026-03-29", "12:00", 2);
        for value in ["2026-03-29 02:30", "02:30"] {
            match parse_time_in("--from", value, &noon) {
                Err(err @ BadInput::BadValue { .. }) => {
                    let message = err.to_string();
                    assert!(message.starts_with(&format!("--from {value:?}: ")), "{message}");
                    assert!(message.contains("daylight saving"), "{message}");
                }
                other => panic!("{value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn skipped_time_still_ahead_today_means_yesterday() {
        let one_am = berlin("2026-03-29", "01:00", 1);
        let yesterday = utc_ms("2026-03-28T01:30:00Z");
        assert_eq!(parse_time_in("--at", "02:30", &one_am).unwrap(), yesterday);
    }

    #[test]
    fn repeated_local_time_means_its_first_occurrence() {
        let noon = berlin("2026-10-25", "12:00", 1);
        let first = utc_ms("2026-10-25T00:30:00Z");
        assert_eq!(parse_time_in("--at", "2026-10-25 02:30", &noon).unwrap(), first);
        assert_eq!(parse_time_in("--at", "02:30", &noon).unwrap(), first);
        // At 02:45 the second time round, the first 02:30 is already past.
        let second_time_round = berlin("2026-10-25", "02:45", 1);
        assert_eq!(parse_time_in("--at", "02:30", &second_time_round).unwrap(), first);
    }

    #[test]
    fn parses_intervals_within_range() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(3600));
        let interval = |value| parse_interval("--interval", value, min, max);
        assert_eq!(interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(interval("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(interval("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(interval("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(interval(" 2m ").unwrap(), Duration::from_secs(120));
        for (value, says) in [
            ("50ms", "must be between 100ms and 1h"),
            ("1h1s", "must be between 100ms and 1h"),
            ("0s", "must be between 100ms and 1h"),
            ("", "not a duration"),
            ("5", "not a duration"),
            ("5x", "not a duration"),
            ("-5s", "not a duration"),
            ("fast", "not a duration"),
            ("99999999999999999999s", "not a duration"),
        ] {
            match interval(value) {
                Err(err @ BadInput::BadValue { option: "--interval", .. }) => {
                    let message = err.to_string();
                    assert!(message.starts_with(&format!("--interval {value:?}: {says}")), "{message}");
                }
                other => panic!("{value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn parses_sizes_as_binary_multiples() {
        let size = |value| parse_size("--max-size", value).unwrap();
        assert_eq!(size("1GiB"), 1 << 30);
        assert_eq!(size("64MiB"), 64 << 20);
        assert_eq!(size("512KiB"), 512 << 10);
        assert_eq!(size("1G"), 1 << 30);
        assert_eq!(size("1GB"), 1 << 30);
        assert_eq!(size("1gib"), 1 << 30);
        assert_eq!(size("1 GiB"), 1 << 30);
        assert_eq!(size(" 2TiB "), 2 << 40);
        assert_eq!(size("1.5GiB"), 3 << 29);
        assert_eq!(size("1.3KiB"), 1331);
        assert_eq!(size("4096"), 4096);
        assert_eq!(size("4096B"), 4096);
        assert_eq!(size("0"), 0);
        assert_eq!(size("16777215.99999999999999999999999TiB"), u64::MAX);
    }

    #[test]
    fn bad_sizes_are_bad_value() {
        for (value, says) in [
            ("", "not a size"),
            ("GiB", "not a size"),
            ("-1G", "not a size"),
            ("+1G", "not a size"),
            ("1.2.3G", "not a size"),
            ("1.G", "not a size"),
            (".5G", "not a size"),
            ("1 G B", "not a size"),
            ("1XB", "not a size"),
            ("1iB", "not a size"),
            ("1e9", "not a size"),
            ("lots", "not a size"),
            ("16777216TiB", "too large"),
            ("18446744073709551616", "too large"),
            ("999999999999999999999999999999999999999999", "too large"),
        ] {
            match parse_size("--max-size", value) {
                Err(err @ BadInput::BadValue { option: "--max-size", .. }) => {
                    let message = err.to_string();
                    assert!(message.starts_with(&format!("--max-size {value:?}: {says}")), "{message}");
                }
                other => panic!("{value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn formats_instants() {
        assert_eq!(format_ms_local(ms("2026-11-22", "18:05:03") + 250), "2026-11-22 18:05:03");
        assert_eq!(format_ms_rfc3339(1_795_370_703_250), "2026-11-22T18:05:03.250Z");
        assert_eq!(format_ms_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn formats_unrepresentable_instants_as_epoch() {
        assert_eq!(format_ms_rfc3339(i64::MAX), "@9223372036854775.807");
        assert_eq!(format_ms_local(i64::MIN), "@-9223372036854776.192");
        let edge = DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
        assert!(!format_ms_local(edge).is_empty());
        assert!(!format_ms_local(-edge).is_empty());
    }

    #[test]
    fn formats_spans_in_two_units() {
        for (ms, text) in [
            (0, "0ms"),
            (250, "250ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_050, "1s"),
            (1_500, "1.5s"),
            (9_999, "9.9s"),
            (40_000, "40s"),
            (59_999, "59s"),
            (60_000, "1m"),
            (780_000, "13m"),
            (800_000, "13m20s"),
            (55_680_000, "15h28m"),
            (3_600_000, "1h"),
            (86_400_000, "1d"),
            (183_600_000, "2d3h"),
            (-1_500, "-1.5s"),
            (-780_000, "-13m"),
            (i64::MIN, "-106751991167d7h"),
        ] {
            assert_eq!(format_duration_ms(ms), text, "{ms}");
        }
    }
}
