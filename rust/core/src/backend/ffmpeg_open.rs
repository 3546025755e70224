//! Opening an FFmpeg encoder so that no option we pass is silently dropped.
//!
//! `avcodec_open2` hands back, in the options dictionary, every entry the encoder did not
//! know; ffmpeg-next's `open_with` throws that dictionary away, so a misspelt or missing
//! option (`av1_vaapi` has no `qp`, say) leaves the encoder at its default and the recording
//! at a quality nobody asked for. Every FFmpeg backend opens through [`open`] instead, which
//! fails naming the options that were left over.

use std::ffi::CString;
use std::fmt;
use std::ptr;

use ffmpeg::{encoder, Dictionary};
use ffmpeg_next as ffmpeg;

/// Why an encoder did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// `avcodec_open2` itself failed.
    Failed(ffmpeg::Error),
    /// It opened, but these options (name=value) were not consumed by the encoder.
    Unused(Vec<String>),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "{e}"),
            Self::Unused(options) => write!(
                f,
                "the encoder does not take the option(s) {}; refusing to record with settings it would ignore",
                options.join(", ")
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// Opens `video` with `options`; an option the encoder does not have fails the open.
///
/// Unknown names are looked for before opening, so that a doomed encoder is never opened
/// (some close badly without having seen a frame: see `software.rs`); what `avcodec_open2`
/// still leaves over is checked after, and the half-opened context is then freed with `video`.
pub fn open(mut video: encoder::video::Video, options: Dictionary<'_>) -> Result<encoder::video::Encoder, OpenError> {
    let unknown: Vec<String> = options
        .iter()
        .filter(|(key, _)| {
            let Ok(name) = CString::new(*key) else {
                return true;
            };
            // SAFETY: the context is allocated with its codec's private options (a child
            // object that AV_OPT_SEARCH_CHILDREN searches); the name lives across the call.
            let found = unsafe {
                ffmpeg::ffi::av_opt_find(
                    video.as_mut_ptr().cast(),
                    name.as_ptr(),
                    ptr::null(),
                    0,
                    ffmpeg::ffi::AV_OPT_SEARCH_CHILDREN,
                )
            };
            found.is_null()
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !unknown.is_empty() {
        return Err(OpenError::Unused(unknown));
    }
    // SAFETY: the dictionary pointer is ours (disowned from `options`); avcodec_open2 replaces
    // it with the leftover entries, which we own again afterwards and free on drop.
    let (rc, leftover) = unsafe {
        let mut raw = options.disown();
        let rc = ffmpeg::ffi::avcodec_open2(video.as_mut_ptr(), ptr::null(), &mut raw);
        (rc, Dictionary::own(raw))
    };
    if rc < 0 {
        return Err(OpenError::Failed(ffmpeg::Error::from(rc)));
    }
    let unused: Vec<String> = leftover.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !unused.is_empty() {
        return Err(OpenError::Unused(unused));
    }
    Ok(encoder::video::Encoder(video))
}
