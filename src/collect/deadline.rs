//! A source that can hang, read on a thread of its own and waited for until
//! a deadline: a watched directory or log on a network or FUSE filesystem
//! whose server stopped answering blocks every call into it, and a call
//! stuck in the kernel cannot be interrupted, only left behind.
//!
//! Each tick asks the source to read (`ask`) and later takes its answer
//! (`answer`), waiting no later than the deadline. A source that misses it
//! is timed out for that sample and is neither asked again nor waited for
//! until its read returns; the answer it then gives is the next sample's,
//! so a source that is merely slow still gives every other sample.

use anyhow::{Context, Result};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::Instant;

pub struct Offloaded<T> {
    requests: SyncSender<()>,
    answers: Receiver<Result<T>>,
    state: State<T>,
}

enum State<T> {
    /// Not asked this tick.
    Idle,
    /// Asked this tick; its answer is due by the deadline.
    Asked,
    /// A read from an earlier tick has not returned.
    Stuck,
    /// A read from an earlier tick returned since: this tick's answer.
    Late(Result<T>),
}

impl<T: Send + 'static> Offloaded<T> {
    /// Moves `read` to a thread named `name`. The thread ends when this
    /// value is dropped and its read in progress (if any) returns.
    pub fn spawn(name: &str, mut read: impl FnMut() -> Result<T> + Send + 'static) -> Result<Self> {
        let (requests, inbox) = sync_channel::<()>(1);
        let (outbox, answers) = sync_channel::<Result<T>>(1);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for () in inbox {
                    if outbox.send(read()).is_err() {
                        return;
                    }
                }
            })
            .with_context(|| format!("starting the {name} thread"))?;
        Ok(Offloaded { requests, answers, state: State::Idle })
    }

    /// Starts this tick's read, unless an earlier one has not returned yet.
    pub fn ask(&mut self) {
        self.state = match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle if self.requests.try_send(()).is_ok() => State::Asked,
            // The thread is gone (it panicked): nothing will ever answer.
            State::Idle => State::Stuck,
            State::Stuck => match self.answers.try_recv() {
                Ok(answer) => State::Late(answer),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => State::Stuck,
            },
            state @ (State::Asked | State::Late(_)) => state,
        };
    }

    /// This tick's answer, waiting until `deadline` at most; `None` when the
    /// source did not answer in time (or was not asked).
    pub fn answer(&mut self, deadline: Instant) -> Option<Result<T>> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Asked => {
                match self.answers.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(answer) => Some(answer),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                        self.state = State::Stuck;
                        None
                    }
                }
            }
            State::Late(answer) => Some(answer),
            State::Stuck => {
                self.state = State::Stuck;
                None
            }
            State::Idle => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(50)
    }

    #[test]
    fn a_quick_source_answers_every_tick() {
        let mut count = 0;
        let mut source = Offloaded::spawn("test-quick", move || {
            count += 1;
            Ok(count)
        })
        .unwrap();
        for expected in 1..=3 {
            source.ask();
            assert_eq!(source.answer(Instant::now() + Duration::from_secs(10)).unwrap().unwrap(), expected);
        }
    }

    #[test]
    fn a_hung_source_is_timed_out_then_left_alone_until_it_returns() {
        // The first read blocks until the test lets it go.
        let release = Arc::new(Barrier::new(2));
        let held = release.clone();
        let mut reads = 0;
        let mut source = Offloaded::spawn("test-hung", move || {
            reads += 1;
            if reads == 1 {
                held.wait();
            }
            Ok(reads)
        })
        .unwrap();
        source.ask();
        assert!(source.answer(soon()).is_none(), "timed out");
        // Not asked again, and not waited for: the answer is immediate.
        source.ask();
        let started = Instant::now();
        assert!(source.answer(Instant::now() + Duration::from_secs(10)).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));

        release.wait();
        // The late answer becomes the next sample's, then reads resume.
        let give_up = Instant::now() + Duration::from_secs(30);
        let late = loop {
            source.ask();
            if let Some(answer) = source.answer(soon()) {
                break answer;
            }
            assert!(Instant::now() < give_up, "the released read never answered");
        };
        assert_eq!(late.unwrap(), 1);
        source.ask();
        assert_eq!(source.answer(Instant::now() + Duration::from_secs(10)).unwrap().unwrap(), 2);
    }
}
