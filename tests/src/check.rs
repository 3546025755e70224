//! One call that runs every independent check on a recorded file and lists what is wrong with
//! it, for the tests of files recorded here and, later, of files recorded by Godot.

use std::fmt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use movie_writer_av1_core::scene::TONE_HZ;
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
pub const BROWSER_DURATION_TOLERANCE_S: f64 = 0.05;
pub const DEFAULT_MIN_SSIM: f64 = 0.95;

const DECODE_LIMIT: Duration = Duration::from_secs(300);
const AUDIO_LIMIT: Duration = Duration::from_secs(120);
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
        }
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
    pub mkv: MkvInfo,
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
        let mkv = mkv::inspect(path)?;
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

fn problems(r: &Report, e: &Expected) -> Vec<String> {
    let mut p = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            p.push(what);
        }
    };
    let fps = f64::from(e.fps);
    let video_s = r.video_duration_s();
    let av_sync_s = if e.live { LIVE_AV_SYNC_S } else { OPUS_PACKET_S };

    let probe = &r.probe;
    check(
        probe.errors.trim().is_empty(),
        format!("ffprobe printed errors: {}", probe.errors.trim()),
    );
    check(
        probe.format_name.contains("matroska"),
        format!("ffprobe format {:?}", probe.format_name),
    );
    check(
        probe.video.len() == 1 && probe.video[0].codec == "av1",
        format!(
            "video streams {:?}, want exactly one av1",
            probe.video.iter().map(|v| &v.codec).collect::<Vec<_>>()
        ),
    );
    check(
        probe.audio.len() == 1 && probe.audio[0].codec == "opus",
        format!(
            "audio streams {:?}, want exactly one opus",
            probe.audio.iter().map(|a| &a.codec).collect::<Vec<_>>()
        ),
    );
    if let Some(v) = probe.video.first() {
        check(
            e.live || (v.frame_rate - fps).abs() < 1e-6,
            format!("frame rate {} fps, want {fps}", v.frame_rate),
        );
        if let Some(frames) = e.frames {
            check(
                v.packets == frames,
                format!("{} video packets, want {frames}", v.packets),
            );
        }
        // Block timestamps are whole milliseconds, so the end is exact to well within half a frame.
        check(
            (v.end_s - video_s).abs() <= 0.5 / fps,
            format!("the last video packet ends at {:.4} s, want {video_s:.4} s", v.end_s),
        );
        check(
            v.width >= e.width && v.height >= e.height,
            format!(
                "coded size {}x{} is smaller than {}x{}",
                v.width, v.height, e.width, e.height
            ),
        );
    }
    if let Some(a) = probe.audio.first() {
        check(
            (a.sample_rate, a.channels) == (audio::SAMPLE_RATE, audio::CHANNELS as u32),
            format!("audio {} Hz {} ch, want 48000 Hz stereo", a.sample_rate, a.channels),
        );
    }
    match probe.duration_s {
        Some(d) => {
            // Muxers (FFmpeg's as well) let the Segment Duration run to the end of the last Opus
            // packet on the container timeline, which lies past the content by the codec delay
            // plus that packet's discarded padding. Shorter than the video would cut playback.
            let delay = r.mkv.codec_delay_ns.unwrap_or(0) as f64 / 1e9;
            let slack = (1.0 / fps).max(delay + av_sync_s);
            check(
                d >= video_s - 0.5 / fps && d <= video_s + slack,
                format!(
                    "container duration {d:.4} s, want {video_s:.4} s (up to {:.1} ms more)",
                    slack * 1000.0
                ),
            );
        }
        None => check(false, "the container declares no duration".into()),
    }

    let mkv = &r.mkv;
    check(
        mkv.recognized && mkv.supported,
        format!("mkvmerge: recognized {}, supported {}", mkv.recognized, mkv.supported),
    );
    check(
        mkv.errors.is_empty() && mkv.warnings.is_empty() && mkv.exit_code == Some(0),
        format!(
            "mkvmerge exit {:?}, errors {:?}, warnings {:?}",
            mkv.exit_code, mkv.errors, mkv.warnings
        ),
    );
    if let Some(container) = Container::from_path(&r.path) {
        check(
            Some(mkv.doc_type.as_str()) == container.doc_type(),
            format!("DocType {:?}, want {:?}", mkv.doc_type, container.doc_type()),
        );
    }
    check(
        mkv.codec_ids == ["V_AV1", "A_OPUS"],
        format!("codec IDs {:?}, want V_AV1 then A_OPUS", mkv.codec_ids),
    );
    check(
        mkv.display_size == Some((e.width, e.height)),
        format!("display size {:?}, want {}x{}", mkv.display_size, e.width, e.height),
    );
    check(
        mkv.cropped_size() == Some((e.width, e.height)),
        format!(
            "pixel size {:?} minus crop {:?} is {:?}, want {}x{}",
            mkv.pixel_size,
            mkv.crop,
            mkv.cropped_size(),
            e.width,
            e.height
        ),
    );
    if let Some(v) = probe.video.first() {
        check(
            mkv.pixel_size == Some((v.width, v.height)),
            format!(
                "Matroska pixel size {:?} differs from the AV1 stream's {}x{}",
                mkv.pixel_size, v.width, v.height
            ),
        );
    }

    match &r.decoded {
        Some(d) => {
            check(
                d.clean(),
                format!(
                    "libdav1d decode: exit ok {}, {} trailing bytes, errors: {}",
                    d.exit_ok,
                    d.trailing_bytes,
                    d.errors.trim()
                ),
            );
            if let Some(frames) = e.frames {
                check(
                    d.frames == frames,
                    format!("libdav1d decoded {} frames, want {frames}", d.frames),
                );
            }
        }
        None => check(false, "no video to decode".into()),
    }
    if let Some(spec) = e.source {
        match &r.ssim {
            Some(s) => {
                check(
                    s.frames == spec.frames,
                    format!("SSIM covers {} frames, want {}", s.frames, spec.frames),
                );
                check(
                    s.mean >= e.min_ssim,
                    format!("mean SSIM {:.4} < {}", s.mean, e.min_ssim),
                );
            }
            None => check(
                false,
                "no SSIM: the decoded frames are smaller than the display size".into(),
            ),
        }
    }

    check(
        r.audio_errors.is_empty(),
        format!("FFmpeg's audio decode failed ({})", r.audio_errors),
    );
    match r.audio_duration_s {
        Some(a) => check(
            (a - video_s).abs() <= av_sync_s,
            format!("audio lasts {a:.4} s, video {video_s:.4} s: more than {av_sync_s} s apart"),
        ),
        None => check(false, "no audio to decode".into()),
    }
    if let Some(spec) = e.source {
        match r.tone {
            Some(t) => {
                check(
                    (t.frequency_hz - TONE_HZ).abs() <= TONE_HZ_TOLERANCE,
                    format!("tone at {:.2} Hz, want {TONE_HZ} ± {TONE_HZ_TOLERANCE}", t.frequency_hz),
                );
                let want = spec.tone_start_s();
                check(
                    (t.start_s - want).abs() <= TONE_START_TOLERANCE_S,
                    format!(
                        "tone starts at {:.4} s, want {want:.4} ± {TONE_START_TOLERANCE_S}",
                        t.start_s
                    ),
                );
            }
            None => check(false, "no tone found in the decoded audio".into()),
        }
    }

    if let Some(pb) = &r.playback {
        check(
            pb.played_cleanly(),
            format!(
                "Chromium: ended {}, error event {}, error {:?}, timed out {}, events {:?}",
                pb.ended, pb.error_event, pb.error, pb.timed_out, pb.events
            ),
        );
        check(
            (pb.video_width, pb.video_height) == (e.width, e.height),
            format!(
                "Chromium shows {}x{}, want {}x{}",
                pb.video_width, pb.video_height, e.width, e.height
            ),
        );
        // A live capture's audio runs until stop(), up to a frame (or a hitch) past the last
        // frame; a browser shows the longer of the two.
        let media_s = match (e.live, r.audio_duration_s) {
            (true, Some(a)) => video_s.max(a),
            _ => video_s,
        };
        check(
            pb.duration_s
                .is_some_and(|d| (d - media_s).abs() <= BROWSER_DURATION_TOLERANCE_S),
            format!(
                "Chromium's duration {:?} s, want {media_s:.4} ± {BROWSER_DURATION_TOLERANCE_S}",
                pb.duration_s
            ),
        );
    }
    p
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        writeln!(f, "{} ({bytes} bytes)", self.path.display())?;
        let p = &self.probe;
        write!(
            f,
            "  ffprobe: {}, container duration {} s",
            p.format_name,
            opt(p.duration_s.map(|d| format!("{d:.4}")))
        )?;
        for v in &p.video {
            write!(
                f,
                "; {} {}x{} at {} fps, {} packets ending at {:.4} s",
                v.codec, v.width, v.height, v.frame_rate, v.packets, v.end_s
            )?;
        }
        for a in &p.audio {
            write!(
                f,
                "; {} {} Hz {} ch, {} packets",
                a.codec, a.sample_rate, a.channels, a.packets
            )?;
        }
        writeln!(f)?;
        let m = &self.mkv;
        writeln!(
            f,
            "  mkvmerge/mkvinfo: recognized {}, supported {}, DocType {}, codecs {:?}, pixel {:?}, crop {:?}, display {:?}",
            m.recognized, m.supported, m.doc_type, m.codec_ids, m.pixel_size, m.crop, m.display_size
        )?;
        if let Some(d) = &self.decoded {
            writeln!(
                f,
                "  libdav1d: {} frames, {}",
                d.frames,
                if d.clean() { "no errors" } else { "ERRORS" }
            )?;
        }
        if let Some(s) = &self.ssim {
            writeln!(
                f,
                "  luma SSIM over {} frames: mean {:.4}, min {:.4} (frame {})",
                s.frames, s.mean, s.min, s.min_frame
            )?;
        }
        writeln!(
            f,
            "  audio: {} s decoded vs video {:.4} s",
            opt(self.audio_duration_s.map(|d| format!("{d:.4}"))),
            self.video_duration_s()
        )?;
        if let Some(t) = &self.tone {
            writeln!(
                f,
                "  tone: {:.3} Hz, starts at {:.4} s, peak {:.3}",
                t.frequency_hz, t.start_s, t.peak
            )?;
        }
        if let Some(pb) = &self.playback {
            writeln!(
                f,
                "  Chromium: {}x{}, duration {} s, ended {} at {:.3} s, {} frames presented, events {:?}",
                pb.video_width,
                pb.video_height,
                opt(pb.duration_s.map(|d| format!("{d:.4}"))),
                pb.ended,
                pb.current_time_s,
                opt(pb.frames_presented),
                pb.events
            )?;
        }
        if self.problems.is_empty() {
            writeln!(f, "  problems: none")
        } else {
            writeln!(f, "  problems:\n    - {}", self.problems.join("\n    - "))
        }
    }
}
