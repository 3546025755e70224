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
use crate::gst::{self, GstDemux};
use crate::mkv::{self, MkvInfo};
use crate::mp4::{self, Mp4Info};
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
    /// The audio codec as ffprobe names it ("opus", "aac"); `None`: the container's default
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

/// The MP4-only measurements: the boxes (MP4Box), a second demuxer (GStreamer) and the exact
/// video timestamps (ffprobe).
#[derive(Debug, Clone)]
pub struct Mp4Checks {
    pub boxes: Mp4Info,
    pub gst: GstDemux,
    /// Every video packet's pts in file order, in units of `time_base`.
    pub video_pts: Vec<i64>,
    /// (numerator, denominator) of a second: one over the video track's timescale.
    pub time_base: (u64, u64),
}

impl Mp4Checks {
    fn inspect(path: &Path, probe: &Probe) -> Result<Self> {
        let boxes = mp4::inspect(path)?;
        let gst = gst::demux(path, !probe.audio.is_empty(), DEMUX_LIMIT)?;
        let (video_pts, time_base) = if probe.video.is_empty() {
            (Vec::new(), (1, 1))
        } else {
            let pts = probe::video_packets(path)?.iter().map(|p| p.pts).collect();
            (pts, probe::video_time_base(path)?)
        };
        Ok(Self {
            boxes,
            gst,
            video_pts,
            time_base,
        })
    }

    /// The audio priming the edit list must skip, in the audio track's timescale: 1024 samples
    /// for AAC, the dOps PreSkip for Opus (both counted at 48 kHz).
    fn audio_priming(&self) -> Option<i64> {
        let a = self.boxes.track("soun")?;
        let samples = match a.sample_entry.as_str() {
            "mp4a" => AAC_PRIMING,
            "Opus" => i64::from(a.pre_skip?),
            _ => return None,
        };
        Some(samples * i64::from(a.timescale) / 48_000)
    }

    /// The priming the edit list skips, in seconds (the MP4 form of Matroska's CodecDelay).
    fn audio_delay_s(&self) -> f64 {
        let Some(a) = self.boxes.track("soun") else {
            return 0.0;
        };
        let skipped = a.edits.iter().find(|e| e.media_time >= 0).map_or(0, |e| e.media_time);
        skipped as f64 / f64::from(a.timescale.max(1))
    }

    /// How the shown size comes about: tkhd alone, or the coded size cropped by a clap box.
    fn presentation(&self, coded: (u32, u32)) -> String {
        let Some(v) = self.boxes.track("vide") else {
            return "no video track".into();
        };
        match v.clap {
            Some(c) => format!(
                "tkhd {}x{}, coded {}x{} cropped by clap to {:?}",
                v.width,
                v.height,
                coded.0,
                coded.1,
                c.size()
            ),
            None => format!("tkhd {}x{} (no clap)", v.width, v.height),
        }
    }
}

