//! The typed scalar columns of the `samples` table and the `Sample` field
//! each one holds: one list, used to build the INSERT, the SELECT and the
//! mapping both ways. A new scalar is one line here plus a migration.
//!
//! Counters are u64 in `Sample` and INTEGER (i64) in SQLite; `as` keeps the
//! bit pattern both ways, so nothing is lost even past i64::MAX.

use crate::sample::Sample;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Real(f64),
}

impl Num {
    fn int(self) -> i64 {
        match self {
            Num::Int(v) => v,
            Num::Real(v) => v as i64,
        }
    }

    fn real(self) -> f64 {
        match self {
            Num::Int(v) => v as f64,
            Num::Real(v) => v,
        }
    }
}

impl Num {
    /// How a sample that is not a key frame stores the value: an integer
    /// as its difference from the key frame's (wrapping, so exact both
    /// ways; a constant becomes 0, which SQLite stores in no bytes), a
    /// real as it is (a difference of reals would not give it back
    /// exactly). Against no value it is stored as it is.
    pub fn against_key(self, key: Option<Num>) -> Num {
        match (self, key) {
            (Num::Int(v), Some(Num::Int(k))) => Num::Int(v.wrapping_sub(k)),
            (value, _) => value,
        }
    }

    /// The value `against_key` stored.
    pub fn from_key(self, key: Option<Num>) -> Num {
        match (self, key) {
            (Num::Int(v), Some(Num::Int(k))) => Num::Int(v.wrapping_add(k)),
            (value, _) => value,
        }
    }
}

/// The view that gives every scalar as recorded, for a person with
/// `sqlite3`: `system_figures` has the columns of `samples` but the blobs,
/// each integer added back to its key frame's where the run stores it so.
pub const VIEW: &str = "system_figures";

/// `CREATE VIEW` for `VIEW` over the columns of this build.
pub fn view_sql() -> String {
    let against_key = "r.scalars_from_key IS 1 AND s.id != s.key_id";
    let mut columns =
        vec!["s.id", "s.run_id", "s.time_ms", "s.lateness_ms", "s.suspended_ms", "s.collect_us"]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
    columns.extend(SCALARS.iter().map(|Column { name, real, .. }| match real {
        true => format!("s.{name}"),
        false => {
            format!("CASE WHEN {against_key} THEN s.{name} + ifnull(k.{name}, 0) ELSE s.{name} END AS {name}")
        }
    }));
    format!(
        "CREATE VIEW {VIEW} AS SELECT\n    {}\nFROM samples s JOIN runs r ON r.id = s.run_id \
         LEFT JOIN samples k ON k.id = s.key_id",
        columns.join(",\n    ")
    )
}

/// A sample's scalars in `SCALARS` order, `None` where its group is absent.
pub fn values(sample: &Sample) -> Vec<Option<Num>> {
    SCALARS.iter().map(|column| (column.get)(sample)).collect()
}

/// Sets the scalars `values` (in `SCALARS` order) in `sample`.
pub fn set_values(sample: &mut Sample, values: &[Option<Num>]) {
    for (column, value) in SCALARS.iter().zip(values) {
        if let Some(value) = value {
            (column.set)(sample, *value);
        }
    }
}

pub struct Column {
    pub name: &'static str,
    /// REAL in SQLite, stored as it is in every sample (`Num::against_key`).
    pub real: bool,
    pub get: fn(&Sample) -> Option<Num>,
    pub set: fn(&mut Sample, Num),
}

/// `"name": group.field as int|real` for a field of an optional group;
/// `opt` marks a field that is itself optional inside its group.
macro_rules! columns {
    ($( $name:literal : $($group:ident).+ => $field:ident as $kind:ident $($opt:ident)? ),* $(,)?) => {
        pub const SCALARS: &[Column] = &[ $( columns!(@one $name, $($group).+, $field, $kind $($opt)?) ),* ];
    };
    (@one $name:literal, $($group:ident).+, $field:ident, int) => {
        Column {
            name: $name,
            real: false,
            get: |s| s.$($group).+.as_ref().map(|g| Num::Int(g.$field as i64)),
            set: |s, v| s.$($group).+.get_or_insert_with(Default::default).$field = v.int() as _,
        }
    };
    (@one $name:literal, $($group:ident).+, $field:ident, real) => {
        Column {
            name: $name,
            real: true,
            get: |s| s.$($group).+.as_ref().map(|g| Num::Real(g.$field)),
            set: |s, v| s.$($group).+.get_or_insert_with(Default::default).$field = v.real(),
        }
    };
    (@one $name:literal, $($group:ident).+, $field:ident, int opt) => {
        Column {
            name: $name,
            real: false,
            get: |s| s.$($group).+.as_ref().and_then(|g| g.$field).map(|v| Num::Int(v as i64)),
            set: |s, v| s.$($group).+.get_or_insert_with(Default::default).$field = Some(v.int() as _),
        }
    };
    (@one $name:literal, $($group:ident).+, $field:ident, real opt) => {
        Column {
            name: $name,
            real: true,
            get: |s| s.$($group).+.as_ref().and_then(|g| g.$field).map(Num::Real),
            set: |s, v| s.$($group).+.get_or_insert_with(Default::default).$field = Some(v.real()),
        }
    };
}

