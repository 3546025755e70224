//! MP4 output from the core: the test scene recorded with AAC and with Opus at 30, 60 and 144
//! fps, at 1280×720, 1920×1080 and an odd size, each file checked by every independent reader
//! (ffprobe, MP4Box, GStreamer's qtdemux, a full libdav1d decode, the tone, Chromium). Plus
//! AAC in Matroska, and all-intra recording for editors, with its size against the default GOP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_core::config::AudioCodec;
use movie_writer_av1_core::Container;
use movie_writer_av1_tests::check::TONE_START_TOLERANCE_S;
use movie_writer_av1_tests::{check_recording, probe, record_scene_with, with_time_limit, Expected, Report, SceneSpec};

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mp4");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Records `spec` into `container` with `codec` and `keyframe_interval_s`, and returns the path.
fn record(spec: SceneSpec, container: Container, codec: AudioCodec, keyframe_interval_s: f32, tag: &str) -> PathBuf {
    let name = format!("{tag}_{}_{}", codec.name(), spec.file_name(container));
    let path = out_dir().join(name);
    let stats = record_scene_with(&path, &spec, |c| {
        c.audio.codec = Some(codec);
        c.video.keyframe_interval_s = keyframe_interval_s;
    })
    .unwrap_or_else(|e| panic!("recording {}: {e}", path.display()));
    println!(
        "recorded {} frames ({:.2} s) in {} bytes, encode {:.1} fps",
        stats.frames, stats.duration_s, stats.bytes, stats.encode_fps
    );
    path
}

/// Records and runs every check, Chromium included; the report must be clean.
fn record_and_check(width: u32, height: u32, fps: u32, codec: AudioCodec) -> Report {
    with_time_limit(Duration::from_secs(600), move || {
        let spec = SceneSpec {
            width,
            height,
            fps,
            frames: 2 * u64::from(fps),
            seed: 11,
        };
        let path = record(spec, Container::Mp4, codec, 2.0, "mp4");
        let expected = Expected {
            browser: true,
            audio_codec: Some(codec.name()),
            ..Expected::scene(spec)
        };
        let report = check_recording(&path, &expected).unwrap_or_else(|e| panic!("checking {}: {e}", path.display()));
        println!("{report}");
        report.assert_ok();
        // The headline figures, stated here too so that a failure names them.
        let v = &report.probe.video[0];
        assert_eq!(v.packets, spec.frames, "exact frame count");
        assert_eq!(report.probe.audio[0].codec, codec.name());
        let tone = report.tone.as_ref().expect("the scene's tone");
        assert!(
            (tone.start_s - spec.tone_start_s()).abs() <= TONE_START_TOLERANCE_S,
            "tone starts at {:.4} s, the source at {:.4} s",
            tone.start_s,
            spec.tone_start_s()
        );
        let played = report.playback.as_ref().expect("Chromium ran");
        assert!(played.played_cleanly(), "{played:?}");
        assert_eq!((played.video_width, played.video_height), (width, height));
        report
    })
}

#[test]
fn mp4_1280x720_30fps_aac() {
    record_and_check(1280, 720, 30, AudioCodec::Aac);
}

#[test]
fn mp4_1280x720_144fps_opus() {
    record_and_check(1280, 720, 144, AudioCodec::Opus);
}

#[test]
fn mp4_1920x1080_60fps_aac() {
    record_and_check(1920, 1080, 60, AudioCodec::Aac);
}

#[test]
fn mp4_1920x1080_30fps_opus() {
    record_and_check(1920, 1080, 30, AudioCodec::Opus);
}

#[test]
fn mp4_odd_1281x721_144fps_aac() {
    record_and_check(1281, 721, 144, AudioCodec::Aac);
}

#[test]
fn mp4_odd_1281x721_60fps_opus() {
    record_and_check(1281, 721, 60, AudioCodec::Opus);
}

