//! One module per concern of `flightrec record`, `show`, `replay`, `export`,
//! `gaps` and `report`.

mod accuracy;
mod bad_input;
mod cgroups;
mod damaged;
mod durability;
mod evidence;
mod export;
mod garbage;
mod html;
mod hung_sources;
mod incident;
mod limits;
mod listen_queue;
mod old_files;
mod one_writer;
mod openmetrics;
mod package;
mod processes;
mod record;
mod replay;
mod report;
mod reserve;
mod show;
mod sockets;
mod stalled_commits;
mod textfile;
mod waits;
mod watched_log_kinds;
