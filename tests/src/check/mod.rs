//! One call that runs every independent check on a recorded file and lists what is wrong with
//! it, for the tests of files recorded here and, later, of files recorded by Godot.
//!
//! `check_recording` measures ([`Report`]); `problems` compares the measurements with what was
//! expected ([`Expected`]), per concern; `matroska` and `mp4` hold what only one container has.

mod display;
mod matroska;
mod mp4;
mod problems;

pub use mp4::Mp4Checks;
use problems::problems;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use movie_writer_av1_core::Container;

use crate::audio::{self, Tone};
use crate::browser::{self, Playback};
use crate::decode::{self, Decoded};
use crate::mkv::{self, MkvInfo};
use crate::probe::{self, Probe};
use crate::record::SceneSpec;
use crate::ssim::{self, SsimStats};
use crate::tool::Result;

pub const TONE_HZ_TOLERANCE: f64 = 3.0;
pub const TONE_START_TOLERANCE_S: f64 = 0.010;
/// One 20 ms Opus packet: the granularity at which audio could be cut.
pub const OPUS_PACKET_S: f64 = 0.020;
/// One AAC frame (1024 samples at 48 kHz): the same for AAC.
pub const AAC_FRAME_S: f64 = 1024.0 / 48_000.0;
/// The encoder delay FFmpeg's AAC encoder puts before the first sample, in samples at 48 kHz;
/// an MP4 edit list must skip exactly this.
pub const AAC_PRIMING: i64 = 1024;
/// ffprobe's name for the uncompressed float audio of render-range chunks (`audio_codec = pcm`).
pub const PCM: &str = "pcm_f32le";
/// PCM is neither delayed nor padded: its audio ends on the video's last sample.
pub const PCM_SYNC_S: f64 = 1.0 / 48_000.0;
pub const BROWSER_DURATION_TOLERANCE_S: f64 = 0.05;
pub const DEFAULT_MIN_SSIM: f64 = 0.95;

const DECODE_LIMIT: Duration = Duration::from_secs(300);
const AUDIO_LIMIT: Duration = Duration::from_secs(120);
const DEMUX_LIMIT: Duration = Duration::from_secs(120);
/// Browser start-up and page load on a busy CI machine, on top of real-time playback.
const BROWSER_OVERHEAD: Duration = Duration::from_secs(60);

/// What the file should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Display size and frame rate the recording was made with.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The exact frame count, when known.
    pub frames: Option<u64>,
    /// The recorded scene, for SSIM against its source frames and for the tone; `None` for
    /// recordings whose source is not known (made by the engine).
    pub source: Option<SceneSpec>,
    /// Mean luma SSIM the decoded frames must reach (only checked with `source`).
    pub min_ssim: f64,
    /// Also play the file in headless Chromium (it fails, not skips, if Chromium is missing).
    pub browser: bool,
    /// A live capture: variable frame rate (the video ends where its last packet ends, not at
    /// packets / fps) and audio from the engine's running mix, in sync within [`LIVE_AV_SYNC_S`].
    pub live: bool,
    /// The audio codec as ffprobe names it ("opus", "aac", [`PCM`]); `None`: the container's default
    /// (AAC for MP4, Opus for WebM and Matroska).
    pub audio_codec: Option<&'static str>,
    /// An unfinished recording (killed, or its process died): MP4 movie fragments may be left
    /// in the file. A finished MP4 has one moov and no moof.
    pub fragmented_ok: bool,
}

/// How far a live capture's audio end may lie from its video end: audio runs until `stop()`,
/// the last frame was captured up to a frame (or a game hitch) before that.
pub const LIVE_AV_SYNC_S: f64 = 0.5;

impl Expected {
    /// A recording of the test scene: everything is known.
    pub fn scene(spec: SceneSpec) -> Self {
        Self {
            width: spec.width,
            height: spec.height,
            fps: spec.fps,
            frames: Some(spec.frames),
            source: Some(spec),
            min_ssim: DEFAULT_MIN_SSIM,
            browser: false,
            live: false,
            audio_codec: None,
            fragmented_ok: false,
        }
    }

    /// The audio codec `path` must hold: [`Expected::audio_codec`] or its container's default.
    pub fn audio_codec_for(&self, path: &Path) -> &'static str {
        self.audio_codec
            .unwrap_or_else(|| Container::from_path(path).map_or("opus", |c| c.default_audio_codec().name()))
    }

    /// A recording whose source frames are unknown: SSIM and tone checks are left out.
    pub fn unknown_source(width: u32, height: u32, fps: u32, frames: Option<u64>) -> Self {
        Self {
            width,
            height,
            fps,
            frames,
            source: None,
            min_ssim: DEFAULT_MIN_SSIM,
            browser: false,
            live: false,
            audio_codec: None,
            fragmented_ok: false,
        }
    }
}

