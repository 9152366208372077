//! Who waits on whom, from the wait-for picture of each sample: an endpoint
//! whose clients got no reply for seconds is the dependency everything else
//! waits on, named with its clients and its server, ahead of the process
//! pile-up and the full accept queue it causes (`Category::Dependency`
//! ranks before both). One finding per endpoint: where a probe of the same
//! endpoint failed too, its finding is folded into this one.
//!
//! Hung or slow: an endpoint whose clients still wait at its last sample in
//! the window hangs (or does not answer connection attempts), and so does
//! one whose clients gave up: they closed, and the server holds their
//! connections in CLOSE_WAIT with what they sent still unread (a mail
//! filter that never answers Postfix's 30 s handshake). One whose longest
//! wait ended otherwise (the replies came) answers slowly, after as long as
//! its longest wait.

use super::{Detector, at, span};
use crate::analyze::{Category, Finding, Severity, Window, values};
use crate::model::StoredSample;
use crate::model::human;
use crate::model::sample::Sample;
use crate::model::waits::{Endpoint, Transport};
use serde_json::json;
use std::collections::BTreeMap;

/// A wait shorter than this is no finding.
const WAIT_MS: u64 = 5_000;
/// With this many clients waiting, or for this long, a wait is severe.
const MANY_WAITING: u32 = 5;
const LONG_MS: u64 = 20_000;

/// The wait tables are in what the window keeps of each sample; the full
/// accept queues, named by the processes serving them, are gathered as
/// the process tables stream by.
#[derive(Default)]
pub struct Waits {
    full_queues: Vec<FullQueue>,
}

impl Detector for Waits {
    fn observe(&mut self, _: Option<&StoredSample>, cur: &StoredSample) {
        full_accept_queues(&cur.sample, &mut self.full_queues);
    }

    fn finish(mut self: Box<Self>, window: &Window) -> Vec<Finding> {
        let mut found = Vec::new();
        // The probes' findings first: one of an endpoint that is also
        // waited on becomes part of the wait's finding.
        super::probes::detect(window, &mut found);
        let mut by_endpoint: BTreeMap<(Transport, &str), Vec<(i64, &Endpoint)>> = BTreeMap::new();
        for s in window.samples {
            for e in s.sample.waits.iter().flatten() {
                by_endpoint.entry((e.transport, &e.address)).or_default().push((s.sample.time_ms, e));
            }
        }
        self.full_queues.sort_by_key(|f| f.port);
        for seen in by_endpoint.values() {
            let finding = no_reply(seen, &self.full_queues).or_else(|| no_connect(seen));
            if let Some(finding) = finding {
                merge_probe(finding, &mut found);
            }
        }
        found
    }
}

/// A listening TCP port whose accept queue was full in some sample, with
/// the names of the processes that serve it: its holder, and the children
/// of its holder (Postfix's master holds port 25, its smtpd children
/// serve it).
struct FullQueue {
    port: u16,
    served_by: Vec<String>,
}

/// What a hung dependency leads to upstream: full accept queues, from one
/// sample into `full`.
fn full_accept_queues(s: &Sample, full: &mut Vec<FullQueue>) {
    let listeners = s.waits.iter().flatten().filter(|e| e.transport == Transport::Tcp && e.listening);
    for e in listeners.filter(|e| e.backlog > 0 && e.accept_queue >= e.backlog) {
        let (Some(port), Some(server)) = (port(&e.address), e.server.as_ref()) else { continue };
        let children = s.processes.iter().flatten().filter(|p| p.ppid == server.pid);
        let names = std::iter::once(server.comm.clone()).chain(children.map(|p| p.comm.to_string()));
        let at = match full.iter().position(|f| f.port == port) {
            Some(known) => known,
            None => {
                full.push(FullQueue { port, served_by: Vec::new() });
                full.len() - 1
            }
        };
        // Each name once: the queue may stay full for a day.
        for name in names {
            if !full[at].served_by.contains(&name) {
                full[at].served_by.push(name);
            }
        }
    }
}

