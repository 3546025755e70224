//! Engine-independent core of MovieWriterAV1: records RGB(A) frames and PCM audio as AV1 + Opus
//! in WebM or Matroska. The Godot extension (`rust/gdext`) is a thin layer over [`Recorder`];
//! the `mwav1` CLI drives the same pipeline with a built-in test scene. [`LiveRecorder`] is the
//! real-time variant behind the extension's `AV1Recorder` node. The render farm, the conformance
//! suite, the bitstream judge and the test scene live in `movie_writer_av1_tools`, outside the
//! shipped library; what they need from here is public and documented (`ffmpeg_log::capture`,
//! `quiet::apply`, `pipeline::AudioShape`, `mux::demux`).
//!
//! ## Cargo features
//!
//! The following features can be enabled for this crate. All of them are off by default.
//!
//! * **`experimental-vulkan`**
//!
//!   The Vulkan Video backend (`vulkan`, VK_KHR_video_encode_av1 on `ash`). It was written
//!   against the specification and has never run on hardware that encodes AV1, so the library
//!   users install is built without it; there the backend probes as unavailable, saying how to
//!   build it in. With the feature, `auto` and `hardware` still skip it: only `encoder = vulkan`
//!   opens it. The `mwav1` CLI and the test suite build it, so it is compiled, linted and its
//!   checks that need no video queue run.
//!
//! * **`test-support`** (private: for this project's test suite only)
//!
//!   `skip`: a test that cannot run here records why in `$MWAV1_SKIP_LOG`, where
//!   `scripts/run-tests.sh` counts it, or fails when `MWAV1_REQUIRE` names what is missing.
//!   Also `av1::testing` (sequence headers written from scratch) and `backend::test_probe` (a
//!   made-up probe), for the tools crate's unit tests. The core's own unit tests have all of it
//!   without the feature.
//!
//! * **`fault-injection`** (private: for this project's test suite only)
//!
//!   The encode thread reads `MOVIE_WRITER_AV1_FAIL_AFTER_FRAMES` when a recording starts and
//!   fails the encoder once that many frames are encoded, so the tests can check that a failure
//!   mid-stream is reported once and the file so far stays playable. Builds without the feature
//!   never read the variable. Only the `movie_writer_av1_tests` crate enables it; a library
//!   meant for users is built without it (`cargo build -p movie_writer_av1`, on its own).

pub mod audio;
pub mod av1;
pub mod backend;
pub mod color;
pub mod config;
pub mod error;
pub mod ffmpeg_log;
pub mod frame;
pub mod kinds;
pub mod mux;
pub mod pipeline;
mod pool;
pub mod progress;
pub mod quiet;
pub mod render_range;
mod resample;
// libva and libvpl (dlopened on Linux only; the Windows stack has neither VA-API nor QSV).
#[cfg(target_os = "linux")]
mod runtime_libs;
pub mod scale;
pub mod settings;
#[cfg(any(test, feature = "test-support"))]
pub mod skip;
pub mod speed_preset;
mod validate;

pub use config::{Container, MotionBlur, RecordingConfig};
pub use error::{ConfigError, Error, RangeError, ReplayClash, Result};
pub use frame::{HeldPixels, I420Image, PixelFormat, RgbImage, VideoFrame};
pub use kinds::{BackendKind, BackendPreference, Probe, RateControl};
pub use pipeline::{LiveConfig, LiveRecorder, LiveStats, Opened, Recorder, RecordingStats, ReplaySaved};
pub use render_range::{RangeRequest, RenderRange};
