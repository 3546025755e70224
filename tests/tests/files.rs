//! Records the core's test scene and checks the files with real external tools (ffprobe,
//! mkvmerge/mkvinfo, FFmpeg + libdav1d, headless Chromium). Nothing is mocked. Run with
//! `cargo test -p movie_writer_av1_tests -- --nocapture` to see the measured figures; the files
//! stay in the target folder's tmp/ for inspection.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use movie_writer_av1_core::Container;
use movie_writer_av1_tests::browser::{self, Playback};
use movie_writer_av1_tests::check::BROWSER_DURATION_TOLERANCE_S;
use movie_writer_av1_tests::{
    check_recording, memory, mwav1, record_scene, ssim, with_time_limit, Expected, Report, SceneSpec,
};

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("files");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Records `spec` in-process into the output folder.
fn record(spec: SceneSpec, container: Container) -> PathBuf {
    let path = out_dir().join(spec.file_name(container));
    let stats = record_scene(&path, &spec).unwrap_or_else(|e| panic!("recording {}: {e}", path.display()));
    println!(
        "recorded {} frames ({:.2} s) in {} bytes, encode {:.1} fps",
        stats.frames, stats.duration_s, stats.bytes, stats.encode_fps
    );
    path
}

fn check(path: &Path, expected: &Expected) -> Report {
    let report = check_recording(path, expected).unwrap_or_else(|e| panic!("checking {}: {e}", path.display()));
    println!("{report}");
    report
}

/// Records `spec` and runs every check on the file, with the browser for WebM.
fn record_and_check(spec: SceneSpec, container: Container) -> Report {
    let path = record(spec, container);
    let expected = Expected {
        browser: container == Container::WebM,
        ..Expected::scene(spec)
    };
    check(&path, &expected)
}

fn play(path: &Path) -> Playback {
    let playback = browser::play(path, Duration::from_secs(90)).unwrap_or_else(|e| panic!("Chromium: {e}"));
    println!("Chromium playback of {}: {playback:?}", path.display());
    playback
}

const SD_30: SceneSpec = SceneSpec {
    width: 640,
    height: 360,
    fps: 30,
    frames: 90,
    seed: 1,
};

/// The figures every scene recording must show, stated here as well as in `check_recording`'s
/// problem list so a failure names the figure.
fn assert_scene_figures(report: &Report, spec: &SceneSpec, doc_type: &str) {
    let video = &report.probe.video;
    assert_eq!(video.len(), 1, "one video stream");
    assert_eq!(report.probe.audio.len(), 1, "one audio stream");
    assert_eq!(video[0].codec, "av1");
    assert_eq!(report.probe.audio[0].codec, "opus");
    assert_eq!(video[0].packets, spec.frames, "exact frame count");
    assert_eq!(report.mkv.doc_type, doc_type);
    assert_eq!(report.mkv.display_size, Some((spec.width, spec.height)));
    let decoded = report.decoded.as_ref().expect("decoded");
    assert!(decoded.clean(), "libdav1d: {}", decoded.errors);
    assert_eq!(decoded.frames, spec.frames);
    let ssim = report.ssim.expect("SSIM");
    assert!(ssim.mean >= 0.95, "mean SSIM {}", ssim.mean);
    report.assert_ok();
}

fn assert_duration_within_one_frame(report: &Report, spec: &SceneSpec) {
    let duration = report.probe.duration_s.expect("container duration");
    assert!(
        (duration - spec.duration_s()).abs() <= 1.0 / f64::from(spec.fps),
        "container duration {duration} s for {} s of video",
        spec.duration_s()
    );
}

#[test]
fn webm_640x360_30fps_reads_decodes_and_plays_in_chromium() {
    let report = with_time_limit(Duration::from_secs(300), || record_and_check(SD_30, Container::WebM));
    assert_scene_figures(&report, &SD_30, "webm");
    assert_duration_within_one_frame(&report, &SD_30);
    let playback = report.playback.as_ref().expect("Chromium ran");
    assert!(playback.played_cleanly(), "{playback:?}");
    assert_eq!((playback.video_width, playback.video_height), (640, 360));
}

#[test]
fn mkv_640x360_30fps_reads_and_decodes() {
    let report = with_time_limit(Duration::from_secs(300), || {
        record_and_check(SD_30, Container::Matroska)
    });
    assert_scene_figures(&report, &SD_30, "matroska");
    assert_duration_within_one_frame(&report, &SD_30);
}

const ODD: SceneSpec = SceneSpec {
    width: 1281,
    height: 721,
    fps: 30,
    frames: 20,
    seed: 5,
};

/// Recorded once for the tests that need it: encoding 1281×721 is slow.
fn odd_recording() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| record(ODD, Container::WebM))
}

