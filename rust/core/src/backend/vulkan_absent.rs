//! The Vulkan Video row in a build without the `experimental-vulkan` feature (the shipped
//! library). Its encode path has never run on hardware that encodes AV1 (see `vulkan/mod.rs`),
//! so it is not compiled into what users install; the row stays, so the capability report and
//! `encoder = vulkan` say why it is missing instead of naming an unknown backend.

use super::encoder::VideoEncoder;
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::kinds::{BackendKind, Probe};

pub const NOT_COMPILED_IN: &str = "not compiled in: experimental, never run on hardware that encodes AV1; \
                                   build with the Cargo feature `experimental-vulkan` to try it";

pub fn probe() -> Probe {
    Probe::unavailable(BackendKind::Vulkan, NOT_COMPILED_IN)
}

/// The table's opener for this row; `open` checks the probe first, so this only answers a caller
/// that skipped it.
pub fn open(_: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    Err(Error::Unavailable {
        backend: BackendKind::Vulkan,
        reason: NOT_COMPILED_IN.into(),
    })
}
