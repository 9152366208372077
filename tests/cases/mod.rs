//! One module per concern of `flightrec record`, `show` and `export`.

mod processes;
mod record;
mod sockets;
