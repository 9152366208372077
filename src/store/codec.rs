//! Snapshot frames: how a per-entity table (processes, sockets, filesystems,
//! disks, interfaces) is stored in one blob per sample.
//!
//! Tables change little between samples, so a frame is usually a delta
//! against the previous sample's table: both are sorted by key and merged
//! into a run of operations (keep n rows, drop n rows, change one row,
//! insert one row). A changed row writes each field as the difference from
//! the old row, so unchanged fields cost one zero byte. A key frame is the
//! same thing against an empty table, and bounds how far back a decode
//! must start. The frame is zstd-compressed when that makes it smaller.
//!
//! Layout: one flag byte (`KEY`/`DELTA` | `ZSTD`, and the row layout's
//! version above them), then the operations: varint `(count << 2) | op`,
//! followed by the row for `CHANGE`/`INSERT`.

use anyhow::{Context, Result, bail, ensure};
use std::cmp::Ordering;
use std::sync::Arc;

const DELTA: u8 = 1;
const ZSTD: u8 = 2;
/// The flag byte's bits above `DELTA` and `ZSTD` hold `Entity::VERSION`.
const VERSION_SHIFT: u8 = 2;

const OP_KEEP: u64 = 0;
const OP_DROP: u64 = 1;
const OP_CHANGE: u64 = 2;
const OP_INSERT: u64 = 3;

/// Frames smaller than this are stored raw: zstd's own header would eat
/// the gain.
const COMPRESS_FROM: usize = 64;
const ZSTD_LEVEL: i32 = 3;

/// The most a frame may decompress to. A key frame of 5,000 processes
/// with long command lines is under 1 MiB; anything past this is a damaged
/// or hostile file, not a reason to allocate.
const MAX_FRAME_BYTES: usize = 8 << 20;

/// The most rows a table may have. A zstd frame of a few kilobytes can
/// expand to millions of identical small rows; no machine has this many
/// processes (or mounts, disks, sockets by port).
pub const MAX_ROWS: usize = 1 << 18;

/// A row type that can be stored in frames.
pub trait Entity: Clone + PartialEq + Default {
    /// The row layout this build writes, 0 to 63: a field added to a row
    /// goes at its end and raises it, and `decode` reads that field only
    /// from frames of that version on (`Reader::version`).
    const VERSION: u8 = 0;
    type Key: Ord;
    fn key(&self) -> Self::Key;
    /// Writes every field as a delta against `base` (`Default` in key frames).
    fn encode(&self, base: &Self, out: &mut Writer);
    fn decode(base: &Self, input: &mut Reader) -> Result<Self>;
}

/// Encodes `new` against `prev` (both sorted by key) into `out`.
pub fn encode_frame<T: Entity>(prev: Option<&[T]>, new: &[T], out: &mut Vec<u8>) -> Result<()> {
    let mut ops = Writer::default();
    let prev_rows = prev.unwrap_or(&[]);
    let (mut i, mut j) = (0, 0);
    let mut keep = 0u64;
    let mut drop = 0u64;
    let flush = |ops: &mut Writer, keep: &mut u64, drop: &mut u64| {
        if *keep > 0 {
            ops.varint(*keep << 2 | OP_KEEP);
            *keep = 0;
        }
        if *drop > 0 {
            ops.varint(*drop << 2 | OP_DROP);
            *drop = 0;
        }
    };
    while i < prev_rows.len() || j < new.len() {
        let order = match (prev_rows.get(i), new.get(j)) {
            (Some(old), Some(row)) => old.key().cmp(&row.key()),
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        };
        match order {
            Ordering::Equal if prev_rows[i] == new[j] => {
                if drop > 0 {
                    flush(&mut ops, &mut keep, &mut drop);
                }
                keep += 1;
                i += 1;
                j += 1;
            }
            Ordering::Equal => {
                flush(&mut ops, &mut keep, &mut drop);
                ops.varint(1 << 2 | OP_CHANGE);
                new[j].encode(&prev_rows[i], &mut ops);
                i += 1;
                j += 1;
            }
            Ordering::Less => {
                if keep > 0 {
                    flush(&mut ops, &mut keep, &mut drop);
                }
                drop += 1;
                i += 1;
            }
            Ordering::Greater => {
                flush(&mut ops, &mut keep, &mut drop);
                ops.varint(1 << 2 | OP_INSERT);
                new[j].encode(&T::default(), &mut ops);
                j += 1;
            }
        }
    }
    flush(&mut ops, &mut keep, &mut drop);

    let kind = if prev.is_some() { DELTA } else { 0 } | T::VERSION << VERSION_SHIFT;
    out.clear();
    if ops.bytes.len() >= COMPRESS_FROM {
        let packed = zstd::bulk::compress(&ops.bytes, ZSTD_LEVEL).context("compressing a snapshot")?;
        if packed.len() < ops.bytes.len() {
            out.push(kind | ZSTD);
            out.extend_from_slice(&packed);
            return Ok(());
        }
    }
    out.push(kind);
    out.extend_from_slice(&ops.bytes);
    Ok(())
}

