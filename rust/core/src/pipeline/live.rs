//! Real-time capture: the engine runs at full speed and never waits for the encoder. Frames
//! carry their capture time (variable frame rate in the file); when the queue is full a frame is
//! dropped and counted instead of blocking; audio arrives in whatever blocks the audio device
//! produces, on a channel of its own; a replay ring can write the last seconds at any time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{bounded, TrySendError};

use super::encode_thread::EncodeThread;
use super::messages::{Control, FrameJob, Layout, Outputs, Pixels};
use super::replay::{ReplayRing, ReplaySaved};
use super::same_file::identity;
use super::worker::Worker;
use super::{create_output, RecordingStats};
use crate::audio::AudioEncoder;
use crate::backend::{self, BackendKind};
use crate::config::{Container, RecordingConfig};
use crate::error::{ConfigError, Error, ReplayClash, Result};
use crate::frame::VideoFrame;
use crate::pool::Pool;
use crate::resample::Resampler;

#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// Encoding settings; `video.fps` is the nominal rate (the frame-rate cap), which sets the
    /// keyframe interval and the rate control's frame budget.
    pub recording: RecordingConfig,
    /// Write `recording.path`; `false` keeps only the replay buffer (nothing is written until
    /// a replay is saved).
    pub write_file: bool,
    /// Seconds the replay buffer keeps; 0 turns it off.
    pub replay_seconds: f64,
    pub replay_max_bytes: u64,
}

/// Longest replay buffer: an hour is already gigabytes at high bitrates.
pub const MAX_REPLAY_SECONDS: f64 = 3600.0;

/// Most memory the replay buffer may hold, in MiB (`AV1Recorder.replay_max_mb`'s range): held
/// in RAM, so beyond what a game machine has.
pub const MAX_REPLAY_MB: u64 = 65536;

impl LiveConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.write_file {
            self.recording.validate()?;
        } else {
            self.recording.validate_encoding()?;
        }
        if !(0.0..=MAX_REPLAY_SECONDS).contains(&self.replay_seconds) {
            return Err(ConfigError::new(
                "replay_seconds",
                self.replay_seconds,
                format!("0 (off) to {MAX_REPLAY_SECONDS}"),
            )
            .into());
        }
        if !self.write_file && self.replay_seconds == 0.0 {
            // Nothing would be recorded.
            return Err(ConfigError::new(
                "replay_seconds",
                self.replay_seconds,
                "above 0 when there is no file to write (replay buffer only)",
            )
            .into());
        }
        if self.replay_seconds > 0.0 && !(1 << 20..=MAX_REPLAY_MB << 20).contains(&self.replay_max_bytes) {
            return Err(ConfigError::new(
                "replay_max_bytes",
                self.replay_max_bytes,
                format!("1 MiB (1048576) to {MAX_REPLAY_MB} MiB ({})", MAX_REPLAY_MB << 20),
            )
            .into());
        }
        Ok(())
    }
}

/// Counters the engine side can show while recording.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveStats {
    pub frames_queued: u64,
    pub frames_dropped: u64,
    /// Audio blocks not queued because the encode thread was [`CONTROL_CAPACITY`] messages
    /// behind; the file has silence in their place and stays in sync.
    pub audio_blocks_dropped: u64,
}

/// The control channel's bound, in messages: an audio block per engine frame (a few kB each)
/// and the rare replay request. About 8 s of a 60 fps game: by then the encode thread is
/// stalled (a disk that stopped answering, an encoder far slower than the game) and frames are
/// already being dropped; audio is dropped too rather than piling up in memory without bound.
pub const CONTROL_CAPACITY: usize = 512;

pub struct LiveRecorder {
    thread: EncodeThread,
    pixels: Pool<u8>,
    stats: LiveStats,
    backend: BackendKind,
    prefers_rgb: bool,
    fallback_note: Option<String>,
    path: Option<PathBuf>,
    /// The file `path` names (see `same_file.rs`): no replay may be written onto it.
    path_identity: Option<PathBuf>,
    /// Replays asked for and not yet reported: (the path as given, the file it names). A save
    /// onto one of them waits for no one, it is refused: two writers would mix their bytes.
    replays_in_flight: Vec<(PathBuf, PathBuf)>,
    /// Replays reported while `save_replay` looked for finished ones, for the next
    /// [`LiveRecorder::take_replays_saved`].
    replays_done: Vec<ReplaySaved>,
    sample_rate: u32,
    resampler: Resampler,
    replay_on: bool,
}

