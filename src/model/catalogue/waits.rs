//! Columns of the wait-for picture (`export --what waits`): one row per
//! endpoint per sample, with who should answer and who waits.

use super::{Field, Unit, Value, gauge, label, time, time_ms};
use crate::model::waits::{Endpoint, Identity};
use Unit::{Bytes, Count, Milliseconds};

#[rustfmt::skip]
pub const WAITS: &[Field<(i64, Endpoint)>] = &[
    time(),
    time_ms(),
    label("transport", "tcp or unix", |r| Value::Text(r.1.transport.name().into())),
    label("endpoint", "the address listened on or connected to: 127.0.0.1:8891, /run/clamav/clamd.ctl", |r| Value::Text(r.1.address.clone())),
    label("listening", "1 for an endpoint listening here, 0 for a remote one", |r| Value::Int(r.1.listening.into())),
    label("server_pid", "the process holding the listening socket: who should answer", |r| pid(r.1.server.as_ref())),
    label("server_comm", "that process's command name", |r| Value::Text(r.1.server.as_ref().map_or(String::new(), |s| s.comm.clone()))),
    gauge("connections", Count, "connections to the endpoint seen here, every state", |r| Value::Int(r.1.connections().into())),
    label("states", "connections by state: ESTABLISHED=100 SYN_SENT=2", |r| Value::Text(states(&r.1))),
    gauge("accept_queue", Count, "connections waiting to be accepted", |r| Value::Int(r.1.accept_queue.into())),
    gauge("backlog", Count, "the accept queue's limit", |r| Value::Int(r.1.backlog.into())),
    gauge("waiting", Count, "connections whose request has gone unanswered for a second or more", |r| Value::Int(r.1.waiting.into())),
    gauge("no_reply_ms", Milliseconds, "the longest of those waits so far", |r| Value::Int(r.1.no_reply_ms as i64)),
    gauge("server_rqueue", Bytes, "bytes received by the server side and not read", |r| Value::Int(r.1.server_rqueue as i64)),
    gauge("server_wqueue", Bytes, "bytes the server side sent that the clients have not taken", |r| Value::Int(r.1.server_wqueue as i64)),
    gauge("client_rqueue", Bytes, "bytes received by the clients here and not read", |r| Value::Int(r.1.client_rqueue as i64)),
    gauge("client_wqueue", Bytes, "bytes the clients here sent that the server has not taken", |r| Value::Int(r.1.client_wqueue as i64)),
    gauge("syn_sent", Count, "connections from here still trying to connect (SYN_SENT)", |r| Value::Int(r.1.syn_sent.into())),
    gauge("syn_retransmits", Count, "the most retransmissions of one of their SYNs", |r| Value::Int(r.1.syn_retransmits.into())),
    gauge("trying_ms", Milliseconds, "the longest time one of them has been trying, at least", |r| Value::Int(r.1.trying_ms as i64)),
    label("clients", "who waits, by command name: smtpd×100[pids 7 9 …]", |r| Value::Text(clients(&r.1))),
];

fn pid(identity: Option<&Identity>) -> Value {
    identity.map_or(Value::Null, |s| Value::Int(s.pid.into()))
}

fn states(e: &Endpoint) -> String {
    e.states.iter().map(|s| format!("{}={}", s.state, s.count)).collect::<Vec<_>>().join(" ")
}

fn clients(e: &Endpoint) -> String {
    let pids = |pids: &[u32]| pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    e.clients
        .iter()
        .map(|c| format!("{}×{}[pids {}]", c.comm, c.connections, pids(&c.pids)))
        .collect::<Vec<_>>()
        .join(" ")
}
