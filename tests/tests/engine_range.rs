//! Render ranges through the real engine (see `engine.rs` for how engine tests run and when they
//! are skipped): demo_project's seekable cutscene recorded once, frames 0..120, and again as
//! three chunks (0:40, 40:80 with 10 pre-roll frames, 80:120 with 20, the last from Project
//! Settings). Each chunk has exactly its frames, starts on a keyframe, holds exactly its PCM
//! samples, ends the engine by itself, and shows what the single recording shows at those
//! frames: the same decoded pictures (within the encoder's loss) and bit-identical audio.
//! Bad range arguments are refused with a message that names them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use movie_writer_av1_tests::audio::{decode_audio, DecodedAudio};
use movie_writer_av1_tests::check::PCM;
use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, error_lines, godot, godot_run_status, our_errors, project, window_override, COMPATIBILITY,
    ENGINE,
};
use movie_writer_av1_tests::film::luma_frames;
use movie_writer_av1_tests::probe::video_packets;
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected};

const FPS: u32 = 60;
const FRAMES: u64 = 120;
const SAMPLES_PER_FRAME: usize = 48_000 / FPS as usize;
const SIZE: (u32, u32) = (640, 360);
/// The frames of each chunk (END exclusive) and its pre-roll.
const CHUNKS: [(u64, u64, u64); 3] = [(0, 40, 0), (40, 80, 10), (80, 120, 20)];
/// Worst luma PSNR a chunk frame may have against the same frame of the single recording: two
/// encodes of one picture (different keyframe placement) differ by the encoder's loss only.
const MIN_PSNR_DB: f64 = 30.0;
/// Quality high enough that encoder loss stays far below the difference between frames.
const QUALITY: &str = "movie_writer/video_quality=0.9\n";

