//! `flightrec show`: the freeze-check view of one sample, for people: load,
//! CPU, memory, pressure, the top processes by CPU and by memory, processes
//! in D state, the services (cgroups) using the most with their limits, the
//! fullest filesystems, the busiest ports and the endpoints whose clients
//! are stuck.

use super::rows::human;
use super::text::{
    Cell, UserNames, ViewColumn, column, one_line, process_table, table_with, view_table, wrap_lines,
};
use crate::model::StoredSample;
use crate::model::catalogue::{self, CgroupRow, ProcessRow, SYSTEM, SystemRow, Unit, Value, outcome_name};
use crate::model::human::{bytes, format_duration_ms, format_ms_local};
use crate::model::rates::{self, CgroupRates, ProcessRates};
use crate::model::sample::{CgroupStats, Direction, Process, Sample};
use crate::model::waits::Endpoint;
use std::collections::HashMap;
use std::io::{self, Write};

/// Writes the view of `cur`, with rates against `prev` (the sample before
/// it in the same run); `asked_ms` is the time the user asked for,
/// `boot_time_ms` the boot of the sample's run (processes' start times).
pub fn show(
    prev: Option<&StoredSample>,
    cur: &StoredSample,
    asked_ms: Option<i64>,
    boot_time_ms: Option<i64>,
    top: usize,
    width: u16,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut text = Vec::new();
    show_text(prev, cur, asked_ms, boot_time_ms, top, width, &mut text)?;
    out.write_all(wrap_lines(&String::from_utf8_lossy(&text), width.into()).as_bytes())
}

fn show_text(
    prev: Option<&StoredSample>,
    cur: &StoredSample,
    asked_ms: Option<i64>,
    boot_time_ms: Option<i64>,
    top: usize,
    width: u16,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = &cur.sample;
    let prev = prev.filter(|p| p.run_id == cur.run_id).map(|p| &p.sample);
    let offset = match asked_ms {
        Some(asked) if asked != s.time_ms => {
            let side = if s.time_ms < asked { "before" } else { "after" };
            format!(" ({} {side} {})", format_duration_ms((asked - s.time_ms).abs()), format_ms_local(asked))
        }
        _ => String::new(),
    };
    writeln!(out, "Sample at {}{offset}, run {}", format_ms_local(s.time_ms), cur.run_id)?;
    if s.lateness_ms > 0 {
        writeln!(
            out,
            "tick fired {} late; collected in {} µs",
            format_duration_ms(s.lateness_ms),
            s.collect_us
        )?;
    }
    write_system(prev, cur, out)?;

    let ticks = rates::ticks_per_second();
    let table = rates::process_table(prev, s, ticks);
    let units = catalogue::process_units(s);
    let rows = |list: &[(&Process, Option<ProcessRates>)]| -> Vec<ProcessRow> {
        list.iter()
            .map(|(p, r)| ProcessRow::new(s.time_ms, p, *r, boot_time_ms, ticks).with_unit(&units))
            .collect()
    };
    let mut users = UserNames::default();
    if !table.is_empty() {
        let mut by_cpu = table.clone();
        rates::rank_by_cpu(&mut by_cpu);
        writeln!(out, "\nTop {top} by CPU")?;
        writeln!(out, "{}", process_table(&rows(&by_cpu[..top.min(by_cpu.len())]), &mut users, width))?;
        let mut by_memory = table.clone();
        rates::rank_by_memory(&mut by_memory);
        writeln!(out, "\nTop {top} by memory (RSS)")?;
        writeln!(out, "{}", process_table(&rows(&by_memory[..top.min(by_memory.len())]), &mut users, width))?;
        let blocked: Vec<_> = table.iter().filter(|(p, _)| p.state == 'D').cloned().collect();
        if !blocked.is_empty() {
            writeln!(out, "\nIn D state (uninterruptible): {}", blocked.len())?;
            writeln!(
                out,
                "{}",
                process_table(&rows(&blocked[..top.max(10).min(blocked.len())]), &mut users, width)
            )?;
        }
    }
    write_services(prev, s, top, width, out)?;
    if let Some(list) = s.probes.as_ref().filter(|l| !l.is_empty()) {
        let mut t = table_with(&["PROBE", "OUTCOME", "LATENCY", "DETAIL"], width);
        for p in list {
            let latency = format_duration_ms((p.latency_us / 1000) as i64);
            t.add_row(vec![p.target.clone(), outcome_name(p), latency, p.detail.clone()]);
        }
        one_line(&mut t);
        writeln!(out, "\nProbes\n{t}")?;
    }
    if let Some(list) = &s.filesystems {
        let mut fullest: Vec<_> = list.iter().collect();
        fullest.sort_by(|a, b| b.used_pct().total_cmp(&a.used_pct()));
        let mut t = table_with(&["MOUNT", "TYPE", "USED", "SIZE", "USE%", "INODES%"], width);
        for fs in fullest.iter().take(top) {
            t.add_row(vec![
                fs.mount_point.clone(),
                fs.fs_type.clone(),
                bytes(fs.used_bytes as f64),
                bytes(fs.size_bytes as f64),
                format!("{:.0}%", fs.used_pct()),
                format!("{:.0}%", fs.inodes_used_pct()),
            ]);
        }
        one_line(&mut t);
        writeln!(out, "\nFullest filesystems\n{t}")?;
    }
    if let Some(list) = &s.sockets {
        // TIME_WAIT is what closed connections leave behind: a total says
        // enough, a row per port would crowd out the live ones.
        let time_wait: u32 = list.iter().filter(|p| p.state == "TIME_WAIT").map(|p| p.count).sum();
        let mut busiest: Vec<_> = list.iter().filter(|p| p.is_open_connection()).collect();
        busiest.sort_by_key(|p| std::cmp::Reverse(p.count));
        let listening: HashMap<u16, (u32, u32)> = list
            .iter()
            .filter(|p| p.direction == Direction::Listen)
            .map(|p| (p.port, (p.queued, p.backlog)))
            .collect();
        let mut t = table_with(&["PORT", "SIDE", "STATE", "COUNT", "ACCEPT QUEUE"], width);
        for p in busiest.iter().take(top) {
            let (side, queue) = match p.direction {
                Direction::Incoming => ("local", listening.get(&p.port).map(|(q, b)| format!("{q}/{b}"))),
                _ => ("remote", None),
            };
            t.add_row(vec![
                p.port.to_string(),
                side.into(),
                p.state.clone(),
                p.count.to_string(),
                queue.unwrap_or_default(),
            ]);
        }
        let ports: Vec<String> = {
            let mut ports: Vec<u16> = listening.keys().copied().collect();
            ports.sort_unstable();
            ports.iter().map(u16::to_string).collect()
        };
        one_line(&mut t);
        writeln!(out, "\nBusiest ports (listening: {}; {time_wait} in TIME_WAIT)\n{t}", ports.join(" "))?;
    }
    write_stuck(s.waits.as_deref().unwrap_or_default(), top, width, out)
}