/// Clients that sent a request and got nothing back.
fn no_reply(seen: &[(i64, &Endpoint)], full_queues: &[FullQueue]) -> Option<Finding> {
    let waited: Vec<&(i64, &Endpoint)> = seen.iter().filter(|(_, e)| e.waiting > 0).collect();
    let &&(worst_ms, worst) = waited.iter().max_by_key(|(_, e)| (e.no_reply_ms, e.waiting))?;
    if worst.no_reply_ms < WAIT_MS {
        return None;
    }
    let since_ms = waited.iter().find(|(_, e)| e.no_reply_ms >= WAIT_MS).map_or(worst_ms, |(t, _)| *t);
    let most = waited.iter().map(|(_, e)| e.waiting).max().unwrap_or(0);
    let (_, last) = seen.last()?;
    let still = last.waiting > 0 && last.no_reply_ms >= WAIT_MS;
    let abandoned = close_wait(last);
    let gave_up = !still && abandoned > 0 && last.server_rqueue > 0;
    // Clients are named once stuck for a few seconds: the sample naming
    // the most of them says who waits.
    let named = |e: &Endpoint| e.clients.iter().map(|c| c.connections).sum::<u32>();
    let (_, naming) = waited
        .iter()
        .filter(|(_, e)| e.no_reply_ms >= WAIT_MS)
        .max_by_key(|(_, e)| (named(e), e.no_reply_ms))
        .copied()
        .copied()
        .unwrap_or((worst_ms, worst));
    let who = clients(naming, most);
    let service = service(worst);
    let server = worst.server.as_ref().map_or(String::new(), |s| format!(" ({}, pid {})", s.comm, s.pid));
    let unread = match worst.server_rqueue {
        0 => String::new(),
        bytes => format!("; its receive queue holds {} unread", human::bytes(bytes as f64)),
    };
    let not_accepting = worst.backlog > 0 && worst.accept_queue >= worst.backlog;
    let (kind, verdict, summary) = if gave_up {
        let summary = format!(
            "{who} connections to {}{server} got no reply for up to {} and gave up: {abandoned} left in CLOSE_WAIT, \
             {} sent never read: the service on {service} hangs",
            worst.address,
            span(worst.no_reply_ms as i64),
            human::bytes(last.server_rqueue as f64)
        );
        ("dependency_waits", "hangs".to_string(), summary)
    } else if !still {
        let verdict = format!("answers slowly (replies after up to {})", span(worst.no_reply_ms as i64));
        let summary = format!(
            "{who} connections to {}{server} waited up to {} for replies that came: the service on {service} answers slowly",
            worst.address,
            span(worst.no_reply_ms as i64)
        );
        ("dependency_slow", verdict, summary)
    } else {
        let verdict = if not_accepting { "does not accept" } else { "hangs" };
        let queue = if not_accepting {
            format!("; its accept queue is full ({}/{})", worst.accept_queue, worst.backlog)
        } else {
            String::new()
        };
        let summary = format!(
            "{who} connections to {}{server} got no reply for up to {}{unread}{queue}: the service on {service} {verdict}",
            worst.address,
            span(worst.no_reply_ms as i64)
        );
        ("dependency_waits", verdict.to_string(), summary)
    };
    let own_port = port(&worst.address).filter(|_| worst.listening && worst.transport == Transport::Tcp);
    // A full queue upstream belongs to the chain when the waiting clients
    // are the ones serving it.
    let serves = |f: &FullQueue| naming.clients.iter().any(|c| f.served_by.contains(&c.comm));
    let upstream: Vec<String> = full_queues
        .iter()
        .filter(|f| Some(f.port) != own_port && serves(f))
        .map(|f| format!("port {} accept queue full", f.port))
        .collect();
    let chain = chain(naming, most, &format!("{service}{}", server_name(worst)), &verdict, &upstream);
    let severe = (still || gave_up) && (most >= MANY_WAITING || worst.no_reply_ms >= LONG_MS);
    Some(Finding {
        kind,
        category: Category::Dependency,
        severity: if severe { Severity::High } else { Severity::Medium },
        subject: worst.address.clone(),
        summary: format!("{summary} ({chain})"),
        first_seen_ms: Some(since_ms),
        values: values([
            ("endpoint", json!(worst.address)),
            ("transport", json!(worst.transport.name())),
            ("server", json!(worst.server)),
            ("clients", json!(naming.clients)),
            ("waiting", json!(most)),
            ("no_reply_ms", json!(worst.no_reply_ms)),
            ("server_rqueue", json!(worst.server_rqueue)),
            ("accept_queue", json!(worst.accept_queue)),
            ("backlog", json!(worst.backlog)),
            ("chain", json!(chain)),
            ("at_ms", json!(worst_ms)),
        ]),
    })
}

