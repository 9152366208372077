//! The events table: what happened once rather than what was sampled.
//! Kernel messages are committed with the sample they arrived in; pstore
//! records and the recorder's own notes (samples dropped, disk full) as
//! they happen.
//!
//! Kernel messages are bounded per hour: past `KERNEL_PER_HOUR` in one
//! hour, the first half of the hour's messages stays, and of the rest only
//! the newest are kept (the last words before a crash are what matter), so
//! a flood (a firewall rule logging every packet) cannot fill the file.
//! What is dropped is counted in one `events-dropped` event per hour, whose
//! `repeats` is the number dropped. Retention bounds events by size too
//! (src/store/retention.rs).

use super::Store;
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

pub use crate::model::Event;
use crate::sample::KernelMessage;

/// Kernel messages kept per hour at most.
pub const KERNEL_PER_HOUR: i64 = 2000;

const HOUR_MS: i64 = 3_600_000;

/// The count of kernel messages stored in the current hour, kept by the
/// writer so that a flood costs no count query per message.
#[derive(Default)]
pub(super) struct HourBudget {
    hour_ms: Option<i64>,
    stored: i64,
}

/// Stores a kernel message within the hour's budget: past it, the oldest
/// message of the hour's second half makes way, and is counted.
pub(super) fn insert_kernel(
    conn: &Connection,
    budget: &mut HourBudget,
    run_id: i64,
    message: &KernelMessage,
) -> Result<()> {
    let hour_ms = message.time_ms.div_euclid(HOUR_MS) * HOUR_MS;
    if budget.hour_ms != Some(hour_ms) {
        budget.stored = conn.query_row(
            "SELECT count(*) FROM events WHERE kind = 'kernel' AND time_ms >= ?1 AND time_ms < ?2",
            [hour_ms, hour_ms + HOUR_MS],
            |r| r.get(0),
        )?;
        budget.hour_ms = Some(hour_ms);
    }
    if budget.stored >= KERNEL_PER_HOUR {
        conn.prepare_cached(
            "DELETE FROM events WHERE id = (SELECT id FROM events
               WHERE kind = 'kernel' AND time_ms >= ?1 AND time_ms < ?2
               ORDER BY time_ms, id LIMIT 1 OFFSET ?3)",
        )?
        .execute([hour_ms, hour_ms + HOUR_MS, KERNEL_PER_HOUR / 2])?;
        budget.stored -= 1;
        count_dropped(
            conn,
            run_id,
            hour_ms,
            1,
            &format!(
                "kernel messages dropped: more than {KERNEL_PER_HOUR} in this hour (its first {} and its newest kept)",
                KERNEL_PER_HOUR / 2
            ),
        )?;
    }
    insert(conn, run_id, &Event::kernel(message))?;
    budget.stored += 1;
    Ok(())
}

/// Adds `count` to the `events-dropped` event at `time_ms`, creating it.
pub(super) fn count_dropped(
    conn: &Connection,
    run_id: i64,
    time_ms: i64,
    count: i64,
    detail: &str,
) -> Result<()> {
    let existing: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM events WHERE kind = 'events-dropped' AND time_ms = ?1 AND detail = ?2",
        )?
        .query_row(params![time_ms, detail], |r| r.get(0))
        .optional()?;
    match existing {
        Some(id) => {
            conn.prepare_cached("UPDATE events SET repeats = repeats + ?1 WHERE id = ?2")?
                .execute(params![count, id])?;
        }
        None => {
            let note = Event {
                repeats: u32::try_from(count).unwrap_or(u32::MAX),
                ..Event::note(time_ms, "events-dropped", detail.into())
            };
            insert(conn, run_id, &note)?;
        }
    }
    Ok(())
}

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
