//! Test-only fault injection, compiled in only with the private `fault-injection` feature (see
//! the crate docs): the test suite makes the encoder fail mid-stream to check that the failure
//! is reported once and the file so far stays playable, and stalls the encode thread to check
//! that live capture's queues stay bounded. Builds without the feature never read the variables.

use crate::backend::BackendKind;
use crate::error::{Error, Result};

/// Fail the encoder once this many frames have been encoded.
pub const FAULT_ENV: &str = "MOVIE_WRITER_AV1_FAIL_AFTER_FRAMES";

/// Stall the encode thread this many milliseconds before it encodes its first frame, as a disk
/// that stopped answering would.
pub const STALL_ENV: &str = "MOVIE_WRITER_AV1_STALL_MS";

/// The fault a recording was started with: read once, when its encode thread starts.
pub(super) struct Fault {
    after_frames: Option<u64>,
    stall: Option<std::time::Duration>,
}

impl Fault {
    pub fn from_env() -> Self {
        Self {
            after_frames: std::env::var(FAULT_ENV).ok().and_then(|v| v.parse().ok()),
            stall: std::env::var(STALL_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis),
        }
    }

    /// Sleeps through the injected stall at the first frame.
    pub fn stall(&self, index: u64) {
        if let (0, Some(stall)) = (index, self.stall) {
            std::thread::sleep(stall);
        }
    }

    /// The injected encoder error for frame `index`, once it is due.
    pub fn check(&self, index: u64, backend: BackendKind) -> Result<()> {
        match self.after_frames {
            Some(n) if index >= n => Err(Error::Encoder {
                backend,
                message: format!("injected fault after {index} frames ({FAULT_ENV})"),
            }),
            _ => Ok(()),
        }
    }
}