/// The endpoint's connections in CLOSE_WAIT: closed by the client, not yet
/// by the server.
fn close_wait(e: &Endpoint) -> u32 {
    e.states.iter().filter(|s| s.state == "CLOSE_WAIT").map(|s| s.count).sum()
}

/// Connections from here stuck in SYN_SENT: the endpoint does not answer.
fn no_connect(seen: &[(i64, &Endpoint)]) -> Option<Finding> {
    let &(worst_ms, worst) = seen.iter().filter(|(_, e)| e.syn_sent > 0).max_by_key(|(_, e)| e.trying_ms)?;
    if worst.trying_ms < WAIT_MS {
        return None;
    }
    let since_ms =
        seen.iter().find(|(_, e)| e.syn_sent > 0 && e.trying_ms >= WAIT_MS).map_or(worst_ms, |(t, _)| *t);
    let most = seen.iter().map(|(_, e)| e.syn_sent).max().unwrap_or(0);
    let who = clients(worst, most);
    let chain = chain(worst, most, &worst.address, "does not answer", &[]);
    Some(Finding {
        kind: "dependency_unreachable",
        category: Category::Dependency,
        severity: if most >= MANY_WAITING || worst.trying_ms >= LONG_MS {
            Severity::High
        } else {
            Severity::Medium
        },
        subject: worst.address.clone(),
        summary: format!(
            "{who} connections to {} have been trying to connect for {} ({} SYN retransmissions, since {}): it does not answer ({chain})",
            worst.address,
            span(worst.trying_ms as i64),
            worst.syn_retransmits,
            at(since_ms),
        ),
        first_seen_ms: Some(since_ms),
        values: values([
            ("endpoint", json!(worst.address)),
            ("transport", json!(worst.transport.name())),
            ("clients", json!(worst.clients)),
            ("syn_sent", json!(most)),
            ("trying_ms", json!(worst.trying_ms)),
            ("syn_retransmits", json!(worst.syn_retransmits)),
            ("chain", json!(chain)),
            ("at_ms", json!(worst_ms)),
        ]),
    })
}

/// `100 smtpd`, `100 smtpd and 3 cleanup`, or the count alone where the
/// clients were not named.
fn clients(e: &Endpoint, count: u32) -> String {
    let named: Vec<String> =
        e.clients.iter().take(3).map(|c| format!("{} {}", c.connections, c.comm)).collect();
    if named.is_empty() { count.to_string() } else { named.join(" and ") }
}

/// `smtpd ×100 → 8891 (blackhole-milt) hangs → port 25 accept queue full`.
fn chain(e: &Endpoint, count: u32, target: &str, verdict: &str, upstream: &[String]) -> String {
    let waiting = match e.clients.first() {
        Some(c) => format!("{} ×{}", c.comm, c.connections),
        None => format!("{count} connections"),
    };
    let mut links = vec![waiting, format!("{target} {verdict}")];
    links.extend(upstream.iter().cloned());
    links.join(" → ")
}

fn server_name(e: &Endpoint) -> String {
    e.server.as_ref().map_or(String::new(), |s| format!(" ({})", s.comm))
}

/// How people name the service: its port for one listening here, its
/// address otherwise.
fn service(e: &Endpoint) -> String {
    match port(&e.address) {
        Some(port) if e.listening && e.transport == Transport::Tcp => port.to_string(),
        _ => e.address.clone(),
    }
}

fn port(address: &str) -> Option<u16> {
    address.rsplit_once(':')?.1.parse().ok()
}

