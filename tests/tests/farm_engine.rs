//! The render farm with the real engine (see `engine.rs` for how engine tests run and when they
//! are skipped): demo_project's seekable cutscene, 120 frames at 60 fps, planned as 4 chunks
//! with 5 frames of pre-roll, rendered by `mwav1 farm run` (Godot under its own Xvfb per chunk),
//! and merged, against one engine process recording the same frames into `.webm` and against
//! Godot's own PNG writer as the picture reference:
//! - the same frame count, and every file check (ffprobe, mkvmerge, libdav1d, Chromium);
//! - SSIM against the PNG frames within 0.005 of the single recording's;
//! - the audio: exactly 120 frames' worth of samples, and the same samples as the single
//!   recording's, so the tone runs on across every chunk border without a break.
//!
//! The runners' own behaviour (parallel pool, resume after a kill, a failing chunk, Slurm,
//! OpenJD) is tested with a stand-in engine in farm_runner.rs, farm_slurm.rs, farm_openjd.rs.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use movie_writer_av1_tests::audio::decode_audio;
use movie_writer_av1_tests::engine::{godot, godot_run_status, project, set_window_size, COMPATIBILITY, ENGINE};
use movie_writer_av1_tests::farm::{assert_merged, farm, plan_cutscene, text};
use movie_writer_av1_tests::probe::ffprobe;
use movie_writer_av1_tests::{tool, with_time_limit};

const FPS: u32 = 60;
const FRAMES: u64 = 120;
const SIZE: (u32, u32) = (640, 360);
/// How far the merged file's SSIM may be from the single recording's (the bound).
const SSIM_TOLERANCE: f64 = 0.005;

/// Mean SSIM of `video`'s frames against Godot's PNG frames (`frame00000000.png`, …), by
/// FFmpeg's `ssim` filter with the references converted to the recording's BT.709 limited range.
fn ssim_against_png(video: &Path, png_dir: &Path) -> f64 {
    let by_index = format!("settb=1/{FPS},setpts=N");
    let graph = format!(
        "[0:v]{by_index}[decoded];\
         [1:v]scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,\
         format=yuv420p,{by_index}[reference];[decoded][reference]ssim=shortest=1"
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-c:v", "libdav1d", "-i"])
        .arg(video)
        .args(["-framerate", &FPS.to_string(), "-i"])
        .arg(png_dir.join("frame%08d.png"))
        .args(["-lavfi", &graph, "-f", "null", "-"]);
    let done = tool::run(&mut cmd, Duration::from_secs(300)).expect("ffmpeg runs");
    assert!(done.status.success(), "ssim of {}: {}", video.display(), done.stderr);
    let all = done
        .stderr
        .rsplit("All:")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    all.unwrap_or_else(|| panic!("no SSIM in ffmpeg's output: {}", done.stderr))
}

/// Runs the cutscene in `dir` with the engine arguments the farm job also gets.
fn engine(godot: &Path, dir: &Path, args: &[&str]) {
    let mut all: Vec<&str> = COMPATIBILITY.to_vec();
    let fps = FPS.to_string();
    all.extend(["--fixed-fps", &fps]);
    set_window_size(dir, SIZE.0, SIZE.1);
    all.extend(args);
    let (log, status) = godot_run_status(godot, dir, &all, true, &[]);
    assert!(status.success(), "the engine exited with {status}:\n{log}");
}

#[test]
fn farm_run_of_the_cutscene_matches_one_engine_process() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(1200), move || {
        let dir = project(&godot, "farm", true);
        let frames = FRAMES.to_string();

        // The references: one process recording frames 0..120, and Godot's own PNG frames.
        let single = dir.join("single.webm");
        let range = format!("--movie-range=0:{FRAMES}");
        let single_arg = single.display().to_string();
        engine(
            &godot,
            &dir,
            &["--write-movie", &single_arg, "res://cutscene.tscn", "--", &range],
        );
        let png_dir = dir.join("png");
        fs::create_dir_all(&png_dir).unwrap();
        let png = png_dir.join("frame.png").display().to_string();
        engine(
            &godot,
            &dir,
            &["--write-movie", &png, "--quit-after", &frames, "res://cutscene.tscn"],
        );

        // The farm: each chunk's engine gets its own Xvfb.
        let job = plan_cutscene(&godot, &dir, FRAMES, FPS, SIZE);
        // One engine at a time: two `xvfb-run -a` starting together can pick the same display.
        let run = farm(&["run", job.to_str().unwrap(), "--jobs", "1"]);
        let out = text(&run);
        println!("{out}");
        assert!(run.status.success(), "farm run: {out}");
        assert_merged(&job, SIZE, FPS, FRAMES);
        let merged = job.join("movie.webm");
        assert_eq!(ffprobe(&single).expect("ffprobe").video[0].packets, FRAMES);

        let (ssim_merged, ssim_single) = (ssim_against_png(&merged, &png_dir), ssim_against_png(&single, &png_dir));
        println!("SSIM against Godot's PNG frames: merged {ssim_merged:.4}, single process {ssim_single:.4}");
        assert!(
            (ssim_merged - ssim_single).abs() <= SSIM_TOLERANCE,
            "merged SSIM {ssim_merged:.4} is more than {SSIM_TOLERANCE} from the single recording's {ssim_single:.4}"
        );

        let limit = Duration::from_secs(120);
        let (a, b) = (
            decode_audio(&merged, limit).unwrap(),
            decode_audio(&single, limit).unwrap(),
        );
        assert!(a.clean() && b.clean(), "audio decode errors: {} {}", a.errors, b.errors);
        let per_channel = FRAMES as usize * 48_000 / FPS as usize;
        assert_eq!(a.frames(), per_channel, "merged audio length");
        assert_eq!(b.frames(), per_channel, "single recording's audio length");
        let worst = a
            .samples
            .iter()
            .zip(&b.samples)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        println!("audio: {per_channel} samples per channel in both; largest difference {worst:e}");
        // The chunks' PCM is the single recording's, sample for sample (engine_range.rs), and
        // the merge encodes it once, as the single recording does: the same Opus stream.
        assert!(
            worst <= 1e-4,
            "the merged audio differs from the single recording's by {worst}"
        );
    });
}

/// The local pool's figure, printed and not checked (it depends on the machine): the wall time
/// of the cutscene's 240 frames as 4 chunks on 2 engine processes against one engine process.
/// Each chunk pays an engine start and its pre-roll, so a pool gains only where cores are spare
/// for a second engine.
#[test]
fn local_pool_against_one_process_prints_its_wall_time() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        const BENCH_FRAMES: u64 = 240;
        let dir = project(&godot, "farm-bench", true);
        let single = dir.join("single.webm").display().to_string();
        let range = format!("--movie-range=0:{BENCH_FRAMES}");
        let started = Instant::now();
        engine(
            &godot,
            &dir,
            &["--write-movie", &single, "res://cutscene.tscn", "--", &range],
        );
        let one_process = started.elapsed().as_secs_f64();
        let job = plan_cutscene(&godot, &dir, BENCH_FRAMES, FPS, SIZE);
        let started = Instant::now();
        let run = farm(&["run", job.to_str().unwrap(), "--jobs", "2"]);
        let pool = started.elapsed().as_secs_f64();
        let out = text(&run);
        assert!(run.status.success(), "farm run: {out}");
        assert_merged(&job, SIZE, FPS, BENCH_FRAMES);
        println!(
            "farm bench ({} cores): {BENCH_FRAMES} frames, one engine process {one_process:.1} s, \
             local pool of 2 (4 chunks, merge included) {pool:.1} s: {:.2}x",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            one_process / pool
        );
    });
}
