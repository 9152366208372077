//! The per-entity tables of a sample, listed once: the `Sample` field, its
//! row type and its blob column. Everything that handles "each table" (the
//! columns, which tables to decode, the bases that frames are deltas
//! against, encoding and replaying frames) is generated from this list, so
//! a new table is one line here, an `Entity` impl and a migration.

use super::codec::{self, Entity};
use crate::model::waits::Endpoint;
use crate::sample::{
    BlockedTask, CgroupStats, Disk, Filesystem, Interface, PortSockets, ProbeResult, Process, ProcessLimits,
    Sample, WatchedDir, WatchedLog,
};
use anyhow::Result;

macro_rules! tables {
    ($( $field:ident: $row:ty => $column:literal ),* $(,)?) => {
        /// Blob columns, in the order of the list.
        pub const BLOB_COLUMNS: &[&str] = &[$($column),*];

        /// Which tables to decode; decoding is what costs.
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct Tables {
            $(pub $field: bool,)*
        }

        impl Tables {
            pub const NONE: Tables = Tables { $($field: false,)* };
            pub const ALL: Tables = Tables { $($field: true,)* };

            pub fn any(self) -> bool {
                self != Tables::NONE
            }

            /// The blob columns of the tables set.
            pub fn names(self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $(if self.$field {
                    names.push($column);
                })*
                names
            }
        }

        /// The last table of each kind: what the next delta frame is
        /// against, when encoding and when replaying. When replaying, the
        /// sample holding the key frame the chain started at, and the
        /// tables whose chain broke (a frame that did not decode): no delta
        /// is applied to a broken table until its next key frame, so damage
        /// costs the rows up to there and never gives wrong ones.
        #[derive(Default)]
        pub struct Bases {
            $($field: Option<Vec<$row>>,)*
            key_id: Option<i64>,
            broken: Tables,
        }

        impl Bases {
            /// A chain starting at the key frame in sample `key_id`.
            pub fn starting_at(key_id: i64) -> Bases {
                Bases { key_id: Some(key_id), ..Bases::default() }
            }

            /// A chain of frames against key frame `key_id` whose start was
            /// not read: every table waits for its next key frame.
            pub fn broken_at(key_id: i64) -> Bases {
                Bases { key_id: Some(key_id), broken: Tables::ALL, ..Bases::default() }
            }

            pub fn key_id(&self) -> Option<i64> {
                self.key_id
            }

            /// One frame per table of `sample` (`None` where its source
            /// failed), in column order; key frames ignore the bases.
            pub fn encode(&self, sample: &Sample, key_frame: bool) -> Result<Vec<Option<Vec<u8>>>> {
                Ok(vec![$(frame(key_frame, &self.$field, &sample.$field)?,)*])
            }

            /// After a commit: the sample's tables become the bases; a
            /// table whose source failed keeps its older base.
            pub fn keep(&mut self, sample: &Sample) {
                $(if let Some(rows) = &sample.$field {
                    self.$field = Some(rows.clone());
                })*
            }

            /// Replays the frames of one stored row (`frame(i)` is column
            /// `i`) into `sample`, for the tables asked for. A table that
            /// cannot be decoded is left `None` and named in the result.
            pub fn replay<'a>(
                &mut self,
                tables: Tables,
                frame: impl Fn(usize) -> Result<Option<&'a [u8]>>,
                sample: &mut Sample,
            ) -> Skipped {
                let mut skipped = Skipped::default();
                let mut column = 0;
                $(
                    if tables.$field {
                        let frame = frame(column);
                        let stored = matches!(frame, Ok(Some(_)));
                        match frame.and_then(|f| replay(&mut self.$field, &mut self.broken.$field, f)) {
                            Ok(rows) => sample.$field = rows,
                            Err(err) => {
                                self.broken.$field = true;
                                self.$field = None;
                                skipped.errors.push(format!("{}: {err:#}", $column));
                            }
                        }
                        skipped.missing.$field = stored && sample.$field.is_none();
                    }
                    column += 1;
                )*
                let _ = column;
                skipped
            }
        }
    };
}

tables! {
    processes: Process => "process_table",
    sockets: PortSockets => "socket_table",
    filesystems: Filesystem => "filesystem_table",
    disks: Disk => "disk_table",
    interfaces: Interface => "interface_table",
    probes: ProbeResult => "probe_table",
    blocked_tasks: BlockedTask => "blocked_table",
    watched_dirs: WatchedDir => "dir_table",
    watched_logs: WatchedLog => "log_table",
    waits: Endpoint => "wait_table",
    process_limits: ProcessLimits => "limit_table",
    cgroups: CgroupStats => "cgroup_table",
}

/// What one row's replay could not give.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Tables stored for the sample but not decoded: damaged, or in a
    /// chain broken earlier.
    pub missing: Tables,
    /// Damage found in this row's frames, one line per table.
    pub errors: Vec<String>,
}

/// A frame for one table: a key frame when asked or when there is no base.
fn frame<T: Entity>(
    key_frame: bool,
    base: &Option<Vec<T>>,
    table: &Option<Vec<T>>,
) -> Result<Option<Vec<u8>>> {
    let Some(rows) = table else { return Ok(None) };
    let base = if key_frame { None } else { base.as_deref() };
    let mut out = Vec::new();
    codec::encode_frame(base, rows, &mut out)?;
    Ok(Some(out))
}

/// Applies one frame to its base; the sample's table is the result. A
/// delta in a broken chain gives nothing: its base is not known.
fn replay<T: Entity>(
    base: &mut Option<Vec<T>>,
    broken: &mut bool,
    frame: Option<&[u8]>,
) -> Result<Option<Vec<T>>> {
    let Some(frame) = frame else { return Ok(None) };
    let key_frame = codec::is_key_frame(frame);
    if *broken && !key_frame {
        return Ok(None);
    }
    // The base moves into the decode: on failure the chain is broken
    // anyway, and the caller forgets the base.
    let rows = codec::decode_frame(if key_frame { None } else { base.take() }, frame)?;
    *broken = false;
    *base = Some(rows.clone());
    Ok(Some(rows))
}
