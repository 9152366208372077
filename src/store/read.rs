//! Reading samples back: scalars from their columns, tables by replaying
//! snapshot frames from the key frame before the first sample asked for.
//! Streams row by row, so a month of samples reads in constant memory.
//!
//! A chain of frames is followed only from its own key frame: a delta
//! whose key frame is not the one the chain started at (a file where two
//! recorders once wrote at the same time, a key frame deleted) and a frame
//! that does not decode leave their tables missing up to the next key
//! frame, and the damage is said. The integer scalars of a run that
//! stores them against its key frame's (`runs.scalars_from_key`) are lost
//! with their key frame too; those of older runs are read all the same.

use super::columns::{self, Num};
use super::tables::{BLOB_COLUMNS, Bases, Tables};
use super::{Store, sample_columns};
use crate::sample::Sample;
use anyhow::{Context, Result};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use std::collections::{HashMap, HashSet};

pub use crate::model::StoredSample;

/// Damage met while reading: one sample's frames that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub sample_id: i64,
    pub what: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "sample {}: {}; skipped up to the next key frame", self.sample_id, self.what)
    }
}

/// Damage said on stderr per read at most; `check` lists it all.
const DAMAGE_SAID: usize = 5;

impl Store {
    /// Calls `each` for every sample with `from_id <= id <= to_id`, in order;
    /// damaged tables are skipped and said on stderr.
    pub fn for_each_sample(
        &self,
        from_id: i64,
        to_id: i64,
        tables: Tables,
        each: impl FnMut(StoredSample) -> Result<()>,
    ) -> Result<()> {
        let mut found = 0;
        let path = self.path.display();
        let result = self.read_samples(from_id, to_id, tables, each, |damage| {
            found += 1;
            if found <= DAMAGE_SAID {
                eprintln!("flightrec: warning: {path}: {damage}");
            }
        });
        if found > DAMAGE_SAID {
            eprintln!(
                "flightrec: warning: {path}: {} more damaged samples skipped; `flightrec check` lists them",
                found - DAMAGE_SAID
            );
        }
        result
    }

    /// `for_each_sample`, giving each piece of damage to `damaged`.
    pub fn read_samples(
        &self,
        from_id: i64,
        to_id: i64,
        tables: Tables,
        mut each: impl FnMut(StoredSample) -> Result<()>,
        mut damaged: impl FnMut(Damage),
    ) -> Result<()> {
        // Scalars, like tables, may need the key frame before `from_id`.
        let start = self
            .conn
            .query_row("SELECT key_id FROM samples WHERE id >= ?1 ORDER BY id LIMIT 1", [from_id], |r| {
                r.get(0)
            })
            .unwrap_or(from_id);
        let mut keys = KeyScalars { from_key: self.runs_with_scalars_from_key()?, ..KeyScalars::default() };
        let names = sample_columns();
        // A file of an older schema, opened read-only, lacks the columns
        // added since: they read as NULL, a source not recorded.
        let present: Vec<String> = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('samples')")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut selected: Vec<&str> = vec!["id"];
        let wanted = names.iter().filter(|n| tables.any() || !BLOB_COLUMNS.contains(n));
        selected.extend(wanted.map(|n| if present.iter().any(|p| p == n) { *n } else { "NULL" }));
        let sql =
            format!("SELECT {} FROM samples WHERE id BETWEEN ?1 AND ?2 ORDER BY id", selected.join(", "));
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([start, to_id])?;
        let mut chain = Bases::default();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let stored = decode_row(row, tables, &mut chain, &mut keys, &mut damaged)
                .with_context(|| format!("reading sample {id}"))?;
            if id >= from_id {
                each(stored)?;
            }
        }
        Ok(())
    }

    /// The runs whose integer scalars are stored against their key
    /// frames' (none in a file older than that, opened read-only).
    fn runs_with_scalars_from_key(&self) -> Result<HashSet<i64>> {
        if !self.has("runs", Some("scalars_from_key"))? {
            return Ok(HashSet::new());
        }
        let mut stmt = self.conn.prepare("SELECT id FROM runs WHERE scalars_from_key = 1")?;
        let runs = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(runs)
    }

    /// One sample with the tables asked for.
    pub fn sample(&self, id: i64, tables: Tables) -> Result<Option<StoredSample>> {
        let mut found = None;
        self.for_each_sample(id, id, tables, |stored| {
            found = Some(stored);
            Ok(())
        })?;
        Ok(found)
    }

    /// First and last sample ids with `from_ms <= time_ms <= to_ms`.
    pub fn ids_between(&self, from_ms: i64, to_ms: i64) -> Result<Option<(i64, i64)>> {
        let first = self.first_at_or_after(from_ms)?;
        let last = self.last_at_or_before(to_ms)?;
        Ok(first.zip(last).map(|((a, _), (b, _))| (a, b)).filter(|(a, b)| a <= b))
    }
}