/// Whether a frame is a key frame (decodes without a previous table).
pub fn is_key_frame(frame: &[u8]) -> bool {
    frame.first().is_some_and(|flags| flags & DELTA == 0)
}

/// Decodes a frame against the previous table (`None` only for key frames),
/// which it consumes: kept rows move into the new table, uncopied.
pub fn decode_frame<T: Entity>(prev: Option<Vec<T>>, frame: &[u8]) -> Result<Vec<T>> {
    let (&flags, body) = frame.split_first().context("empty snapshot frame")?;
    let version = flags >> VERSION_SHIFT;
    ensure!(version <= T::VERSION, "snapshot frame of row version {version}, newer than this flightrec's");
    let prev_rows = match (flags & DELTA != 0, prev) {
        (false, _) => Vec::new(),
        (true, Some(rows)) => rows,
        (true, None) => bail!("a delta snapshot frame without the frame before it"),
    };
    let prev_len = prev_rows.len();
    let mut prev_rows = prev_rows.into_iter();
    let unpacked;
    let ops = if flags & ZSTD != 0 {
        unpacked = decompress(body)?;
        &unpacked[..]
    } else {
        body
    };
    let mut input = Reader { bytes: ops, pos: 0, version };
    let mut rows: Vec<T> = Vec::new();
    rows.try_reserve(prev_len + 8).context("no memory for a snapshot table")?;
    let mut i: usize = 0;
    while !input.is_empty() {
        let tag = input.varint()?;
        let count = usize::try_from(tag >> 2).context("operation count out of range")?;
        // Every operation adds at most `count` rows (1 but for a keep).
        ensure!(
            rows.len().saturating_add(count) <= MAX_ROWS,
            "snapshot frame holds more than {MAX_ROWS} rows: damaged"
        );
        rows.try_reserve(count.max(1)).context("no memory for a snapshot table")?;
        match tag & 3 {
            OP_KEEP => {
                let end = i.checked_add(count).filter(|&end| end <= prev_len);
                i = end.context("snapshot frame keeps rows that do not exist")?;
                rows.extend(prev_rows.by_ref().take(count));
            }
            OP_DROP => {
                let end = i.checked_add(count).filter(|&end| end <= prev_len);
                i = end.context("snapshot frame drops rows that do not exist")?;
                prev_rows.by_ref().take(count).for_each(drop);
            }
            OP_CHANGE => {
                ensure!(count == 1, "snapshot frame changes {count} rows at once");
                let base = prev_rows.next().context("snapshot frame changes a row that does not exist")?;
                rows.push(T::decode(&base, &mut input)?);
                i += 1;
            }
            _ => {
                ensure!(count == 1, "snapshot frame inserts {count} rows at once");
                rows.push(T::decode(&T::default(), &mut input)?);
            }
        }
    }
    // Rows not mentioned at the end of a frame were kept implicitly only if
    // the encoder said so; anything else is a damaged frame.
    ensure!(i == prev_len, "snapshot frame ends before the previous table does");
    Ok(rows)
}

