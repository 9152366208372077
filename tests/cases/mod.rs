//! One module per concern of `flightrec record`, `show`, `export`, `gaps`
//! and `report`.

mod bad_input;
mod damaged;
mod durability;
mod evidence;
mod export;
mod garbage;
mod listen_queue;
mod old_files;
mod one_writer;
mod processes;
mod record;
mod report;
mod reserve;
mod show;
mod sockets;
