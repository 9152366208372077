//! The events table: what happened once rather than what was sampled.
//! Kernel messages are committed with the sample they arrived in; pstore
//! records and the recorder's own notes (samples dropped, disk full) as
//! they happen.

use super::Store;
use anyhow::Result;
use rusqlite::{Connection, params};

pub use crate::model::Event;

pub(super) fn insert(conn: &Connection, run_id: i64, event: &Event) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (run_id, time_ms, kind, priority, repeats, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![run_id, event.time_ms, event.kind, event.priority, event.repeats, event.detail])?;
    Ok(())
}

impl Store {
    pub fn add_event(&mut self, run_id: i64, event: &Event) -> Result<()> {
        insert(&self.conn, run_id, event)
    }

    /// Whether an event of this kind, time and text is stored already (so a
    /// crash record is not stored again at every start).
    pub fn has_event(&self, event: &Event) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE time_ms = ?1 AND kind = ?2 AND detail = ?3)",
            params![event.time_ms, event.kind, event.detail],
            |r| r.get(0),
        )?)
    }

    /// Events with `from_ms <= time_ms <= to_ms`, oldest first.
    pub fn events_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT time_ms, kind, priority, repeats, detail FROM events
             WHERE time_ms BETWEEN ?1 AND ?2 ORDER BY time_ms, id",
        )?;
        let rows = stmt.query_map([from_ms, to_ms], |r| {
            Ok(Event {
                time_ms: r.get(0)?,
                kind: r.get(1)?,
                priority: r.get(2)?,
                repeats: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
