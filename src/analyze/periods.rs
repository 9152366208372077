//! Unresponsive periods, found from the runs and the irregular ticks:
//! - an unclean end: a run without a clean stop followed by a later run
//!   (same boot: the recorder was killed or the machine froze and came back;
//!   other boot: the machine went down, and the period ends at the new boot);
//! - a stall: a tick late by more than max(3 × interval, 15 s) on the
//!   monotonic clock while the boot clock shows no suspend;
//! - a suspend, listed as such so it is not mistaken for a stall;
//! - a clock jump: the wall clock set by hand or by NTP, which the boot
//!   clock did not show, so sample times before and after do not compare;
//! - silent now: the newest run has no clean stop and no recent sample
//!   while its recorder still holds the writer lock (frozen or stopped);
//! - not running: the newest run has no clean stop and its writer lock is
//!   free (killed, crashed, a power cut), a period from the first read.
//!
//! Pure: the store gathers the facts, this decides.

use crate::model::Run;
use crate::store::Irregular;
use serde::Serialize;

/// The shortest lateness counted as a stall, for a run's interval.
pub fn stall_threshold_ms(interval_ms: i64) -> i64 {
    (3 * interval_ms).max(15_000)
}

/// A suspend shorter than this is clock noise, not worth listing.
const SUSPEND_MIN_MS: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The recorder ended without a clean stop and a later run began in
    /// the same boot.
    UncleanStop,
    /// The recorder ended without a clean stop and the machine rebooted.
    Reboot,
    Stall,
    Suspend,
    SilentNow,
    /// The newest run ended without a clean stop and no recorder runs now.
    NotRunning,
    ClockJump,
}

impl Kind {
    /// The name used in JSON and in `gaps`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::UncleanStop => "unclean_stop",
            Kind::Reboot => "reboot",
            Kind::Stall => "stall",
            Kind::Suspend => "suspend",
            Kind::SilentNow => "silent_now",
            Kind::NotRunning => "not_running",
            Kind::ClockJump => "clock_jump",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::UncleanStop => "unclean stop, recorder restarted in the same boot",
            Kind::Reboot => "unclean stop, then reboot",
            Kind::Stall => "stall: the recorder's timer fired late",
            Kind::Suspend => "suspend (not a stall)",
            Kind::SilentNow => "silent now: no recent sample and no clean stop",
            Kind::NotRunning => "unclean stop, and no recorder has run since",
            Kind::ClockJump => "clock jump: the wall clock was set, the boot clock shows no such time",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// 1 is the newest.
    pub number: usize,
    pub kind: Kind,
    /// Time of the last good sample before the period.
    pub start_ms: i64,
    /// When the machine answered again (the first sample after a stall, the
    /// boot time after a reboot, the next run's start); `None` while silent.
    pub end_ms: Option<i64>,
    pub run_id: i64,
    pub boot_id: String,
    /// The boot the period ended in, where it differs.
    pub next_boot_id: Option<String>,
    /// Filled in by the caller: samples in the window before the period.
    pub samples_before: u64,
}

impl Period {
    pub fn length_ms(&self, now_ms: i64) -> i64 {
        self.end_ms.unwrap_or(now_ms) - self.start_ms
    }
}

/// A run with its last sample, as the store found it.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub run: Run,
    pub last_sample_ms: Option<i64>,
}