thread_local! {
    /// One decompression context per thread, kept: a reader decodes a frame
    /// per table per sample, and setting up a context costs more than a
    /// small frame's decompression.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The operations of a compressed frame. zstd records the size a frame
/// decompresses to: a size past `MAX_FRAME_BYTES` is refused before
/// anything is allocated, and the allocation itself may fail as an error.
fn decompress(body: &[u8]) -> Result<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(body)
        .ok()
        .flatten()
        .context("snapshot frame is not a zstd frame of known size")?;
    let size = usize::try_from(size).ok().filter(|&size| size <= MAX_FRAME_BYTES);
    let size = size.with_context(|| {
        format!("snapshot frame would decompress past {} MiB: damaged", MAX_FRAME_BYTES >> 20)
    })?;
    let mut out = Vec::new();
    out.try_reserve_exact(size).context("no memory to decompress a snapshot frame")?;
    let written = DECOMPRESSOR
        .with(|slot| {
            let mut slot = slot.borrow_mut();
            let decompressor = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(zstd::bulk::Decompressor::new()?),
            };
            decompressor.decompress_to_buffer(body, &mut out)
        })
        .context("decompressing a snapshot frame")?;
    ensure!(written == size, "snapshot frame decompressed to {written} bytes, not the {size} it records");
    Ok(out)
}

/// Field writer: varints, zigzag deltas, strings that repeat cost one byte.
#[derive(Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    pub fn int(&mut self, value: u64, base: u64) {
        let diff = value.wrapping_sub(base) as i64;
        self.varint(((diff << 1) ^ (diff >> 63)) as u64);
    }

    /// `None` is stored as 0, `Some(v)` as v + 1 (saturating at the top).
    pub fn opt_int(&mut self, value: Option<u64>, base: Option<u64>) {
        let lift = |v: Option<u64>| v.map_or(0, |v| v.saturating_add(1));
        self.int(lift(value), lift(base));
    }

    pub fn text(&mut self, value: &str, base: &str) {
        if value == base {
            self.varint(0);
        } else {
            self.varint(value.len() as u64 + 1);
            self.bytes.extend_from_slice(value.as_bytes());
        }
    }
}

/// Field reader; every read is bounds-checked, so damaged frames are errors.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    version: u8,
}

