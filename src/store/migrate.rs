//! Schema versions: numbered SQL files in migrations/, embedded, applied in
//! order at open inside one transaction. The version is `PRAGMA
//! user_version`; a released migration is never edited.

use crate::error::BadInput;
use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;

/// Position in this list is the schema version.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_runs_samples.sql"),
    include_str!("../../migrations/0002_retention_clock.sql"),
    include_str!("../../migrations/0003_reserve_space.sql"),
    include_str!("../../migrations/0004_time_steps.sql"),
    include_str!("../../migrations/0005_wait_table.sql"),
    include_str!("../../migrations/0006_limit_table.sql"),
    include_str!("../../migrations/0007_cgroups.sql"),
    include_str!("../../migrations/0008_scalars_from_key.sql"),
];

/// The oldest version readers can read: later migrations add only what
/// the recorder itself uses, or what readers use where it exists
/// (`time_steps`), so a file the previous release wrote is read as it is,
/// before any recorder of this build has upgraded it.
pub const READABLE_FROM: usize = 1;

/// The version a file has; refuses one newer than this build knows.
pub fn check_version(conn: &Connection, path: &Path) -> Result<usize> {
    let have: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let have = usize::try_from(have).unwrap_or(usize::MAX);
    if have > MIGRATIONS.len() {
        return Err(BadInput::NewerSchema { path: path.into(), found: have, known: MIGRATIONS.len() }.into());
    }
    Ok(have)
}

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let have = check_version(conn, path)?;
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
        tx.execute_batch(sql).with_context(|| format!("applying migration {:04}", i + 1))?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_under_its_number() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        assert_eq!(names.len(), MIGRATIONS.len());
        for (i, name) in names.iter().enumerate() {
            assert!(name.starts_with(&format!("{:04}_", i + 1)), "{name} out of sequence");
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            assert_eq!(text, MIGRATIONS[i], "{name} is not the embedded migration {}", i + 1);
        }
    }

    #[test]
    fn migrations_apply_to_an_empty_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(check_version(&conn, Path::new(":memory:")).unwrap(), MIGRATIONS.len());
    }
}
