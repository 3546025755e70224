//! Full decode of the video track through libdav1d (FFmpeg's `-c:v libdav1d`), frame by frame.
//! (Scoring the decoded frames against their source is `ssim`'s job.)

use std::io::{self, Read};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::tool::{self, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub frames: u64,
    /// What FFmpeg printed at `-v error`: empty when libdav1d decoded everything cleanly.
    pub errors: String,
    pub exit_ok: bool,
    /// Bytes after the last whole frame: non-zero means the size given did not match the stream.
    pub trailing_bytes: usize,
}

impl Decoded {
    pub fn clean(&self) -> bool {
        self.exit_ok && self.errors.trim().is_empty() && self.trailing_bytes == 0
    }
}

/// Decodes every frame of the first video track with libdav1d and counts them.
///
/// `width × height` is the decoder's output size, as ffprobe reports it.
pub fn decode_video(path: &Path, width: u32, height: u32, limit: Duration) -> Result<Decoded> {
    let (w, h) = (width as usize, height as usize);
    let (luma, chroma) = (w * h, w.div_ceil(2) * h.div_ceil(2));
    let mut cmd = raw_frames(path);
    let done = tool::run_streaming(&mut cmd, limit, |out| {
        let mut buf = vec![0u8; luma + 2 * chroma];
        let mut frames = 0;
        loop {
            let got = read_full(out, &mut buf)?;
            if got < buf.len() {
                return Ok((frames, got));
            }
            frames += 1;
        }
    })?;
    let (frames, trailing_bytes) = done.stdout;
    Ok(Decoded {
        frames,
        errors: done.stderr,
        exit_ok: done.status.success(),
        trailing_bytes,
    })
}

/// FFmpeg decoding the first video track of `path` with libdav1d into raw I420 frames on its
/// standard output, failing at the first decode error (`-xerror`).
///
/// `-fps_mode passthrough` keeps FFmpeg from dropping or duplicating frames to fit a constant
/// rate (Matroska timestamps are rounded to milliseconds), so frame `i` out is frame `i` of the
/// stream; `-enc_time_base -1` keeps the file's millisecond time base, which variable-rate (live)
/// files need to stay monotonic.
pub fn raw_frames(path: &Path) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-xerror",
        "-c:v",
        "libdav1d",
        "-i",
    ])
    .arg(path)
    .args([
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",
        "-enc_time_base",
        "-1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-",
    ]);
    cmd
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
