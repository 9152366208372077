//! Dependency probes: a mail filter, a virus scanner, an SMTP or HTTP
//! server asked a question in its own protocol, because a dependency that
//! accepts connections but never answers looks healthy to a plain connect.
//! Input: `--probe` specs as written; this first part only parses them.

mod spec;

pub use spec::{DEFAULT_TIMEOUT, Endpoint, Host, ProbeSpec, Protocol, parse};