impl LiveRecorder {
    /// Validates, opens the encoder (and the file, when there is one) and starts the encode
    /// thread. On error nothing is left on disk.
    pub fn start(config: LiveConfig) -> Result<Self> {
        config.validate()?;
        let rec = &config.recording;
        // Staged: dropped on an error below, it leaves a file already at the path untouched.
        let file = match config.write_file {
            true => Some(create_output(&rec.path)?),
            false => None,
        };
        let opened = backend::open(rec).and_then(|(e, note)| {
            Ok((
                e,
                note,
                AudioEncoder::new(rec.audio_codec(), &rec.audio, rec.video.fps)?,
            ))
        });
        let (encoder, fallback_note, audio) = opened?;
        let (backend, prefers_rgb) = (encoder.kind(), encoder.prefers_rgb());
        let depth = rec.max_queued_frames as usize;
        let pixels = Pool::new(depth + 2);
        let pools = (pixels.clone(), Pool::new(1));
        let outputs = Outputs {
            file,
            replay: (config.replay_seconds > 0.0)
                .then(|| ReplayRing::new(config.replay_seconds, config.replay_max_bytes)),
        };
        let path = config.write_file.then(|| rec.path.clone());
        let replay_on = config.replay_seconds > 0.0;
        let sample_rate = rec.audio.sample_rate;
        let channels = rec.audio.channels as usize;
        let recording = config.recording;
        let thread = EncodeThread::start(
            "movie_writer_av1 live encode",
            bounded(depth),
            Some(bounded(CONTROL_CAPACITY)),
            pools,
            move |events| Ok(Worker::new(recording, encoder, audio, outputs, events)),
        )?;
        Ok(Self {
            thread,
            pixels,
            stats: LiveStats::default(),
            backend,
            prefers_rgb,
            fallback_note,
            path_identity: path.as_deref().map(identity),
            path,
            replays_in_flight: Vec::new(),
            replays_done: Vec::new(),
            sample_rate,
            resampler: Resampler::new(sample_rate, channels),
            replay_on,
        })
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The encoder converts colour itself (NVENC): hand it RGBA rather than I420.
    pub fn prefers_rgb(&self) -> bool {
        self.prefers_rgb
    }

    pub fn fallback_note(&self) -> Option<&str> {
        self.fallback_note.as_deref()
    }

    /// The main file; `None` for a replay-buffer-only recording.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn stats(&self) -> LiveStats {
        self.stats
    }

    /// Counts a frame the engine side could not capture (its GPU read-back was still busy).
    pub fn count_dropped(&mut self) {
        self.stats.frames_dropped += 1;
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        self.thread.take_warnings()
    }

    /// Replays written since the last call (each `save_replay` reports exactly once).
    pub fn take_replays_saved(&mut self) -> Vec<ReplaySaved> {
        self.collect_replays();
        std::mem::take(&mut self.replays_done)
    }

    /// Moves the replays reported so far out of the in-flight list.
    fn collect_replays(&mut self) {
        for saved in self.thread.take_replays() {
            if let Some(i) = self.replays_in_flight.iter().position(|(p, _)| *p == saved.path) {
                self.replays_in_flight.swap_remove(i);
            }
            self.replays_done.push(saved);
        }
    }