/// Runs the cutscene into `out` at 60 fps in a 640x360 window; `quit_after` for runs without
/// a range, `user_args` after `--`.
fn run_cutscene(
    godot: &Path,
    dir: &Path,
    out: &Path,
    quit_after: Option<u64>,
    user_args: &[&str],
) -> (String, ExitStatus) {
    let mut args: Vec<String> = COMPATIBILITY.iter().map(|s| s.to_string()).collect();
    args.extend(["--write-movie".into(), out.display().to_string()]);
    args.extend(["--fixed-fps".into(), FPS.to_string()]);
    if let Some(n) = quit_after {
        args.extend(["--quit-after".into(), n.to_string()]);
    }
    args.push("res://cutscene.tscn".into());
    if !user_args.is_empty() {
        args.push("--".into());
        args.extend(user_args.iter().map(|s| s.to_string()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    godot_run_status(godot, dir, &args, true, &[])
}

fn override_cfg(dir: &Path, lines: &str) {
    let window = window_override(SIZE.0, SIZE.1);
    fs::write(dir.join("override.cfg"), format!("[editor]\n{QUALITY}{lines}{window}")).unwrap();
}

/// Every file check, with PCM audio and `frames` frames.
fn check_pcm_file(path: &Path, frames: u64) {
    let report = check_recording(
        path,
        &Expected {
            audio_codec: Some(PCM),
            ..Expected::unknown_source(SIZE.0, SIZE.1, FPS, Some(frames))
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    report.assert_ok();
}

fn audio_of(path: &Path) -> DecodedAudio {
    let audio = decode_audio(path, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    assert!(audio.clean(), "{}: audio decode: {}", path.display(), audio.errors);
    audio
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64.powi(2) / mse).log10()
    }
}

#[test]
fn chunks_of_a_seekable_cutscene_are_the_single_recording_cut_at_their_frames() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(1500), move || {
        let dir = project(&godot, "range", true);

        // The reference: one process, frames 0..120, PCM asked for by name (no range involved).
        override_cfg(&dir, "movie_writer/av1/audio_codec=\"pcm\"\n");
        let single = dir.join("single.mkv");
        let (log, status) = run_cutscene(&godot, &dir, &single, Some(FRAMES), &[]);
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        assert!(status.success(), "the single recording exited with {status}");
        check_pcm_file(&single, FRAMES);
        let single_luma = luma_frames(&single, SIZE.0, SIZE.1).unwrap_or_else(|e| panic!("{e}"));
        let single_audio = audio_of(&single);
        assert_eq!(single_luma.len() as u64, FRAMES);
        assert_eq!(single_audio.frames(), FRAMES as usize * SAMPLES_PER_FRAME);

        let mut worst_psnr = f64::INFINITY;
        for (i, &(start, end, preroll)) in CHUNKS.iter().enumerate() {
            let chunk = dir.join(format!("chunk{i}.mkv"));
            let args = [
                format!("--movie-range={start}:{end}"),
                format!("--movie-preroll={preroll}"),
            ];
            // The last chunk takes its range from Project Settings instead of the command line.
            let from_settings = i == CHUNKS.len() - 1;
            let (log, status) = if from_settings {
                override_cfg(
                    &dir,
                    &format!(
                        "movie_writer/av1/render_range=\"{start}:{end}\"\nmovie_writer/av1/render_preroll={preroll}\n"
                    ),
                );
                run_cutscene(&godot, &dir, &chunk, None, &[])
            } else {
                // audio_codec stays "auto": a range in .mkv records PCM.
                override_cfg(&dir, "");
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_cutscene(&godot, &dir, &chunk, None, &args)
            };
            let what = format!("chunk {start}:{end} (pre-roll {preroll})");
            assert_no_loader_errors(&log);
            assert!(
                error_lines(&log).is_empty(),
                "{what}: error lines {:#?}",
                error_lines(&log)
            );
            // No --quit-after: the writer ended the run, cleanly.
            assert!(status.success(), "{what}: the engine exited with {status}");
            assert!(
                log.contains("the render range is complete; quitting"),
                "{what}: the writer did not end the run"
            );
            assert!(
                log.contains(&format!(
                    "cutscene: frames {start} to {end}, starting {preroll} pre-roll frames early at frame {}",
                    start - preroll
                )),
                "{what}: the scene did not get the range from get_render_range()"
            );
            assert!(
                log.contains(&format!("frames {start} to {end} (after {preroll} pre-roll frames")),
                "{what}: the start line names the range"
            );
            let frames = end - start;
            check_pcm_file(&chunk, frames);

            let packets = video_packets(&chunk).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(packets.len() as u64, frames, "{what}: video packets");
            assert!(packets[0].keyframe, "{what}: the first packet is not a keyframe");

            let audio = audio_of(&chunk);
            assert_eq!(
                audio.frames(),
                frames as usize * SAMPLES_PER_FRAME,
                "{what}: PCM samples per channel"
            );
            let from = start as usize * SAMPLES_PER_FRAME * 2;
            let want = &single_audio.samples[from..from + audio.samples.len()];
            let max_diff = audio
                .samples
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            println!("{what}: audio max difference to the single recording {max_diff:e}");
            assert!(
                audio.samples == want,
                "{what}: audio differs from the single recording's samples [{}, {}) (max difference {max_diff:e})",
                from / 2,
                from / 2 + audio.frames()
            );

            let luma = luma_frames(&chunk, SIZE.0, SIZE.1).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(luma.len() as u64, frames, "{what}: decoded frames");
            for (k, picture) in luma.iter().enumerate() {
                let at = start as usize + k;
                let same = psnr(picture, &single_luma[at]);
                worst_psnr = worst_psnr.min(same);
                assert!(
                    same >= MIN_PSNR_DB,
                    "{what}: frame {at} is {same:.1} dB from the single recording's"
                );
                // It is that frame, not a neighbour: seeking landed on the right frame.
                for other in [at.checked_sub(1), Some(at + 1)].into_iter().flatten() {
                    if let Some(neighbour) = single_luma.get(other) {
                        let there = psnr(picture, neighbour);
                        assert!(
                            same > there,
                            "{what}: frame {at} looks more like frame {other} ({there:.1} dB) than itself ({same:.1} dB)"
                        );
                    }
                }
            }
        }
        println!("worst luma PSNR of a chunk frame against the single recording: {worst_psnr:.1} dB");
    });
}

#[test]
fn bad_range_arguments_are_refused_with_what_is_allowed() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "range-bad", true);
        override_cfg(&dir, "");
        for (args, want) in [
            (
                &["--movie-range=10:5"][..],
                "--movie-range=10:5: END must be greater than START",
            ),
            (
                &["--movie-range=30:60", "--movie-preroll=40"],
                "--movie-preroll=40 is more than START (30)",
            ),
            (&["--movie-range=abc"], "--movie-range=abc: expected START:END"),
            (
                &["--movie-range=0:10", "--movie-frames=3"],
                "unknown argument --movie-frames=3: MovieWriterAV1 takes --movie-range=START:END, --movie-preroll=N and --movie-job=ID",
            ),
        ] {
            let out: PathBuf = dir.join("refused.mkv");
            // --quit-after only bounds the run should the refusal not end it.
            let (log, status) = run_cutscene(&godot, &dir, &out, Some(30), args);
            assert_no_loader_errors(&log);
            assert!(log.contains(want), "{args:?}: no '{want}' in the log");
            assert!(
                our_errors(&log).iter().any(|l| l.contains(want)),
                "{args:?}: the refusal is not an error line"
            );
            assert!(!out.exists(), "{args:?}: a refused recording left a file");
            assert_eq!(
                status.code(),
                Some(1),
                "{args:?}: a refused chunk must fail its process"
            );
            assert!(!log.contains("render range is complete"));
        }
    });
}
