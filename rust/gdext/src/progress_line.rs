//! Where Movie Maker's progress line goes (the line itself: the core's `progress.rs`). Run from
//! a terminal, it is one line rewritten in place; run from the editor (whose Output panel gets
//! only the engine's prints) or into a pipe or a log file, a line every few seconds.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use godot::classes::EngineDebugger;
use godot::prelude::*;
use movie_writer_av1_core::progress::Progress;
use movie_writer_av1_core::RecordingConfig;

pub struct ProgressLine {
    progress: Progress,
    frames: u64,
    /// In place on a terminal: each line overwrites the last, and the end moves to a new line.
    in_place: bool,
    shown: bool,
}

impl ProgressLine {
    pub fn new(started: Instant, config: &RecordingConfig) -> Self {
        Self {
            progress: Progress::new(started, expected_frames(config), Progress::every_from_env()),
            frames: 0,
            in_place: !EngineDebugger::singleton().is_active() && std::io::stdout().is_terminal(),
            shown: false,
        }
    }

    /// Counts a frame handed over; shows the line when one is due. `path`: the file so far.
    pub fn frame(&mut self, path: &std::path::Path) {
        self.frames += 1;
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        let Some(line) = self.progress.tick(Instant::now(), self.frames, bytes) else {
            return;
        };
        if self.in_place {
            let mut out = std::io::stdout().lock();
            // Errors ignored: a progress line is not worth failing a frame over.
            let _ = write!(out, "\rMovieWriterAV1: {line}\x1b[K");
            let _ = out.flush();
            self.shown = true;
        } else {
            godot_print!("MovieWriterAV1: {line}");
        }
    }

    /// Ends an in-place line, so that what is printed next starts on a line of its own.
    pub fn end(&mut self) {
        if self.in_place && self.shown {
            let _ = writeln!(std::io::stdout().lock());
            self.shown = false;
        }
    }
}

/// The engine frames this run hands over, when known: a render range's (pre-roll included, each
/// motion-blur sample a frame), else `--quit-after N`.
fn expected_frames(config: &RecordingConfig) -> Option<u64> {
    if let Ok(Some(r)) = config.render_range() {
        let samples = u64::from(config.motion_blur.samples.max(1));
        return (r.end - r.start).checked_add(r.preroll)?.checked_mul(samples);
    }
    // The process's own arguments: the engine's `OS.get_cmdline_args()` leaves out those it
    // consumed, `--quit-after` among them.
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--quit-after")?;
    args.get(at + 1)?.parse().ok()
}
