//! Renderers: samples and findings into text, CSV, JSON lines, HTML. They know
//! formats, not /proc.

pub mod check;
pub mod export;
pub mod html;
pub mod openmetrics;
pub mod replay;
pub mod report;
pub mod rows;
pub mod show;
pub mod text;