/// All periods, newest first and numbered so.
pub fn find(runs: &[RunFacts], irregular: &[Irregular], now_ms: i64) -> Vec<Period> {
    let mut periods = Vec::new();
    for (i, facts) in runs.iter().enumerate() {
        let run = &facts.run;
        let last = facts.last_sample_ms.unwrap_or(run.start_ms);
        match runs.get(i + 1) {
            Some(next) if run.stop_ms.is_none() => {
                let rebooted = next.run.boot_id != run.boot_id;
                periods.push(Period {
                    number: 0,
                    kind: if rebooted { Kind::Reboot } else { Kind::UncleanStop },
                    start_ms: last,
                    end_ms: Some(if rebooted { next.run.boot_time_ms.max(last) } else { next.run.start_ms }),
                    run_id: run.id,
                    boot_id: run.boot_id.clone(),
                    next_boot_id: rebooted.then(|| next.run.boot_id.clone()),
                    samples_before: 0,
                });
            }
            None if run.stop_ms.is_none() && (!run.recording || now_ms - last > 3 * run.interval_ms) => {
                periods.push(Period {
                    number: 0,
                    kind: if run.recording { Kind::SilentNow } else { Kind::NotRunning },
                    start_ms: last,
                    end_ms: None,
                    run_id: run.id,
                    boot_id: run.boot_id.clone(),
                    next_boot_id: None,
                    samples_before: 0,
                });
            }
            _ => {}
        }
        for tick in irregular.iter().filter(|t| t.run_id == run.id) {
            let Some(prev) = tick.prev_time_ms else { continue };
            let kind = if tick.clock_jump_ms.is_some() {
                Kind::ClockJump
            } else if tick.suspended_ms >= SUSPEND_MIN_MS {
                Kind::Suspend
            } else if tick.lateness_ms > stall_threshold_ms(run.interval_ms) {
                Kind::Stall
            } else {
                continue;
            };
            periods.push(Period {
                number: 0,
                kind,
                start_ms: prev,
                end_ms: Some(tick.time_ms),
                run_id: run.id,
                boot_id: run.boot_id.clone(),
                next_boot_id: None,
                samples_before: 0,
            });
        }
    }
    periods.sort_by(|a, b| b.start_ms.cmp(&a.start_ms).then(b.run_id.cmp(&a.run_id)));
    for (i, period) in periods.iter_mut().enumerate() {
        period.number = i + 1;
    }
    periods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, boot: &str, start_ms: i64, stop_ms: Option<i64>) -> Run {
        Run {
            id,
            boot_id: boot.into(),
            boot_time_ms: start_ms - 30_000,
            hostname: "mail".into(),
            kernel: "6.1".into(),
            version: "0".into(),
            pid: 1,
            interval_ms: 5000,
            start_ms,
            stop_ms,
            stop_reason: stop_ms.map(|_| "SIGTERM".into()),
            recording: false,
        }
    }

    fn recording(mut run: Run) -> Run {
        run.recording = true;
        run
    }

    fn facts(run: Run, last: i64) -> RunFacts {
        RunFacts { run, last_sample_ms: Some(last) }
    }

    #[test]
    fn unclean_stops_reboots_and_silence_newest_first() {
        let runs = [
            facts(run(1, "a", 0, None), 100_000),
            facts(run(2, "a", 200_000, None), 300_000),
            facts(recording(run(3, "b", 1_000_000, None)), 1_100_000),
        ];
        let periods = find(&runs, &[], 2_000_000);
        let kinds: Vec<Kind> = periods.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::SilentNow, Kind::Reboot, Kind::UncleanStop]);
        assert_eq!(periods[1].start_ms, 300_000);
        assert_eq!(periods[1].end_ms, Some(970_000), "a reboot ends at the new boot's time");
        assert_eq!(periods[1].next_boot_id.as_deref(), Some("b"));
        assert_eq!(periods[2].end_ms, Some(200_000), "same boot: ends when the recorder came back");
        assert_eq!(periods.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn clean_stops_and_a_live_run_are_not_periods() {
        let runs = [
            facts(run(1, "a", 0, Some(100_000)), 99_000),
            facts(recording(run(2, "a", 200_000, None)), 300_000),
        ];
        assert!(find(&runs, &[], 305_000).is_empty());
    }

    #[test]
    fn an_unclean_end_with_no_recorder_running_is_a_period_at_once() {
        let runs = [facts(run(1, "a", 0, Some(100_000)), 99_000), facts(run(2, "a", 200_000, None), 300_000)];
        let periods = find(&runs, &[], 300_001);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(periods[0].kind, Kind::NotRunning);
        assert_eq!((periods[0].start_ms, periods[0].end_ms), (300_000, None));
    }

    #[test]
    fn stalls_and_suspends_inside_a_run() {
        let runs = [facts(run(1, "a", 0, Some(500_000)), 499_000)];
        let tick = |time_ms, lateness_ms, suspended_ms| Irregular {
            run_id: 1,
            time_ms,
            lateness_ms,
            suspended_ms,
            prev_time_ms: Some(time_ms - lateness_ms - suspended_ms - 5000),
            clock_jump_ms: None,
        };
        let irregular = [
            tick(100_000, 20_000, 0),
            tick(200_000, 15_001, 0),
            tick(250_000, 15_000, 0),
            tick(300_000, 0, 60_000),
        ];
        let periods = find(&runs, &irregular, 600_000);
        let kinds: Vec<Kind> = periods.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::Suspend, Kind::Stall, Kind::Stall]);
        assert_eq!(periods[2].start_ms, 75_000);
        assert_eq!(periods[2].end_ms, Some(100_000));
    }

    #[test]
    fn a_clock_jump_is_a_period_of_its_own() {
        let day = 86_400_000;
        let runs = [facts(run(1, "a", 0, Some(20 * day + 500_000)), 20 * day + 499_000)];
        let jump = Irregular {
            run_id: 1,
            time_ms: 20 * day + 100_000,
            lateness_ms: 0,
            suspended_ms: 0,
            prev_time_ms: Some(100_000),
            clock_jump_ms: Some(20 * day),
        };
        let periods = find(&runs, &[jump], 20 * day + 600_000);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(periods[0].kind, Kind::ClockJump);
        assert_eq!((periods[0].start_ms, periods[0].end_ms), (100_000, Some(20 * day + 100_000)));
    }
}
