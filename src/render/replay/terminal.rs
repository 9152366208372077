//! The terminal while replay runs: raw mode and the alternate screen on
//! entry, and the screen as it was on every way out (return, error, panic,
//! SIGTERM or SIGHUP from a closed ssh session), with the cursor visible.
//! A terminal that vanishes without a signal (its tmux server killed, an
//! ssh session dropped while replay runs in a session of its own) ends
//! replay too.
//!
//! The signals and the hangup are each watched by a thread of their own:
//! the wait for a key retries after a signal, and on a terminal that is
//! gone it reads end of file again and again without returning, so the
//! loop could never be the one to notice.

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{self, Stdout};
use std::sync::Once;

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

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
            stop_on_signals();
            stop_on_hangup();
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

/// SIGTERM and SIGHUP give the screen back and end the process, with the
/// exit code a shell gives a death by signal.
fn stop_on_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGHUP);
    // Blocked here, before the thread starts, so that only its wait takes them.
    if let Err(err) = signals.thread_block() {
        eprintln!("flightrec: warning: replay cannot wait for SIGTERM and SIGHUP: {err}");
        return;
    }
    std::thread::spawn(move || {
        if let Ok(signal) = signals.wait() {
            leave();
            std::process::exit(128 + signal as i32);
        }
    });
}

/// When the terminal hangs up (or its file breaks), gives back what can
/// still be given and ends the process as SIGHUP would have: no key can
/// come any more, and the wait for one would spin at full CPU.
fn stop_on_hangup() {
    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    std::thread::spawn(|| {
        let (stdin, stdout) = (io::stdin(), io::stdout());
        // No events asked for: poll returns only for a hangup, an error or
        // a closed descriptor, which it always reports.
        let mut terminal =
            [PollFd::new(stdin.as_fd(), PollFlags::empty()), PollFd::new(stdout.as_fd(), PollFlags::empty())];
        loop {
            match poll(&mut terminal, PollTimeout::NONE) {
                Ok(_) => break,
                // SIGWINCH, which the key reader takes in every thread.
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    eprintln!("flightrec: warning: replay cannot watch the terminal for a hangup: {err}");
                    return;
                }
            }
        }
        leave();
        std::process::exit(128 + nix::sys::signal::Signal::SIGHUP as i32);
    });
}
