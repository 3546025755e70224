//! Validation of a [`RecordingConfig`]: each table-backed field against the settings table, and
//! the rules that span fields (size, rates, the container's audio codecs). It sits above both
//! `config` and `settings`, so the table can read and write a config without the config calling
//! back into the table (an import circle).

use crate::config::{RecordingConfig, MAX_HEIGHT, MAX_WIDTH};
use crate::error::{ConfigError, Error};
use crate::kinds::RateControl;

impl RecordingConfig {
    /// Checks every value against its allowed range. The first error wins; its text names the
    /// Godot project setting so a user knows which field to fix.
    pub fn validate(&self) -> Result<(), Error> {
        if self.container().is_none() {
            return Err(ConfigError::new(
                "movie file",
                self.path.display(),
                "the path must end in .webm, .mkv or .mp4",
            )
            .into());
        }
        if let (Some(container), Some(codec)) = (self.container(), self.audio.codec) {
            if !container.allows(codec) {
                return Err(ConfigError::new(
                    "editor/movie_writer/av1/audio_codec",
                    codec.name(),
                    "opus for .webm (WebM holds Opus only); aac or opus for .mp4; aac, opus or pcm for .mkv",
                )
                .into());
            }
        }
        self.render_range()?;
        Ok(self.validate_encoding()?)
    }

    /// Everything [`RecordingConfig::validate`] checks except the path: for a live recording
    /// that only fills its replay buffer.
    pub fn validate_encoding(&self) -> Result<(), ConfigError> {
        let v = &self.video;
        let a = &self.audio;
        check_range("movie width", v.width, 1, MAX_WIDTH)?;
        check_range("movie height", v.height, 1, MAX_HEIGHT)?;
        check_range("fixed fps", v.fps, 1, 1000)?;
        crate::settings::check_config(self)?;
        check_range("fixed fps", self.engine_fps(), 1, 64_000)?;
        if v.rate_control == RateControl::Vbr && v.max_bitrate_kbps != 0 && v.max_bitrate_kbps < v.bitrate_kbps {
            return Err(ConfigError::new(
                "editor/movie_writer/av1/max_bitrate_kbps",
                v.max_bitrate_kbps,
                format!("0 (no cap) or at least the bitrate ({} kbps)", v.bitrate_kbps),
            ));
        }
        if a.sample_rate != 48_000 {
            return Err(ConfigError::new(
                "editor/movie_writer/mix_rate",
                a.sample_rate,
                "48000 (Opus encodes at 48 kHz; MovieWriterAV1 asks the engine for it)",
            ));
        }
        if a.channels != 2 {
            return Err(ConfigError::new(
                "editor/movie_writer/speaker_mode",
                a.channels,
                "stereo (2 channels)",
            ));
        }
        Ok(())
    }
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    setting: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::new(setting, &value, format!("{min} to {max}")));
    }
    Ok(())
}
