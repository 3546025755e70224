//! The recording pipeline: the engine thread queues each frame (its own buffer, held, or a
//! copy in a pooled buffer) and audio block; one encode thread opens the video encoder, then
//! converts colour, encodes video and audio, interleaves and muxes.
//!
//! ```text
//! engine thread ──push_frame──▶ bounded queue ──▶ encode thread: RGB→YUV ▶ AV1 encoder ─┐
//!   (no encoder work; blocks     (max_queued_frames)               PCM ▶ Opus ──────────┴▶ interleave ▶ Matroska file
//!    when the queue is full)
//! ```
//!
//! An error on the encode thread ends it after finalizing what was written (so the file stays
//! playable); the engine thread sees that error, typed, on its next `push_frame` and every
//! call after, and in `finish`. Warnings and saved replays come back on the same event channel
//! (`encode_thread`).
//!
//! With a render range ([`crate::render_range`]) the recorder drops the pre-roll frames and
//! their audio blocks before they are queued, queues exactly the range's frames, and ignores
//! any that come after ([`Recorder::range_done`] tells the caller to stop the engine). The
//! audio encoder counts from the range's first frame, so each chunk's samples are those of one
//! long recording.
//!
//! [`LiveRecorder`] drives the same encode thread for real-time capture: frames carry their
//! capture time, a full queue drops the frame instead of blocking, audio comes on its own
//! channel, and a replay ring keeps the last seconds of packets for `save_replay`.

mod encode_thread;
#[cfg(feature = "fault-injection")]
mod fault;
mod frame_fit;
mod live;
mod messages;
mod priority;
mod replay;
mod replay_schedule;
mod same_file;
mod temporal;
mod timing;
mod worker;

#[cfg(feature = "fault-injection")]
pub use fault::{FAULT_ENV, STALL_ENV};
pub use live::{LiveConfig, LiveRecorder, LiveStats, CONTROL_CAPACITY, MAX_REPLAY_MB};
pub use messages::Opened;
pub use replay::ReplaySaved;
// The render farm's merge times its one audio encode as a recording does.
pub use timing::AudioShape;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};

use crate::audio::AudioEncoder;
use crate::backend::{self, BackendKind};
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::frame::{HeldPixels, PixelFormat, RgbImage};
use crate::mux::StagedFile;
use crate::pool::Pool;
use crate::render_range::RangeGate;
use encode_thread::EncodeThread;
use messages::{FrameJob, Layout, Outputs, Pixels};
use worker::Worker;

/// Figures about a finished (or failed) recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingStats {
    pub backend: Option<BackendKind>,
    pub frames: u64,
    pub duration_s: f64,
    pub bytes: u64,
    pub average_bitrate_kbps: f64,
    /// Frames per second of encode-thread time (conversion + encode + mux).
    pub encode_fps: f64,
    /// Always 0 for Movie Maker: every frame handed over is encoded exactly once.
    pub frames_dropped: u64,
    pub queue_high_water: usize,
    pub audio_samples: u64,
    /// Frames whose size differed from the first frame's and were letterboxed.
    pub frames_rescaled: u64,
    /// Live capture: samples of silence put in where the engine's audio fell behind the video.
    pub audio_silence_inserted: u64,
    /// Live capture: audio blocks dropped because the encode thread was far behind (see
    /// `LiveStats`); their time is in `audio_silence_inserted`.
    pub audio_blocks_dropped: u64,
}

type Held = Box<dyn HeldPixels>;

pub struct Recorder {
    thread: EncodeThread,
    /// Held frames come back here once encoded, to be dropped on the caller's thread (at the
    /// next push, or with the recorder). Declared after `thread`, which joins the encode thread
    /// when dropped, so none is left with that thread.
    held_back: (Sender<Held>, Receiver<Held>),
    pixels: Pool<u8>,
    audio: Pool<i32>,
    next_index: u64,
    queue_high_water: usize,
    backpressure_wait: Duration,
    path: PathBuf,
    /// With a render range: which engine frames go into the file.
    range: Option<RangeGate>,
}

impl Recorder {
    /// Validates the config, creates the output file and starts the encode thread, which opens
    /// the video encoder there: the caller's thread never waits for the backend probes or the
    /// encoder's start-up (0.4 s for SVT-AV1 at 1080p on 16 cores), and frames queue meanwhile.
    /// The encode thread and the encoder's threads run below the caller's priority
    /// (`priority.rs`).
    /// [`Recorder::wait_opened`] waits for the open; an open that fails fails the recording,
    /// reported by the next call.
    ///
    /// The file is written beside its final name until its first media is on disk (see
    /// [`StagedFile`]): a recording that fails before, here (bad settings, a path that cannot be
    /// written, the audio encoder) or on the encode thread (the encoder does not open), leaves
    /// nothing on disk and a file already at that name as it was.
    pub fn start(config: RecordingConfig) -> Result<Self> {
        config.validate()?;
        let range = config.render_range()?;
        // The file first: a bad path is the likeliest failure and the cheapest to find out.
        let file = create_output(&config.path)?;
        // The audio encoder counts the engine's frames from the range's first.
        let audio = AudioEncoder::new(config.audio_codec(), &config.audio, config.engine_fps())?
            .starting_at(range.map_or(0, |r| r.start * u64::from(config.motion_blur.samples.max(1))));
        let depth = config.max_queued_frames as usize;
        let pixels = Pool::new(depth + 2);
        let audio_pool = Pool::new(depth + 2);
        let pools = (pixels.clone(), audio_pool.clone());
        let path = config.path.clone();
        let range = range.map(|r| RangeGate::new(r, config.motion_blur.samples));
        let thread = EncodeThread::start("movie_writer_av1 encode", bounded(depth), None, pools, move |events| {
            let began = Instant::now();
            // Before the open, so that the encoder's own threads inherit it.
            priority::yield_to_the_engine();
            // The encoder works at the output size.
            let mut encoded = config.clone();
            (encoded.video.width, encoded.video.height) = config.output_dims();
            // An encoder that does not open drops the staged file: nothing was replaced.
            let (encoder, fallback_note) = backend::open(&encoded)?;
            let _ = events.send(messages::Event::Opened(Opened {
                backend: encoder.kind(),
                fallback_note,
                took: began.elapsed(),
            }));
            let outputs = Outputs {
                file: Some(file),
                replay: None,
            };
            Ok(Worker::new(config, encoder, audio, outputs, events))
        })?;
        Ok(Self {
            thread,
            held_back: unbounded(),
            pixels,
            audio: audio_pool,
            next_index: 0,
            queue_high_water: 0,
            backpressure_wait: Duration::ZERO,
            path,
            range,
        })
    }

