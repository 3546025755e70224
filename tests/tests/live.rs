//! Live capture through the core's `LiveRecorder`, as the `AV1Recorder` node drives it: frames
//! paced in real time with their capture times, I420 laid out as the GPU converter writes it,
//! audio at 44.1 kHz in device-sized blocks, and a replay saved mid-recording. The files get the
//! same independent checks as Movie Maker files (ffprobe, mkvmerge, libdav1d, Chromium).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use movie_writer_av1_core::color::rgb_to_i420;
use movie_writer_av1_core::frame::I420Planes;
use movie_writer_av1_core::{
    Error, I420Image, LiveConfig, LiveRecorder, PixelFormat, RecordingConfig, ReplayClash, RgbImage, VideoFrame,
};
use movie_writer_av1_tests::probe::{video_packets, video_time_base};
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected};
use movie_writer_av1_tools::scene::TestScene;

const W: u32 = 640;
const H: u32 = 360;
const FPS: u32 = 30;
/// The GPU converter's layout: rows padded to a multiple of 8 luma bytes.
const Y_STRIDE: usize = 640;
const UV_STRIDE: usize = 320;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

fn config(path: &Path, write_file: bool, replay_seconds: f64) -> LiveConfig {
    LiveConfig {
        recording: RecordingConfig::new(path, W, H, FPS),
        write_file,
        replay_seconds,
        replay_max_bytes: 256 << 20,
    }
}

/// Frame `index` of the seeded scene as contiguous I420.
fn i420_frame(scene: &TestScene, index: u64, rgba: &mut Vec<u8>, out: &mut [u8]) {
    scene.render(index, rgba);
    let image = RgbImage::packed(W, H, PixelFormat::Rgba8, rgba).unwrap();
    let (y, chroma) = out.split_at_mut(Y_STRIDE * H as usize);
    let (u, v) = chroma.split_at_mut(UV_STRIDE * H as usize / 2);
    let mut planes = I420Planes {
        width: W,
        height: H,
        y,
        y_stride: Y_STRIDE,
        u,
        u_stride: UV_STRIDE,
        v,
        v_stride: UV_STRIDE,
    };
    rgb_to_i420(&image, &mut planes, false);
}

/// Records `seconds` in real time; saves a replay of `replay.1` seconds at `replay.0` seconds.
/// Returns the capture times (ms) of the frames queued.
fn record_live(recorder: &mut LiveRecorder, seconds: f64, replay: Option<(f64, &Path, f64)>) -> Vec<i64> {
    let scene = TestScene::new(W, H, FPS, 7);
    let (mut rgba, mut yuv) = (Vec::new(), vec![0u8; I420Image::contiguous_len(H, Y_STRIDE, UV_STRIDE)]);
    let start = Instant::now();
    let mut queued = Vec::new();
    let mut audio_frames = 0u64;
    let mut replay = replay;
    let mut index = 0;
    while start.elapsed().as_secs_f64() < seconds {
        // A game's frame: render, then hand over the picture with its capture time.
        i420_frame(&scene, index, &mut rgba, &mut yuv);
        index += 1;
        let at = start.elapsed();
        let frame = VideoFrame::I420(I420Image::contiguous(W, H, Y_STRIDE, UV_STRIDE, &yuv).unwrap());
        if recorder.push_frame(&frame, at).unwrap() {
            queued.push(((at.as_micros() + 500) / 1000) as i64);
        }
        // The audio device's output since the last frame: a 1 kHz tone at 44.1 kHz.
        let due = (at.as_secs_f64() * 44_100.0) as u64;
        let block: Vec<f32> = (audio_frames..due)
            .flat_map(|n| {
                let s = (n as f32 / 44_100.0 * 1000.0 * std::f32::consts::TAU).sin() * 0.5;
                [s, s]
            })
            .collect();
        audio_frames = due;
        recorder.push_audio(&block, 44_100, start.elapsed()).unwrap();
        if let Some((_, path, secs)) = replay.filter(|r| at.as_secs_f64() >= r.0) {
            recorder.save_replay(path.to_path_buf(), secs).unwrap();
            replay = None;
        }
        // About 30 fps with jitter, as a game's frame times have.
        std::thread::sleep(Duration::from_millis(28 + index % 9));
    }
    queued
}

fn live_expected(frames: Option<u64>) -> Expected {
    Expected {
        live: true,
        browser: true,
        ..Expected::unknown_source(W, H, FPS, frames)
    }
}

