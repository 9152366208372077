//! The per-entity tables of a sample, listed once: the `Sample` field, its
//! row type and its blob column. Everything that handles "each table" (the
//! columns, which tables to decode, the bases that frames are deltas
//! against, encoding and replaying frames) is generated from this list, so
//! a new table is one line here, an `Entity` impl and a migration.

use super::codec::{self, Entity};
use crate::sample::{
    BlockedTask, Disk, Filesystem, Interface, PortSockets, ProbeResult, Process, Sample, WatchedDir,
    WatchedLog,
};
use anyhow::{Context, Result};

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
        }

        /// The last table of each kind: what the next delta frame is
        /// against, when encoding and when replaying.
        #[derive(Default)]
        pub struct Bases {
            $($field: Option<Vec<$row>>,)*
        }

        impl Bases {
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
            /// `i`) into `sample`, for the tables asked for.
            pub fn replay<'a>(
                &mut self,
                tables: Tables,
                frame: impl Fn(usize) -> Result<Option<&'a [u8]>>,
                sample: &mut Sample,
            ) -> Result<()> {
                let mut column = 0;
                $(
                    if tables.$field {
                        sample.$field = replay(&mut self.$field, frame(column)?)
                            .with_context(|| format!("decoding {}", $column))?;
                    }
                    column += 1;
                )*
                let _ = column;
                Ok(())
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

/// Applies one frame to its base; the sample's table is the result.
fn replay<T: Entity>(base: &mut Option<Vec<T>>, frame: Option<&[u8]>) -> Result<Option<Vec<T>>> {
    let Some(frame) = frame else { return Ok(None) };
    let base_rows = if codec::is_key_frame(frame) { None } else { base.as_deref() };
    let rows = codec::decode_frame(base_rows, frame)?;
    *base = Some(rows.clone());
    Ok(Some(rows))
}
