//! What travels between the recorders and the encode thread: the queued frames with their
//! bytes, live capture's control messages (audio, replay requests), the events sent back, and
//! where the packets go. Apart from the worker so that the recorders' side (`mod.rs`,
//! `live.rs`, `encode_thread.rs`) and the worker's helpers share these types without
//! reaching into the worker loop.

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Sender;

use super::replay::{ReplayRing, ReplaySaved};
use super::RecordingStats;
use crate::backend::BackendKind;
use crate::error::Result;
use crate::frame::{HeldPixels, PixelFormat};
use crate::mux::StagedFile;

/// How a queued frame's bytes are laid out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Layout {
    Rgb(PixelFormat),
    /// Contiguous I420 planes (see [`crate::frame::I420Image::contiguous`]).
    I420 {
        y_stride: usize,
        uv_stride: usize,
    },
}

pub(super) struct FrameJob {
    pub index: u64,
    /// Capture time in µs since the recording started (live capture); `None` = frame `index`
    /// of a fixed frame rate (Movie Maker).
    pub ts_us: Option<i64>,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub pixels: Pixels,
    /// Movie Maker: this frame's interleaved int32 PCM block.
    pub audio: Vec<i32>,
}

/// A queued frame's bytes: a buffer of the recorder's pool, filled by copying, or the caller's
/// own buffer, held until the frame is encoded (see [`HeldPixels`]) and then sent back on
/// `back`, so that it is dropped on the caller's thread: the engine's buffers may only be
/// released there.
pub(super) enum Pixels {
    Pooled(Vec<u8>),
    Held {
        pixels: Box<dyn HeldPixels>,
        back: Sender<Box<dyn HeldPixels>>,
    },
}

impl Pixels {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Pooled(v) => v,
            Self::Held { pixels, .. } => pixels.bytes(),
        }
    }
}

/// The video encoder a recording opened on its encode thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub backend: BackendKind,
    /// Set when `auto` fell back to software: why no hardware backend was used.
    pub fallback_note: Option<String>,
    /// From the thread's start to the encoder open: waiting for the backend probes, if they
    /// were still running, and the encoder's own start-up.
    pub took: Duration,
}

/// What the encode thread tells the recorder, on one channel, in the order it happened.
pub(super) enum Event {
    /// The encoder is open (Movie Maker's recorder opens it on the encode thread).
    Opened(Opened),
    /// Something the user should know, said once per recording.
    Warning(String),
    ReplaySaved(ReplaySaved),
    /// The last event: how the recording ended, and its figures.
    Ended(Result<()>, RecordingStats),
}

/// Live capture's other messages, on a channel apart from the frames (see `live.rs` for its
/// bound and what happens when it is full).
pub(super) enum Control {
    /// Interleaved f32 PCM, already at the recording's sample rate, taken from the engine
    /// `taken_us` after the recording started (`None`: silence we generate).
    Audio {
        samples: Vec<f32>,
        taken_us: Option<i64>,
    },
    SaveReplay {
        path: PathBuf,
        seconds: f64,
    },
}

/// Where the encoded packets go.
pub(super) struct Outputs {
    /// `None` for a replay-buffer-only live recording.
    pub file: Option<StagedFile>,
    pub replay: Option<ReplayRing>,
}