impl Reader<'_> {
    /// The row layout of the frame being read (`Entity::VERSION` when written).
    pub fn version(&self) -> u8 {
        self.version
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).context("snapshot frame is truncated")?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("snapshot frame has an overlong number")
    }

    pub fn int(&mut self, base: u64) -> Result<u64> {
        let zigzag = self.varint()?;
        let diff = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        Ok(base.wrapping_add(diff as u64))
    }

    pub fn int_as<T: TryFrom<u64>>(&mut self, base: T) -> Result<T>
    where
        u64: From<T>,
    {
        let value = self.int(u64::from(base))?;
        T::try_from(value).ok().context("snapshot field out of range")
    }

    pub fn opt_int(&mut self, base: Option<u64>) -> Result<Option<u64>> {
        let lifted = self.int(base.map_or(0, |v| v.saturating_add(1)))?;
        Ok(lifted.checked_sub(1))
    }

    pub fn text(&mut self, base: &Arc<str>) -> Result<Arc<str>> {
        match self.varint()? {
            0 => Ok(base.clone()),
            len_plus_one => Ok(Arc::from(self.raw_text(len_plus_one - 1)?)),
        }
    }

    pub fn string(&mut self, base: &str) -> Result<String> {
        match self.varint()? {
            0 => Ok(base.to_string()),
            len_plus_one => Ok(self.raw_text(len_plus_one - 1)?.to_string()),
        }
    }

    fn raw_text(&mut self, len: u64) -> Result<&str> {
        let len = usize::try_from(len).context("snapshot text length out of range")?;
        let end = self.pos.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.context("snapshot frame is truncated in a text field")?;
        let text = std::str::from_utf8(&self.bytes[self.pos..end]).context("snapshot text is not UTF-8")?;
        self.pos = end;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Default)]
    struct Row {
        id: u64,
        value: u64,
        name: String,
        maybe: Option<u64>,
    }

    impl Entity for Row {
        type Key = u64;
        fn key(&self) -> u64 {
            self.id
        }
        fn encode(&self, base: &Self, out: &mut Writer) {
            out.int(self.id, base.id);
            out.int(self.value, base.value);
            out.text(&self.name, &base.name);
            out.opt_int(self.maybe, base.maybe);
        }
        fn decode(base: &Self, input: &mut Reader) -> Result<Self> {
            Ok(Row {
                id: input.int(base.id)?,
                value: input.int(base.value)?,
                name: input.string(&base.name)?,
                maybe: input.opt_int(base.maybe)?,
            })
        }
    }

    fn row(id: u64, value: u64) -> Row {
        Row { id, value, name: format!("process number {id}"), maybe: id.is_multiple_of(2).then_some(id) }
    }

    fn round_trip(prev: Option<&[Row]>, new: &[Row]) -> usize {
        let mut frame = Vec::new();
        encode_frame(prev, new, &mut frame).unwrap();
        assert_eq!(decode_frame(prev.map(<[Row]>::to_vec), &frame).unwrap(), new);
        frame.len()
    }

    #[test]
    fn key_and_delta_frames_round_trip() {
        let first: Vec<Row> = (0..500).map(|i| row(i * 3, i)).collect();
        let key_size = round_trip(None, &first);
        // A few rows change, one goes, two arrive, the rest stay.
        let mut second = first.clone();
        second[10].value += 7;
        second[200].maybe = None;
        second[300].name = "renamed".into();
        second.remove(400);
        second.push(row(5000, 1));
        second.insert(0, Row { id: 0, ..row(0, 9) });
        second.remove(1);
        second.insert(5, row(13, 2));
        let delta_size = round_trip(Some(&first), &second);
        assert!(delta_size * 20 < key_size, "delta {delta_size} bytes vs key frame {key_size}");
        assert!(is_key_frame(&encode(None, &first)));
        assert!(!is_key_frame(&encode(Some(&first), &second)));
    }

    fn encode(prev: Option<&[Row]>, new: &[Row]) -> Vec<u8> {
        let mut frame = Vec::new();
        encode_frame(prev, new, &mut frame).unwrap();
        frame
    }

    #[test]
    fn edge_tables_round_trip() {
        round_trip(None, &[]);
        round_trip(Some(&[]), &[]);
        round_trip(Some(&[row(1, 1)]), &[]);
        round_trip(Some(&[]), &[row(1, 1)]);
        let extremes =
            [Row { id: u64::MAX, value: u64::MAX, name: String::new(), maybe: Some(u64::MAX - 1) }];
        round_trip(Some(&[row(1, 0)]), &extremes);
    }

    /// Millions of empty rows compress to a few kilobytes: the decoder
    /// refuses them instead of building a table of a gigabyte.
    #[test]
    fn a_tiny_frame_of_millions_of_rows_is_refused() {
        let insert_empty_row = [(1 << 2 | OP_INSERT) as u8, 0, 0, 0, 0];
        let rows = 3_500_000;
        let ops: Vec<u8> =
            insert_empty_row.iter().copied().cycle().take(rows * insert_empty_row.len()).collect();
        let mut frame = vec![ZSTD];
        frame.extend(zstd::bulk::compress(&ops, ZSTD_LEVEL).unwrap());
        assert!(frame.len() < 8192, "{} bytes", frame.len());
        let err = decode_frame::<Row>(None, &frame).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{err:#}");
        // The same rows uncompressed: refused by their number.
        let mut raw = vec![0u8];
        raw.extend(&ops);
        let err = decode_frame::<Row>(None, &raw).unwrap_err();
        assert!(format!("{err:#}").contains("more than"), "{err:#}");
    }

    #[test]
    fn a_frame_of_a_newer_row_layout_is_refused() {
        let mut frame = encode(None, &[row(1, 1)]);
        frame[0] |= 1 << VERSION_SHIFT;
        let err = decode_frame::<Row>(None, &frame).unwrap_err();
        assert!(format!("{err:#}").contains("row version 1, newer"), "{err:#}");
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let first: Vec<Row> = (0..50).map(|i| row(i, i)).collect();
        let mut second = first.clone();
        second[3].value = 99;
        let frame = encode(Some(&first), &second);
        assert!(decode_frame::<Row>(None, &frame).is_err(), "a delta needs its base");
        assert!(decode_frame::<Row>(Some(first[..10].to_vec()), &frame).is_err(), "wrong base");
        for cut in 0..frame.len() {
            let _ = decode_frame::<Row>(Some(first.clone()), &frame[..cut]);
        }
        let key = encode(None, &first);
        for i in 0..key.len() {
            let mut flipped = key.clone();
            flipped[i] ^= 0x5a;
            let _ = decode_frame::<Row>(None, &flipped);
        }
    }
}
