//! `flightrec replay`: stepping through the history one sample at a time.
//! The pure part says where a time sits among the periods of `gaps` and
//! which period a jump lands on; `Cursor` reads the sample it stands on,
//! with the one before it for rates, through the store's queries by time.
//! Damage is kept with the sample, never printed: the terminal is a view.

use crate::analyze::Finding;
use crate::analyze::incidents::Incident;
use crate::analyze::periods::Kind;
use crate::analyze::report::{self, Target};
use crate::model::human::format_duration_ms;
use crate::model::{Event, Run, StoredSample};
use crate::store::{Store, Tables};
use anyhow::Result;
use std::collections::BTreeMap;

/// Where `time_ms` sits relative to the incidents: inside one of their
/// periods, or before the next one to come, or after the last one.
/// Incidents are as `gaps` lists them (newest first, numbered so).
pub fn place(time_ms: i64, incidents: &[Incident]) -> Option<String> {
    let periods = || incidents.iter().flat_map(|i| &i.periods);
    if let Some(p) = periods().find(|p| p.start_ms < time_ms && p.end_ms.is_none_or(|end| time_ms < end)) {
        return Some(format!("inside incident {} ({})", p.number, name(p.kind)));
    }
    if let Some(p) = periods().filter(|p| p.start_ms >= time_ms).min_by_key(|p| p.start_ms) {
        let before = format_duration_ms(p.start_ms - time_ms);
        return Some(if p.start_ms == time_ms {
            format!("last sample before incident {} ({})", p.number, name(p.kind))
        } else {
            format!("{before} before incident {} ({})", p.number, name(p.kind))
        });
    }
    let p = periods().filter_map(|p| Some((p, p.end_ms?))).max_by_key(|(_, end)| *end)?;
    Some(format!("{} after incident {} ({})", format_duration_ms(time_ms - p.1), p.0.number, name(p.0.kind)))
}

/// A period's kind in a few words, for the header.
fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::UncleanStop => "the unclean stop",
        Kind::Reboot => "the unclean stop and reboot",
        Kind::Stall => "the stall",
        Kind::Suspend => "the suspend",
        Kind::SilentNow => "the silence",
        Kind::NotRunning => "the unclean stop",
        Kind::ClockJump => "the clock jump",
    }
}

/// The oldest incident that starts after `time_ms`: `]`.
pub fn next_incident(time_ms: i64, incidents: &[Incident]) -> Option<&Incident> {
    incidents.iter().filter(|i| i.first().start_ms > time_ms).min_by_key(|i| i.first().start_ms)
}

/// The newest incident that starts before `time_ms`: `[`.
pub fn previous_incident(time_ms: i64, incidents: &[Incident]) -> Option<&Incident> {
    incidents.iter().filter(|i| i.first().start_ms < time_ms).max_by_key(|i| i.first().start_ms)
}

/// What the cursor stands on.
pub enum Shown {
    Sample {
        /// The sample before, in the same run: the rates' other end.
        prev: Option<Box<StoredSample>>,
        cur: Box<StoredSample>,
        /// Frames of `cur` that could not be used, said in words.
        damage: Vec<String>,
    },
    /// A sample whose row could not be read at all: stepping goes on past it.
    Unreadable { time_ms: i64, error: String },
}

impl Shown {
    pub fn time_ms(&self) -> i64 {
        match self {
            Shown::Sample { cur, .. } => cur.sample.time_ms,
            Shown::Unreadable { time_ms, .. } => *time_ms,
        }
    }
}

/// One sample of the store at a time, found by time.
pub struct Cursor<'a> {
    store: &'a Store,
    /// (id, time_ms) of the sample stood on.
    at: (i64, i64),
    /// Samples read around it, by id, with their damage: a sample's tables
    /// are replayed from its key frame, so reading its neighbours at the
    /// same time makes the next steps either way cost nothing.
    near: BTreeMap<i64, (StoredSample, Vec<String>)>,
}

