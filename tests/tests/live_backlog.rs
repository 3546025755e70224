//! Live capture whose encode thread stalls, as it does when the disk stops answering: the
//! control queue is bounded, so audio pushed meanwhile beyond the bound is dropped and counted
//! rather than held in memory, a replay request is refused with a typed error instead of
//! waiting, and the file keeps audio and video in sync, with silence where audio was dropped.
//! Its own test binary: the stall is set through the environment, which every recording in
//! the process reads.

use std::path::Path;
use std::time::{Duration, Instant};

use movie_writer_av1_core::pipeline::{CONTROL_CAPACITY, STALL_ENV};
use movie_writer_av1_core::{Error, LiveConfig, LiveRecorder, PixelFormat, RecordingConfig, RgbImage, VideoFrame};
use movie_writer_av1_tests::probe::ffprobe;
use movie_writer_av1_tests::with_time_limit;

const W: u32 = 320;
const H: u32 = 180;
const FPS: u32 = 30;
const STALL_MS: u64 = 3000;
/// Audio blocks pushed while the thread stalls: one per 10 ms game frame, well past the bound.
const BLOCKS: u64 = 2 * CONTROL_CAPACITY as u64;

#[test]
fn a_stalled_encode_thread_drops_audio_past_the_bound_and_the_file_stays_in_sync() {
    with_time_limit(Duration::from_secs(120), || {
        std::env::set_var(STALL_ENV, STALL_MS.to_string());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live_backlog");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stalled.webm");
        let mut recorder = LiveRecorder::start(LiveConfig {
            recording: RecordingConfig::new(&path, W, H, FPS),
            write_file: true,
            replay_seconds: 5.0,
            replay_max_bytes: 64 << 20,
        })
        .unwrap();
        let grey = vec![128u8; (W * H * 4) as usize];
        let frame = VideoFrame::Rgb(RgbImage::packed(W, H, PixelFormat::Rgba8, &grey).unwrap());
        let started = Instant::now();
        // The first frame: the encode thread takes it and stalls.
        assert!(recorder.push_frame(&frame, Duration::ZERO).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        // A game running on meanwhile: 10 ms of a 440 Hz tone per frame, handed over at once.
        let tone: Vec<f32> = (0..480)
            .flat_map(|n| {
                let s = (n as f32 / 48_000.0 * 440.0 * std::f32::consts::TAU).sin() * 0.3;
                [s, s]
            })
            .collect();
        for block in 0..BLOCKS {
            recorder
                .push_audio(&tone, 48_000, Duration::from_millis(10 * (block + 1)))
                .unwrap();
        }
        let dropped = recorder.stats().audio_blocks_dropped;
        assert_eq!(
            dropped,
            BLOCKS - CONTROL_CAPACITY as u64,
            "the queue holds exactly its bound while the thread is stalled"
        );
        match recorder.save_replay(dir.join("replay.webm"), 2.0) {
            Err(Error::Behind(what)) => assert_eq!(what, "the replay request"),
            other => panic!("a replay request with the queue full is refused, not queued: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_millis(STALL_MS),
            "nothing above waited for the thread"
        );
        // The thread wakes and catches up; the game goes on to 12 s with its audio.
        std::thread::sleep(Duration::from_millis(STALL_MS + 500).saturating_sub(started.elapsed()));
        let end_ms = 12_000;
        for ms in (10 * (BLOCKS + 1)..=end_ms).step_by(10) {
            std::thread::sleep(Duration::from_millis(2));
            if ms % 100 == 0 {
                while !recorder.push_frame(&frame, Duration::from_millis(ms)).unwrap() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            recorder.push_audio(&tone, 48_000, Duration::from_millis(ms)).unwrap();
        }
        let (stats, _) = recorder.finish();
        let stats = stats.unwrap();
        // A loaded machine may drop a few more while the thread catches up.
        assert!(stats.audio_blocks_dropped >= dropped);
        // Each dropped block became silence on the recording's clock, nothing was squeezed up.
        let dropped_samples = stats.audio_blocks_dropped * 480;
        assert!(
            stats.audio_silence_inserted >= dropped_samples,
            "{} samples of silence for {dropped_samples} dropped",
            stats.audio_silence_inserted
        );
        let probe = ffprobe(&path).unwrap();
        assert!(probe.errors.is_empty(), "{}", probe.errors);
        let video_end = probe.video[0].end_s;
        // Opus packets are 20 ms: the audio ends with the video, give or take a packet or two.
        let audio_end = probe.audio[0].packets as f64 * 0.02;
        assert!(
            (audio_end - video_end).abs() < 0.1,
            "audio ends at {audio_end:.3} s, video at {video_end:.3} s"
        );
        println!(
            "stalled {STALL_MS} ms: {dropped} of {BLOCKS} audio blocks dropped during the stall ({} in all), {} samples of silence, audio {audio_end:.3} s, video {video_end:.3} s",
            stats.audio_blocks_dropped, stats.audio_silence_inserted
        );
    });
}
