//! One module per concern of `flightrec record`, `show`, `export`, `gaps`
//! and `report`.

mod accuracy;
mod bad_input;
mod durability;
mod evidence;
mod export;
mod garbage;
mod listen_queue;
mod processes;
mod record;
mod report;
mod show;
mod sockets;
