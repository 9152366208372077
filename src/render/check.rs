//! `flightrec check` for people: one line when the file is sound, else one
//! line per problem, each naming the file.

use crate::model::human::count;
use std::io::{self, Write};
use std::path::Path;

pub fn check(
    db: &Path,
    samples: u64,
    runs: usize,
    problems: &[String],
    out: &mut dyn Write,
) -> io::Result<()> {
    if problems.is_empty() {
        return writeln!(
            out,
            "{}: ok: {} in {}, every snapshot decodes",
            db.display(),
            count(samples, "sample", "samples"),
            count(runs as u64, "run", "runs")
        );
    }
    for problem in problems {
        writeln!(out, "{}: {problem}", db.display())?;
    }
    Ok(())
}
