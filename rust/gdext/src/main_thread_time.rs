//! What a recording cost the engine's main thread, said at its end: the writer's own account
//! of the engine's "Encoding time" line, split where the time went, plus `write_begin`, which
//! the engine leaves out of that line but which holds the engine up just the same.

use std::fmt;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct MainThreadTime {
    begin: Duration,
    frames: Duration,
    count: u64,
    /// Of `frames`: waiting for a full queue (the encoder behind, or still opening).
    waited: Duration,
    end: Duration,
}

impl MainThreadTime {
    pub fn begun(started: Instant) -> Self {
        Self {
            begin: started.elapsed(),
            ..Self::default()
        }
    }

    pub fn add_frame(&mut self, started: Instant) {
        self.frames += started.elapsed();
        self.count += 1;
    }

    pub fn ended(&mut self, started: Instant, waited: Duration) {
        self.end = started.elapsed();
        self.waited = waited;
    }
}

impl fmt::Display for MainThreadTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "time on the engine's main thread: {:.3} s starting, {:.3} s in {} frames ({:.3} s of it waiting for the encoder), {:.3} s finishing",
            self.begin.as_secs_f64(),
            self.frames.as_secs_f64(),
            self.count,
            self.waited.as_secs_f64(),
            self.end.as_secs_f64()
        )
    }
}