/// A sample's scalars in `columns::SCALARS` order.
type Scalars = Vec<Option<Num>>;

/// The scalars of the key frames read, per run, for the runs that store
/// their integers against them.
#[derive(Default)]
struct KeyScalars {
    from_key: HashSet<i64>,
    /// Per run: its last key frame met and that frame's scalars, `None`
    /// where the frame was not read (the loss is said once).
    keys: HashMap<i64, (i64, Option<Scalars>)>,
}

/// A sample's scalars as recorded, or why not.
enum Figures {
    Read(Scalars),
    /// Stored against a key frame not read; `first` for the first sample
    /// of that key frame's segment met.
    Lost {
        first: bool,
    },
}

impl KeyScalars {
    /// The scalars of sample `id` of `run_id` as they were recorded, from
    /// `stored` as its row holds them.
    fn recorded(&mut self, run_id: i64, id: i64, key_id: i64, mut stored: Scalars) -> Figures {
        if !self.from_key.contains(&run_id) {
            return Figures::Read(stored);
        }
        if key_id == id {
            self.keys.insert(run_id, (id, Some(stored.clone())));
            return Figures::Read(stored);
        }
        match self.keys.get(&run_id) {
            Some((read, Some(key))) if *read == key_id => {
                for (value, key) in stored.iter_mut().zip(key) {
                    *value = value.map(|value| value.from_key(*key));
                }
                Figures::Read(stored)
            }
            Some((read, None)) if *read == key_id => Figures::Lost { first: false },
            _ => {
                self.keys.insert(run_id, (key_id, None));
                Figures::Lost { first: true }
            }
        }
    }
}

/// Columns are read by position: 0 is the id, then `sample_columns()` order.
fn decode_row(
    row: &rusqlite::Row,
    tables: Tables,
    chain: &mut Bases,
    keys: &mut KeyScalars,
    damaged: &mut impl FnMut(Damage),
) -> Result<StoredSample> {
    let id: i64 = row.get(0)?;
    let run_id: i64 = row.get(1)?;
    let key_id: i64 = row.get(2)?;
    let mut sample = Sample {
        time_ms: row.get(3)?,
        lateness_ms: row.get(4)?,
        suspended_ms: row.get(5)?,
        collect_us: row.get(6)?,
        ..Sample::default()
    };
    let first_scalar = 7;
    let stored = (0..columns::SCALARS.len())
        .map(|i| {
            Ok(match row.get_ref(first_scalar + i)? {
                ValueRef::Integer(v) => Some(Num::Int(v)),
                ValueRef::Real(v) => Some(Num::Real(v)),
                _ => None,
            })
        })
        .collect::<Result<Scalars>>()?;
    let figures_lost = match keys.recorded(run_id, id, key_id, stored) {
        Figures::Read(values) => {
            columns::set_values(&mut sample, &values);
            false
        }
        Figures::Lost { first } => first,
    };
    let tables_lost = tables.any() && key_id != id && chain.key_id() != Some(key_id);
    let lost = match (figures_lost, tables_lost) {
        (true, true) => Some("its figures and snapshot frames are"),
        (true, false) => Some("its figures are"),
        (false, true) => Some("its snapshot frames are"),
        (false, false) => None,
    };
    if let Some(what) = lost {
        damaged(Damage {
            sample_id: id,
            what: format!(
                "{what} stored against sample {key_id}, which the samples read before it do not lead to"
            ),
        });
    }
    let mut missing = Vec::new();
    if tables.any() {
        if key_id == id {
            *chain = Bases::starting_at(id);
        } else if tables_lost {
            *chain = Bases::broken_at(key_id);
        }
        let blob = first_scalar + columns::SCALARS.len();
        let frame = |i: usize| -> Result<Option<&[u8]>> {
            Ok(match row.get_ref(blob + i)? {
                ValueRef::Blob(bytes) => Some(bytes),
                _ => None,
            })
        };
        let skipped = chain.replay(tables, frame, &mut sample);
        for what in skipped.errors {
            damaged(Damage { sample_id: id, what });
        }
        missing = skipped.missing.names();
    }
    Ok(StoredSample { id, run_id, sample, missing })
}

/// A tick that fired late or after a suspend, with the sample before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Irregular {
    pub run_id: i64,
    pub time_ms: i64,
    pub lateness_ms: i64,
    pub suspended_ms: i64,
    /// Time of the sample before it in the same run, if any.
    pub prev_time_ms: Option<i64>,
    /// Not a tick: a step of the wall clock by this much (negative: set
    /// back), at `time_ms`, the wall time just after it.
    pub clock_jump_ms: Option<i64>,
}