    /// The encoder, once the encode thread has opened it; `None` before (never blocks).
    pub fn opened(&mut self) -> Option<&Opened> {
        self.thread.opened()
    }

    /// Waits for the encode thread to open the encoder: which backend it is, or why it could
    /// not open (the recording has then failed, and left no file).
    pub fn wait_opened(&mut self) -> Result<Opened> {
        self.thread.wait_opened()
    }

    /// With a render range: true once its last frame has been queued. The caller then stops
    /// the engine; frames it still hands over are ignored.
    pub fn range_done(&self) -> bool {
        self.range.as_ref().is_some_and(RangeGate::done)
    }

    /// Warnings from the encode thread since the last call, for the caller to log on its own
    /// thread (each situation is reported once per recording).
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.thread.take_warnings()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Total time `push_frame` has spent blocked on a full queue, waiting for the encoder. Kept
    /// apart so that the copy cost and the encoder's backpressure can be told apart.
    pub fn backpressure_wait(&self) -> Duration {
        self.backpressure_wait
    }

    /// Copies one frame and its audio block and queues them (with a render range: only when
    /// the frame lies in it). Blocks while the queue is full
    /// (backpressure); returns the encode thread's error if it has stopped, and that same error
    /// on every call after.
    pub fn push_frame(&mut self, image: &RgbImage<'_>, audio: &[i32]) -> Result<()> {
        self.thread.check()?;
        if !self.in_range() {
            return Ok(());
        }
        let mut pixels = self.pixels.take();
        let row = image.width as usize * image.format.bytes_per_pixel();
        pixels.reserve(row * image.height as usize);
        for y in 0..image.height {
            pixels.extend_from_slice(image.row(y));
        }
        self.queue(image.width, image.height, image.format, Pixels::Pooled(pixels), audio)
    }

    /// As [`Recorder::push_frame`], without copying the frame: `pixels` (a tightly packed
    /// `width × height` image in `format`) travels to the encode thread, which hands it back once
    /// the frame is encoded, to be dropped on this thread at a later push or with the recorder.
    /// For callers whose frame buffer can be shared safely (the engine's reference-counted image
    /// data), this takes the frame copy off the caller's thread.
    pub fn push_held_frame(
        &mut self,
        (width, height): (u32, u32),
        format: PixelFormat,
        pixels: Box<dyn HeldPixels>,
        audio: &[i32],
    ) -> Result<()> {
        self.held_back.1.try_iter().for_each(drop);
        self.thread.check()?;
        if !self.in_range() {
            return Ok(());
        }
        RgbImage::packed(width, height, format, pixels.bytes())?;
        let back = self.held_back.0.clone();
        self.queue(width, height, format, Pixels::Held { pixels, back }, audio)
    }

    /// Counts one engine frame against the render range, if any: false for a frame outside it
    /// (pre-roll, or after its end), whose picture and audio are then both left out.
    fn in_range(&mut self) -> bool {
        self.range.as_mut().is_none_or(RangeGate::admit)
    }

    fn queue(&mut self, width: u32, height: u32, format: PixelFormat, pixels: Pixels, audio: &[i32]) -> Result<()> {
        let mut block = self.audio.take();
        block.extend_from_slice(audio);
        let job = FrameJob {
            index: self.next_index,
            ts_us: None,
            width,
            height,
            layout: Layout::Rgb(format),
            pixels,
            audio: block,
        };
        let jobs = self.thread.frames();
        self.queue_high_water = self.queue_high_water.max(jobs.len() + 1);
        let sent = match jobs.try_send(job) {
            Ok(()) => true,
            // The encoder is behind: wait for it, and account the wait apart from the copy.
            Err(TrySendError::Full(job)) => {
                let waiting = Instant::now();
                let sent = jobs.send(job).is_ok();
                self.backpressure_wait += waiting.elapsed();
                sent
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        if !sent {
            return Err(self.thread.stopped());
        }
        self.next_index += 1;
        Ok(())
    }

    /// Drains the queue, flushes the encoders and finalizes the file.
    pub fn finish(mut self) -> Result<RecordingStats> {
        let mut stats = self.thread.finish()?;
        stats.queue_high_water = self.queue_high_water;
        Ok(stats)
    }
}

/// Creates the output file beside `path` (see [`StagedFile`]), making missing parent folders
/// as Godot's own writers do.
fn create_output(path: &Path) -> Result<StagedFile> {
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "the path is a folder; give a file name ending in .webm, .mkv or .mp4",
            ),
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    StagedFile::create(path).map_err(|e| Error::io(path, e))
}
