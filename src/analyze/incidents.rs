//! Incidents: unresponsive periods that follow each other closely told as
//! one story. A machine that stalls for minutes and is then reset leaves a
//! stall and an unclean stop (or a reboot) a moment apart; the stall is
//! the incident, the reset only how it ended. Incidents are numbered newest
//! first, and `gaps`, `report --period N` and every other view use those
//! numbers. The one `report` explains by default is the newest that
//! matters, not merely the newest.
//!
//! Pure: takes the periods `periods::find` made.

use super::periods::{Kind, Period};
use crate::model::human::{format_duration_ms, format_ms_clock, format_ms_local};
use serde::Serialize;

/// A period that begins at most this long after a stall or suspend ended
/// is part of the same incident.
pub const CLOSE_MS: i64 = 60_000;

/// A stall at least this long matters on its own: the machine did not
/// answer for half a minute.
pub const LONG_STALL_MS: i64 = 30_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// 1 is the newest; every period in it carries this number.
    pub number: usize,
    /// Oldest first; the window before the first is what explains it.
    pub periods: Vec<Period>,
    /// A long stall, a reboot, a recorder silent now, or an unclean stop
    /// after trouble: worth explaining before a newer incident that is not.
    pub matters: bool,
    /// What a person would write: "frozen for 30s from ..., then
    /// killed/crashed at 01:13:51 (restarted 102ms later)".
    pub summary: String,
}

impl Incident {
    /// The period the window before it ends at.
    pub fn first(&self) -> &Period {
        &self.periods[0]
    }

    /// When the machine answered again; `None` while it is still silent.
    pub fn end_ms(&self) -> Option<i64> {
        self.periods.last().and_then(|p| p.end_ms)
    }
}

/// The periods of `found` (any order) as incidents, newest first; each
/// period's `number` becomes its incident's.
pub fn group(mut found: Vec<Period>, now_ms: i64) -> Vec<Incident> {
    found.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then(a.run_id.cmp(&b.run_id)));
    let mut chains: Vec<Vec<Period>> = Vec::new();
    for period in found {
        match chains.last_mut() {
            Some(chain) if continues(chain.last().expect("chains are never empty"), &period) => {
                chain.push(period)
            }
            _ => chains.push(vec![period]),
        }
    }
    chains
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, mut periods)| {
            for period in &mut periods {
                period.number = i + 1;
            }
            Incident {
                number: i + 1,
                matters: matters(&periods, now_ms),
                summary: summary(&periods, now_ms),
                periods,
            }
        })
        .collect()
}

/// The incident `report` explains unless told: the newest that matters,
/// else the newest.
pub fn default_choice(incidents: &[Incident]) -> Option<&Incident> {
    incidents.iter().find(|i| i.matters).or(incidents.first())
}

/// Whether `next` is what happened after `prev` ended rather than a new
/// story: the machine came back from a stall or suspend and went down or
/// froze again moments later.
fn continues(prev: &Period, next: &Period) -> bool {
    matches!(prev.kind, Kind::Stall | Kind::Suspend)
        && prev.end_ms.is_some_and(|end| next.start_ms - end <= CLOSE_MS)
}

fn matters(periods: &[Period], now_ms: i64) -> bool {
    let trouble = periods.iter().any(|p| match p.kind {
        Kind::Reboot | Kind::SilentNow => true,
        Kind::Stall => p.length_ms(now_ms) >= LONG_STALL_MS,
        // A clock set by hand or by NTP is worth listing, not explaining.
        Kind::Suspend | Kind::UncleanStop | Kind::NotRunning | Kind::ClockJump => false,
    });
    let stopped_after_trouble = periods.len() > 1
        && periods.iter().any(|p| matches!(p.kind, Kind::UncleanStop | Kind::NotRunning | Kind::Stall));
    trouble || stopped_after_trouble
}