    /// Queues a frame captured `at` after the recording started. Never blocks: returns
    /// `Ok(false)` when the encoder is behind and the frame was dropped (and counted).
    pub fn push_frame(&mut self, frame: &VideoFrame<'_>, at: Duration) -> Result<bool> {
        self.thread.check()?;
        let mut pixels = self.pixels.take();
        let (width, height) = frame.size();
        let layout = match frame {
            VideoFrame::Rgb(image) => {
                for y in 0..image.height {
                    pixels.extend_from_slice(image.row(y));
                }
                Layout::Rgb(image.format)
            }
            VideoFrame::I420(image) => {
                pixels.extend_from_slice(image.y);
                pixels.extend_from_slice(image.u);
                pixels.extend_from_slice(image.v);
                Layout::I420 {
                    y_stride: image.y_stride,
                    uv_stride: image.uv_stride,
                }
            }
        };
        let job = FrameJob {
            index: self.stats.frames_queued,
            ts_us: Some(at.as_micros() as i64),
            width,
            height,
            layout,
            pixels: Pixels::Pooled(pixels),
            audio: Vec::new(),
        };
        match self.thread.frames().try_send(job) {
            Ok(()) => {
                self.stats.frames_queued += 1;
                Ok(true)
            }
            Err(TrySendError::Full(job)) => {
                if let Pixels::Pooled(v) = job.pixels {
                    self.pixels.give(v);
                }
                self.stats.frames_dropped += 1;
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => Err(self.thread.stopped()),
        }
    }

    /// Queues interleaved PCM taken from the engine `at` after the recording started, mixed
    /// at `rate` Hz (resampled to the recording's rate here, on the caller's thread: it is a
    /// few hundred samples a frame). Call it every frame, with no samples when there is no
    /// audio, so the recording's audio keeps up with its video. Never blocks: a block that
    /// finds the encode thread [`CONTROL_CAPACITY`] messages behind is dropped and counted
    /// (`audio_blocks_dropped`), and the file gets silence in its place.
    pub fn push_audio(&mut self, samples: &[f32], rate: u32, at: Duration) -> Result<()> {
        self.thread.check()?;
        let mut block = Vec::with_capacity(samples.len() * self.sample_rate as usize / rate.max(1) as usize + 64);
        self.resampler.process(samples, rate, &mut block)?;
        let queued = self.thread.try_send_control(Control::Audio {
            samples: block,
            taken_us: Some(at.as_micros() as i64),
        })?;
        if !queued {
            self.stats.audio_blocks_dropped += 1;
        }
        Ok(())
    }

    /// Asks the encode thread to write the last `seconds` of the replay buffer to `path`; the
    /// outcome comes back through [`LiveRecorder::take_replays_saved`]. Refuses a path that
    /// names the file being recorded or a replay still being written.
    pub fn save_replay(&mut self, path: PathBuf, seconds: f64) -> Result<()> {
        self.thread.check()?;
        if Container::from_path(&path).is_none() {
            return Err(ConfigError::new(
                "save_replay(path)",
                path.display(),
                "a path ending in .webm, .mkv or .mp4",
            )
            .into());
        }
        if !self.replay_on {
            return Err(Error::Usage(
                "the replay buffer is off: set replay_seconds above 0 before start()".into(),
            ));
        }
        if !(seconds > 0.0 && seconds <= MAX_REPLAY_SECONDS) {
            return Err(ConfigError::new(
                "save_replay(seconds)",
                seconds,
                format!("more than 0, up to {MAX_REPLAY_SECONDS}"),
            )
            .into());
        }
        let file = identity(&path);
        self.collect_replays();
        let clash = if self.path_identity.as_ref() == Some(&file) {
            Some(ReplayClash::Recording)
        } else if self.replays_in_flight.iter().any(|(_, f)| *f == file) {
            Some(ReplayClash::Replay)
        } else {
            None
        };
        if let Some(clash) = clash {
            return Err(Error::ReplayPathInUse { path, clash });
        }
        if !self.thread.try_send_control(Control::SaveReplay {
            path: path.clone(),
            seconds,
        })? {
            return Err(Error::Behind("the replay request"));
        }
        self.replays_in_flight.push((path, file));
        Ok(())
    }

    /// Stops: encodes what is queued, finalizes the file and waits for replays being written.
    /// Also returns the replays that finished since the last [`LiveRecorder::take_replays_saved`].
    pub fn finish(mut self) -> (Result<RecordingStats>, Vec<ReplaySaved>) {
        let result = self.thread.finish().map(|mut stats| {
            stats.frames_dropped = self.stats.frames_dropped;
            stats.audio_blocks_dropped = self.stats.audio_blocks_dropped;
            stats
        });
        (result, self.take_replays_saved())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `replay_max_mb` reaches the core in bytes: 2 PiB (what an unbounded `i32` of MiB allowed)
    /// is refused with the range, as is less than 1 MiB.
    #[test]
    fn the_replay_budget_is_bounded_in_both_directions() {
        let config = |replay_max_bytes| LiveConfig {
            recording: RecordingConfig::new("bounded.webm", 64, 64, 30),
            write_file: false,
            replay_seconds: 5.0,
            replay_max_bytes,
        };
        assert!(config(512 << 20).validate().is_ok());
        for bad in [2 << 50, (MAX_REPLAY_MB << 20) + 1, (1 << 20) - 1] {
            let e = config(bad).validate().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "replay_max_bytes = {bad} is not allowed: 1 MiB (1048576) to 65536 MiB"
                )),
                "{e}"
            );
        }
    }
}
