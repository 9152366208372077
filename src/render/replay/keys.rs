//! What the keys do, as atop's users know them: the view's state (which
//! table, its order and filter, a line being typed) and the moves in time
//! a key asks for. Pure: the loop in `mod.rs` carries the moves out.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The table under the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Processes,
    Filesystems,
    Disks,
    Sockets,
    Probes,
    Dirs,
    Logs,
    Kernel,
    Findings,
}

/// Key, view, what the view lists: the keys line and `?`.
pub const VIEWS: &[(char, View, &str)] = &[
    ('p', View::Processes, "processes"),
    ('f', View::Filesystems, "filesystems"),
    ('d', View::Disks, "disks"),
    ('s', View::Sockets, "sockets per port"),
    ('o', View::Probes, "probes"),
    ('w', View::Dirs, "watched directories"),
    ('l', View::Logs, "watched logs"),
    ('k', View::Kernel, "kernel messages of the window"),
    ('x', View::Findings, "findings of the window"),
];

/// How the process table is ordered, as atop's keys order it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Cpu,
    Memory,
    Disk,
    Fds,
    /// One row per command name, with how many run.
    Count,
}

pub const ORDERS: &[(char, Order, &str)] = &[
    ('C', Order::Cpu, "by CPU"),
    ('M', Order::Memory, "by memory (RSS)"),
    ('D', Order::Disk, "by disk reads and writes"),
    ('F', Order::Fds, "by open files"),
    ('N', Order::Count, "count per command name"),
];

/// A move in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    Forward,
    Back,
    First,
    Last,
    NextIncident,
    PreviousIncident,
    /// To a TIME as typed after `b`.
    To(String),
}

/// What the loop does after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Move(Move),
    Quit,
    /// The view changed: draw again.
    Redraw,
}

/// A line being typed at the bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// `b`: a time to go to.
    Time(String),
    /// `/`: a name or user to keep.
    Filter(String),
}

#[derive(Debug, Clone)]
pub struct State {
    pub view: View,
    pub order: Order,
    /// Processes whose command or user contains this; empty keeps all.
    pub filter: String,
    pub prompt: Option<Prompt>,
    /// Said once at the bottom, until the next key.
    pub message: Option<String>,
    pub help: bool,
    /// First row shown, for tables longer than the screen.
    pub scroll: usize,
    /// Columns skipped after the first, for tables wider than the screen.
    pub shift: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            view: View::Processes,
            order: Order::Cpu,
            filter: String::new(),
            prompt: None,
            message: None,
            help: false,
            scroll: 0,
            shift: 0,
        }
    }
}

impl State {
    pub fn key(&mut self, key: KeyEvent) -> Action {
        self.message = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(prompt) = self.prompt.take() {
            return self.typing(prompt, key.code);
        }
        if self.help {
            self.help = false;
            return Action::Redraw;
        }
        let code = key.code;
        let moved = match code {
            KeyCode::Char('t') | KeyCode::Right => Some(Move::Forward),
            KeyCode::Char('T') | KeyCode::Left => Some(Move::Back),
            KeyCode::Home => Some(Move::First),
            KeyCode::End => Some(Move::Last),
            KeyCode::Char(']') => Some(Move::NextIncident),
            KeyCode::Char('[') => Some(Move::PreviousIncident),
            _ => None,
        };
        if let Some(moved) = moved {
            return Action::Move(moved);
        }
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('b') => self.prompt = Some(Prompt::Time(String::new())),
            KeyCode::Char('/') => self.prompt = Some(Prompt::Filter(String::new())),
            KeyCode::Down => self.scroll += 1,
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Char('>') => self.shift += 1,
            KeyCode::Char('<') => self.shift = self.shift.saturating_sub(1),
            KeyCode::PageDown => self.scroll += 10,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Char(c) => {
                if let Some((_, order, _)) = ORDERS.iter().find(|(k, ..)| *k == c) {
                    self.order = *order;
                    self.view = View::Processes;
                    self.scroll = 0;
                } else if let Some((_, view, _)) = VIEWS.iter().find(|(k, ..)| *k == c) {
                    self.view = *view;
                    self.scroll = 0;
                    self.shift = 0;
                }
            }
            _ => {}
        }
        Action::Redraw
    }

    fn typing(&mut self, prompt: Prompt, code: KeyCode) -> Action {
        let (Prompt::Time(text) | Prompt::Filter(text)) = &prompt;
        let mut text = text.clone();
        match code {
            KeyCode::Esc => return Action::Redraw,
            KeyCode::Enter => {
                return match prompt {
                    Prompt::Time(_) => Action::Move(Move::To(text)),
                    Prompt::Filter(_) => {
                        self.filter = text;
                        self.view = View::Processes;
                        self.scroll = 0;
                        Action::Redraw
                    }
                };
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        self.prompt = Some(match prompt {
            Prompt::Time(_) => Prompt::Time(text),
            Prompt::Filter(_) => Prompt::Filter(text),
        });
        Action::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(state: &mut State, keys: &str) -> Action {
        let mut last = Action::Redraw;
        for c in keys.chars() {
            let code = if c == '\n' { KeyCode::Enter } else { KeyCode::Char(c) };
            last = state.key(KeyEvent::new(code, KeyModifiers::NONE));
        }
        last
    }

    #[test]
    fn b_takes_a_time_typed_up_to_enter() {
        let mut state = State::default();
        assert_eq!(press(&mut state, "b18:0"), Action::Redraw);
        assert_eq!(state.prompt, Some(Prompt::Time("18:0".into())));
        assert_eq!(press(&mut state, "5\n"), Action::Move(Move::To("18:05".into())));
        assert_eq!(state.prompt, None);
    }

    #[test]
    fn letters_typed_into_a_prompt_are_not_keys() {
        let mut state = State::default();
        assert_eq!(press(&mut state, "/qmail\n"), Action::Redraw);
        assert_eq!(state.filter, "qmail");
        assert_eq!(press(&mut state, "q"), Action::Quit);
    }

    #[test]
    fn order_keys_show_the_processes_in_that_order() {
        let mut state = State { view: View::Disks, ..State::default() };
        press(&mut state, "M");
        assert_eq!((state.view, state.order), (View::Processes, Order::Memory));
        assert_eq!(press(&mut state, "t"), Action::Move(Move::Forward));
        assert_eq!(press(&mut state, "]"), Action::Move(Move::NextIncident));
    }
}