impl Mp4Checks {
    fn describe(&self, f: &mut fmt::Formatter<'_>, coded: (u32, u32)) -> fmt::Result {
        let b = &self.boxes;
        writeln!(
            f,
            "  MP4Box: boxes {:?}, -info exit {}, said {:?}",
            b.top_level,
            opt(b.info_exit),
            b.diagnostics
        )?;
        for t in &b.tracks {
            write!(
                f,
                "    track {} {} {} (av1C {}), timescale {}, {} samples + {} in fragments, sync {}, edits {:?}",
                t.id,
                t.handler,
                t.sample_entry,
                t.av1c,
                t.timescale,
                t.samples,
                t.fragment_samples,
                t.sync_samples.map_or_else(|| "all".into(), |n| n.to_string()),
                t.edits
                    .iter()
                    .map(|e| (e.segment_duration, e.media_time))
                    .collect::<Vec<_>>()
            )?;
            if let Some(c) = &t.colr {
                write!(f, ", colr {c:?}")?;
            }
            if let Some(p) = t.pre_skip {
                write!(f, ", PreSkip {p}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "    shown size: {}", self.presentation(coded))?;
        writeln!(
            f,
            "  GStreamer qtdemux: exit {}, {} video buffers, {} audio buffers{}",
            opt(self.gst.exit_code),
            self.gst.video_buffers,
            opt(self.gst.audio_buffers),
            if self.gst.errors.is_empty() {
                String::new()
            } else {
                format!(", errors: {}", self.gst.errors)
            }
        )
    }
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

fn problems(r: &Report, e: &Expected) -> Vec<String> {
    let mut p = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            p.push(what);
        }
    };
    let fps = f64::from(e.fps);
    let video_s = r.video_duration_s();
    let audio_codec = e.audio_codec_for(&r.path);
    let av_sync_s = match (e.live, audio_codec) {
        (true, _) => LIVE_AV_SYNC_S,
        (false, "aac") => AAC_FRAME_S,
        (false, _) => OPUS_PACKET_S,
    };

    let probe = &r.probe;
    check(
        probe.errors.trim().is_empty(),
        format!("ffprobe printed errors: {}", probe.errors.trim()),
    );
    // FFmpeg names its demuxers "matroska,webm" and "mov,mp4,m4a,3gp,3g2,mj2".
    let format = if r.mp4.is_some() { "mp4" } else { "matroska" };
    check(
        probe.format_name.contains(format),
        format!("ffprobe format {:?}, want {format}", probe.format_name),
    );
    check(
        probe.video.len() == 1 && probe.video[0].codec == "av1",
        format!(
            "video streams {:?}, want exactly one av1",
            probe.video.iter().map(|v| &v.codec).collect::<Vec<_>>()
        ),
    );
    check(
        probe.audio.len() == 1 && probe.audio[0].codec == audio_codec,
        format!(
            "audio streams {:?}, want exactly one {audio_codec}",
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
            // MP4's form of the codec delay is the audio edit list's media time.
            let delay = match &r.mp4 {
                Some(m) => m.audio_delay_s(),
                None => r.mkv.codec_delay_ns.unwrap_or(0) as f64 / 1e9,
            };
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

    match &r.mp4 {
        Some(m) => mp4_problems(r, m, e, audio_codec, &mut check),
        None => matroska_problems(r, e, audio_codec, &mut check),
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

/// mkvmerge's and mkvinfo's view: DocType, codec IDs, display size and PixelCrop.
fn matroska_problems(r: &Report, e: &Expected, audio_codec: &str, check: &mut dyn FnMut(bool, String)) {
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
    let audio_id = if audio_codec == "aac" { "A_AAC" } else { "A_OPUS" };
    check(
        mkv.codec_ids == ["V_AV1", audio_id],
        format!("codec IDs {:?}, want V_AV1 then {audio_id}", mkv.codec_ids),
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
    if let Some(v) = r.probe.video.first() {
        check(
            mkv.pixel_size == Some((v.width, v.height)),
            format!(
                "Matroska pixel size {:?} differs from the AV1 stream's {}x{}",
                mkv.pixel_size, v.width, v.height
            ),
        );
    }
}

/// GPAC's and GStreamer's view: the box layout of a finished file, the AV1 and audio sample
/// entries, colour, exact frame times, the audio priming edit and the shown size.
fn mp4_problems(r: &Report, m: &Mp4Checks, e: &Expected, audio_codec: &str, check: &mut dyn FnMut(bool, String)) {
    let boxes = &m.boxes;
    check(
        boxes.info_exit == Some(0) && boxes.diagnostics.is_empty(),
        format!("MP4Box -info exit {:?}, said {:?}", boxes.info_exit, boxes.diagnostics),
    );
    check(
        m.gst.clean(),
        format!("GStreamer qtdemux: exit {:?}: {}", m.gst.exit_code, m.gst.errors),
    );
    let frames = e.frames.or_else(|| r.probe.video.first().map(|v| v.packets));
    if let Some(frames) = frames {
        check(
            m.gst.video_buffers == frames,
            format!(
                "GStreamer qtdemux delivered {} video buffers, want {frames}",
                m.gst.video_buffers
            ),
        );
    }
    check(
        boxes.count("moov") == 1,
        format!(
            "{} moov boxes, want exactly one (top level: {:?})",
            boxes.count("moov"),
            boxes.top_level
        ),
    );
    check(
        e.fragmented_ok || boxes.count("moof") == 0,
        format!(
            "{} moof boxes left: the file is still fragmented, not finished into one moov (top level: {:?})",
            boxes.count("moof"),
            boxes.top_level
        ),
    );
    check(
        boxes.count("mdat") > 0,
        format!("no mdat box (top level: {:?})", boxes.top_level),
    );

    match boxes.track("vide") {
        Some(v) => mp4_video_problems(r, m, v, e, check),
        None => check(false, "MP4Box finds no video (vide) track".into()),
    }

    let Some(a) = boxes.track("soun") else {
        check(false, "MP4Box finds no audio (soun) track".into());
        return;
    };
    let entry = if audio_codec == "aac" { "mp4a" } else { "Opus" };
    check(
        a.sample_entry == entry,
        format!("audio sample entry {:?}, want {entry}", a.sample_entry),
    );
    check(
        a.sample_entry != "Opus" || a.pre_skip.is_some(),
        "the Opus sample entry has no dOps box (PreSkip)".into(),
    );
    if let Some(priming) = m.audio_priming() {
        let skipped = a.edits.iter().find(|e| e.media_time >= 0).map(|e| e.media_time);
        // A replay starts mid-stream with one packet of pre-roll, so it skips more than the
        // priming: the pre-roll's samples from before the first frame.
        let ok = match skipped {
            Some(s) if e.live => s >= priming,
            other => other == Some(priming),
        };
        let want = if e.live { "at least" } else { "exactly" };
        check(
            ok,
            format!(
                "audio edit list {:?}, want one whose media_time is {want} {priming} (the {} priming) so players skip it",
                a.edits, a.sample_entry
            ),
        );
    }
}

fn mp4_video_problems(r: &Report, m: &Mp4Checks, v: &mp4::Track, e: &Expected, check: &mut dyn FnMut(bool, String)) {
    check(
        v.sample_entry == "av01" && v.av1c,
        format!(
            "video sample entry {:?} (av1C {}), want av01 with an av1C box",
            v.sample_entry,
            if v.av1c { "present" } else { "missing" }
        ),
    );
    let bt709 = v.colr.as_ref().is_some_and(|c| {
        c.colour_type == "nclx"
            && (c.primaries, c.transfer, c.matrix, c.full_range) == (Some(1), Some(1), Some(1), Some(false))
    });
    check(
        bt709,
        format!(
            "colour box {:?}, want colr nclx with primaries 1, transfer 1, matrix 1, full_range 0 (BT.709, limited range)",
            v.colr
        ),
    );
    check(
        v.timescale > 0 && v.timescale.is_multiple_of(e.fps),
        format!(
            "video timescale {} is not a multiple of {} fps: frame times cannot be exact",
            v.timescale, e.fps
        ),
    );
    let samples = v.samples + v.fragment_samples;
    if let Some(frames) = e.frames {
        check(
            samples == frames,
            format!(
                "the video track has {samples} samples (sample table {}, fragments {}), want {frames}",
                v.samples, v.fragment_samples
            ),
        );
    }
    if let Some(bad) = first_bad_pts(&m.video_pts, m.time_base, e.fps, e.live) {
        check(false, bad);
    }

    // An odd size is coded at the next even size; the file then shows either the display size
    // in tkhd, or the coded size in tkhd with a clap that crops it to the display size.
    let want = (e.width, e.height);
    let coded = r.probe.video.first().map_or((0, 0), |s| (s.width, s.height));
    let tkhd = (v.width, v.height);
    let is = |size: (u32, u32)| tkhd == (f64::from(size.0), f64::from(size.1));
    let clap = v.clap.map(|c| c.size());
    let shown = match clap {
        None => is(want),
        Some(cropped) => cropped == Some(want) && (is(want) || is(coded)),
    };
    check(
        shown,
        format!("shown size: {}, want {}x{}", m.presentation(coded), want.0, want.1),
    );
}

/// Why the video timestamps are wrong, if they are: frame `i` must lie exactly at
/// i × timescale / fps (a constant frame rate recording), or, for a live capture (variable frame
/// rate), after the frame before.
fn first_bad_pts(pts: &[i64], (num, den): (u64, u64), fps: u32, live: bool) -> Option<String> {
    if live {
        let i = pts.windows(2).position(|w| w[1] <= w[0])?;
        return Some(format!(
            "video packet {} has pts {}, not after packet {}'s {} (time base {num}/{den})",
            i + 1,
            pts[i + 1],
            i,
            pts[i]
        ));
    }
    // pts × num / den = i / fps, in integers.
    let (num, den, fps) = (i128::from(num), i128::from(den), i128::from(fps));
    let (i, p) = pts
        .iter()
        .enumerate()
        .find(|(i, p)| i128::from(**p) * num * fps != *i as i128 * den)?;
    Some(format!(
        "video packet {i} has pts {p} (time base {num}/{den}), want exactly {i} × {den} / ({num} × {fps}) = {:.3}",
        (i as f64) * den as f64 / (num * fps) as f64
    ))
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
        match &self.mp4 {
            Some(m) => m.describe(f, self.probe.video.first().map_or((0, 0), |v| (v.width, v.height)))?,
            None => {
                let m = &self.mkv;
                writeln!(
                    f,
                    "  mkvmerge/mkvinfo: recognized {}, supported {}, DocType {}, codecs {:?}, pixel {:?}, crop {:?}, display {:?}",
                    m.recognized, m.supported, m.doc_type, m.codec_ids, m.pixel_size, m.crop, m.display_size
                )?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_must_be_exact_unless_live() {
        // 60 fps in a 15360 Hz timescale: 256 ticks a frame.
        assert_eq!(first_bad_pts(&[0, 256, 512], (1, 15360), 60, false), None);
        let bad = first_bad_pts(&[0, 256, 513], (1, 15360), 60, false).unwrap();
        assert!(bad.starts_with("video packet 2 has pts 513"), "{bad}");
        // 144 fps in milliseconds cannot be exact.
        assert!(first_bad_pts(&[0, 7], (1, 1000), 144, false).is_some());
        // A live capture only has to move forward.
        assert_eq!(first_bad_pts(&[0, 300, 513], (1, 15360), 60, true), None);
        let bad = first_bad_pts(&[0, 300, 300], (1, 15360), 60, true).unwrap();
        assert!(
            bad.starts_with("video packet 2 has pts 300, not after packet 1's 300"),
            "{bad}"
        );
    }
}
