//! `flightrec check`: is the file sound? SQLite's own integrity check,
//! then every snapshot frame decoded, since a flipped byte inside a blob
//! is invisible to SQLite. Read-only, like every reader.

use super::{Store, Tables};
use anyhow::Result;

/// Problems listed at most: past this the file is plainly damaged.
const MAX_PROBLEMS: usize = 20;

pub struct Health {
    pub samples: u64,
    pub runs: usize,
    pub problems: Vec<String>,
}

impl Store {
    pub fn check(&self) -> Result<Health> {
        let mut problems = Vec::new();
        if let Err(err) = self.integrity_check(&mut problems) {
            problems.push(format!("integrity_check stopped: {err:#}"));
        }
        let runs = match self.runs() {
            Ok(runs) => runs.len(),
            Err(err) => {
                problems.push(format!("the runs table is unreadable: {err:#}"));
                0
            }
        };
        let mut samples = 0u64;
        let mut skipped = 0u64;
        let last = match self.latest_sample() {
            Ok(last) => last.unwrap_or(0),
            Err(err) => {
                problems.push(format!("the samples table is unreadable: {err:#}"));
                0
            }
        };
        // Damaged frames are skipped up to the next key frame, as every
        // reader skips them: list each, then what that cost.
        let mut damage = Vec::new();
        let read = self.read_samples(
            1,
            last,
            Tables::ALL,
            |s| {
                samples += 1;
                skipped += u64::from(!s.missing.is_empty());
                Ok(())
            },
            |d| damage.push(d),
        );
        let found = damage.len();
        problems.extend(damage.iter().take(MAX_PROBLEMS).map(ToString::to_string));
        if found > MAX_PROBLEMS {
            problems.push(format!("{} more damaged samples", found - MAX_PROBLEMS));
        }
        if skipped > 0 {
            problems.push(format!(
                "{skipped} of {samples} samples have tables that cannot be read; every reader skips them \
                 and reads the rest"
            ));
        }
        if let Err(err) = read {
            problems.push(format!("reading samples stopped: {err:#}"));
        }
        Ok(Health { samples, runs, problems })
    }

    fn integrity_check(&self, problems: &mut Vec<String>) -> Result<()> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let line: String = row.get(0)?;
            if line != "ok" && problems.len() < MAX_PROBLEMS {
                problems.push(format!("integrity_check: {line}"));
            }
        }
        Ok(())
    }
}
