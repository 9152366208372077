//! flightrec: a flight recorder for Linux servers. Data flows one way:
//! `collect` (the kernel's files into a `Sample`) → `store` (SQLite) →
//! `analyze` (periods, findings, the report and gaps use cases, asking the
//! store through `store::query`) → `render` (rows and views for people and
//! tools, from what it is given). `model` is the floor all of them use and
//! that imports none of them: the sample, rates, the column catalogue.
//! `commands` joins the layers for each subcommand; `main` only dispatches.

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
pub mod textfile;
pub mod time;
pub mod warn;

/// The model's paths as the collectors and the store name them.
pub use model::{rates, sample};