columns! {
    "load1": load => load1 as real,
    "load5": load => load5 as real,
    "load15": load => load15 as real,
    "cpu_user": cpu => user as int,
    "cpu_nice": cpu => nice as int,
    "cpu_system": cpu => system as int,
    "cpu_idle": cpu => idle as int,
    "cpu_iowait": cpu => iowait as int,
    "cpu_irq": cpu => irq as int,
    "cpu_softirq": cpu => softirq as int,
    "cpu_steal": cpu => steal as int,
    "ctxt": cpu => ctxt as int,
    "forks": cpu => forks as int,
    "procs_running": cpu => procs_running as int,
    "procs_blocked": cpu => procs_blocked as int,
    "ncpu": cpu => ncpu as int,
    "mem_total": memory => total as int,
    "mem_available": memory => available as int,
    "mem_free": memory => free as int,
    "mem_buffers": memory => buffers as int,
    "mem_cached": memory => cached as int,
    "mem_dirty": memory => dirty as int,
    "mem_writeback": memory => writeback as int,
    "mem_shmem": memory => shmem as int,
    "mem_slab": memory => slab as int,
    "swap_total": memory => swap_total as int,
    "swap_free": memory => swap_free as int,
    "mem_committed": memory => committed as int,
    "major_faults": vm => major_faults as int,
    "swap_in": vm => swap_in as int,
    "swap_out": vm => swap_out as int,
    "oom_kills": vm => oom_kills as int,
    "psi_cpu_some_avg10": pressure.cpu => some_avg10 as real,
    "psi_cpu_some_total": pressure.cpu => some_total_us as int,
    "psi_cpu_full_avg10": pressure.cpu => full_avg10 as real opt,
    "psi_cpu_full_total": pressure.cpu => full_total_us as int opt,
    "psi_memory_some_avg10": pressure.memory => some_avg10 as real,
    "psi_memory_some_total": pressure.memory => some_total_us as int,
    "psi_memory_full_avg10": pressure.memory => full_avg10 as real opt,
    "psi_memory_full_total": pressure.memory => full_total_us as int opt,
    "psi_io_some_avg10": pressure.io => some_avg10 as real,
    "psi_io_some_total": pressure.io => some_total_us as int,
    "psi_io_full_avg10": pressure.io => full_avg10 as real opt,
    "psi_io_full_total": pressure.io => full_total_us as int opt,
    "files_allocated": files => allocated as int,
    "files_max": files => max as int,
    "processes": tasks => processes as int,
    "threads": tasks => threads as int,
    "pid_max": tasks => pid_max as int,
    "threads_max": tasks => threads_max as int,
    "net_rx_bytes": net => rx_bytes as int,
    "net_tx_bytes": net => tx_bytes as int,
    "net_rx_packets": net => rx_packets as int,
    "net_tx_packets": net => tx_packets as int,
    "net_rx_errors": net => rx_errors as int,
    "net_tx_errors": net => tx_errors as int,
    "net_rx_drops": net => rx_drops as int,
    "net_tx_drops": net => tx_drops as int,
    "tcp_active_opens": net => tcp_active_opens as int,
    "tcp_passive_opens": net => tcp_passive_opens as int,
    "tcp_attempt_fails": net => tcp_attempt_fails as int,
    "tcp_estab_resets": net => tcp_estab_resets as int,
    "tcp_out_resets": net => tcp_out_resets as int,
    "tcp_retrans_segs": net => tcp_retrans_segs as int,
    "tcp_curr_estab": net => tcp_curr_estab as int,
    "listen_overflows": net => listen_overflows as int,
    "listen_drops": net => listen_drops as int,
    "sockets_used": net => sockets_used as int,
    "tcp_inuse": net => tcp_inuse as int,
    "tcp_orphan": net => tcp_orphan as int,
    "tcp_time_wait": net => tcp_time_wait as int,
    "udp_inuse": net => udp_inuse as int,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{CpuTimes, Memory, Psi};

    #[test]
    fn columns_round_trip_a_sample() {
        let mut sample = Sample {
            cpu: Some(CpuTimes { user: u64::MAX, ncpu: 2, ..CpuTimes::default() }),
            memory: Some(Memory { total: 24 << 30, available: 1, ..Memory::default() }),
            ..Sample::default()
        };
        sample.pressure.io =
            Some(Psi { some_avg10: 1.5, some_total_us: 7, full_avg10: None, full_total_us: Some(3) });
        let mut back = Sample::default();
        set_values(&mut back, &values(&sample));
        assert_eq!(back, sample);
    }

    #[test]
    fn integers_against_the_key_come_back_exactly() {
        let pairs = [(u64::MAX as i64, 3), (5, u64::MAX as i64), (i64::MIN, i64::MAX), (7, 7)];
        for (value, key) in pairs {
            let stored = Num::Int(value).against_key(Some(Num::Int(key)));
            assert_eq!(stored.from_key(Some(Num::Int(key))), Num::Int(value));
        }
        assert_eq!(Num::Int(24 << 30).against_key(Some(Num::Int(24 << 30))), Num::Int(0));
        assert_eq!(Num::Real(0.33).against_key(Some(Num::Real(0.3))), Num::Real(0.33));
        assert_eq!(Num::Int(9).against_key(None), Num::Int(9));
    }

    #[test]
    fn every_column_is_in_the_schema() {
        let schema: String = super::super::migrate::MIGRATIONS.concat();
        for column in SCALARS {
            assert!(
                schema.contains(&format!(" {} ", column.name)),
                "{} missing from migrations",
                column.name
            );
        }
    }
}