/// How many sample ids either side of the one stood on are read with it
/// after a jump (twice as many ahead of a step).
const NEAR: i64 = 30;

impl<'a> Cursor<'a> {
    /// Stands on the sample at or before `time_ms`, else the first after
    /// it; `None` when the store holds no sample.
    pub fn new(store: &'a Store, time_ms: i64) -> Result<Option<Cursor<'a>>> {
        let at = match store.last_at_or_before(time_ms)? {
            Some(at) => Some(at),
            None => store.first_at_or_after(time_ms)?,
        };
        Ok(at.map(|at| Cursor { store, at, near: BTreeMap::new() }))
    }

    pub fn time_ms(&self) -> i64 {
        self.at.1
    }

    /// No sample is newer than the one stood on.
    pub fn is_newest(&self) -> Result<bool> {
        Ok(self.store.first_at_or_after(self.at.1.saturating_add(1))?.is_none())
    }

    /// Steps to the next sample; false at the newest.
    pub fn forward(&mut self) -> Result<bool> {
        self.go(self.store.first_at_or_after(self.at.1.saturating_add(1))?)
    }

    /// Steps to the previous sample; false at the oldest.
    pub fn back(&mut self) -> Result<bool> {
        self.go(self.store.last_at_or_before(self.at.1.saturating_sub(1))?)
    }

    pub fn first(&mut self) -> Result<bool> {
        self.go(self.store.first_at_or_after(i64::MIN)?)
    }

    pub fn last(&mut self) -> Result<bool> {
        self.go(self.store.last_at_or_before(i64::MAX)?)
    }

    /// Goes to the sample at or at most `within_ms` before `time_ms`; false
    /// (staying) where there is none.
    pub fn jump(&mut self, time_ms: i64, within_ms: i64) -> Result<bool> {
        let found = self.store.last_at_or_before(time_ms)?;
        self.go(found.filter(|(_, t)| time_ms - t <= within_ms))
    }

    fn go(&mut self, to: Option<(i64, i64)>) -> Result<bool> {
        match to {
            Some(at) if at != self.at => {
                self.at = at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The incidents of `gaps`, numbered as it numbers them.
    pub fn incidents(&self, now_ms: i64, window_ms: i64) -> Result<Vec<Incident>> {
        report::incidents(self.store, now_ms, window_ms)
    }

    /// The findings `report --at` gives for the window ending at `time_ms`.
    pub fn findings(&self, time_ms: i64, window_ms: i64, now_ms: i64) -> Result<Vec<Finding>> {
        Ok(report::report(self.store, Target::At(time_ms), window_ms, now_ms)?.findings)
    }

    pub fn events(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Event>> {
        self.store.events_between(from_ms, to_ms)
    }

    pub fn runs(&self) -> Result<Vec<Run>> {
        self.store.runs()
    }

    /// Reads the sample stood on with every table, and the one before it.
    pub fn read(&mut self) -> Result<Shown> {
        let (id, time_ms) = self.at;
        let prev_id = self.store.last_at_or_before(time_ms.saturating_sub(1))?.map(|(prev, _)| prev.min(id));
        let have =
            |near: &BTreeMap<i64, _>| near.contains_key(&id) && prev_id.is_none_or(|p| near.contains_key(&p));
        if !have(&self.near) {
            // Stepped just past the end of what was read: the steps go on
            // that way, so that way twice as far; after a jump, both ways.
            let (before, after) = match (self.near.keys().next(), self.near.keys().next_back()) {
                (_, Some(&last)) if (1..=NEAR).contains(&(id - last)) => (1, 2 * NEAR),
                (Some(&first), _) if (1..=NEAR).contains(&(first - id)) => (2 * NEAR, 1),
                _ => (NEAR, NEAR),
            };
            // Around it first; where one row of those spoils the read, the
            // two samples alone.
            let from = prev_id.unwrap_or(id);
            self.near = match self.read_between(from.min(id - before), id + after) {
                Ok(near) => near,
                Err(_) => match self.read_between(from, id) {
                    Ok(near) => near,
                    Err(err) => return Ok(Shown::Unreadable { time_ms, error: format!("{err:#}") }),
                },
            };
        }
        let Some((cur, damage)) = self.near.get(&id).cloned() else {
            return Ok(Shown::Unreadable { time_ms, error: "the sample vanished while reading".into() });
        };
        let prev = prev_id
            .and_then(|p| self.near.get(&p))
            .map(|(p, _)| p.clone())
            .filter(|p| p.run_id == cur.run_id && p.id != cur.id)
            .map(Box::new);
        Ok(Shown::Sample { prev, cur: Box::new(cur), damage })
    }

    fn read_between(&self, from_id: i64, to_id: i64) -> Result<BTreeMap<i64, (StoredSample, Vec<String>)>> {
        let mut near = BTreeMap::new();
        let mut damage: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        self.store.read_samples(
            from_id,
            to_id,
            Tables::ALL,
            |stored| {
                near.insert(stored.id, (stored, Vec::new()));
                Ok(())
            },
            |found| damage.entry(found.sample_id).or_default().push(found.what),
        )?;
        for (id, what) in damage {
            if let Some(entry) = near.get_mut(&id) {
                entry.1 = what;
            }
        }
        Ok(near)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::periods::Period;

    fn period(number: usize, kind: Kind, start_ms: i64, end_ms: Option<i64>) -> Period {
        Period {
            number,
            kind,
            start_ms,
            end_ms,
            run_id: 1,
            boot_id: "a".into(),
            next_boot_id: None,
            samples_before: 0,
        }
    }

    fn incident(number: usize, periods: Vec<Period>) -> Incident {
        Incident { number, periods, matters: true, summary: String::new() }
    }

    /// Newest first: an unclean stop, and before it a stall the machine
    /// froze again right after.
    fn incidents() -> Vec<Incident> {
        vec![
            incident(1, vec![period(1, Kind::UncleanStop, 500_000, Some(600_000))]),
            incident(
                2,
                vec![
                    period(2, Kind::Stall, 100_000, Some(130_000)),
                    period(2, Kind::UncleanStop, 131_000, Some(140_000)),
                ],
            ),
        ]
    }

    #[test]
    fn a_time_is_placed_before_inside_or_after_the_incidents() {
        let incidents = incidents();
        assert_eq!(place(88_000, &incidents).unwrap(), "12s before incident 2 (the stall)");
        assert_eq!(place(100_000, &incidents).unwrap(), "last sample before incident 2 (the stall)");
        assert_eq!(place(110_000, &incidents).unwrap(), "inside incident 2 (the stall)");
        assert_eq!(place(135_000, &incidents).unwrap(), "inside incident 2 (the unclean stop)");
        assert_eq!(place(140_000, &incidents).unwrap(), "6m before incident 1 (the unclean stop)");
        assert_eq!(place(660_000, &incidents).unwrap(), "1m after incident 1 (the unclean stop)");
        assert_eq!(place(5, &[]), None);
    }

    #[test]
    fn jumps_land_on_the_neighbouring_incidents() {
        let incidents = incidents();
        assert_eq!(next_incident(0, &incidents).map(|i| i.number), Some(2));
        // Past the incident's first period, its second is no mark of its own.
        assert_eq!(next_incident(100_000, &incidents).map(|i| i.number), Some(1));
        assert_eq!(next_incident(500_000, &incidents).map(|i| i.number), None);
        assert_eq!(previous_incident(500_000, &incidents).map(|i| i.number), Some(2));
        assert_eq!(previous_incident(135_000, &incidents).map(|i| i.number), Some(2));
        assert_eq!(previous_incident(100_000, &incidents).map(|i| i.number), None);
    }
}
