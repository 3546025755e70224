//! Keeps encoder libraries' console chatter out of the engine log.
//!
//! SVT-AV1 prints a banner and its configuration to stderr on every open, and FFmpeg logs
//! through av_log. Both are silenced to errors-only unless the user asks for them with
//! `MOVIE_WRITER_AV1_VERBOSE=1` (or has set `SVT_LOG` themselves).

use std::sync::Once;

use ffmpeg_next as ffmpeg;

static APPLY: Once = Once::new();

pub fn verbose() -> bool {
    std::env::var_os("MOVIE_WRITER_AV1_VERBOSE").is_some_and(|v| v != "0")
}

pub fn apply() {
    APPLY.call_once(|| {
        if verbose() {
            ffmpeg::log::set_level(ffmpeg::log::Level::Info);
            return;
        }
        ffmpeg::log::set_level(ffmpeg::log::Level::Error);
        if std::env::var_os("SVT_LOG").is_none() {
            // Set once, before the first encoder is created (SVT-AV1 reads SVT_LOG then).
            // Level 1 = errors only.
            std::env::set_var("SVT_LOG", "1");
        }
    });
}
