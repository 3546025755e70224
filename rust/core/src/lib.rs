//! Engine-independent core of MovieWriterAV1: records RGB(A) frames and PCM audio as AV1 + Opus
//! in WebM or Matroska. The Godot extension (`rust/gdext`) is a thin layer over [`Recorder`];
//! the `mwav1` CLI drives the same pipeline with a built-in test scene. [`LiveRecorder`] is the
//! real-time variant behind the extension's `AV1Recorder` node.

pub mod audio;
pub mod av1;
pub mod backend;
pub mod color;
pub mod config;
pub mod conformance;
pub mod error;
pub mod frame;
pub mod mux;
pub mod pipeline;
mod pool;
mod quiet;
mod resample;
mod runtime_libs;
pub mod scale;
pub mod scene;
pub mod settings;

pub use backend::{BackendKind, BackendPreference, Probe};
pub use config::{Container, RateControl, RecordingConfig};
pub use error::{ConfigError, Error, Result};
pub use frame::{I420Image, PixelFormat, RgbImage, VideoFrame};
pub use pipeline::{LiveConfig, LiveRecorder, LiveStats, Recorder, RecordingStats, ReplaySaved};
