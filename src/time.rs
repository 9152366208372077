//! What the command line says about time: parses TIME values (`--at`,
//! `--from`, `--to`) into milliseconds since the Unix epoch.
//! Pure: the caller passes the current time in, and bad input comes back as
//! [`BadInput`] naming the option and the value, for `main` to turn into exit 2.

use chrono::{DateTime, Days, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::error::BadInput;

/// A TIME value as milliseconds since the Unix epoch. `now` is the moment
/// relative times and bare clock times are measured from; pass `Local::now()`.
///
/// Accepts RFC 3339 (`2026-11-22T18:05:00Z`, `2026-11-22T19:05:00.250+01:00`),
/// local `YYYY-MM-DD HH:MM[:SS]` (or with `T`), local `HH:MM[:SS]` (the last
/// time the clock showed it: today, or yesterday if that is still ahead),
/// `@EPOCH` (seconds, optionally fractional), `10m ago` / `-10m` (humantime
/// spans such as `2h30m` or `1h 30m`) and `now`. A local time skipped by a
/// daylight-saving change is [`BadInput::BadValue`]; a repeated one means its
/// first occurrence. Everything else is [`BadInput::BadTime`].
pub fn parse_time(
    option: &'static str,
    value: &str,
    now: DateTime<Local>,
) -> Result<i64, BadInput> {
    parse_time_in(option, value, &now)
}

/// [`parse_time`] in the zone of `now`, so tests can use a zone with
/// daylight-saving changes whatever zone the machine running them is in.
fn parse_time_in<Tz: TimeZone>(
    option: &'static str,
    value: &str,
    now: &DateTime<Tz>,
) -> Result<i64, BadInput> {
    let bad_time = || BadInput::BadTime {
        option,
        value: value.to_owned(),
    };
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
        let instant = now
            .timezone()
            .from_local_datetime(&wall)
            .earliest()
            .ok_or_else(|| BadInput::BadValue {
                option,
                value: value.to_owned(),
                reason: "there is no such local time: the clocks skipped it for daylight \
                         saving time; give the time in UTC, like 2026-03-29T01:30:00Z"
                    .to_owned(),
            })?;
        Some(instant.timestamp_millis())
    };
    // Only instants chrono can represent, so every parsed time can be printed.
    ms.filter(|&ms| DateTime::from_timestamp_millis(ms).is_some())
        .ok_or_else(bad_time)
}

/// `1795370700` or `1795370700.25` (seconds) as milliseconds; digits beyond
/// the millisecond are dropped, as RFC 3339 fractions are.
fn epoch_ms(text: &str) -> Option<i64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let seconds: i64 = digits(seconds)?;
    if !is_digits(fraction) {
        return None;
    }
    let millis: i64 = format!("{:0<3}", &fraction[..fraction.len().min(3)])
        .parse()
        .ok()?;
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// The span in `10m ago`; `10mago` is not one.
fn before_ago(text: &str) -> Option<&str> {
    text.strip_suffix("ago")
        .filter(|span| span.ends_with(char::is_whitespace))
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
        return if ahead {
            today.checked_sub_days(Days::new(1))
        } else {
            Some(today)
        };
    }
    let (date, time) = text.split_once([' ', 'T'])?;
    Some(calendar_date(date)?.and_time(clock(time)?))
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
    fn garbage_is_bad_time_naming_option_and_value() {
        let garbage = [
            "",
            "   ",
            "yesterday",
            "25:00",
            "18:60",
            "12:00:60",
            "18",
            "18:5",
            "123:00",
            "2026-13-01 00:00",
            "2026-02-30 00:00",
            "2026-11-22",
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
                Err(
                    ref err @ BadInput::BadTime {
                        option,
                        value: ref given,
                    },
                ) => {
                    assert_eq!((option, given.as_str()), ("--at", value));
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("--at {value:?} is not a time")),
                        "{message}"
                    );
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

        fn offset_from_local_datetime(
            &self,
            local: &NaiveDateTime,
        ) -> MappedLocalTime<FixedOffset> {
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
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn skipped_local_time_is_bad_value() {
        let noon = berlin("2026-03-29", "12:00", 2);
        for value in ["2026-03-29 02:30", "02:30"] {
            match parse_time_in("--from", value, &noon) {
                Err(err @ BadInput::BadValue { .. }) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("--from {value:?}: ")),
                        "{message}"
                    );
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
        assert_eq!(
            parse_time_in("--at", "2026-10-25 02:30", &noon).unwrap(),
            first
        );
        assert_eq!(parse_time_in("--at", "02:30", &noon).unwrap(), first);
        // At 02:45 the second time round, the first 02:30 is already past.
        let second_time_round = berlin("2026-10-25", "02:45", 1);
        assert_eq!(
            parse_time_in("--at", "02:30", &second_time_round).unwrap(),
            first
        );
    }
}
