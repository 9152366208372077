//! The floor every layer stands on: a `Sample` and its parts, runs and
//! events as stored, and what is derived from them (rates, percentages,
//! "is an open connection"). Collectors fill it, the store keeps it, the
//! analysis and the renderers read it; it imports none of them.

pub mod columns;
pub mod rates;
pub mod sample;
