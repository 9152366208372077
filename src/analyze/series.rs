//! Time series of one number across the window, and the shape that most
//! findings look for: a rise from a low point to a later high point.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// `(time_ms, value)` pairs, oldest first.
pub type Series = Vec<(i64, f64)>;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rise {
    pub from: f64,
    pub from_ms: i64,
    pub to: f64,
    pub to_ms: i64,
}

impl Rise {
    pub fn increase(&self) -> f64 {
        self.to - self.from
    }
}

/// The largest rise in the series: from the last sample at the lowest
/// level before it to the first sample at the highest, so that its speed
/// is what the samples show (0, 0, 0, 80 rose in one step, not three).
/// `None` for a series that never rises.
pub fn largest_rise(series: &[(i64, f64)]) -> Option<Rise> {
    let mut best: Option<Rise> = None;
    let mut low = *series.first()?;
    for &(time, value) in series {
        if value <= low.1 {
            low = (time, value);
        }
        let rise = Rise { from: low.1, from_ms: low.0, to: value, to_ms: time };
        if rise.increase() > best.map_or(0.0, |b| b.increase()) {
            best = Some(rise);
        }
    }
    best
}

/// How long the series stayed at exactly `level` from `from_ms` on,
/// counted only over steps between samples no further apart than
/// `max_step_ms`: a time without samples is not known to have held.
/// `None` when it held for fewer than `min_samples` samples.
pub fn held_at(
    series: &[(i64, f64)],
    level: f64,
    from_ms: i64,
    max_step_ms: i64,
    min_samples: usize,
) -> Option<i64> {
    let mut held = series.iter().skip_while(|(t, _)| *t < from_ms).take_while(|(_, v)| *v == level);
    let mut prev = held.next()?.0;
    let (mut samples, mut span) = (1, 0);
    for &(time, _) in held {
        if time - prev <= max_step_ms {
            span += time - prev;
        }
        samples += 1;
        prev = time;
    }
    (samples >= min_samples && span > 0).then_some(span)
}

/// The first time the series reached `level`.
pub fn first_at_or_above(series: &[(i64, f64)], level: f64) -> Option<i64> {
    series.iter().find(|(_, v)| *v >= level).map(|(t, _)| *t)
}

/// The first time the series fell to `level`.
pub fn first_at_or_below(series: &[(i64, f64)], level: f64) -> Option<i64> {
    series.iter().find(|(_, v)| *v <= level).map(|(t, _)| *t)
}

pub fn max(series: &[(i64, f64)]) -> Option<(i64, f64)> {
    series.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
}

pub fn min(series: &[(i64, f64)]) -> Option<(i64, f64)> {
    series.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
}

pub fn mean(series: &[(i64, f64)]) -> Option<f64> {
    (!series.is_empty()).then(|| series.iter().map(|(_, v)| v).sum::<f64>() / series.len() as f64)
}

/// Series of many keys over the same samples (a count per command name,
/// per port), built as the samples stream in and kept as each key's
/// changes: a count that holds for a day costs one point, not 17,280. A key
/// absent from a sample is 0 there. At most `cap` keys are followed; the
/// others are counted, not kept.
pub struct Keyed<K> {
    times: Vec<i64>,
    /// Per key, `(index into times, value)` where its value changed.
    changes: HashMap<K, Vec<(u32, f64)>>,
    cap: usize,
    /// Hashes of the keys not followed: counting them costs a number each.
    left_out: HashSet<u64>,
}

impl<K: Hash + Eq + Ord> Keyed<K> {
    pub fn new(cap: usize) -> Self {
        Keyed { times: Vec::new(), changes: HashMap::new(), cap, left_out: HashSet::new() }
    }

