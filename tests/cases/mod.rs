//! One module per concern of `flightrec record`, `show` and `export`.

mod bad_input;
mod durability;
mod export;
mod garbage;
mod processes;
mod record;
mod show;
mod sockets;
