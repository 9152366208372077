//! What the store gives back besides samples: the sample with where it came
//! from, the recorder's runs, and events (what happened once rather than
//! what was sampled).

use super::sample::{KernelMessage, Sample};
use serde::Serialize;

/// A sample as stored, with where it came from.
#[derive(Debug, Clone)]
pub struct StoredSample {
    pub id: i64,
    pub run_id: i64,
    pub sample: Sample,
    /// Tables stored for this sample that could not be read (damage), by
    /// their column name: absent from `sample`, as if their sources had
    /// failed.
    pub missing: Vec<&'static str>,
}

/// One recorder run, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub boot_id: String,
    pub boot_time_ms: i64,
    pub hostname: String,
    pub kernel: String,
    pub version: String,
    pub pid: u32,
    pub interval_ms: i64,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
    pub stop_reason: Option<String>,
    /// Its recorder is running now: the newest run, while the writer lock
    /// is held (filled in when runs are read).
    pub recording: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub time_ms: i64,
    /// `kernel`, `pstore`, `samples-dropped`, `disk-full`, `disk-recovered`,
    /// `events-dropped`, `clock-jump`, `watch-timeout`, `watch-answered`,
    /// `sockets-fallback`, `sockets-netlink`.
    pub kind: String,
    /// syslog priority of kernel messages (0 emergency ... 7 debug).
    pub priority: Option<u8>,
    /// How many more times the same message came at once.
    pub repeats: u32,
    pub detail: String,
}

impl Event {
    pub fn kernel(message: &KernelMessage) -> Event {
        Event {
            time_ms: message.time_ms,
            kind: "kernel".into(),
            priority: Some(message.priority),
            repeats: message.repeats,
            detail: message.text.clone(),
        }
    }

    /// A note from the recorder itself.
    pub fn note(time_ms: i64, kind: &str, detail: String) -> Event {
        Event { time_ms, kind: kind.into(), priority: None, repeats: 0, detail }
    }
}
