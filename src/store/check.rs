//! `flightrec check`: is the file sound? SQLite's own integrity check,
//! then every snapshot frame decoded, since a flipped byte inside a blob
//! is invisible to SQLite. Read-only, like every reader.

use super::{Store, Tables};
use anyhow::Result;
use rusqlite::OptionalExtension;

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
        let last = match self.latest_sample() {
            Ok(last) => last.unwrap_or(0),
            Err(err) => {
                problems.push(format!("the samples table is unreadable: {err:#}"));
                0
            }
        };
        let mut from = 1;
        // A damaged frame breaks its chain until the next key frame; go on
        // from there so one bad row does not hide the rest.
        while from <= last && problems.len() < MAX_PROBLEMS {
            let result = self.for_each_sample(from, last, Tables::ALL, |s| {
                samples += 1;
                from = s.id + 1;
                Ok(())
            });
            let Err(err) = result else { break };
            problems.push(format!("sample {from}: {err:#}"));
            let next = self
                .conn
                .query_row("SELECT min(id) FROM samples WHERE key_id = id AND id > ?1", [from], |r| r.get(0))
                .optional();
            match next {
                Ok(Some(Some(id))) => from = id,
                _ => break,
            }
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
