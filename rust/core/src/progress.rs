//! The progress line of a long render. Movie Maker prints nothing between its first line and
//! its last, and a 4K cutscene with motion blur runs for many minutes: every few seconds this
//! says how far it is (frames, and the share and time left when the end is known: a render
//! range, `--quit-after`), how fast it goes and how big the file is so far.

use std::time::{Duration, Instant};

/// How often a line is due unless [`EVERY_ENV`] says otherwise.
pub const EVERY: Duration = Duration::from_secs(5);
/// Seconds between lines (`0` turns the line off): `30` suits a log file, a fraction a test.
pub const EVERY_ENV: &str = "MWAV1_PROGRESS_SECONDS";

pub struct Progress {
    started: Instant,
    last: Instant,
    /// `None`: no line at all.
    every: Option<Duration>,
    /// The frames the run will hand over in all, when known.
    total: Option<u64>,
}

impl Progress {
    /// A line every `every` ([`EVERY`] when `None`; zero: never).
    pub fn new(started: Instant, total: Option<u64>, every: Option<Duration>) -> Self {
        Self {
            started,
            last: started,
            every: Some(every.unwrap_or(EVERY)).filter(|e| !e.is_zero()),
            total: total.filter(|t| *t > 0),
        }
    }

    /// The period [`EVERY_ENV`] asks for, if it holds a number of seconds (0 to a day).
    pub fn every_from_env() -> Option<Duration> {
        let seconds: f64 = std::env::var(EVERY_ENV).ok()?.trim().parse().ok()?;
        (0.0..=86_400.0)
            .contains(&seconds)
            .then(|| Duration::from_secs_f64(seconds))
    }

    /// The line for `frames` handed over so far and `bytes` on disk, once the period has passed
    /// since the last one (or the start); `None` before, and always when the line is off.
    pub fn tick(&mut self, now: Instant, frames: u64, bytes: u64) -> Option<String> {
        if now.duration_since(self.last) < self.every? {
            return None;
        }
        self.last = now;
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let fps = frames as f64 / elapsed.max(1e-9);
        let size = format!("{:.1} MB so far", bytes as f64 / 1e6);
        Some(match self.total {
            Some(total) => {
                let done = frames.min(total);
                let left = (total - done) as f64 / fps.max(1e-9);
                format!(
                    "frame {frames} of {total} ({:.0} %), {fps:.1} fps, {size}, {} left",
                    done as f64 * 100.0 / total as f64,
                    clock(left)
                )
            }
            None => format!("frame {frames}, {fps:.1} fps, {size}"),
        })
    }
}

/// `1 h 02 min`, `3 min 20 s` or `42 s`.
fn clock(seconds: f64) -> String {
    let s = seconds.round().min(u32::MAX as f64) as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_every_five_seconds_with_the_time_left_when_the_end_is_known() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, Some(3600), None);
        assert_eq!(p.tick(t0 + Duration::from_secs(4), 96, 1_000_000), None);
        assert_eq!(
            p.tick(t0 + Duration::from_secs(10), 240, 12_345_678).as_deref(),
            Some("frame 240 of 3600 (7 %), 24.0 fps, 12.3 MB so far, 2 min 20 s left")
        );
        assert_eq!(p.tick(t0 + Duration::from_secs(12), 288, 0), None, "2 s after the last");
        let mut open = Progress::new(t0, None, None);
        assert_eq!(
            open.tick(t0 + Duration::from_secs(5), 150, 0).as_deref(),
            Some("frame 150, 30.0 fps, 0.0 MB so far")
        );
    }

    #[test]
    fn frames_past_the_expected_end_never_give_a_negative_time() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0, Some(100), None);
        let line = p.tick(t0 + Duration::from_secs(6), 130, 0).unwrap();
        assert!(line.ends_with("(100 %), 21.7 fps, 0.0 MB so far, 0 s left"), "{line}");
        assert_eq!(clock(3725.0), "1 h 02 min");
    }

    #[test]
    fn a_zero_period_turns_the_line_off() {
        let t0 = Instant::now();
        let mut off = Progress::new(t0, Some(100), Some(Duration::ZERO));
        assert_eq!(off.tick(t0 + Duration::from_secs(3600), 50, 0), None);
        let mut often = Progress::new(t0, None, Some(Duration::from_millis(100)));
        assert!(often.tick(t0 + Duration::from_millis(150), 5, 0).is_some());
    }
}
