//! The judge every machine has: the bitstream checks of [`crate::judge`] and a decode of every
//! frame with the library's own libaom decoder (the one the render farm's chunk check uses). It
//! needs no FFmpeg command-line tools, so `hwcheck` judges every case on a user's machine; the
//! [`super::oracle`] adds the pixel checks (SSIM, patch colours) where those tools exist.

use std::path::Path;

use crate::farm::decode::Av1Decoder;
use crate::judge::{judge_file_each, JudgeError, Judgement};

/// What the built-in judge found in one recording.
#[derive(Debug, Clone)]
pub struct Bitstream {
    pub judgement: Judgement,
    /// Frames libaom decoded.
    pub decoded: u64,
    /// The first frame libaom rejected, and why.
    pub decode_error: Option<String>,
}

impl Bitstream {
    /// Every way the recording of `frames` frames falls short; empty when it passes.
    pub fn problems(&self, frames: u64) -> Vec<String> {
        let mut out = self.judgement.problems();
        out.extend(self.decode_error.clone());
        if self.decode_error.is_none() && self.decoded != frames {
            out.push(format!("libaom decoded {} frames, {frames} recorded", self.decoded));
        }
        out
    }
}

impl std::fmt::Display for Bitstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let checks = &self.judgement.checks;
        let passed = checks.iter().filter(|c| c.passed()).count();
        write!(
            f,
            "bitstream checks {passed}/{} passed, libaom decoded {} frames",
            checks.len(),
            self.decoded
        )
    }
}

/// Judges the recording at `path` (made at `shown`, its width and height) by its bitstream and
/// decodes every frame.
pub fn judge(path: &Path, shown: (u32, u32)) -> Result<Bitstream, JudgeError> {
    let mut decoder: Option<Result<Av1Decoder, String>> = None;
    let (mut index, mut decode_error) = (0u64, None);
    let judgement = judge_file_each(path, Some(shown), &mut |av1c, data, _| {
        if decode_error.is_some() {
            return;
        }
        let result = match decoder.get_or_insert_with(|| Av1Decoder::open(av1c)) {
            Ok(d) => d
                .decode(data)
                .map_err(|e| format!("frame {index} does not decode: {e}")),
            Err(e) => Err(e.clone()),
        };
        decode_error = result.err();
        index += 1;
    })?;
    let decoded = match (&mut decoder, &decode_error) {
        (Some(Ok(d)), None) => d.finish().unwrap_or_else(|e| {
            decode_error = Some(format!("the last frames do not decode: {e}"));
            0
        }),
        _ => 0,
    };
    Ok(Bitstream {
        judgement,
        decoded,
        decode_error,
    })
}