/// Endpoints whose clients got no reply, could not connect or wait to be
/// accepted: who waits on whom, the longest wait first.
fn write_stuck(waits: &[Endpoint], top: usize, width: u16, out: &mut dyn Write) -> io::Result<()> {
    let full = |e: &Endpoint| e.backlog > 0 && e.accept_queue >= e.backlog;
    let mut stuck: Vec<&Endpoint> =
        waits.iter().filter(|e| e.waiting > 0 || e.syn_sent > 0 || full(e)).collect();
    if stuck.is_empty() {
        return Ok(());
    }
    stuck.sort_by_key(|e| std::cmp::Reverse(e.no_reply_ms.max(e.trying_ms)));
    let mut t =
        table_with(&["ENDPOINT", "SERVER", "WAITING", "FOR", "UNREAD", "ACCEPT QUEUE", "CLIENTS"], width);
    for e in stuck.iter().take(top.max(10)) {
        let server = e.server.as_ref().map_or(String::new(), |s| format!("{} ({})", s.comm, s.pid));
        let waiting = match e.syn_sent {
            0 => e.waiting.to_string(),
            n => format!("{} + {n} connecting", e.waiting),
        };
        let clients: Vec<String> =
            e.clients.iter().map(|c| format!("{} ×{}", c.comm, c.connections)).collect();
        t.add_row(vec![
            format!("{} {}", e.transport.name(), e.address),
            server,
            waiting,
            format_duration_ms(e.no_reply_ms.max(e.trying_ms) as i64),
            bytes(e.server_rqueue as f64),
            if e.listening { format!("{}/{}", e.accept_queue, e.backlog) } else { String::new() },
            clients.join(", "),
        ]);
    }
    writeln!(out, "\nStuck endpoints (who waits on whom)\n{t}")
}

/// The services table: cgroups against their limits (THROT%: share of the
/// periods throttled; OOM: kills; REFUSED: forks refused at the limit).
const SERVICES_VIEW: &[ViewColumn] = &[
    column("UNIT", &["unit"], Cell::Human, false),
    column("CPU%", &["cpu_pct"], Cell::Decimals(1), true),
    column("QUOTA%", &["cpu_quota_pct"], Cell::Decimals(0), true),
    column("THROT%", &["throttled_pct"], Cell::Decimals(1), true),
    column("MEM/MAX", &["memory", "memory_max"], Cell::Human, true),
    column("OOM", &["oom_kills"], Cell::Human, true),
    column("TASKS/MAX", &["tasks", "tasks_max"], Cell::Human, true),
    column("REFUSED", &["forks_refused"], Cell::Human, true),
];

