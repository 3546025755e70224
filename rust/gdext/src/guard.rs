//! No panic crosses into the engine: every entry point from Godot runs the core's code through
//! [`guarded`], which turns a panic into an error that the caller reports as any other (the
//! log, and the `AV1Recorder`'s `error` signal), rather than leaving it to the binding's own
//! catch, which only logs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use movie_writer_av1_core::Error;

/// Runs `f`; a panic in it becomes an error naming `what`.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Thread(format!("internal error in {what}: {msg}")))
    })
}