/// The main file keeps every queued frame at its capture time while a replay of the last 3 s
/// is written from the buffer at 6 s; the replay starts with a keyframe and lasts 3 s plus at
/// most one keyframe interval (2 s by default).
#[test]
fn live_capture_keeps_capture_times_and_saves_a_replay_without_interrupting() {
    let dir = out_dir();
    let (main, replay) = (dir.join("live_main.webm"), dir.join("live_replay_3s.webm"));
    let (main2, replay2) = (main.clone(), replay.clone());
    let (queued, stats, saved) = with_time_limit(Duration::from_secs(120), move || {
        let mut recorder = LiveRecorder::start(config(&main2, true, 10.0)).unwrap();
        let queued = record_live(&mut recorder, 8.0, Some((6.0, &replay2, 3.0)));
        let (stats, saved) = recorder.finish();
        (queued, stats.unwrap(), saved)
    });
    println!("main: {stats:?}");
    println!("replays: {saved:?}");
    assert!(
        matches!(&saved[..], [r] if r.path == replay && r.result.is_ok()),
        "{saved:?}"
    );
    assert!(
        stats.frames_dropped < 10,
        "{} frames dropped at 30 fps",
        stats.frames_dropped
    );

    let packets = video_packets(&main).unwrap();
    let pts: Vec<i64> = packets.iter().map(|p| p.pts).collect();
    assert_eq!(
        pts, queued,
        "every queued frame is in the file at its capture time (ms)"
    );
    check_recording(&main, &live_expected(Some(queued.len() as u64)))
        .unwrap()
        .assert_ok();

    let rp = video_packets(&replay).unwrap();
    assert!(
        rp[0].keyframe && rp[0].pts == 0,
        "the replay starts with a keyframe at 0: {:?}",
        rp[0]
    );
    let report = check_recording(&replay, &live_expected(None)).unwrap();
    println!("{report}");
    report.assert_ok();
    // One keyframe interval in real time: 2 s of nominal frames, at the rate the loop reached.
    let key_gap = packets
        .iter()
        .filter(|p| p.keyframe)
        .map(|p| p.pts)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap() as f64
        / 1000.0;
    let secs = report.probe.video[0].end_s;
    println!("replay of 3 s: {secs:.3} s; keyframe interval {key_gap:.3} s");
    assert!(
        (3.0 - 0.1..=3.0 + key_gap + 0.1).contains(&secs),
        "replay of 3 s lasts {secs:.3} s, keyframes {key_gap:.3} s apart"
    );
    // Its frames are the main file's frames from one keyframe on, rebased to 0.
    let replay_pts: Vec<i64> = rp.iter().map(|p| p.pts).collect();
    let matches = (0..pts.len()).any(|i| {
        pts[i..].len() >= replay_pts.len()
            && pts[i..i + replay_pts.len()]
                .iter()
                .zip(&replay_pts)
                .all(|(m, r)| m - pts[i] == *r)
    });
    assert!(matches, "the replay's frames are the main file's, rebased");
}

/// With an empty path only the replay buffer runs: nothing is written until a replay is saved.
#[test]
fn replay_buffer_only_writes_nothing_but_the_replay() {
    let dir = out_dir();
    let (unused, replay) = (dir.join("never_written.webm"), dir.join("replay_only_2s.mkv"));
    let _ = std::fs::remove_file(&unused);
    let (unused2, replay2) = (unused.clone(), replay.clone());
    let (stats, saved) = with_time_limit(Duration::from_secs(90), move || {
        let mut recorder = LiveRecorder::start(config(&unused2, false, 4.0)).unwrap();
        assert!(recorder.path().is_none());
        record_live(&mut recorder, 4.5, Some((4.0, &replay2, 2.0)));
        let (stats, saved) = recorder.finish();
        (stats.unwrap(), saved)
    });
    println!("{stats:?} {saved:?}");
    assert!(matches!(&saved[..], [r] if r.result.is_ok()), "{saved:?}");
    assert!(!unused.exists(), "a replay-only recording writes no main file");
    let report = check_recording(&replay, &live_expected(None)).unwrap();
    println!("{report}");
    report.assert_ok();
}

