//! Typed errors of the core. The gdext crate translates them into Godot errors exactly once, at
//! the engine boundary; everything here carries enough context (setting, path, backend) for the
//! message to tell a user what went wrong and what is allowed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::kinds::BackendKind;

/// A setting that is out of range or inconsistent. `setting` names the exact field to change: a
/// project setting by its Godot name, a live-capture setting by its `LiveConfig` field (the
/// extension gives it the engine's name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{setting} = {value} is not allowed: {allowed}")]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub allowed: String,
}

impl ConfigError {
    pub fn new(setting: impl Into<String>, value: impl ToString, allowed: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

/// A render range that cannot be used (see `render_range`): the text names the argument or
/// setting as it was given, what is wrong with it and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RangeError(pub String);

/// What a replay's path would have overwritten, had `save_replay` taken it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayClash {
    #[error("that is the file being recorded")]
    Recording,
    #[error("a replay is still being written there")]
    Replay,
}

/// Cloneable, so that a recording that failed reports the same typed error to every later call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    Range(#[from] RangeError),

    #[error("cannot write '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },

    #[error("the {backend} encoder is not available: {reason}")]
    Unavailable { backend: BackendKind, reason: String },

    #[error("the {backend} encoder failed: {message}")]
    Encoder { backend: BackendKind, message: String },

    #[error("the audio encoder failed: {0}")]
    Audio(String),

    #[error("bad frame: {0}")]
    Frame(String),

    #[error("the encode thread stopped unexpectedly: {0}")]
    Thread(String),

    /// A call that does not fit the recorder's state (start twice, save_replay when stopped).
    #[error("{0}")]
    Usage(String),

    /// Live capture's control queue is full: the encode thread is that far behind (a stalled
    /// disk, an encoder slower than the game), so `what` was not queued. Try again later.
    #[error("the encode thread is seconds behind and its queue is full: {0} was not queued; try again when it has caught up")]
    Behind(&'static str),

    /// `save_replay` was given a path it must not write: the same file (after resolving the
    /// folder's links) as the recording's, or as a replay not yet finished.
    #[error("save_replay('{}'): {clash}; give the replay a path of its own", path.display())]
    ReplayPathInUse { path: PathBuf, clash: ReplayClash },

    /// A render-farm chunk that cannot be merged: missing, unreadable, incomplete or unlike the
    /// other chunks. `problem` says what is wrong and what was expected.
    #[error("chunk '{path}': {problem}")]
    Chunk { path: PathBuf, problem: String },
}

impl Error {
    pub fn chunk(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Chunk {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