    /// The values of one sample at `time_ms`.
    pub fn push(&mut self, time_ms: i64, mut values: HashMap<K, f64>) {
        let index = u32::try_from(self.times.len()).unwrap_or(u32::MAX);
        self.times.push(time_ms);
        for (key, changes) in &mut self.changes {
            let value = values.remove(key).unwrap_or(0.0);
            if changes.last().map(|c| c.1) != Some(value) {
                changes.push((index, value));
            }
        }
        for (key, value) in values {
            if self.changes.len() >= self.cap {
                let mut hasher = DefaultHasher::new();
                key.hash(&mut hasher);
                self.left_out.insert(hasher.finish());
                continue;
            }
            let mut changes = Vec::new();
            if index > 0 {
                changes.push((0, 0.0));
            }
            if changes.last().map(|c: &(u32, f64)| c.1) != Some(value) {
                changes.push((index, value));
            }
            self.changes.insert(key, changes);
        }
    }

    /// How many keys were not followed.
    pub fn left_out(&self) -> usize {
        self.left_out.len()
    }

    /// Each key's whole series in key order, one at a time: only one is
    /// ever held whole.
    pub fn each(self, mut f: impl FnMut(K, Series)) {
        let times = self.times;
        let mut keys: Vec<(K, Vec<(u32, f64)>)> = self.changes.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, changes) in keys {
            let mut series = Vec::with_capacity(times.len());
            for (i, change) in changes.iter().enumerate() {
                let end = changes.get(i + 1).map_or(times.len(), |next| next.0 as usize);
                series.extend(times[change.0 as usize..end].iter().map(|&t| (t, change.1)));
            }
            f(key, series);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_largest_rise_not_the_global_range() {
        let series = [(0, 5.0), (1, 1.0), (2, 9.0), (3, 0.0), (4, 3.0)];
        let rise = largest_rise(&series).unwrap();
        assert_eq!((rise.from, rise.from_ms, rise.to, rise.to_ms), (1.0, 1, 9.0, 2));
        assert!(largest_rise(&[(0, 3.0), (1, 2.0)]).is_none());
        assert!(largest_rise(&[]).is_none());
    }

    #[test]
    fn a_rise_runs_from_the_last_low_sample_to_the_first_high_one() {
        let series = [(0, 0.0), (1000, 0.0), (14_000, 0.0), (16_000, 80.0), (17_000, 80.0)];
        let rise = largest_rise(&series).unwrap();
        assert_eq!((rise.from_ms, rise.to_ms), (14_000, 16_000), "two seconds, not sixteen");
        let dip = [(0, 0.0), (1000, 5.0), (2000, 0.0), (3000, 80.0)];
        assert_eq!(largest_rise(&dip).unwrap().from_ms, 2000);
    }

    #[test]
    fn held_counts_only_time_covered_by_samples() {
        let series = [(0, 80.0), (1000, 80.0), (2000, 80.0), (32_000, 80.0), (33_000, 80.0), (34_000, 79.0)];
        assert_eq!(held_at(&series, 80.0, 0, 3000, 3), Some(3000), "the 30 s without samples is not held");
        assert_eq!(held_at(&series, 80.0, 0, 3000, 6), None);
        assert_eq!(held_at(&series, 79.0, 0, 3000, 1), None, "one sample holds for no time");
    }

    #[test]
    fn keyed_series_come_back_whole_with_absent_keys_at_zero() {
        let mut keyed = Keyed::new(2);
        keyed.push(10, [("a", 1.0)].into_iter().collect());
        keyed.push(20, [("a", 1.0), ("b", 3.0)].into_iter().collect());
        keyed.push(30, [("b", 3.0), ("c", 9.0)].into_iter().collect());
        assert_eq!(keyed.left_out(), 1, "c is past the cap");
        let mut all = Vec::new();
        keyed.each(|key, series| all.push((key, series)));
        assert_eq!(
            all,
            [("a", vec![(10, 1.0), (20, 1.0), (30, 0.0)]), ("b", vec![(10, 0.0), (20, 3.0), (30, 3.0)])]
        );
    }

    #[test]
    fn levels_and_extremes() {
        let series = [(10, 1.0), (20, 4.0), (30, 2.0)];
        assert_eq!(first_at_or_above(&series, 3.0), Some(20));
        assert_eq!(first_at_or_below(&series, 2.0), Some(10));
        assert_eq!(max(&series), Some((20, 4.0)));
        assert_eq!(min(&series), Some((10, 1.0)));
        assert_eq!(mean(&series), Some(7.0 / 3.0));
    }
}