impl Store {
    /// Samples that fired at least `min_lateness_ms` late (at least 15 s:
    /// the partial index holds no others) or after a suspend.
    pub fn irregular_ticks(&self, min_lateness_ms: i64) -> Result<Vec<Irregular>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.run_id, s.time_ms, s.lateness_ms, s.suspended_ms,
                    (SELECT p.time_ms FROM samples p WHERE p.id = s.id - 1 AND p.run_id = s.run_id)
             FROM samples s INDEXED BY samples_irregular
             WHERE (s.lateness_ms >= 15000 OR s.suspended_ms >= 1000)
               AND (s.lateness_ms >= ?1 OR s.suspended_ms >= 1000)
             ORDER BY s.id",
        )?;
        let rows = stmt.query_map([min_lateness_ms], |r| {
            Ok(Irregular {
                run_id: r.get(0)?,
                time_ms: r.get(1)?,
                lateness_ms: r.get(2)?,
                suspended_ms: r.get(3)?,
                prev_time_ms: r.get(4)?,
                clock_jump_ms: None,
            })
        })?;
        let mut found: Vec<Irregular> = rows.collect::<rusqlite::Result<_>>()?;
        found.extend(self.clock_jumps()?);
        Ok(found)
    }

    /// Wall-clock steps the recorder saw; none in a file from before they
    /// were noted.
    fn clock_jumps(&self) -> Result<Vec<Irregular>> {
        if !self.has("clock_jumps", None)? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare("SELECT run_id, time_ms, by_ms FROM clock_jumps ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let (time_ms, by_ms): (i64, i64) = (r.get(1)?, r.get(2)?);
            Ok(Irregular {
                run_id: r.get(0)?,
                time_ms,
                lateness_ms: 0,
                suspended_ms: 0,
                // Set back, the step has no "before" to start from.
                prev_time_ms: Some((time_ms - by_ms).min(time_ms)),
                clock_jump_ms: Some(by_ms),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The last sample (id, time) of a run: the last sample before the
    /// next run started, or the last of all for the newest run.
    pub fn last_sample_of_run(
        &self,
        run_id: i64,
        next_run_start_ms: Option<i64>,
    ) -> Result<Option<(i64, i64)>> {
        let found = match next_run_start_ms {
            Some(start) => self.last_at_or_before(start - 1)?,
            None => self.last_at_or_before(i64::MAX)?,
        };
        let Some((id, time)) = found else { return Ok(None) };
        let owner: i64 =
            self.conn.query_row("SELECT run_id FROM samples WHERE id = ?1", [id], |r| r.get(0))?;
        if owner == run_id {
            return Ok(Some((id, time)));
        }
        // A clock step can put another run's sample there: ask exactly.
        Ok(self
            .conn
            .query_row(
                "SELECT id, time_ms FROM samples WHERE run_id = ?1 ORDER BY id DESC LIMIT 1",
                [run_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// How many samples have `from_ms <= time_ms <= to_ms`.
    pub fn count_between(&self, from_ms: i64, to_ms: i64) -> Result<u64> {
        let Some((first, last)) = self.ids_between(from_ms, to_ms)? else { return Ok(0) };
        // The ids cover the times; a clock set back puts others among them.
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM samples WHERE id BETWEEN ?1 AND ?2 AND time_ms BETWEEN ?3 AND ?4",
            [first, last, from_ms, to_ms],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FrameEncoder, test_run};
    use super::*;
    use crate::sample::{CpuTimes, LoadAvg, Memory, Process};
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A sample of figures that move: a constant, a counter past
    /// i64::MAX, a gauge that falls, a real.
    fn figures(i: u64) -> Sample {
        Sample {
            time_ms: i as i64 * 1000,
            load: Some(LoadAvg { load1: 0.33 + i as f64 / 100.0, load5: 0.2, load15: 0.1 }),
            memory: Some(Memory { total: 24 << 30, available: (20 << 30) - i * 4096, ..Memory::default() }),
            cpu: Some(CpuTimes { user: u64::MAX - 1000 + i * 7, ncpu: 2, ..CpuTimes::default() }),
            ..Sample::default()
        }
    }

    fn read_all(store: &Store, from_id: i64) -> (Vec<StoredSample>, Vec<Damage>) {
        let (mut read, mut damage) = (Vec::new(), Vec::new());
        let each = |s| {
            read.push(s);
            Ok(())
        };
        store.read_samples(from_id, i64::MAX, Tables::NONE, each, |d| damage.push(d)).unwrap();
        (read, damage)
    }

    #[test]
    fn figures_stored_against_their_key_frame_read_back_as_recorded() {
        let dir = crate::scratch::Scratch::new("against-key");
        let mut store = Store::open_for_recording(&dir.0.join("f.db")).unwrap();
        let run = store.begin_run(&test_run(60_000)).unwrap();
        // One key frame every 5 samples at this interval.
        let committed: Vec<Sample> = (0..12).map(figures).collect();
        for sample in &committed {
            store.commit(run, Duration::from_secs(60), sample).unwrap();
        }
        let (read, damage) = read_all(&store, 3);
        assert!(damage.is_empty(), "{damage:?}");
        let back: Vec<Sample> = read.into_iter().map(|s| s.sample).collect();
        assert_eq!(back, committed[2..], "from the middle of a segment");
        // The constant takes no bytes where the sample is not a key frame.
        let stored = |id: i64| -> i64 {
            store.conn.query_row("SELECT mem_total FROM samples WHERE id = ?1", [id], |r| r.get(0)).unwrap()
        };
        assert_eq!((stored(1), stored(2)), (24 << 30, 0));
        // A person with sqlite3 reads them as recorded through the view.
        let (total, available, user, load1): (i64, i64, i64, f64) = store
            .conn
            .query_row(
                "SELECT mem_total, mem_available, cpu_user, load1 FROM system_figures WHERE id = 8",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let memory = committed[7].memory.unwrap();
        assert_eq!((total as u64, available as u64), (memory.total, memory.available));
        assert_eq!((user as u64, load1), (committed[7].cpu.unwrap().user, committed[7].load.unwrap().load1));
    }

    #[test]
    fn figures_whose_key_frame_is_gone_are_skipped_and_said_once() {
        let dir = crate::scratch::Scratch::new("key-gone");
        let mut store = Store::open_for_recording(&dir.0.join("f.db")).unwrap();
        let run = store.begin_run(&test_run(60_000)).unwrap();
        for i in 0..12 {
            store.commit(run, Duration::from_secs(60), &figures(i)).unwrap();
        }
        let keys: Vec<i64> = {
            let mut stmt = store.conn.prepare("SELECT id FROM samples WHERE key_id = id").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(keys, [1, 6, 11]);
        store.conn.execute("DELETE FROM samples WHERE id = 6", []).unwrap();
        let (read, damage) = read_all(&store, 1);
        let with_figures: Vec<i64> =
            read.iter().filter(|s| s.sample.memory.is_some()).map(|s| s.id).collect();
        assert_eq!(with_figures, [1, 2, 3, 4, 5, 11, 12]);
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert_eq!(damage[0].sample_id, 7);
        assert!(damage[0].to_string().contains("its figures are stored against sample 6"), "{}", damage[0]);
    }

    /// What two recorders on one file wrote before the writer lock: each
    /// its own chain of frames, their rows interleaved. Every table read
    /// back is the one committed, or missing; never one decoded against
    /// the other recorder's rows.
    #[test]
    fn deltas_never_chain_across_interleaved_runs() {
        let dir = crate::scratch::Scratch::new("interleaved");
        let mut store = Store::open_for_recording(&dir.0.join("two.db")).unwrap();
        let (a, b) = (store.begin_run(&test_run(1000)).unwrap(), store.begin_run(&test_run(1000)).unwrap());
        let mut other = FrameEncoder::default();
        let mut committed = BTreeMap::new();
        for i in 0..6u64 {
            for (run_id, first_pid) in [(a, 100), (b, 200)] {
                let processes: Vec<Process> = (0..3)
                    .map(|k| Process {
                        pid: first_pid + k,
                        utime_ticks: i * 10 + u64::from(k),
                        ..Process::default()
                    })
                    .collect();
                let sample = Sample {
                    time_ms: i as i64 * 1000,
                    processes: Some(processes.clone()),
                    ..Sample::default()
                };
                if run_id == b {
                    std::mem::swap(&mut store.encoder, &mut other);
                }
                store.commit(run_id, Duration::from_secs(1), &sample).unwrap();
                if run_id == b {
                    std::mem::swap(&mut store.encoder, &mut other);
                }
                committed.insert(store.latest_sample().unwrap().unwrap(), processes);
            }
        }
        let (mut read, mut damage) = (Vec::new(), Vec::new());
        store
            .read_samples(
                1,
                i64::MAX,
                Tables::ALL,
                |s| {
                    read.push(s);
                    Ok(())
                },
                |d| damage.push(d),
            )
            .unwrap();
        assert_eq!(read.len(), committed.len());
        for stored in &read {
            match &stored.sample.processes {
                Some(rows) => assert_eq!(rows, &committed[&stored.id], "sample {}", stored.id),
                None => assert!(
                    stored.missing.contains(&"process_table"),
                    "sample {} is missing unsaid",
                    stored.id
                ),
            }
        }
        let decoded: Vec<i64> = read.iter().filter(|s| s.sample.processes.is_some()).map(|s| s.id).collect();
        assert_eq!(decoded, [1, 2], "the two key frames");
        assert!(!damage.is_empty());
    }
}
