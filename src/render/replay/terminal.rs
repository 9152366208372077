//! The terminal while replay runs: raw mode and the alternate screen on
//! entry, and the screen as it was on every way out (return, error, panic,
//! SIGTERM or SIGHUP from a closed ssh session), with the cursor visible.

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

/// Set by SIGTERM and SIGHUP: the loop then ends as `q` would.
static ASKED_TO_STOP: AtomicBool = AtomicBool::new(false);

pub fn asked_to_stop() -> bool {
    ASKED_TO_STOP.load(Ordering::Relaxed)
}

extern "C" fn on_stop_signal(_: nix::libc::c_int) {
    ASKED_TO_STOP.store(true, Ordering::Relaxed);
}

/// Holds the terminal in replay's mode; dropping it gives it back.
pub struct Session {
    pub screen: Screen,
}

impl Session {
    pub fn enter() -> io::Result<Session> {
        static HOOKS: Once = Once::new();
        HOOKS.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                leave();
                previous(info);
            }));
            catch_stop_signals();
        });
        enable_raw_mode()?;
        if let Err(err) = execute!(io::stdout(), EnterAlternateScreen, Hide) {
            leave();
            return Err(err);
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(screen) => Ok(Session { screen }),
            Err(err) => {
                leave();
                Err(err)
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        leave();
    }
}

/// Gives the screen back; safe to call more than once.
fn leave() {
    // Each step on its own: one failing must not keep the others from
    // running, and there is nobody left to tell.
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// Without SA_RESTART, so that a wait for a key returns and the loop sees
/// the flag at once.
fn catch_stop_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_stop_signal), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        if let Err(err) = unsafe { sigaction(signal, &action) } {
            eprintln!("flightrec: warning: replay cannot catch {signal}: {err}");
        }
    }
}
