//! flightrec: a flight recorder for Linux servers. Data flows one way:
//! `collect` (the kernel's files into a `Sample`) → `store` (SQLite) →
//! `rates` and `render` (rows and views for people and tools).

pub mod analyze;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod error;
pub mod generate;
pub mod harden;
pub mod model;
pub mod record;
pub mod render;
#[cfg(test)]
mod scratch;
pub mod store;
pub mod time;
pub mod warn;

/// The model's paths as the collectors and the store name them.
pub use model::{rates, sample};