/// The periods in order, each as a person would say it; the first with
/// its date, the rest with the time of day.
fn summary(periods: &[Period], now_ms: i64) -> String {
    let parts: Vec<String> = periods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let start = if i == 0 { format_ms_local(p.start_ms) } else { format_ms_clock(p.start_ms) };
            let length = format_duration_ms(p.length_ms(now_ms));
            // Said first, a stop without its mark is named for what it is.
            let unclean = if i == 0 { "unclean stop: " } else { "" };
            match p.kind {
                Kind::Stall => format!("frozen for {length} from {start}"),
                Kind::Suspend => format!("suspended for {length} from {start} (not a freeze)"),
                Kind::UncleanStop => format!("{unclean}killed/crashed at {start} (restarted {length} later)"),
                Kind::Reboot => format!(
                    "{unclean}went down after {start} and rebooted (up again at {}, {length} later)",
                    p.end_ms.map(format_ms_clock).unwrap_or_default()
                ),
                Kind::NotRunning => {
                    format!("{unclean}killed/crashed at {start}, and no recorder has run since ({length} ago)")
                }
                Kind::SilentNow => format!(
                    "silent since {start} ({length}): the recorder never stopped and writes nothing, frozen or stopped"
                ),
                Kind::ClockJump => format!(
                    "the wall clock was set from {start} to {}, which the boot clock did not show",
                    p.end_ms.map(format_ms_local).unwrap_or_default()
                ),
            }
        })
        .collect();
    parts.join(", then ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(kind: Kind, start_ms: i64, end_ms: Option<i64>) -> Period {
        Period {
            number: 0,
            kind,
            start_ms,
            end_ms,
            run_id: 1,
            boot_id: "a".into(),
            next_boot_id: None,
            samples_before: 0,
        }
    }

    #[test]
    fn a_freeze_then_a_kill_is_one_incident_told_in_order() {
        let stall = period(Kind::Stall, 100_000, Some(130_000));
        let kill = period(Kind::UncleanStop, 130_500, Some(130_602));
        let incidents = group(vec![kill, stall], 200_000);
        assert_eq!(incidents.len(), 1, "{incidents:#?}");
        let incident = &incidents[0];
        assert_eq!(
            incident.periods.iter().map(|p| p.kind).collect::<Vec<_>>(),
            [Kind::Stall, Kind::UncleanStop]
        );
        assert!(incident.periods.iter().all(|p| p.number == 1));
        assert!(incident.matters);
        assert!(incident.summary.starts_with("frozen for 30s from "), "{}", incident.summary);
        assert!(
            incident.summary.contains(", then killed/crashed at ")
                && incident.summary.ends_with("(restarted 102ms later)"),
            "{}",
            incident.summary
        );
    }

    #[test]
    fn periods_far_apart_are_separate_incidents_newest_first() {
        let stall = period(Kind::Stall, 100_000, Some(130_000));
        let kill = period(Kind::UncleanStop, 130_000 + CLOSE_MS + 1, Some(200_000));
        let incidents = group(vec![stall, kill], 300_000);
        assert_eq!(incidents.iter().map(|i| i.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(incidents[0].first().kind, Kind::UncleanStop);
        assert_eq!(incidents[1].first().number, 2);
    }

    #[test]
    fn the_default_is_the_newest_that_matters() {
        let long_stall = period(Kind::Stall, 100_000, Some(100_000 + LONG_STALL_MS));
        let lone_kill = period(Kind::UncleanStop, 500_000, Some(500_100));
        let short_stall = period(Kind::Stall, 800_000, Some(816_000));
        let incidents = group(vec![long_stall, lone_kill, short_stall], 900_000);
        assert_eq!(incidents.len(), 3);
        assert_eq!(incidents.iter().map(|i| i.matters).collect::<Vec<_>>(), [false, false, true]);
        assert_eq!(default_choice(&incidents).map(|i| i.number), Some(3));
        let unremarkable = group(vec![period(Kind::UncleanStop, 1000, Some(2000))], 3000);
        assert_eq!(default_choice(&unremarkable).map(|i| i.number), Some(1), "else the newest");
        let reboot = group(vec![period(Kind::Reboot, 1000, Some(90_000))], 100_000);
        assert!(reboot[0].matters);
    }
}
