//! The conformance cases every backend must pass, shared by the conformance tests and
//! `mwav1 hwcheck`, so that a hardware owner's run checks exactly what CI checks.
//!
//! Each backend records, with [`cases`]:
//! - every rate control its probe offers;
//! - its slowest and its fastest speed preset;
//! - 330 frames under a keyframe interval longer than the recording (8-bit order hints wrap
//!   at 256);
//! - 1080p (hardware aligns to 8, 16 or 64 rows: 1080 is none of the larger) and an odd size;
//!
//! always the [`patches`] scene, judged twice:
//! - by [`bitstream`], on every machine: what the stream and the container say agree (size,
//!   crop, colours, av1C, a sequence header on every keyframe; see [`crate::judge`]) and libaom
//!   decodes every frame;
//! - by the [`oracle`] (FFmpeg's tools), where they are installed: the stream decodes cleanly,
//!   every frame comes out, the pixel size covers the recording, and Y, U and V each match the
//!   scene (SSIM) and the known colours (patch means).

pub mod bitstream;
pub mod oracle;
pub mod patches;

use std::path::Path;
use std::time::Instant;

use movie_writer_av1_core::audio::AudioEncoder;
use movie_writer_av1_core::backend::{BackendKind, BackendPreference, Probe};
use movie_writer_av1_core::config::{RateControl, RecordingConfig};
use movie_writer_av1_core::error::Result;
use movie_writer_av1_core::frame::{PixelFormat, RgbImage};
use movie_writer_av1_core::pipeline::{Recorder, RecordingStats};

/// Bitrate of the rate-controlled cases: ample for the scene at every size used.
pub const BITRATE_KBPS: u32 = 8000;
/// Per-channel SSIM a case must reach.
pub const MIN_SSIM: f64 = 0.90;
/// How far (in 8-bit code values) a patch's decoded mean may be from BT.709 limited range.
/// Coding moves a flat patch by under 1 (SVT-AV1 and libaom in the suite); BT.601 for BT.709,
/// or full for limited range, moves each channel of some patch by 7.9 or more.
pub const MAX_PATCH_ERROR: f64 = 4.0;

/// One recording a backend must get right.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Short, file-name-safe: "rc-vbr", "preset-fastest", "1080p", …
    pub name: String,
    pub backend: BackendKind,
    pub rate_control: RateControl,
    pub preset: u8,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u64,
    pub keyframe_interval_s: f32,
}

impl std::fmt::Display for Case {
    /// "name WxH N frames, rate control, preset P", as reports show a case.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (w, h, n) = (self.width, self.height, self.frames);
        write!(
            f,
            "{:<15} {w}x{h} {n} frames, {}, preset {}",
            self.name,
            self.rate_control.name(),
            self.preset
        )
    }
}

impl Case {
    pub fn config(&self, path: &Path) -> RecordingConfig {
        let mut config = RecordingConfig::new(path, self.width, self.height, self.fps);
        config.backend = BackendPreference::Only(self.backend);
        config.video.rate_control = self.rate_control;
        config.video.speed_preset = movie_writer_av1_core::config::SpeedPreset::Fixed(self.preset);
        config.video.bitrate_kbps = BITRATE_KBPS;
        config.video.keyframe_interval_s = self.keyframe_interval_s;
        config
    }

    /// The file name for this case: `<backend>_<case>.webm`.
    pub fn file_name(&self) -> String {
        format!("{}_{}.webm", self.backend.id(), self.name)
    }
}

/// The rate control the cases that do not vary it use: the default (CRF) where offered, else
/// VBR, else the first offered.
pub fn default_rate_control(p: &Probe) -> Option<RateControl> {
    [RateControl::Crf, RateControl::Vbr]
        .into_iter()
        .find(|r| p.rate_controls.contains(r))
        .or_else(|| p.rate_controls.first().copied())
}