/// `.mkv` takes AAC too: A_AAC with its AudioSpecificConfig and the priming as CodecDelay, the
/// way FFmpeg's own Matroska muxer writes it. FFmpeg 8.1's Matroska demuxer skips CodecDelay for
/// any codec; the FFmpeg 5.1 that checks files here does so for Opus only, so the tone may
/// start exactly one AAC priming (1024 samples) late, and nothing else may be off.
#[test]
fn mkv_with_aac_reads_decodes_and_keeps_the_tone_in_sync() {
    with_time_limit(Duration::from_secs(300), || {
        let spec = SceneSpec {
            width: 640,
            height: 360,
            fps: 60,
            frames: 120,
            seed: 3,
        };
        let path = record(spec, Container::Matroska, AudioCodec::Aac, 2.0, "mkv");
        let expected = Expected {
            audio_codec: Some("aac"),
            ..Expected::scene(spec)
        };
        let report = check_recording(&path, &expected).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        let others: Vec<_> = report
            .problems
            .iter()
            .filter(|p| !p.starts_with("tone starts at"))
            .collect();
        assert!(others.is_empty(), "problems: {others:#?}");
        let tone = report.tone.as_ref().expect("the scene's tone");
        let late = tone.start_s - spec.tone_start_s();
        let priming = 1024.0 / 48_000.0;
        println!(
            "AAC in Matroska: the tone starts {:.1} ms from the source's",
            late * 1000.0
        );
        assert!(
            late.abs() <= TONE_START_TOLERANCE_S || (late - priming).abs() <= TONE_START_TOLERANCE_S,
            "the tone is {late:.4} s off: neither in sync nor exactly the AAC priming late"
        );
    });
}

/// Every frame a keyframe (`keyframe_interval = 0`): the file passes every check, each packet
/// is a keyframe, and a seek to any frame decodes from that very frame. Prints the size against
/// the default two-second GOP (the README quotes it).
#[test]
fn all_intra_mp4_seeks_to_every_frame_and_its_size_is_measured() {
    with_time_limit(Duration::from_secs(600), || {
        let spec = SceneSpec {
            width: 1280,
            height: 720,
            fps: 30,
            frames: 90,
            seed: 4,
        };
        let intra = record(spec, Container::Mp4, AudioCodec::Aac, 0.0, "intra");
        let short = record(spec, Container::Mp4, AudioCodec::Aac, 0.5, "gop05");
        let gop = record(spec, Container::Mp4, AudioCodec::Aac, 2.0, "gop");
        let expected = Expected {
            audio_codec: Some("aac"),
            browser: true,
            ..Expected::scene(spec)
        };
        let report = check_recording(&intra, &expected).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
        let packets = probe::video_packets(&intra).unwrap_or_else(|e| panic!("{e}"));
        let keys = packets.iter().filter(|p| p.keyframe).count();
        assert_eq!(keys as u64, spec.frames, "every frame is a keyframe");
        // Seeking: decoding from 2 s in must start exactly at frame 60 (no earlier keyframe
        // to fall back to), and run cleanly to the end.
        let seek = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-ss", "2.0", "-i"])
            .arg(&intra)
            .args(["-map", "0:v", "-f", "framemd5", "-"])
            .output()
            .expect("ffmpeg runs");
        let stdout = String::from_utf8_lossy(&seek.stdout);
        let decoded = stdout.lines().filter(|l| !l.starts_with('#')).count() as u64;
        assert!(
            seek.status.success() && seek.stderr.is_empty(),
            "seek: {}",
            String::from_utf8_lossy(&seek.stderr)
        );
        assert_eq!(decoded, spec.frames - 60, "frames decoded after a seek to 2 s");
        let (intra_bytes, short_bytes, gop_bytes) = (size(&intra), size(&short), size(&gop));
        println!(
            "size against the default 2 s GOP ({gop_bytes} bytes): all-intra {intra_bytes} bytes ({:.2}x), 0.5 s GOP {short_bytes} bytes ({:.2}x); 1280x720 test scene, 3 s at 30 fps, CRF 32, preset 10",
            intra_bytes as f64 / gop_bytes as f64,
            short_bytes as f64 / gop_bytes as f64
        );
    });
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
