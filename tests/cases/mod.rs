//! One module per concern of `flightrec record`, `show`, `export`, `gaps`
//! and `report`.

mod bad_input;
mod durability;
mod evidence;
mod export;
mod garbage;
mod listen_queue;
mod package;
mod processes;
mod record;
mod report;
mod show;
mod sockets;
