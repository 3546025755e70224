//! Keeps encoder libraries' console chatter out of the engine log.
//!
//! FFmpeg logs through av_log, whose level is set here: errors only, unless the user asks for
//! more with `MOVIE_WRITER_AV1_VERBOSE=1`. SVT-AV1 prints a banner and its configuration on
//! every open at its default level; the encoder stack is built with that default lowered to
//! errors (scripts/stack/build.sh), and its `SVT_LOG` variable still raises it for anyone who
//! wants the details. Nothing here sets an environment variable: the engine's process has
//! other threads that may read the environment at the same time, which makes `set_var` unsound.

use std::sync::Once;

use ffmpeg_next as ffmpeg;

static APPLY: Once = Once::new();

/// Whether the user asked for the encoder libraries' own output (`MOVIE_WRITER_AV1_VERBOSE`).
pub fn verbose() -> bool {
    std::env::var_os("MOVIE_WRITER_AV1_VERBOSE").is_some_and(|v| v != "0")
}

/// Sets FFmpeg's log level (once per process); call before opening anything through FFmpeg.
pub fn apply() {
    APPLY.call_once(|| {
        let level = if verbose() {
            ffmpeg::log::Level::Info
        } else {
            ffmpeg::log::Level::Error
        };
        ffmpeg::log::set_level(level);
    });
}
