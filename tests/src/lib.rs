//! Independent checks of files recorded by MovieWriterAV1. Each check calls a real external
//! tool that shares no code with the recorder (ffprobe, mkvmerge/mkvinfo, FFmpeg with libdav1d,
//! headless Chromium), so a file passes only if others read it as intended.
//!
//! [`check_recording`] runs them all and returns a [`Report`]; the integration tests use it on
//! files recorded from the core's test scene, and engine tests on files recorded by Godot.

pub mod audio;
pub mod browser;
pub mod check;
pub mod decode;
pub mod engine;
pub mod farm;
pub mod fault;
pub mod film;
pub mod gst;
pub mod memory;
pub mod mkv;
pub mod mp4;
pub mod mwav1;
pub mod probe;
pub mod record;
pub mod slurm;
pub mod ssim;
pub mod table_tests;
pub mod tool;

pub use check::{check_recording, Expected, Report};
/// Counted skips, shared with the core's unit tests (its `test-support` feature).
pub use movie_writer_av1_core::skip;
pub use record::{record_scene, record_scene_with, SceneSpec};
pub use tool::with_time_limit;