/// The cgroups among the `top` by CPU, by memory or by tasks, busiest
/// first: a service at its limit shows next to the limit.
fn write_services(
    prev: Option<&Sample>,
    s: &Sample,
    top: usize,
    width: u16,
    out: &mut dyn Write,
) -> io::Result<()> {
    let table = rates::cgroup_table(prev, s);
    if table.is_empty() {
        return Ok(());
    }
    let cpu = |row: &(&CgroupStats, Option<CgroupRates>)| row.1.and_then(|r| r.cpu).unwrap_or(0.0);
    let mut chosen: Vec<&str> = Vec::new();
    let mut ranked = table.clone();
    ranked.sort_by_key(|(c, _)| std::cmp::Reverse(c.tasks.unwrap_or(0)));
    chosen.extend(ranked.iter().take(top).map(|(c, _)| c.path.as_str()));
    ranked.sort_by_key(|(c, _)| std::cmp::Reverse(c.memory_bytes.unwrap_or(0)));
    chosen.extend(ranked.iter().take(top).map(|(c, _)| c.path.as_str()));
    ranked.sort_by(|a, b| cpu(b).total_cmp(&cpu(a)));
    chosen.extend(ranked.iter().take(top).map(|(c, _)| c.path.as_str()));
    let rows: Vec<CgroupRow> = ranked
        .iter()
        .filter(|(c, _)| chosen.contains(&c.path.as_str()))
        .map(|(c, rates)| CgroupRow { time_ms: s.time_ms, cgroup: (*c).clone(), rates: *rates, detail: None })
        .collect();
    let view = view_table(SERVICES_VIEW, catalogue::CGROUPS, &rows, &mut UserNames::default(), width);
    writeln!(out, "\nServices (top {top} by CPU, memory and tasks, of {})\n{view}", table.len())
}

/// One part of the lines above `show`'s tables: `text` with each `{}`
/// replaced by a value of the system catalogue, the sum of the columns of
/// its group, written in the columns' unit. A part whose values are
/// missing from the sample is left out.
struct Part {
    text: &'static str,
    values: &'static [&'static [&'static str]],
}

const fn part(text: &'static str, values: &'static [&'static [&'static str]]) -> Part {
    Part { text, values }
}

/// The machine at a glance, a line per slice of `SYSTEM_LINES`.
const SYSTEM_LINES: &[&[Part]] = &[
    &[
        part("load {} {} {}", &[&["load1"], &["load5"], &["load15"]]),
        part(
            "   cpu {} busy (user {}, system {}, iowait {}, steal {})",
            &[
                &["cpu_busy_pct"],
                &["cpu_user_pct", "cpu_nice_pct"],
                &["cpu_system_pct", "cpu_irq_pct", "cpu_softirq_pct"],
                &["cpu_iowait_pct"],
                &["cpu_steal_pct"],
            ],
        ),
        part("   running {}, blocked {}", &[&["procs_running"], &["procs_blocked"]]),
    ],
    &[
        part("memory {} available of {}", &[&["mem_available"], &["mem_total"]]),
        part(", swap {} used of {}", &[&["swap_used"], &["swap_total"]]),
        part(
            "; pressure cpu {} memory {} io {} (some, avg10)",
            &[&["psi_cpu_some_avg10"], &["psi_memory_some_avg10"], &["psi_io_some_avg10"]],
        ),
    ],
    &[
        part("processes {}, threads {}", &[&["processes"], &["threads"]]),
        part("; open files {} of {}", &[&["files_allocated"], &["files_max"]]),
    ],
];

pub fn write_system(prev: Option<&Sample>, cur: &StoredSample, out: &mut dyn Write) -> io::Result<()> {
    let row = SystemRow::new(prev, cur);
    for line in SYSTEM_LINES {
        let text: String = line.iter().filter_map(|part| system_part(part, &row)).collect();
        writeln!(out, "{}", text.trim_start())?;
    }
    Ok(())
}

fn system_part(part: &Part, row: &SystemRow) -> Option<String> {
    let mut text = String::new();
    let mut pieces = part.text.split("{}");
    text.push_str(pieces.next().unwrap_or_default());
    for (group, piece) in part.values.iter().zip(pieces) {
        let mut unit = Unit::Plain;
        let mut sum: Option<Value> = None;
        for name in *group {
            let field = catalogue::find(SYSTEM, name).expect("show's lines name catalogue columns");
            unit = field.unit;
            sum = Some(match (sum, (field.get)(row)) {
                (_, Value::Null) => return None,
                (None, value) => value,
                (Some(Value::Real(a)), Value::Real(b)) => Value::Real(a + b),
                (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a + b),
                (Some(_), _) => return None,
            });
        }
        text.push_str(&human(&sum?, unit));
        text.push_str(piece);
    }
    Some(text)
}
