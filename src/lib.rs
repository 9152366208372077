//! flightrec: a flight recorder for Linux servers. See DESIGN in README.md
//! for the one-way flow: `collect` → `store` → `analyze` → `render`.

pub mod collect;
pub mod error;
pub mod sample;
pub mod time;
pub mod warn;
pub mod store;