/// SVT-AV1 takes only even sizes, and browsers ignore a container's crop, so odd sizes are
/// encoded exactly (by libaom): every tool, Chromium included, must see exactly 1281×721, and the
/// decoded frames must match the source.
#[test]
fn odd_size_1281x721_is_coded_and_shown_at_exactly_its_size() {
    let (report, playback) = with_time_limit(Duration::from_secs(400), || {
        let path = odd_recording();
        (check(path, &Expected::scene(ODD)), play(path))
    });
    assert_eq!(report.mkv.display_size, Some((1281, 721)));
    assert_eq!(report.mkv.cropped_size(), Some((1281, 721)));
    let coded = report.probe.video.first().map(|v| (v.width, v.height));
    assert_eq!(coded, Some((1281, 721)), "coded at the exact size, no padding");
    assert_scene_figures(&report, &ODD, "webm");
    assert!(playback.played_cleanly(), "{playback:?}");
    assert_eq!((playback.video_width, playback.video_height), (1281, 721));
    let duration = playback.duration_s.expect("Chromium knows the duration");
    assert!((duration - ODD.duration_s()).abs() <= BROWSER_DURATION_TOLERANCE_S);
}

/// 48000 is not a multiple of 144, so the engine's audio blocks are a fraction of a sample short
/// every frame; the recording must still keep audio and video the same length.
#[test]
fn fps_144_keeps_audio_and_video_in_step() {
    let spec = SceneSpec {
        width: 256,
        height: 144,
        fps: 144,
        frames: 301,
        seed: 9,
    };
    let report = with_time_limit(Duration::from_secs(300), move || {
        record_and_check(spec, Container::Matroska)
    });
    let audio = report.audio_duration_s.expect("audio decoded");
    println!(
        "144 fps: audio {audio:.5} s, video {:.5} s, difference {:.2} ms",
        spec.duration_s(),
        (audio - spec.duration_s()) * 1000.0
    );
    assert_scene_figures(&report, &spec, "matroska");
}

/// A five-minute recording through the CLI does not grow in memory once warm: its RSS, sampled
/// from outside every second of video, rises by no more than the queue, the pools, the cue index
/// and the allocator account for (`memory::allowed_growth_kib`) after the warm-up.
#[test]
fn five_minute_cli_recording_keeps_memory_flat() {
    with_time_limit(Duration::from_secs(580), || {
        let spec = SceneSpec {
            width: 160,
            height: 96,
            fps: 30,
            frames: 5 * 60 * 30,
            seed: 2,
        };
        let path = out_dir().join(format!("cli_{}", spec.file_name(Container::WebM)));
        let run = mwav1::record(&path, &spec, &[], Duration::from_secs(400))
            .unwrap_or_else(|e| panic!("mwav1 record {}: {e}", path.display()));
        println!(
            "mwav1: {} frames ({:.0} s of video) in {:.1} s wall; RSS start {} KiB, end {} KiB, peak {} KiB",
            spec.frames,
            spec.duration_s(),
            run.wall.as_secs_f64(),
            run.rss_start_kib,
            run.rss_end_kib,
            run.rss_peak_kib
        );
        memory::assert_flat(&run.rss_samples, &spec);
        let report = check_recording(&path, &Expected::scene(spec))
            .unwrap_or_else(|e| panic!("checking {}: {e}", path.display()));
        println!("{report}");
        assert_scene_figures(&report, &spec, "webm");
    });
}

/// The SSIM oracle must tell the recording's own source from another scene, or its score would
/// prove nothing.
#[test]
fn ssim_scores_the_source_high_and_another_scene_low() {
    let (own, other) = with_time_limit(Duration::from_secs(300), || {
        let spec = SceneSpec {
            width: 160,
            height: 96,
            fps: 30,
            frames: 30,
            seed: 6,
        };
        let path = record(spec, Container::Matroska);
        let score = |source: &SceneSpec| ssim::score_scene(&path, source, Duration::from_secs(120)).unwrap();
        (score(&spec), score(&SceneSpec { seed: 7, ..spec }))
    });
    println!("luma SSIM against its source {own:?}, against another seed {other:?}");
    assert_eq!((own.frames, other.frames), (30, 30), "every frame scored");
    assert!(own.mean >= 0.95, "against its own source: {own:?}");
    assert!(other.mean < 0.6, "against another scene: {other:?}");
}

/// The checks must catch a damaged file, or passing them would prove nothing.
#[test]
fn a_truncated_file_fails_the_checks() {
    let report = with_time_limit(Duration::from_secs(300), || {
        let spec = SceneSpec {
            width: 160,
            height: 96,
            fps: 30,
            frames: 60,
            seed: 4,
        };
        let path = record(spec, Container::WebM);
        let bytes = std::fs::read(&path).expect("read the recording");
        let cut = out_dir().join(format!("truncated_{}", spec.file_name(Container::WebM)));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write the truncated copy");
        check(&cut, &Expected::scene(spec))
    });
    let found = |what: &str| report.problems.iter().any(|p| p.contains(what));
    assert!(found("video packets, want 60"), "{report}");
    assert!(found("libdav1d decoded"), "{report}");
    // Short clusters cut audio and video at the same point, so it is the header's Duration
    // that no longer matches what is left.
    assert!(found("container duration"), "{report}");
}
