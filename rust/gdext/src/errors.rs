//! The one place core errors become Godot errors: an `Error` code for the engine and a message
//! for the log that says what went wrong and what to do.

use godot::global::Error as GdError;
use movie_writer_av1_core::Error;

pub fn to_godot(e: &Error) -> (GdError, String) {
    let code = match e {
        Error::Config(_) => GdError::ERR_INVALID_PARAMETER,
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => GdError::ERR_FILE_BAD_PATH,
            std::io::ErrorKind::PermissionDenied => GdError::ERR_FILE_NO_PERMISSION,
            std::io::ErrorKind::IsADirectory => GdError::ERR_FILE_BAD_PATH,
            _ => GdError::ERR_FILE_CANT_WRITE,
        },
        Error::Unavailable { .. } => GdError::ERR_UNAVAILABLE,
        Error::Encoder { .. } | Error::Audio(_) | Error::Thread(_) => GdError::FAILED,
        Error::Frame(_) => GdError::ERR_INVALID_DATA,
        Error::Usage(_) => GdError::ERR_UNCONFIGURED,
    };
    let hint = match e {
        Error::Config(_) => " Change it in Project Settings (Editor > Movie Writer) and record again.",
        Error::Io { .. } => " Check that the folder exists and is writable, and that the disk has free space.",
        Error::Unavailable { .. } => {
            " Set editor/movie_writer/av1/encoder to \"auto\" or \"software\" to record with SVT-AV1."
        }
        _ => "",
    };
    (code, format!("MovieWriterAV1: {e}.{hint}"))
}
