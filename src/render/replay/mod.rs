//! `flightrec replay`: the history one sample at a time in a full-screen
//! terminal view, as `atop -r` shows it: `show`'s header, where the sample
//! sits among the incidents, and a table (processes, filesystems, disks,
//! sockets, probes, watched sources, kernel messages, findings) one key
//! away. The keys are in `keys`, the tables in `tables`, the drawing in
//! `draw`, the terminal's care in `terminal`; this loop joins them to the
//! `Cursor` that reads the samples.

mod draw;
mod keys;
mod tables;
mod terminal;

use crate::analyze::Finding;
use crate::analyze::incidents::Incident;
use crate::analyze::replay::{self, Cursor, Shown};
use crate::model::catalogue::ProcessRow;
use crate::model::human::{format_duration_ms, format_ms_local};
use crate::model::{Event, Run};
use crate::render::text::UserNames;
use crate::time;
use anyhow::Result;
use keys::{Action, Move, State, View};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use std::io;
use std::time::Duration;

/// Keys taken at most between two drawings.
const KEYS_PER_DRAWING: usize = 64;

pub struct Options {
    /// Follow the recorder: stand on each new sample as it is committed.
    pub live: bool,
    /// Colours allowed (no `NO_COLOR`, a terminal that has them).
    pub colour: bool,
    /// The window of findings and kernel messages, as `report --window`.
    pub window_ms: i64,
}

/// What the screen shows, kept between keys.
struct Replay<'c, 's> {
    cursor: &'c mut Cursor<'s>,
    options: Options,
    state: State,
    shown: Shown,
    /// The shown sample's processes with their rates.
    processes: Vec<ProcessRow>,
    users: UserNames,
    incidents: Vec<Incident>,
    runs: Vec<Run>,
    /// Loaded when their view is open, for the time they were loaded at.
    findings: Option<(i64, Vec<Finding>)>,
    events: Option<(i64, Vec<Event>)>,
}

/// Runs the view until `q` (SIGTERM and SIGHUP end the process, in
/// `terminal`), starting where `cursor`
/// stands; `incidents` are those of `gaps`.
pub fn run(cursor: &mut Cursor, incidents: Vec<Incident>, options: Options) -> Result<()> {
    let runs = cursor.runs()?;
    let mut replay = Replay {
        shown: cursor.read()?,
        cursor,
        options,
        state: State::default(),
        processes: Vec::new(),
        users: UserNames::default(),
        incidents,
        runs,
        findings: None,
        events: None,
    };
    replay.processes = replay.process_rows();
    let mut session = terminal::Session::enter()?;
    let tick = Duration::from_millis(if replay.options.live { 1000 } else { 250 });
    loop {
        replay.load_view_data()?;
        let following = replay.options.live && replay.cursor.is_newest()?;
        let height = usize::from(session.screen.size()?.height);
        let screen = replay.screen(height);
        session.screen.draw(|frame| draw::draw(frame, &screen))?;
        let ready = match event::poll(tick) {
            Ok(ready) => ready,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.into()),
        };
        if !ready {
            replay.follow(following)?;
            continue;
        }
        // Every key typed meanwhile before the next drawing: typing a time
        // after `b` on a slow link must not wait for a screen per letter.
        for _ in 0..KEYS_PER_DRAWING {
            if let TermEvent::Key(key) = event::read()?
                && key.kind != KeyEventKind::Release
            {
                match replay.state.key(key) {
                    Action::Quit => return Ok(()),
                    Action::Redraw => {}
                    Action::Move(to) => replay.go(to)?,
                }
            }
            if !event::poll(Duration::ZERO)? {
                break;
            }
        }
    }
}

impl Replay<'_, '_> {
    fn go(&mut self, to: Move) -> Result<()> {
        let time_ms = self.cursor.time_ms();
        let moved = match to {
            Move::Forward => self.cursor.forward()?.then_some(()).ok_or("the newest sample"),
            Move::Back => self.cursor.back()?.then_some(()).ok_or("the oldest sample"),
            Move::First => self.cursor.first()?.then_some(()).ok_or("the oldest sample"),
            Move::Last => self.cursor.last()?.then_some(()).ok_or("the newest sample"),
            Move::NextIncident | Move::PreviousIncident => return self.go_to_mark(to == Move::NextIncident),
            Move::To(text) => return self.go_to_time(&text),
        };
        if let Err(end) = moved {
            self.state.message = Some(format!("this is {end}"));
        }
        if self.cursor.time_ms() != time_ms {
            self.show()?;
        }
        Ok(())
    }

