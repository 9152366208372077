//! One module per concern of `flightrec record`, `show`, `replay`, `export`,
//! `gaps` and `report`.

mod accuracy;
mod bad_input;
mod damaged;
mod durability;
mod evidence;
mod export;
mod garbage;
mod hung_sources;
mod listen_queue;
mod old_files;
mod one_writer;
mod package;
mod processes;
mod record;
mod replay;
mod report;
mod show;
mod sockets;
mod stalled_commits;
mod watched_log_kinds;
