//! Renderers: samples and findings into text, CSV, JSON lines. They know
//! formats, not /proc.

pub mod check;
pub mod export;
pub mod replay;
pub mod report;
pub mod rows;
pub mod show;
pub mod text;
