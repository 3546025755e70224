//! What only MP4 files have: the box layout (MP4Box), a second demuxer (GStreamer's qtdemux)
//! and exact video timestamps, measured and checked.

use std::fmt;
use std::path::Path;

use super::display::opt;
use super::{Expected, Report, AAC_PRIMING, DEMUX_LIMIT};
use crate::gst::{self, GstDemux};
use crate::mp4::{self, Mp4Info};
use crate::probe::{self, Probe};
use crate::tool::Result;

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
    pub(super) fn inspect(path: &Path, probe: &Probe) -> Result<Self> {
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
    pub(super) fn audio_priming(&self) -> Option<i64> {
        let a = self.boxes.track("soun")?;
        let samples = match a.sample_entry.as_str() {
            "mp4a" => AAC_PRIMING,
            "Opus" => i64::from(a.pre_skip?),
            _ => return None,
        };
        Some(samples * i64::from(a.timescale) / 48_000)
    }

    /// The priming the edit list skips, in seconds (the MP4 form of Matroska's CodecDelay).
    pub(super) fn audio_delay_s(&self) -> f64 {
        let Some(a) = self.boxes.track("soun") else {
            return 0.0;
        };
        let skipped = a.edits.iter().find(|e| e.media_time >= 0).map_or(0, |e| e.media_time);
        skipped as f64 / f64::from(a.timescale.max(1))
    }

    /// How the shown size comes about: tkhd alone, or the coded size cropped by a clap box.
    pub(super) fn presentation(&self, coded: (u32, u32)) -> String {
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
    pub(super) fn describe(&self, f: &mut fmt::Formatter<'_>, coded: (u32, u32)) -> fmt::Result {
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

/// GPAC's and GStreamer's view: the box layout of a finished file, the AV1 and audio sample
/// entries, colour, exact frame times, the audio priming edit and the shown size.
pub(super) fn mp4_problems(
    r: &Report,
    m: &Mp4Checks,
    e: &Expected,
    audio_codec: &str,
    check: &mut dyn FnMut(bool, String),
) {
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