    /// `]` and `[`: the next or previous incident, or in the findings view
    /// the next or previous finding's start.
    fn go_to_mark(&mut self, next: bool) -> Result<()> {
        let time_ms = self.cursor.time_ms();
        let (target, said) = if self.state.view == View::Findings {
            let starts = self.findings.iter().flat_map(|(_, f)| f.iter().filter_map(|f| f.first_seen_ms));
            let found = if next {
                starts.filter(|t| *t > time_ms).min()
            } else {
                starts.filter(|t| *t < time_ms).max()
            };
            (found, found.map(|t| format!("a finding began at {}", format_ms_local(t))))
        } else {
            let found = if next {
                replay::next_incident(time_ms, &self.incidents)
            } else {
                replay::previous_incident(time_ms, &self.incidents)
            };
            (
                found.map(|i| i.first().start_ms),
                found.map(|i| format!("incident {}: {}", i.number, i.summary)),
            )
        };
        let (Some(target), Some(said)) = (target, said) else {
            let which = if next { "after" } else { "before" };
            let what = if self.state.view == View::Findings { "finding" } else { "incident" };
            self.state.message = Some(format!("no {what} begins {which} this sample"));
            return Ok(());
        };
        // The last sample at or before the mark: the machine as it was
        // when the incident began.
        if self.cursor.jump(target, i64::MAX)? {
            self.show()?;
        }
        self.state.message = Some(said);
        Ok(())
    }

    /// `b TIME`: the sample at or at most an interval before TIME.
    fn go_to_time(&mut self, text: &str) -> Result<()> {
        let asked = match time::parse_time("b", text.trim(), chrono::Local::now()) {
            Ok(asked) => asked,
            Err(err) => {
                self.state.message = Some(err.to_string());
                return Ok(());
            }
        };
        let interval_ms = self
            .runs
            .iter()
            .rev()
            .find(|r| r.start_ms <= asked)
            .or(self.runs.first())
            .map_or(5000, |r| r.interval_ms);
        if self.cursor.jump(asked, interval_ms)? {
            self.show()?;
        } else {
            self.state.message = Some(format!(
                "no sample within {} before {}; staying",
                format_duration_ms(interval_ms),
                format_ms_local(asked)
            ));
        }
        Ok(())
    }

    /// `--live`: when the newest sample was shown and a newer one came,
    /// show it; someone looking back in time is left where they are.
    fn follow(&mut self, following: bool) -> Result<()> {
        if following && self.cursor.last()? {
            self.show()?;
            let now_ms = chrono::Local::now().timestamp_millis();
            self.incidents = self.cursor.incidents(now_ms, self.options.window_ms)?;
        }
        Ok(())
    }

    /// Reads what the open view needs and the sample does not hold.
    fn load_view_data(&mut self) -> Result<()> {
        let time_ms = self.cursor.time_ms();
        let stale = |loaded: Option<i64>| loaded != Some(time_ms);
        match self.state.view {
            View::Findings if stale(self.findings.as_ref().map(|f| f.0)) => {
                let now_ms = chrono::Local::now().timestamp_millis();
                self.findings =
                    Some((time_ms, self.cursor.findings(time_ms, self.options.window_ms, now_ms)?));
            }
            View::Kernel if stale(self.events.as_ref().map(|e| e.0)) => {
                let events = self.cursor.events(time_ms - self.options.window_ms, time_ms)?;
                self.events = Some((time_ms, events));
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads the sample the cursor stands on.
    fn show(&mut self) -> Result<()> {
        self.shown = self.cursor.read()?;
        self.processes = self.process_rows();
        Ok(())
    }

    fn process_rows(&self) -> Vec<ProcessRow> {
        let Shown::Sample { prev, cur, .. } = &self.shown else {
            return Vec::new();
        };
        let boot_time_ms = self.runs.iter().find(|r| r.id == cur.run_id).map(|r| r.boot_time_ms);
        tables::process_rows(prev.as_ref().map(|p| &p.sample), cur, boot_time_ms)
    }

    /// The screen, with the table's rows from the one scrolled to, as many
    /// as `height` could show.
    fn screen(&mut self, height: usize) -> draw::Screen<'_> {
        let extras = tables::Extras {
            processes: &self.processes,
            findings: self.findings.as_ref().map(|(_, f)| f.as_slice()),
            events: self.events.as_ref().map(|(_, e)| e.as_slice()),
        };
        let visible = self.state.scroll..self.state.scroll + height;
        let (caption, grid) = tables::view(&self.shown, &self.state, &extras, &mut self.users, visible);
        // Scrolled past the end: the last row is shown, and Up moves at once.
        self.state.scroll = self.state.scroll.min(grid.total.saturating_sub(1));
        draw::Screen {
            shown: &self.shown,
            place: replay::place(self.shown.time_ms(), &self.incidents),
            state: &self.state,
            colour: self.options.colour,
            live: self.options.live,
            caption,
            grid,
        }
    }
}