/// Adds `finding`, folding in the finding of a probe of the same endpoint
/// (`milter:127.0.0.1:8891`, `clamd:/run/clamav/clamd.ctl`) if there is one.
fn merge_probe(mut finding: Finding, found: &mut Vec<Finding>) {
    let endpoint = finding.values["endpoint"].as_str().unwrap_or_default().to_string();
    let probed = found.iter().position(|f| {
        matches!(f.kind, "dependency_hung" | "probe_failed") && probes_endpoint(&f.subject, &endpoint)
    });
    if let Some(probe) = probed.map(|i| found.remove(i)) {
        finding.summary = format!("{}; the probe: {}", finding.summary, probe.summary);
        finding.severity = finding.severity.max(probe.severity);
        finding.first_seen_ms = finding.first_seen_ms.min(probe.first_seen_ms).or(probe.first_seen_ms);
        finding.values.insert("probe".into(), json!({"target": probe.subject, "values": probe.values}));
    }
    found.push(finding);
}

/// Whether probe `target` is of `address`: the same address, or for a
/// port here the same port on a loopback name.
fn probes_endpoint(target: &str, address: &str) -> bool {
    let Some((_, probed)) = target.split_once(':') else { return false };
    if probed == address {
        return true;
    }
    let local =
        |host: &str| matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1" | "0.0.0.0" | "[::]" | "*");
    match (probed.rsplit_once(':'), address.rsplit_once(':')) {
        (Some((probed_host, probed_port)), Some((host, port))) => {
            probed_port == port && local(probed_host) && local(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{found_in, process, samples, t, the};
    use crate::analyze::Severity;
    use crate::model::sample::{ProbeOutcome, ProbeResult, Process};
    use crate::model::waits::{Client, Endpoint, Identity, StateCount, Transport};

    fn milter(waiting: u32, no_reply_ms: u64) -> Endpoint {
        Endpoint {
            transport: Transport::Tcp,
            address: "127.0.0.1:8891".into(),
            listening: true,
            server: Some(Identity { pid: 4121, comm: "blackhole-milt".into() }),
            backlog: 128,
            states: vec![StateCount { state: "ESTABLISHED".into(), count: waiting }],
            server_rqueue: u64::from(waiting) * 215,
            waiting,
            no_reply_ms,
            clients: vec![Client {
                comm: "smtpd".into(),
                connections: waiting,
                processes: waiting,
                pids: vec![7],
            }],
            ..Endpoint::default()
        }
    }

    fn smtp(queued: u32) -> Endpoint {
        Endpoint {
            address: "0.0.0.0:25".into(),
            listening: true,
            server: Some(Identity { pid: 1000, comm: "master".into() }),
            accept_queue: queued,
            backlog: 100,
            ..Endpoint::default()
        }
    }

    #[test]
    fn a_hung_service_is_named_with_its_clients_and_the_queue_it_fills() {
        let window = samples(7, |i, s| {
            let n = 10 + 15 * i as u32;
            s.waits = Some(vec![milter(n, i as u64 * 5_000), smtp(if i >= 5 { 100 } else { 3 })]);
            let smtpd = Process { ppid: 1000, ..process(7, "smtpd") };
            s.processes = Some(vec![process(1000, "master"), smtpd]);
        });
        let found = found_in(&window, &[]);
        let f = the(&found, "dependency_waits");
        assert_eq!(found[0], f, "ranked first");
        assert_eq!(f.severity, Severity::High);
        assert!(
            f.summary.starts_with(
                "100 smtpd connections to 127.0.0.1:8891 (blackhole-milt, pid 4121) got no reply for up to 30s; \
                 its receive queue holds 21.0 KiB unread: the service on 8891 hangs"
            ),
            "{}",
            f.summary
        );
        assert_eq!(f.values["chain"], "smtpd ×100 → 8891 (blackhole-milt) hangs → port 25 accept queue full");
        assert_eq!(f.values["waiting"], 100);
        assert_eq!(f.first_seen_ms, Some(t(1)));
    }

    #[test]
    fn a_full_queue_others_serve_is_not_in_the_chain() {
        let window = samples(7, |i, s| s.waits = Some(vec![milter(50, i as u64 * 5_000), smtp(100)]));
        let f = the(&found_in(&window, &[]), "dependency_waits");
        assert_eq!(f.values["chain"], "smtpd ×50 → 8891 (blackhole-milt) hangs");
    }

    #[test]
    fn a_service_that_answers_late_is_slow_with_its_latency() {
        let window = samples(6, |i, s| {
            s.waits = Some(vec![milter(if i == 5 { 0 } else { 4 }, [0, 2_000, 4_000, 6_000, 8_000, 0][i])]);
        });
        let found = found_in(&window, &[]);
        let f = the(&found, "dependency_slow");
        assert_eq!(f.severity, Severity::Medium);
        assert!(f.summary.contains("waited up to 8s for replies that came"), "{}", f.summary);
        assert!(f.summary.contains("answers slowly"), "{}", f.summary);
    }

    /// Postfix gives up on a mail filter after 30 s and closes; the filter,
    /// hung, never reads what was sent nor closes its side.
    #[test]
    fn clients_that_gave_up_on_a_service_that_never_read_leave_it_hung() {
        let window = samples(8, |i, s| {
            let mut e = milter(100, i as u64 * 5_000);
            if i == 7 {
                e = Endpoint { waiting: 0, no_reply_ms: 0, clients: Vec::new(), ..e };
                e.states = vec![StateCount { state: "CLOSE_WAIT".into(), count: 100 }];
            }
            s.waits = Some(vec![e]);
        });
        let found = found_in(&window, &[]);
        let f = the(&found, "dependency_waits");
        assert_eq!(found[0], f, "ranked first");
        assert_eq!(f.severity, Severity::High);
        assert!(
            f.summary.starts_with(
                "100 smtpd connections to 127.0.0.1:8891 (blackhole-milt, pid 4121) got no reply for up to 30s \
                 and gave up: 100 left in CLOSE_WAIT, 21.0 KiB sent never read: the service on 8891 hangs"
            ),
            "{}",
            f.summary
        );
        assert!(found.iter().all(|f| f.kind != "dependency_slow"), "{found:#?}");
    }

    #[test]
    fn short_waits_are_no_finding() {
        let window = samples(6, |_, s| s.waits = Some(vec![milter(50, 4_900), smtp(3)]));
        let found = found_in(&window, &[]);
        assert!(found.iter().all(|f| f.category != crate::analyze::Category::Dependency), "{found:#?}");
    }

    #[test]
    fn a_remote_endpoint_that_never_answers_syns() {
        let relay = |i: usize| Endpoint {
            address: "192.0.2.10:25".into(),
            syn_sent: 30,
            syn_retransmits: 5,
            trying_ms: 15_000 * i as u64,
            states: vec![StateCount { state: "SYN_SENT".into(), count: 30 }],
            clients: vec![Client { comm: "smtp".into(), connections: 30, processes: 30, pids: vec![9] }],
            ..Endpoint::default()
        };
        let found = found_in(&samples(6, |i, s| s.waits = Some(vec![relay(i)])), &[]);
        let f = the(&found, "dependency_unreachable");
        assert_eq!(f.severity, Severity::High);
        assert!(
            f.summary
                .starts_with("30 smtp connections to 192.0.2.10:25 have been trying to connect for 1m15s"),
            "{}",
            f.summary
        );
        assert_eq!(f.values["chain"], "smtp ×30 → 192.0.2.10:25 does not answer");

        let young = found_in(&samples(2, |_, s| s.waits = Some(vec![relay(0)])), &[]);
        assert!(young.iter().all(|f| f.kind != "dependency_unreachable"), "{young:#?}");
    }

    #[test]
    fn a_probe_of_the_same_endpoint_is_one_finding() {
        let window = samples(7, |i, s| {
            s.waits = Some(vec![milter(20, i as u64 * 5_000)]);
            s.probes = Some(vec![ProbeResult {
                target: "milter:127.0.0.1:8891".into(),
                outcome: if i >= 2 { ProbeOutcome::Timeout } else { ProbeOutcome::Ok },
                latency_us: 1_000_000,
                connect_us: Some(100),
                detail: String::new(),
            }]);
        });
        let found = found_in(&window, &[]);
        let f = the(&found, "dependency_waits");
        assert!(found.iter().all(|f| f.kind != "dependency_hung"), "{found:#?}");
        assert!(f.summary.contains("the probe: milter:127.0.0.1:8891 accepted connections"), "{}", f.summary);
        assert_eq!(f.values["probe"]["target"], "milter:127.0.0.1:8891");
    }
}
