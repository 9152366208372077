//! Integration tests: the real `flightrec` binary on the real /proc, each
//! test with its own SQLite file in a fresh temporary directory, so they run
//! in parallel. One test crate: this file; the tests are in `cases/`, one
//! module per concern, and what they share is in `common/`.

mod cases;
mod common;
