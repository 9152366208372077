//! The floor every layer stands on: a `Sample` and its parts, runs and
//! events as stored, what a process is called (`identity`), what is derived from them (rates, percentages, "is an
//! open connection"), the column catalogue every output format draws on,
//! and how numbers and times are written for people. Collectors fill it,
//! the store keeps it, the analysis and the renderers read it; it imports
//! none of them.

pub mod catalogue;
mod facts;
pub mod human;
pub mod identity;
pub mod rates;
pub mod sample;
mod stored;
pub mod waits;

pub use facts::unit_name;
pub use stored::{Event, Run, StoredSample};
