//! Processes as metrics, with bounded cardinality: a series per pid would
//! grow without end on a machine that forks. Each sample gives, per process
//! identity (`Process::identity`, as the report and the other exports name
//! a process), the number of processes and the sum of every numeric column
//! (gauges, rates as rates: a sum over processes that come and go drops
//! when one exits, which a counter must never do), and the `TOP` processes
//! by CPU and the `TOP` by resident memory as series of their own,
//! labelled with pid and identity, their rates as the raw counters behind
//! them. Over an export, the series are at most (identities + pids
//! that were ever among the heaviest) × columns.

use super::Stream;
use super::family::{Labels, Metric};
use super::spool::Spool;
use crate::model::catalogue::{self, Field, Kind, PROCESSES, ProcessRow, RowKind, Unit, Value};
use crate::model::rates;
use anyhow::Result;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How many of the heaviest processes, by CPU and by memory, each sample
/// exports on their own.
pub const TOP: usize = 5;

pub fn export(stream: &mut Stream) -> Result<()> {
    let ticks = rates::ticks_per_second();
    let numeric: Vec<&Field<ProcessRow>> = PROCESSES.iter().filter(|f| f.kind != Kind::Label).collect();
    let count_help = "processes of this identity";
    let mut count = Spool::new(
        Metric::named("processes", "count", Unit::Count, Kind::Gauge, count_help).expect("a gauge"),
    )?;
    // Sums of rates stay gauges of the rates: a sum of raw counters drops
    // when a process exits, which reads as a counter reset.
    let mut sums = numeric
        .iter()
        .map(|f| {
            let help = format!("{}, summed over the processes of this identity", f.help);
            Spool::new(Metric::named("processes", f.name, f.unit, f.kind, &help).expect("not a label"))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    // A process's own counters never decrease: its rates go out as them.
    let mut tops = numeric
        .iter()
        .map(|f| {
            let (mut metric, get) = Metric::of("top_process", f).expect("not a label");
            metric.help = format!("{}, of a process among the heaviest by CPU or memory", metric.help);
            Ok((Spool::new(metric)?, get))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let cpu = catalogue::find(PROCESSES, "cpu_pct").expect("cpu_pct is in the catalogue");
    let rss = catalogue::find(PROCESSES, "rss").expect("rss is in the catalogue");
    let source = stream.source;
    source.pairs(RowKind::Processes, &mut |prev, cur| {
        let host = stream.host(cur).to_string();
        let time_ms = cur.sample.time_ms;
        let boot_time_ms = source.boot_time_ms(cur.run_id);
        let rows: Vec<ProcessRow> = rates::process_table(prev.map(|p| &p.sample), &cur.sample, ticks)
            .into_iter()
            .map(|(p, rates)| ProcessRow::new(time_ms, p, rates, boot_time_ms, ticks))
            .collect();
        let mut lines = 0u64;

        let mut groups: BTreeMap<Cow<str>, (i64, Vec<Value>)> = BTreeMap::new();
        for row in &rows {
            let (n, totals) =
                groups.entry(row.process.identity()).or_insert_with(|| (0, vec![Value::Null; numeric.len()]));
            *n += 1;
            for (total, field) in totals.iter_mut().zip(&numeric) {
                *total = add(std::mem::replace(total, Value::Null), (field.get)(row));
            }
        }
        for (name, (n, totals)) in &groups {
            let mut labels = Labels::new();
            labels.add("host", &host).add("identity", name);
            let labels = labels.finish();
            lines += u64::from(count.line(&labels, &Value::Int(*n), time_ms)?);
            for (spool, total) in sums.iter_mut().zip(totals) {
                lines += u64::from(spool.line(&labels, total, time_ms)?);
            }
        }

        for row in heaviest(&rows, cpu, rss) {
            let mut labels = Labels::new();
            labels
                .add("host", &host)
                .add("pid", &row.process.pid.to_string())
                .add("identity", &row.process.identity());
            let labels = labels.finish();
            for (spool, get) in &mut tops {
                lines += u64::from(spool.line(&labels, &get(row), time_ms)?);
            }
        }
        stream.lines += lines;
        (stream.progress)(stream.lines);
        Ok(())
    })?;
    stream.finish(std::iter::once(count).chain(sums).chain(tops.into_iter().map(|(spool, _)| spool)))
}

/// The `TOP` rows by each of two columns, without repeats.
fn heaviest<'r>(rows: &'r [ProcessRow], a: &Field<ProcessRow>, b: &Field<ProcessRow>) -> Vec<&'r ProcessRow> {
    let mut chosen: Vec<usize> = Vec::with_capacity(2 * TOP);
    for field in [a, b] {
        let mut order: Vec<(f64, usize)> =
            rows.iter().enumerate().map(|(i, row)| (number(&(field.get)(row)), i)).collect();
        order.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        for (_, i) in order.into_iter().take(TOP) {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| &rows[i]).collect()
}

fn number(value: &Value) -> f64 {
    match *value {
        Value::Int(v) => v as f64,
        Value::Real(v) => v,
        Value::Text(_) | Value::Null => f64::NEG_INFINITY,
    }
}

/// A sum that skips what is missing: a process whose rates are not known
/// yet (new this sample) adds nothing rather than blanking the total.
fn add(total: Value, value: Value) -> Value {
    match (total, value) {
        (Value::Int(a), Value::Int(b)) => Value::Int(a + b),
        (Value::Null | Value::Text(_), v) | (v, Value::Null | Value::Text(_)) => v,
        (a, b) => Value::Real(number(&a) + number(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_skip_missing_values_and_keep_integers() {
        assert_eq!(add(Value::Int(2), Value::Int(3)), Value::Int(5));
        assert_eq!(add(Value::Null, Value::Real(1.5)), Value::Real(1.5));
        assert_eq!(add(Value::Int(1), Value::Null), Value::Int(1));
        assert_eq!(add(Value::Int(1), Value::Real(0.5)), Value::Real(1.5));
    }
}
