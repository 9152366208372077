//! `/proc/pressure/{cpu,memory,io}`: pressure stall information (PSI).
//! Lines read `some avg10=2.25 avg60=2.64 avg300=2.02 total=11437634`, then
//! optionally the same for `full` (absent for CPU before 5.13). Only `avg10`
//! and `total` are kept: rates over other windows come from `total`.

use crate::sample::Psi;
use anyhow::{Context, Result, ensure};

pub fn parse(text: &str) -> Result<Psi> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        *slot = Some(parse_line(line, fields)?);
    }
    let (some_avg10, some_total_us) = some.context("no some line")?;
    Ok(Psi {
        some_avg10,
        some_total_us,
        full_avg10: full.map(|(avg10, _)| avg10),
        full_total_us: full.map(|(_, total)| total),
    })
}

/// The `avg10` percentage and `total` µs of one line's `key=value` fields.
fn parse_line<'a>(line: &str, fields: impl Iterator<Item = &'a str>) -> Result<(f64, u64)> {
    let mut avg10 = None;
    let mut total = None;
    for field in fields {
        match field.split_once('=') {
            Some(("avg10", value)) => {
                let percent: f64 = value
                    .parse()
                    .with_context(|| format!("line {line:?}: expected a percentage in avg10"))?;
                // `f64::from_str` also accepts `inf` and `NaN`.
                ensure!(
                    percent.is_finite() && percent >= 0.0,
                    "line {line:?}: expected a percentage in avg10"
                );
                avg10 = Some(percent);
            }
            Some(("total", value)) => {
                let us =
                    value.parse().with_context(|| format!("line {line:?}: expected a number in total"))?;
                total = Some(us);
            }
            _ => {}
        }
    }
    let avg10 = avg10.with_context(|| format!("line {line:?}: expected avg10"))?;
    let total = total.with_context(|| format!("line {line:?}: expected total"))?;
    Ok((avg10, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_pressure() {
        let cpu = parse(include_str!("../../tests/fixtures/proc/pressure-cpu")).unwrap();
        assert_eq!(
            cpu,
            Psi {
                some_avg10: 2.25,
                some_total_us: 11_437_634,
                full_avg10: Some(0.0),
                full_total_us: Some(0),
            }
        );
        let io = parse(include_str!("../../tests/fixtures/proc/pressure-io")).unwrap();
        assert_eq!(
            io,
            Psi {
                some_avg10: 0.04,
                some_total_us: 1_903_742,
                full_avg10: Some(0.01),
                full_total_us: Some(1_643_585),
            }
        );
        let memory = parse(include_str!("../../tests/fixtures/proc/pressure-memory")).unwrap();
        assert_eq!(memory.some_total_us, 0);
        assert_eq!(memory.full_total_us, Some(0));
    }

    #[test]
    fn cpu_before_5_13_has_no_full_line() {
        let cpu = parse(include_str!("../../tests/fixtures/proc/pressure-cpu-5.4")).unwrap();
        assert_eq!(
            cpu,
            Psi { some_avg10: 0.0, some_total_us: 8_402_211, full_avg10: None, full_total_us: None }
        );
    }

    #[test]
    fn skips_unknown_fields() {
        let psi = parse("some avg10=1.50 avg5=9.00 total=7 peak=3\n").unwrap();
        assert_eq!((psi.some_avg10, psi.some_total_us), (1.5, 7));
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        assert_eq!(parse("").unwrap_err().to_string(), "no some line");
        let err = parse("some avg10=0.00 avg60=0.00 avg300=0.00 tot").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"some avg10=0.00 avg60=0.00 avg300=0.00 tot\": expected total");
        let err = parse("some avg10=NaN total=1\n").unwrap_err();
        assert_eq!(format!("{err:#}"), "line \"some avg10=NaN total=1\": expected a percentage in avg10");
        for text in [
            "garbage",
            "some avg10=x total=1",
            "some avg10=1 total=-1",
            "some avg10=1 total=1\nfull avg10=1 total=99999999999999999999",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
