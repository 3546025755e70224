//! Conformance of every encoder backend: each one records the same seeded test scene through
//! the [`Recorder`], forced with `BackendPreference::Only`, and the file must decode cleanly
//! with libdav1d, keep every frame with its exact timestamp, and look like its source (mean
//! luma SSIM ≥ 0.95), besides every other check of `check_recording`.
//!
//! A backend whose probe fails on this machine prints `SKIPPED <backend>: <reason>` and passes:
//! the hardware backends run only where their hardware and drivers are. Run with
//! `cargo test -p movie_writer_av1_tests --test conformance -- --nocapture` to see the lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use movie_writer_av1_core::backend::probe;
use movie_writer_av1_core::scene::TestScene;
use movie_writer_av1_core::{
    BackendKind, BackendPreference, PixelFormat, Probe, RateControl, Recorder, RecordingConfig, RecordingStats,
    RgbImage,
};
use movie_writer_av1_tests::probe as file_probe;
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected, SceneSpec};

/// Two seconds with a keyframe interval of one: two GOPs, and the keyframes found are printed.
const SPEC: SceneSpec = SceneSpec {
    width: 640,
    height: 360,
    fps: 30,
    frames: 60,
    seed: 11,
};
const KEYFRAME_INTERVAL_S: f32 = 1.0;
/// Enough for the scene at 640x360 to stay well above the SSIM bar where a backend has no
/// constant-quality mode.
const VBR_KBPS: u32 = 4000;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// The rate control to test `p`'s backend with: constant quality where it has it (the
/// default setting), else VBR, else whatever it does.
fn rate_control(p: &Probe) -> RateControl {
    [RateControl::Crf, RateControl::Vbr]
        .into_iter()
        .find(|r| p.rate_controls.contains(r))
        .or_else(|| p.rate_controls.first().copied())
        .unwrap_or(RateControl::Crf)
}

/// Records `SPEC` with exactly `kind` (the shared `record_scene` uses `auto`).
fn record(path: &Path, kind: BackendKind, rate_control: RateControl) -> movie_writer_av1_core::Result<RecordingStats> {
    let mut config = RecordingConfig::new(path, SPEC.width, SPEC.height, SPEC.fps);
    config.backend = BackendPreference::Only(kind);
    config.video.rate_control = rate_control;
    config.video.bitrate_kbps = VBR_KBPS;
    config.video.keyframe_interval_s = KEYFRAME_INTERVAL_S;
    let scene = TestScene::new(SPEC.width, SPEC.height, SPEC.fps, SPEC.seed);
    let mut recorder = Recorder::start(config)?;
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for i in 0..SPEC.frames {
        scene.render(i, &mut pixels);
        scene.audio_block(i, &mut audio);
        recorder.push_frame(
            &RgbImage::packed(SPEC.width, SPEC.height, PixelFormat::Rgba8, &pixels)?,
            &audio,
        )?;
    }
    recorder.finish()
}

/// Each video packet's timestamp (in milliseconds, as Matroska stores them) and key flag, in
/// file order, from ffprobe.
fn video_packets(path: &Path) -> Vec<(i64, bool)> {
    let packets = file_probe::video_packets(path).expect("ffprobe lists the packets");
    packets.into_iter().map(|p| (p.pts, p.keyframe)).collect()
}

fn conformance(kind: BackendKind) {
    let p = probe(kind);
    if !p.available {
        println!("SKIPPED {}: {}", kind.id(), p.reason);
        return;
    }
    let rc = rate_control(&p);
    let path = out_dir().join(format!(
        "{}_{}",
        kind.id(),
        SPEC.file_name(movie_writer_av1_core::Container::WebM)
    ));
    let stats = with_time_limit(Duration::from_secs(300), {
        let path = path.clone();
        move || record(&path, kind, rc)
    })
    .unwrap_or_else(|e| panic!("{kind} recording {}: {e}", path.display()));
    println!(
        "{}: {} frames with rate control {} in {} bytes, encode {:.1} fps",
        kind.id(),
        stats.frames,
        rc.name(),
        stats.bytes,
        stats.encode_fps
    );
    assert_eq!(stats.backend, Some(kind), "the forced backend recorded");
    assert_eq!(stats.frames, SPEC.frames);

    let report = check_recording(&path, &Expected::scene(SPEC)).unwrap_or_else(|e| panic!("checking: {e}"));
    println!("{report}");
    let decoded = report.decoded.as_ref().expect("decoded");
    assert!(decoded.clean(), "libdav1d: {}", decoded.errors);
    assert_eq!(decoded.frames, SPEC.frames, "libdav1d decodes every frame");
    let ssim = report.ssim.expect("SSIM against the source frames");
    assert!(ssim.mean >= 0.95, "{kind}: mean luma SSIM {:.4} < 0.95", ssim.mean);

    // Matroska stores whole milliseconds: frame i is at round(i × 1000 / fps).
    let packets = video_packets(&path);
    let fps = i64::from(SPEC.fps);
    let want: Vec<i64> = (0..SPEC.frames as i64).map(|i| (i * 1000 + fps / 2) / fps).collect();
    let got: Vec<i64> = packets.iter().map(|&(pts, _)| pts).collect();
    assert_eq!(got, want, "{kind}: one packet per frame at its exact timestamp");
    assert!(packets[0].1, "{kind}: the first packet is a keyframe");
    // Printed, not asserted: SVT-AV1 through FFmpeg 5.1 codes later GOP starts as intra-only
    // frames that Matroska may not flag as keyframes; what each backend does is on record.
    let keyframes: Vec<usize> = (0..packets.len()).filter(|&i| packets[i].1).collect();
    println!("{}: keyframes at frames {keyframes:?}", kind.id());
    report.assert_ok();
}

#[test]
fn nvenc() {
    conformance(BackendKind::Nvenc);
}

#[test]
fn ffmpeg_nvenc() {
    conformance(BackendKind::FfmpegNvenc);
}

#[test]
fn ffmpeg_qsv() {
    conformance(BackendKind::FfmpegQsv);
}

#[test]
fn ffmpeg_amf() {
    conformance(BackendKind::FfmpegAmf);
}

#[test]
fn ffmpeg_vaapi() {
    conformance(BackendKind::FfmpegVaapi);
}

#[test]
fn vulkan() {
    conformance(BackendKind::Vulkan);
}

#[test]
fn svt_av1() {
    conformance(BackendKind::SvtAv1);
}

#[test]
fn aom() {
    conformance(BackendKind::Aom);
}

/// Every backend has a test above: a new `BackendKind` must get one.
#[test]
fn every_backend_is_covered() {
    let covered = [
        "nvenc",
        "ffmpeg_nvenc",
        "ffmpeg_qsv",
        "ffmpeg_amf",
        "ffmpeg_vaapi",
        "vulkan",
        "svt_av1",
        "aom",
    ];
    let ids: Vec<&str> = BackendKind::ALL.iter().map(|k| k.id()).collect();
    assert_eq!(ids, covered);
}
