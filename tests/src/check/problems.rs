//! Measurements against expectations: every problem found, as a line a person can act on.

use movie_writer_av1_tools::scene::TONE_HZ;

use super::matroska::matroska_problems;
use super::mp4::mp4_problems;
use super::*;
use crate::audio;

/// What several checks compare against, worked out once.
#[derive(Clone, Copy)]
struct Context<'a> {
    fps: f64,
    /// How long the video is: packets / fps, or a live capture's last packet end.
    video_s: f64,
    audio_codec: &'a str,
    /// How far audio and video may end apart: one audio packet, or more for live captures.
    av_sync_s: f64,
}

pub(super) fn problems(r: &Report, e: &Expected) -> Vec<String> {
    let mut p = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            p.push(what);
        }
    };
    let audio_codec = e.audio_codec_for(&r.path);
    let cx = Context {
        fps: f64::from(e.fps),
        video_s: r.video_duration_s(),
        audio_codec,
        av_sync_s: match (e.live, audio_codec) {
            (true, _) => LIVE_AV_SYNC_S,
            (false, "aac") => AAC_FRAME_S,
            (false, PCM) => PCM_SYNC_S,
            (false, _) => OPUS_PACKET_S,
        },
    };
    streams(r, e, &cx, &mut check);
    duration(r, &cx, &mut check);
    match &r.mp4 {
        Some(m) => mp4_problems(r, m, e, cx.audio_codec, &mut check),
        None => matroska_problems(r, e, cx.audio_codec, &mut check),
    }
    video_decode(r, e, &mut check);
    audio_decode(r, e, &cx, &mut check);
    browser(r, e, &cx, &mut check);
    p
}

/// ffprobe's view: the format, one AV1 and one audio stream of the expected codec, the frame
/// rate, the frame count and the size.
fn streams(r: &Report, e: &Expected, cx: &Context<'_>, check: &mut dyn FnMut(bool, String)) {
    let Context {
        fps,
        video_s,
        audio_codec,
        ..
    } = *cx;
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
}

/// The container's declared duration against the video's.
fn duration(r: &Report, cx: &Context<'_>, check: &mut dyn FnMut(bool, String)) {
    let Context {
        fps,
        video_s,
        av_sync_s,
        ..
    } = *cx;
    let probe = &r.probe;
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
}

/// libdav1d decodes every frame cleanly and, with a known source, the frames match it (SSIM).
fn video_decode(r: &Report, e: &Expected, check: &mut dyn FnMut(bool, String)) {
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
}

/// FFmpeg decodes the audio cleanly, it lasts as long as the video, and the source's tone is
/// there at its time.
fn audio_decode(r: &Report, e: &Expected, cx: &Context<'_>, check: &mut dyn FnMut(bool, String)) {
    let Context { video_s, av_sync_s, .. } = *cx;
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
}

/// Chromium plays the file to its end, at the expected size and duration.
fn browser(r: &Report, e: &Expected, cx: &Context<'_>, check: &mut dyn FnMut(bool, String)) {
    let Context { video_s, .. } = *cx;
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
}
