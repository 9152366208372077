//! The retention clock: how much time really passed, for pruning.
//!
//! Retention compares sample times with "now". Taken from the wall clock,
//! a clock set weeks ahead (NTP fixing a dead RTC battery, a typo in
//! `date -s`) would make weeks of history look old. This clock follows the
//! boot clock (CLOCK_BOOTTIME, which counts suspends and is never set) from
//! the last time it trusted, and the wall clock only where the wall clock
//! is behind: the part of a jump the boot clock does not show is held
//! back. Across runs of one boot the boot clock measures the time between
//! them exactly; across a reboot only the time since the new boot is
//! sure, so the time the machine was down is not counted (history is kept
//! that much longer, never deleted early; the size limit still applies).
//!
//! Pure: the recorder reads the clocks and stores `Saved` between runs.

use anyhow::Result;
use rusqlite::OptionalExtension;

/// A change of the wall clock against the boot clock smaller than this is
/// drift or a small NTP step, not worth an event.
const JUMP_MS: i64 = 10_000;

/// What a run leaves for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub trusted_ms: i64,
    pub wall_ms: i64,
    pub boot_id: String,
    pub boottime_ms: i64,
}

#[derive(Debug)]
pub struct RetentionClock {
    boot_id: String,
    /// The trusted time at boot-clock reading `base_boottime_ms`.
    base_trusted_ms: i64,
    base_boottime_ms: i64,
    /// Wall clock less trusted time at the last reading: a change of it is
    /// a jump.
    offset_ms: i64,
}

/// A step of the wall clock that the boot clock did not show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jump {
    /// Positive when the wall clock went forward.
    pub by_ms: i64,
    /// The wall time just after it.
    pub wall_ms: i64,
}

impl Jump {
    pub fn describe(&self) -> String {
        let direction = if self.by_ms > 0 { "forward" } else { "back" };
        let by = humantime::format_duration(std::time::Duration::from_secs(self.by_ms.unsigned_abs() / 1000));
        format!(
            "the wall clock stepped {direction} by {by} while the boot clock did not; sample times jump by \
             as much, and retention follows the time that really passed"
        )
    }
}

impl RetentionClock {
    /// Starts from what the previous run saved or, in a file without it,
    /// from the newest sample's time. Gives a jump seen since the previous
    /// run of this boot.
    pub fn start(
        saved: Option<Saved>,
        newest_sample_ms: Option<i64>,
        boot_id: &str,
        wall_ms: i64,
        boottime_ms: i64,
    ) -> (RetentionClock, Option<Jump>) {
        let same_boot = saved.as_ref().is_some_and(|s| s.boot_id == boot_id);
        let predicted = match &saved {
            Some(s) if same_boot => s.trusted_ms + (boottime_ms - s.boottime_ms).max(0),
            Some(s) => s.trusted_ms + boottime_ms,
            None => {
                newest_sample_ms.map_or(wall_ms, |newest| newest + boottime_ms.min(wall_ms - newest).max(0))
            }
        };
        let mut clock = RetentionClock {
            boot_id: boot_id.into(),
            base_trusted_ms: predicted,
            base_boottime_ms: boottime_ms,
            offset_ms: saved.as_ref().filter(|_| same_boot).map_or(0, |s| s.wall_ms - s.trusted_ms),
        };
        let jump = clock.read(wall_ms, boottime_ms).1;
        if !same_boot {
            // Across a reboot the wall clock being ahead is downtime as
            // likely as a jump: hold it back, but say nothing.
            return (clock, None);
        }
        (clock, jump)
    }

    /// The trusted time now, and the jump seen since the last reading.
    pub fn read(&mut self, wall_ms: i64, boottime_ms: i64) -> (i64, Option<Jump>) {
        let predicted = self.base_trusted_ms + (boottime_ms - self.base_boottime_ms).max(0);
        let offset = wall_ms - predicted;
        let jump = ((offset - self.offset_ms).abs() >= JUMP_MS)
            .then_some(Jump { by_ms: offset - self.offset_ms, wall_ms });
        if offset < 0 {
            // The wall clock is behind: follow it (sample times do).
            self.base_trusted_ms = wall_ms;
            self.base_boottime_ms = boottime_ms;
            self.offset_ms = 0;
            return (wall_ms, jump);
        }
        self.offset_ms = offset;
        (predicted, jump)
    }

    pub fn saved(&mut self, wall_ms: i64, boottime_ms: i64) -> Saved {
        let (trusted_ms, _) = self.read(wall_ms, boottime_ms);
        Saved { trusted_ms, wall_ms, boot_id: self.boot_id.clone(), boottime_ms }
    }
}

