//! A per-minute timeline of the window: one row per minute with the worst
//! value of each headline number in that minute, built as the samples
//! stream by.

use crate::model::StoredSample;
use crate::model::catalogue::Minute;
use crate::model::rates;
use crate::model::sample::Filesystem;

#[derive(Default)]
pub struct Timeline {
    minutes: Vec<Minute>,
}

impl Timeline {
    /// `prev` is the sample before `stored` in the same run, if any.
    pub fn observe(&mut self, prev: Option<&StoredSample>, stored: &StoredSample) {
        let minutes = &mut self.minutes;
        let s = &stored.sample;
        let start = s.time_ms - s.time_ms.rem_euclid(60_000);
        if minutes.last().is_none_or(|m| m.time_ms != start) {
            minutes.push(Minute { time_ms: start, first_sample_ms: s.time_ms, ..Minute::default() });
        }
        let m = minutes.last_mut().expect("pushed above");
        m.samples += 1;
        m.lateness_ms = m.lateness_ms.max(s.lateness_ms);
        max_f(&mut m.load1, s.load.map(|l| l.load1));
        let busy =
            prev.and_then(|p| rates::cpu_percent(p.sample.cpu.as_ref()?, s.cpu.as_ref()?)).map(|c| c.busy());
        max_f(&mut m.cpu_busy_pct, busy);
        if let Some(mem) = s.memory {
            m.mem_available = Some(m.mem_available.map_or(mem.available, |v| v.min(mem.available)));
            max_u(&mut m.swap_used, Some(mem.swap_total.saturating_sub(mem.swap_free)));
        }
        max_f(&mut m.psi_cpu, s.pressure.cpu.map(|p| p.some_avg10));
        max_f(&mut m.psi_memory, s.pressure.memory.map(|p| p.some_avg10));
        max_f(&mut m.psi_io, s.pressure.io.map(|p| p.some_avg10));
        max_u(&mut m.processes, s.tasks.map(|t| t.processes));
        if let Some(list) = &s.processes {
            max_u(&mut m.d_state, Some(list.iter().filter(|p| p.state == 'D').count() as u64));
        }
        max_u(&mut m.open_files, s.files.map(|f| f.allocated));
        if let Some(list) = &s.sockets {
            let open = list.iter().filter(|p| p.is_open_connection());
            max_u(&mut m.connections, Some(open.map(|p| u64::from(p.count)).sum()));
        }
        if let Some(list) = &s.filesystems {
            max_f(&mut m.fullest_fs_pct, list.iter().map(Filesystem::used_pct).max_by(f64::total_cmp));
        }
    }

    pub fn finish(self) -> Vec<Minute> {
        self.minutes
    }
}

fn max_f(slot: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value {
        *slot = Some(slot.map_or(v, |s| s.max(v)));
    }
}

fn max_u(slot: &mut Option<u64>, value: Option<u64>) {
    if let Some(v) = value {
        *slot = Some(slot.map_or(v, |s| s.max(v)));
    }
}