/// The cases for `p`'s backend; none when it offers no rate control (it is unavailable).
pub fn cases(p: &Probe) -> Vec<Case> {
    let Some(rc) = default_rate_control(p) else {
        return Vec::new();
    };
    let case = |name: &str, rate_control, preset, (width, height), frames, keyframe_interval_s| Case {
        name: name.to_string(),
        backend: p.kind,
        rate_control,
        preset,
        width,
        height,
        fps: 30,
        frames,
        keyframe_interval_s,
    };
    let mut out: Vec<Case> = p
        .rate_controls
        .iter()
        .map(|&r| case(&format!("rc-{}", r.name()), r, 10, (640, 360), 60, 1.0))
        .collect();
    // The slowest preset is slow on the CPU (SVT-AV1 preset 0, libaom cpu-used 0): few, small
    // frames, two keyframe intervals all the same.
    out.push(case("preset-slowest", rc, 0, (320, 180), 12, 0.2));
    out.push(case("preset-fastest", rc, 13, (640, 360), 60, 1.0));
    out.push(case("long-gop", rc, 13, (640, 360), 330, 20.0));
    out.push(case("1080p", rc, 13, (1920, 1080), 30, 1.0));
    out.push(case("odd-size", rc, 13, (1281, 721), 30, 1.0));
    out
}

/// What recording one case took.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub stats: RecordingStats,
    pub wall_s: f64,
}

/// Records `case` to `path` from the patch scene, with silent audio.
pub fn record(case: &Case, path: &Path) -> Result<Recorded> {
    let started = Instant::now();
    let mut recorder = Recorder::start(case.config(path))?;
    let audio = vec![0i32; AudioEncoder::engine_block_frames(48_000, case.fps) * 2];
    let mut pixels = Vec::new();
    for i in 0..case.frames {
        patches::render(case.width, case.height, i, &mut pixels);
        recorder.push_frame(
            &RgbImage::packed(case.width, case.height, PixelFormat::Rgba8, &pixels)?,
            &audio,
        )?;
    }
    let stats = recorder.finish()?;
    Ok(Recorded {
        stats,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Every way `j` falls short for `case`; empty when it passes.
pub fn problems(case: &Case, j: &oracle::Judgement) -> Vec<String> {
    let mut out = Vec::new();
    if !j.decode_errors.is_empty() {
        out.push(format!("the decoder reported: {}", j.decode_errors));
    }
    if j.frames != case.frames {
        out.push(format!("{} frames decoded, {} recorded", j.frames, case.frames));
    }
    if j.pixel_size.0 < case.width || j.pixel_size.1 < case.height {
        out.push(format!(
            "the track is {}x{}, smaller than the {}x{} recorded",
            j.pixel_size.0, j.pixel_size.1, case.width, case.height
        ));
    }
    for (c, name) in ["Y", "U", "V"].iter().enumerate() {
        if j.ssim[c] < MIN_SSIM {
            out.push(format!("{name} SSIM {:.4} < {MIN_SSIM}", j.ssim[c]));
        }
        if j.patch_error[c] > MAX_PATCH_ERROR {
            let rgb = patches::COLOURS[j.worst_patch[c]];
            out.push(format!(
                "{name} of the {rgb:?} patch is {:.1} off BT.709 limited range (wrong matrix or range?)",
                j.patch_error[c]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_of(kind: BackendKind, rate_controls: &[RateControl]) -> Probe {
        movie_writer_av1_core::backend::test_probe::probe_of(kind, true, rate_controls)
    }

    /// Every offered rate control, both preset extremes, a wrapping GOP, 1080p and an odd size.
    #[test]
    fn every_backend_gets_the_whole_matrix() {
        use RateControl::{Cbr, Cqp, Vbr};
        let cases = cases(&probe_of(BackendKind::FfmpegVaapi, &[Cqp, Vbr, Cbr]));
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rc-cqp",
                "rc-vbr",
                "rc-cbr",
                "preset-slowest",
                "preset-fastest",
                "long-gop",
                "1080p",
                "odd-size"
            ]
        );
        assert!(
            cases[3..].iter().all(|c| c.rate_control == Vbr),
            "VBR where CRF is not offered"
        );
        let long = &cases[5];
        assert!(long.frames > 256 && long.keyframe_interval_s * long.fps as f32 > long.frames as f32);
        assert!(cases.iter().any(|c| c.width % 2 == 1 && c.height % 2 == 1));
        assert!(cases.iter().any(|c| (c.width, c.height) == (1920, 1080)));
        assert_eq!((cases[3].preset, cases[4].preset), (0, 13));
        assert!(super::cases(&probe_of(BackendKind::Nvenc, &[])).is_empty());
    }
}
