//! Progress lines for long work (replaying the log at start, restoring a big snapshot,
//! writing a checkpoint): nothing for work that ends within a second, then one log line per
//! second with how far it is, the rate and the time left, and a last line when it is done.

use std::time::{Duration, Instant};

/// Work shorter than this says nothing; longer work says something this often.
pub const EVERY: Duration = Duration::from_secs(1);

/// One piece of long work, measured in `unit`s (bytes, records) out of `total`.
pub struct Progress {
    what: &'static str,
    unit: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Option<Instant>,
    /// The clock is read only once `done` reaches this (every thousandth of the total), so
    /// counting costs next to nothing.
    next_check: u64,
}

/// What a progress line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub percent: f64,
    pub rate_per_s: f64,
    pub eta_s: f64,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str, total: u64) -> Progress {
        Progress { what, unit, total, done: 0, started: Instant::now(), last_line: None, next_check: 0 }
    }

    /// `n` more units done; logs a line if one is due.
    pub fn advance(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if self.done < self.next_check {
            return;
        }
        self.next_check = self.done.saturating_add((self.total / 1000).max(1));
        if let Some(line) = self.due(Instant::now()) {
            let (done, total, rate) = if self.unit == "bytes" {
                let mb = |n: f64| format!("{:.0} MB", n / 1e6);
                (mb(self.done as f64), mb(self.total as f64), format!("{:.0} MB/s", line.rate_per_s / 1e6))
            } else {
                (self.done.to_string(), self.total.to_string(), format!("{:.0} {}/s", line.rate_per_s, self.unit))
            };
            tracing::info!(
                what = self.what,
                %done,
                %total,
                percent = format!("{:.1}", line.percent),
                %rate,
                eta_s = format!("{:.0}", line.eta_s),
                "progress"
            );
        }
    }

    /// The line due at `now`, if any: none within the first second, then one per second.
    pub fn due(&mut self, now: Instant) -> Option<Line> {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < EVERY || self.last_line.is_some_and(|at| now.saturating_duration_since(at) < EVERY) {
            return None;
        }
        self.last_line = Some(now);
        let rate = self.done as f64 / elapsed.as_secs_f64();
        let left = self.total.saturating_sub(self.done) as f64;
        Some(Line {
            percent: if self.total == 0 { 100.0 } else { 100.0 * self.done as f64 / self.total as f64 },
            rate_per_s: rate,
            eta_s: if rate > 0.0 { left / rate } else { f64::INFINITY },
        })
    }

    /// The work is done: a last line if it took long enough to have said anything.
    pub fn finish(self) {
        let took = self.started.elapsed();
        if took >= EVERY {
            tracing::info!(
                what = self.what,
                done = self.done,
                unit = self.unit,
                took_s = format!("{:.1}", took.as_secs_f64()),
                "done"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_for_a_second_then_a_line_a_second_with_rate_and_eta() {
        let mut p = Progress::new("replaying the log", "bytes", 1000);
        let start = p.started;
        p.done = 100;
        assert_eq!(p.due(start + Duration::from_millis(900)), None);
        let line = p.due(start + Duration::from_secs(1)).unwrap();
        assert_eq!((line.percent, line.rate_per_s, line.eta_s), (10.0, 100.0, 9.0));
        assert_eq!(p.due(start + Duration::from_millis(1500)), None, "one line per second");
        p.done = 500;
        let line = p.due(start + Duration::from_secs(2)).unwrap();
        assert_eq!((line.percent, line.rate_per_s, line.eta_s), (50.0, 250.0, 2.0));
    }
}