impl super::Store {
    pub fn saved_clock(&self) -> Result<Option<Saved>> {
        Ok(self
            .conn
            .query_row(
                "SELECT trusted_ms, wall_ms, boot_id, boottime_ms FROM retention_clock WHERE id = 1",
                [],
                |r| {
                    Ok(Saved {
                        trusted_ms: r.get(0)?,
                        wall_ms: r.get(1)?,
                        boot_id: r.get(2)?,
                        boottime_ms: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a jump: a row for `gaps` and `report`, an event in words.
    pub fn add_clock_jump(&mut self, run_id: i64, jump: &Jump) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO clock_jumps (run_id, time_ms, by_ms) VALUES (?1, ?2, ?3)",
            [run_id, jump.wall_ms, jump.by_ms],
        )?;
        super::events::insert(&tx, run_id, &super::Event::note(jump.wall_ms, "clock-jump", jump.describe()))?;
        tx.commit()?;
        Ok(())
    }

    pub fn save_clock(&mut self, saved: &Saved) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO retention_clock (id, trusted_ms, wall_ms, boot_id, boottime_ms)
             VALUES (1, ?1, ?2, ?3, ?4)",
            rusqlite::params![saved.trusted_ms, saved.wall_ms, saved.boot_id, saved.boottime_ms],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_795_000_000_000;

    #[test]
    fn a_jump_ahead_is_held_back_and_said_once() {
        let (mut clock, jump) = RetentionClock::start(None, None, "a", T0, 1000);
        assert_eq!(jump, None);
        assert_eq!(clock.read(T0 + 60_000, 61_000), (T0 + 60_000, None));
        // `date -s` twenty days ahead, a minute later.
        let (now, jump) = clock.read(T0 + 20 * DAY + 120_000, 121_000);
        assert_eq!(now, T0 + 120_000, "pruning follows the time that really passed");
        assert_eq!(jump.map(|j| j.by_ms), Some(20 * DAY));
        assert_eq!(clock.read(T0 + 20 * DAY + 180_000, 181_000), (T0 + 180_000, None), "said once");
        // NTP sets it right again: followed, and said.
        let (now, jump) = clock.read(T0 + 240_000, 241_000);
        assert_eq!((now, jump.map(|j| j.by_ms)), (T0 + 240_000, Some(-20 * DAY)));
    }

    #[test]
    fn a_restart_in_the_same_boot_remembers_the_jump() {
        let (mut clock, _) = RetentionClock::start(None, None, "a", T0, 1000);
        let (_, jump) = clock.read(T0 + 20 * DAY + 60_000, 61_000);
        assert!(jump.is_some());
        let saved = clock.saved(T0 + 20 * DAY + 60_000, 61_000);
        let (mut again, jump) = RetentionClock::start(
            Some(saved),
            Some(T0 + 20 * DAY + 60_000),
            "a",
            T0 + 20 * DAY + 120_000,
            121_000,
        );
        assert_eq!(jump, None, "the jump was said by the run that saw it");
        assert_eq!(again.read(T0 + 20 * DAY + 120_000, 121_000).0, T0 + 120_000);
    }

    #[test]
    fn a_jump_between_runs_of_one_boot_is_said_at_start() {
        let saved = Saved { trusted_ms: T0, wall_ms: T0, boot_id: "a".into(), boottime_ms: 5000 };
        let (mut clock, jump) =
            RetentionClock::start(Some(saved), Some(T0), "a", T0 + 20 * DAY + 60_000, 65_000);
        assert_eq!(jump.map(|j| j.by_ms), Some(20 * DAY));
        assert_eq!(clock.read(T0 + 20 * DAY + 60_000, 65_000).0, T0 + 60_000);
    }

    #[test]
    fn after_a_reboot_only_the_new_boot_counts() {
        let saved = Saved { trusted_ms: T0, wall_ms: T0, boot_id: "a".into(), boottime_ms: 5000 };
        // Twenty days later by the wall clock, a minute into the new boot.
        let (mut clock, jump) = RetentionClock::start(Some(saved), Some(T0), "b", T0 + 20 * DAY, 60_000);
        assert_eq!(jump, None);
        assert_eq!(clock.read(T0 + 20 * DAY, 60_000).0, T0 + 60_000);
    }

    #[test]
    fn a_file_without_a_saved_clock_starts_from_its_newest_sample() {
        let (mut clock, _) = RetentionClock::start(None, Some(T0), "a", T0 + 20 * DAY, 60_000);
        assert_eq!(clock.read(T0 + 20 * DAY, 60_000).0, T0 + 60_000);
        let (mut clock, _) = RetentionClock::start(None, Some(T0), "a", T0 + 30_000, 60_000);
        assert_eq!(clock.read(T0 + 30_000, 60_000).0, T0 + 30_000, "never ahead of the wall clock");
    }

    #[test]
    fn a_recorded_jump_is_listed_with_the_irregular_ticks() {
        let dir = crate::scratch::Scratch::new("clock-jump");
        let mut store = super::super::Store::open_for_recording(&dir.0.join("jump.db")).unwrap();
        let run = super::super::Run {
            id: 0,
            boot_id: "a".into(),
            boot_time_ms: 0,
            hostname: "h".into(),
            kernel: "k".into(),
            version: "v".into(),
            pid: 1,
            interval_ms: 5000,
            start_ms: T0,
            stop_ms: None,
            stop_reason: None,
            recording: true,
        };
        let run_id = store.begin_run(&run).unwrap();
        store.add_clock_jump(run_id, &Jump { by_ms: 20 * DAY, wall_ms: T0 + 20 * DAY }).unwrap();
        let listed = store.irregular_ticks(15_000).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].prev_time_ms, listed[0].clock_jump_ms), (Some(T0), Some(20 * DAY)));
        let said = store.events_between(T0, T0 + 21 * DAY).unwrap();
        assert_eq!(said.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["clock-jump"]);
    }
}
