//! The direct NVENC backend off Linux. Its crate, `shiguredo_nvcodec` 2026.2, opens the Linux
//! driver's libraries (`libcuda.so.1` and so on) on every OS, and its bindings cannot even be
//! generated for Windows here, so it is a Linux-only dependency. Everywhere else the backend
//! probes as unavailable, saying so; FFmpeg's `av1_nvenc` (`ffmpeg_nvenc`) drives NVENC there.

use super::encoder::VideoEncoder;
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::kinds::{BackendKind, Probe};

pub const NOT_THIS_OS: &str = "not available on this OS: its crate (shiguredo_nvcodec) loads the Linux NVIDIA \
                               driver's libraries only; ffmpeg_nvenc drives NVENC here";

pub fn probe() -> Probe {
    Probe::unavailable(BackendKind::Nvenc, NOT_THIS_OS)
}

/// The table's opener for this row; `open` checks the probe first, so this only answers a caller
/// that skipped it.
pub fn open(_: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    Err(Error::Unavailable {
        backend: BackendKind::Nvenc,
        reason: NOT_THIS_OS.into(),
    })
}
