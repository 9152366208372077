//! Rate-limited warnings on stderr: a source that fails every tick says so
//! once a minute per source, with how many times it failed in between.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const QUIET_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Warnings {
    last: HashMap<&'static str, (Instant, u64)>,
}

impl Warnings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Passes a success through; warns about a failure and gives `None`.
    pub fn check<T>(&mut self, source: &'static str, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.warn(source, &format!("{err:#}"));
                None
            }
        }
    }

    pub fn warn(&mut self, source: &'static str, message: &str) {
        let now = Instant::now();
        match self.last.get_mut(source) {
            Some((when, suppressed)) if now.duration_since(*when) < QUIET_FOR => *suppressed += 1,
            Some((when, suppressed)) => {
                let more = match *suppressed {
                    0 => String::new(),
                    n => format!(" ({n} more since the last warning)"),
                };
                eprintln!("flightrec: warning: {source}: {message}{more}");
                *when = now;
                *suppressed = 0;
            }
            None => {
                eprintln!("flightrec: warning: {source}: {message}");
                self.last.insert(source, (now, 0));
            }
        }
    }
}