/// Everything measured about one file, and what did not match [`Expected`].
#[derive(Debug, Clone)]
pub struct Report {
    pub path: PathBuf,
    pub fps: u32,
    /// A live (variable frame rate) capture: see [`Expected::live`].
    pub live: bool,
    pub probe: Probe,
    /// mkvmerge's and mkvinfo's view of a Matroska file; empty (the default) for MP4, which
    /// [`Report::mp4`] covers instead.
    pub mkv: MkvInfo,
    /// What only MP4 files are checked for; `None` for Matroska.
    pub mp4: Option<Mp4Checks>,
    /// `None` when the file has no video stream to decode.
    pub decoded: Option<Decoded>,
    pub ssim: Option<SsimStats>,
    pub audio_duration_s: Option<f64>,
    /// Why FFmpeg's audio decode was not clean (exit status, what it printed); empty if it was.
    pub audio_errors: String,
    pub tone: Option<Tone>,
    pub playback: Option<Playback>,
    pub problems: Vec<String>,
}

impl Report {
    /// Frames in the file (counted packets) over the frame rate; for a live capture, the end
    /// of its last frame.
    pub fn video_duration_s(&self) -> f64 {
        match (self.live, self.probe.video.first()) {
            (true, Some(v)) => v.end_s,
            (_, v) => v.map_or(0, |v| v.packets) as f64 / f64::from(self.fps),
        }
    }

    /// Panics with every problem and the measured figures unless there is none.
    pub fn assert_ok(&self) {
        assert!(
            self.problems.is_empty(),
            "{} failed {} check(s):\n  - {}\n{self}",
            self.path.display(),
            self.problems.len(),
            self.problems.join("\n  - ")
        );
    }
}

/// Runs every check on `path`. `Err` means a check could not run at all (a tool missing or
/// hung); what is wrong with the file is listed in [`Report::problems`].
pub fn check_recording(path: &Path, expected: &Expected) -> Result<Report> {
    let probe = probe::ffprobe(path)?;
    thread::scope(|s| {
        // Playback runs in real time and mostly waits, so it overlaps the decoding work.
        let playback = expected.browser.then(|| {
            let limit = Duration::from_secs_f64(probe.duration_s.unwrap_or(0.0).max(0.0)) + BROWSER_OVERHEAD;
            s.spawn(move || browser::play(path, limit))
        });
        let is_mp4 = Container::from_path(path) == Some(Container::Mp4);
        let (mkv, mp4) = if is_mp4 {
            (MkvInfo::default(), Some(Mp4Checks::inspect(path, &probe)?))
        } else {
            (mkv::inspect(path)?, None)
        };
        let (decoded, ssim) = match probe.video.first() {
            Some(v) => {
                let (decoded, ssim) = decode_and_compare(path, v.width, v.height, expected)?;
                (Some(decoded), ssim)
            }
            None => (None, None),
        };
        let (audio_duration_s, audio_errors, tone) = if probe.audio.is_empty() {
            (None, String::new(), None)
        } else {
            let pcm = audio::decode_audio(path, AUDIO_LIMIT)?;
            let tone = audio::measure_tone(&pcm.left(), audio::SAMPLE_RATE);
            let errors = if pcm.clean() {
                String::new()
            } else {
                format!("exit ok {}: {}", pcm.exit_ok, pcm.errors.trim())
            };
            (Some(pcm.duration_s()), errors, tone)
        };
        let playback = match playback {
            Some(handle) => Some(handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?),
            None => None,
        };
        let mut report = Report {
            path: path.to_path_buf(),
            fps: expected.fps,
            live: expected.live,
            probe,
            mkv,
            mp4,
            decoded,
            ssim,
            audio_duration_s,
            audio_errors,
            tone,
            playback,
            problems: Vec::new(),
        };
        report.problems = problems(&report, expected);
        Ok(report)
    })
}

/// Decodes every frame with libdav1d and, when the source is known and the decoded frames hold
/// the display size, scores them against it (see `ssim`).
fn decode_and_compare(
    path: &Path,
    width: u32,
    height: u32,
    expected: &Expected,
) -> Result<(Decoded, Option<SsimStats>)> {
    let decoded = decode::decode_video(path, width, height, DECODE_LIMIT)?;
    let fits = width >= expected.width && height >= expected.height;
    let ssim = match expected.source.filter(|_| fits) {
        Some(spec) => Some(ssim::score_scene(path, &spec, DECODE_LIMIT)?),
        None => None,
    };
    Ok((decoded, ssim))
}
