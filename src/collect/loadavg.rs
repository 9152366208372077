//! `/proc/loadavg`: the 1, 5 and 15 minute load averages.
//! The file is one line, `0.98 0.77 0.34 3/100 7228`; the running/total task
//! counts and the last pid are left to `stat` and the process table.

use crate::sample::LoadAvg;
use anyhow::{Context, Result, ensure};

pub fn parse(text: &str) -> Result<LoadAvg> {
    let line = text.lines().next().unwrap_or_default();
    let mut fields = line.split_ascii_whitespace();
    let mut next = || -> Result<f64> {
        let field = fields.next().with_context(|| format!("line {line:?}: expected three load averages"))?;
        let load: f64 = field
            .parse()
            .with_context(|| format!("line {line:?}: expected a load average, got {field:?}"))?;
        // `f64::from_str` also accepts `inf` and `NaN`, which no kernel prints.
        ensure!(load.is_finite() && load >= 0.0, "line {line:?}: expected a load average, got {field:?}");
        Ok(load)
    };
    Ok(LoadAvg { load1: next()?, load5: next()?, load15: next()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_loadavg() {
        let load = parse(include_str!("../../tests/fixtures/proc/loadavg")).unwrap();
        assert_eq!(load, LoadAvg { load1: 0.98, load5: 0.77, load15: 0.34 });
    }

    #[test]
    fn rejects_garbage_and_truncated_text() {
        for text in ["", "\n", "0.98 0.77", "0.98 x 0.34 1/2 3", "NaN 1 1", "-1 0 0"] {
            let err = parse(text).unwrap_err();
            assert!(format!("{err:#}").contains("line"), "{text:?}: {err:#}");
        }
    }

    #[test]
    fn error_quotes_the_line() {
        let err = parse("0.98 0.7x 0.34 3/100 7228\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "line \"0.98 0.7x 0.34 3/100 7228\": expected a load average, got \"0.7x\": \
             invalid float literal"
        );
    }
}
