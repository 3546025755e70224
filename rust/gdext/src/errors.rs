//! The one place core errors become Godot errors: an `Error` code for the engine and a message
//! for the log that says what went wrong and what to do, in the engine's terms.

use godot::global::Error as GdError;
use movie_writer_av1_core::{ConfigError, Error};

/// The class an error surfaced in: its name starts the message, and its settings are named as
/// the engine user knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `MovieWriterAV1`, configured through Project Settings.
    Writer,
    /// `AV1Recorder`, configured through its properties.
    Recorder,
}

/// Live-capture settings (`LiveConfig` fields) that `AV1Recorder` exposes as properties of the
/// same name.
const RECORDER_PROPERTIES: [&str; 1] = ["replay_seconds"];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Self::Writer => "MovieWriterAV1",
            Self::Recorder => "AV1Recorder",
        }
    }

    /// The engine's name for a setting the core names, when it differs.
    fn engine_setting(self, setting: &str) -> Option<String> {
        (self == Self::Recorder && RECORDER_PROPERTIES.contains(&setting)).then(|| format!("AV1Recorder.{setting}"))
    }
}

pub fn to_godot(e: &Error, class: Class) -> (GdError, String) {
    let code = match e {
        Error::Config(_) | Error::Range(_) => GdError::ERR_INVALID_PARAMETER,
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => GdError::ERR_FILE_BAD_PATH,
            std::io::ErrorKind::PermissionDenied => GdError::ERR_FILE_NO_PERMISSION,
            std::io::ErrorKind::IsADirectory => GdError::ERR_FILE_BAD_PATH,
            _ => GdError::ERR_FILE_CANT_WRITE,
        },
        Error::Unavailable { .. } => GdError::ERR_UNAVAILABLE,
        Error::Encoder { .. } | Error::Audio(_) | Error::Thread(_) => GdError::FAILED,
        Error::Frame(_) | Error::Chunk { .. } => GdError::ERR_INVALID_DATA,
        Error::Usage(_) => GdError::ERR_UNCONFIGURED,
        Error::ReplayPathInUse { .. } => GdError::ERR_ALREADY_IN_USE,
        Error::Behind(_) => GdError::ERR_BUSY,
    };
    let (text, hint) = match e {
        Error::Config(c) => match class.engine_setting(&c.setting) {
            Some(setting) => (
                ConfigError { setting, ..c.clone() }.to_string(),
                " Change the property and start again.",
            ),
            None => (
                e.to_string(),
                " Change it in Project Settings (Editor > Movie Writer) and record again.",
            ),
        },
        Error::Range(_) => (
            e.to_string(),
            " Fix the argument after -- or editor/movie_writer/av1/render_range and render_preroll in Project Settings.",
        ),
        Error::Io { .. } => (
            e.to_string(),
            " Check that the folder exists and is writable, and that the disk has free space.",
        ),
        Error::Unavailable { .. } => (
            e.to_string(),
            " Set editor/movie_writer/av1/encoder to \"auto\" or \"software\" to record with SVT-AV1.",
        ),
        _ => (e.to_string(), ""),
    };
    (code, format!("{}: {text}.{hint}", class.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorder_property_gets_its_engine_name() {
        let e = Error::Config(ConfigError::new("replay_seconds", 7200.0, "0 (off) to 3600"));
        let (code, message) = to_godot(&e, Class::Recorder);
        assert_eq!(code, GdError::ERR_INVALID_PARAMETER);
        assert!(
            message.starts_with("AV1Recorder: AV1Recorder.replay_seconds = 7200 is not allowed: 0 (off) to 3600."),
            "{message}"
        );
        let project = Error::Config(ConfigError::new("editor/movie_writer/av1/preset", 14, "0 to 13"));
        let (_, message) = to_godot(&project, Class::Writer);
        assert!(
            message.starts_with("MovieWriterAV1: editor/movie_writer/av1/preset = 14")
                && message.contains("Project Settings"),
            "{message}"
        );
    }
}