/// A replay may not be written onto the file being recorded (its path spelt another way
/// included) nor onto a replay still being written: each save truncates its file, so either
/// would ruin both. The refusal is typed, names the path, and the recording goes on unharmed.
#[test]
fn a_replay_onto_the_recording_or_onto_a_replay_being_written_is_refused() {
    let dir = out_dir().join("replay_clash");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let (main, replay) = (dir.join("main.webm"), dir.join("replay.webm"));
    let (main2, replay2, dir2) = (main.clone(), replay.clone(), dir.clone());
    let (refusals, stats, saved) = with_time_limit(Duration::from_secs(120), move || {
        let mut recorder = LiveRecorder::start(config(&main2, true, 10.0)).unwrap();
        let scene = TestScene::new(W, H, FPS, 7);
        let (mut rgba, mut yuv) = (Vec::new(), vec![0u8; I420Image::contiguous_len(H, Y_STRIDE, UV_STRIDE)]);
        let start = Instant::now();
        let mut refusals = Vec::new();
        for index in 0..90u64 {
            i420_frame(&scene, index, &mut rgba, &mut yuv);
            let frame = VideoFrame::I420(I420Image::contiguous(W, H, Y_STRIDE, UV_STRIDE, &yuv).unwrap());
            recorder.push_frame(&frame, start.elapsed()).unwrap();
            recorder.push_audio(&[], 44_100, start.elapsed()).unwrap();
            if index == 45 {
                let onto_main = recorder.save_replay(dir2.join("sub/../main.webm"), 1.0);
                recorder.save_replay(replay2.clone(), 1.0).unwrap();
                let onto_replay = recorder.save_replay(replay2.clone(), 1.0);
                refusals = vec![onto_main, onto_replay];
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        let (stats, saved) = recorder.finish();
        (refusals, stats.unwrap(), saved)
    });
    println!("main: {stats:?}");
    let clashes: Vec<_> = refusals
        .iter()
        .map(|r| match r {
            Err(Error::ReplayPathInUse { clash, .. }) => Some(*clash),
            _ => None,
        })
        .collect();
    assert_eq!(
        clashes,
        [Some(ReplayClash::Recording), Some(ReplayClash::Replay)],
        "{refusals:?}"
    );
    let message = refusals[0].as_ref().unwrap_err().to_string();
    assert!(
        message.contains("main.webm") && message.contains("the file being recorded"),
        "{message}"
    );
    assert!(
        matches!(&saved[..], [r] if r.path == replay && r.result.is_ok()),
        "{saved:?}"
    );
    for file in [&main, &replay] {
        let report = check_recording(file, &live_expected(None)).unwrap();
        println!("{report}");
        report.assert_ok();
    }
}

#[test]
fn bad_live_settings_and_replay_requests_say_what_is_allowed() {
    let dir = out_dir();
    let mut c = config(&dir.join("x.webm"), false, 0.0);
    let e = LiveRecorder::start(c.clone()).err().unwrap().to_string();
    assert!(
        e.contains("replay_seconds = 0") && e.contains("no file to write"),
        "{e}"
    );
    c.replay_seconds = 7200.0;
    let e = LiveRecorder::start(c.clone()).err().unwrap().to_string();
    // The core names its own setting; the extension gives it the engine's name.
    assert!(e.starts_with("replay_seconds = 7200") && e.contains("3600"), "{e}");
    let mut recorder = with_time_limit(Duration::from_secs(60), move || {
        LiveRecorder::start(config(&out_dir().join("y.webm"), true, 5.0)).unwrap()
    });
    let e = recorder.save_replay(dir.join("r.avi"), 5.0).err().unwrap();
    assert!(
        matches!(e, Error::Config(_)) && e.to_string().contains(".webm, .mkv or .mp4"),
        "{e}"
    );
    let e = recorder.save_replay(dir.join("r.webm"), 0.0).err().unwrap().to_string();
    assert!(e.contains("more than 0"), "{e}");
    let mut no_replay = with_time_limit(Duration::from_secs(60), move || {
        LiveRecorder::start(config(&out_dir().join("z.webm"), true, 0.0)).unwrap()
    });
    let e = no_replay.save_replay(dir.join("r.webm"), 5.0).err().unwrap();
    assert!(
        matches!(e, Error::Usage(_)) && e.to_string().contains("replay_seconds"),
        "{e}"
    );
}

/// `AV1Recorder` into `.mp4`: the main file (AAC, fragmented while recording, one moov at the
/// end) keeps each frame at its capture time on the fps × 1000 clock, and a replay saved as
/// `.mp4` passes every check too.
#[test]
fn live_capture_into_mp4_keeps_capture_times_and_saves_an_mp4_replay() {
    let dir = out_dir();
    let (main, replay) = (dir.join("live_main.mp4"), dir.join("live_replay_2s.mp4"));
    let (main2, replay2) = (main.clone(), replay.clone());
    let (queued, saved) = with_time_limit(Duration::from_secs(120), move || {
        let mut recorder = LiveRecorder::start(config(&main2, true, 5.0)).unwrap();
        let queued = record_live(&mut recorder, 5.0, Some((4.0, &replay2, 2.0)));
        let (stats, saved) = recorder.finish();
        stats.unwrap();
        (queued, saved)
    });
    assert!(matches!(&saved[..], [r] if r.result.is_ok()), "{saved:?}");
    let (num, den) = video_time_base(&main).unwrap();
    let ms: Vec<i64> = video_packets(&main)
        .unwrap()
        .iter()
        .map(|p| p.pts * 1000 * num as i64 / den as i64)
        .collect();
    assert_eq!(ms.len(), queued.len(), "every queued frame is in the file");
    assert!(
        ms.iter()
            .zip(&queued)
            .all(|(file, capture)| (file - capture).abs() <= 1),
        "frames sit at their capture times: {:?} vs {:?}",
        &ms[..5.min(ms.len())],
        &queued[..5.min(queued.len())]
    );
    for (path, frames) in [(&main, Some(queued.len() as u64)), (&replay, None)] {
        let report = check_recording(path, &live_expected(frames)).unwrap();
        println!("{report}");
        report.assert_ok();
    }
}
