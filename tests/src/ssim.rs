//! Luma SSIM of a recording of the test scene against the scene's source frames, measured by
//! tools that share no code with the recorder: FFmpeg's swscale converts the scene's RGBA frames
//! to the encoder's input colour space (BT.709, limited range, 4:2:0), libdav1d decodes the
//! file, and FFmpeg's `ssim` filter scores each pair (Wang, Bovik, Sheikh, Simoncelli 2004 on
//! 8×8 windows at a 4-pixel stride, the form x264 uses). This is the project's one SSIM.
//!
//! Frames are paired by index, never by timestamp (Matroska's are rounded to milliseconds), and
//! only the top-left display-size region counts: FFmpeg ignores PixelCrop, so an odd-sized
//! recording decodes at its padded coded size.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::record::SceneSpec;
use crate::tool::{self, Error, Result};

/// Mean and worst SSIM over a sequence of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsimStats {
    pub frames: u64,
    pub mean: f64,
    pub min: f64,
    pub min_frame: u64,
}

impl Default for SsimStats {
    fn default() -> Self {
        Self {
            frames: 0,
            mean: 0.0,
            min: f64::INFINITY,
            min_frame: 0,
        }
    }
}

impl SsimStats {
    pub fn add(&mut self, frame: u64, value: f64) {
        self.mean = (self.mean * self.frames as f64 + value) / (self.frames + 1) as f64;
        self.frames += 1;
        if value < self.min {
            self.min = value;
            self.min_frame = frame;
        }
    }
}

/// The filter graph: input 0 is the recording, input 1 the source's RGBA frames. Both get
/// timestamps from their index, and the scoring stops with the shorter of the two.
fn graph(spec: &SceneSpec) -> String {
    let (w, h, fps) = (spec.width, spec.height, spec.fps);
    let by_index = format!("settb=1/{fps},setpts=N");
    format!(
        "[0:v]crop={w}:{h}:0:0:exact=1,{by_index}[decoded];\
         [1:v]scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,\
         format=yuv420p,{by_index}[reference];\
         [decoded][reference]ssim=stats_file=-:shortest=1"
    )
}

/// Scores every frame of `path` that has a source frame in `spec`.
pub fn score_scene(path: &Path, spec: &SceneSpec, limit: Duration) -> Result<SsimStats> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-c:v", "libdav1d", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba"])
        .args(["-s", &format!("{}x{}", spec.width, spec.height)])
        .args(["-framerate", &spec.fps.to_string()])
        .args(["-i", "pipe:0", "-lavfi", &graph(spec), "-f", "null", "-"]);
    let done = tool::run_with_io(
        &mut cmd,
        limit,
        |stdin| {
            let (scene, mut rgba) = (spec.scene(), Vec::new());
            for index in 0..spec.frames {
                scene.render(index, &mut rgba);
                stdin.write_all(&rgba)?;
            }
            Ok(())
        },
        |_, out| {
            let mut text = String::new();
            out.read_to_string(&mut text)?;
            Ok(text)
        },
    )?;
    // Decoding errors are the decode check's to report; here they only shorten the scoring.
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    parse_stats(&done.stdout).map_err(|e| Error(format!("reading the ssim filter's figures: {e}")))
}

/// Reads the filter's per-frame lines, "n:1 Y:0.987654 U:… V:… All:… (…)" (n counts from 1).
fn parse_stats(text: &str) -> io::Result<SsimStats> {
    let bad = |line: &str| io::Error::new(io::ErrorKind::InvalidData, format!("unreadable line '{line}'"));
    let mut stats = SsimStats::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let field = |name: &str| line.split_whitespace().find_map(|f| f.strip_prefix(name));
        let n: u64 = field("n:").and_then(|v| v.parse().ok()).ok_or_else(|| bad(line))?;
        let y: f64 = field("Y:").and_then(|v| v.parse().ok()).ok_or_else(|| bad(line))?;
        stats.add(n - 1, y);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_filter_lines() {
        let text = "n:1 Y:0.990000 U:0.995 V:0.996 All:0.992 (20.9)\n\
                    n:2 Y:0.950000 U:0.99 V:0.99 All:0.96 (14.0)\n";
        let s = parse_stats(text).unwrap();
        assert_eq!((s.frames, s.min_frame), (2, 1));
        assert!((s.mean - 0.97).abs() < 1e-12 && (s.min - 0.95).abs() < 1e-12);
        assert!(parse_stats("n:1 All:0.9\n").is_err());
    }

    #[test]
    fn stats_track_mean_and_worst_frame() {
        let mut s = SsimStats::default();
        for (i, v) in [0.9, 0.8, 1.0].into_iter().enumerate() {
            s.add(i as u64, v);
        }
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert_eq!((s.min, s.min_frame, s.frames), (0.8, 1, 3));
    }
}
