//! The render farm's test fixtures: a job folder planned with `mwav1 farm plan` whose engine is
//! a stand-in script, so that the runners (local pool, Slurm, OpenJD) can be tested without the
//! engine; the stand-in writes chunks in the render range's format (AV1 with one keyframe, 32-bit
//! float PCM, Matroska) with the system FFmpeg, from one continuous test pattern and tone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::decode::raw_frames;
use crate::engine::{set_window_size, COMPATIBILITY, SCREEN};
use crate::probe::ffprobe;
use crate::{check_recording, mwav1, tool, Expected};

pub const W: u32 = 320;
pub const H: u32 = 240;
pub const FPS: u32 = 30;
pub const FRAMES: u64 = 120;

/// Renders scene frames START..END of `testsrc2` and a 440 Hz tone into the --write-movie path
/// (libaom: Debian's FFmpeg with libsvtav1 writes a CodecPrivate that the chunk check refuses),
/// as the writer's render range would, with the `--movie-job` identity as its MWAV1_JOB tag;
/// fails on purpose when START is $MWAV1_STAND_IN_FAIL, and when START is $MWAV1_STAND_IN_HANG
/// writes part of its file and hangs, as an engine killed mid-render would leave it. Each
/// argument is also appended to `args.txt` beside the stand-in, one line each (a test of the
/// arguments' way through the scripts reads it).
pub const STAND_IN: &str = r#"#!/bin/sh
out=""; range=""; job=""
for a in "$@"; do printf '%s\n' "$a"; done >>"$(dirname "$0")/args.txt"
while [ $# -gt 0 ]; do
  case "$1" in
    --write-movie) out="$2"; shift ;;
    --movie-range=*) range="${1#--movie-range=}" ;;
    --movie-job=*) job="${1#--movie-job=}" ;;
  esac
  shift
done
start=${range%:*}; end=${range#*:}
if [ "$start" = "${MWAV1_STAND_IN_FAIL:-none}" ]; then echo "stand-in: chunk at $start fails on purpose"; exit 3; fi
if [ "$start" = "${MWAV1_STAND_IN_HANG:-none}" ]; then head -c 4096 /dev/urandom >"$out"; exec sleep 600; fi
exec ffmpeg -nostdin -hide_banner -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=5 \
  -f lavfi -i sine=frequency=440:sample_rate=48000:duration=5 \
  -filter_complex "[0:v]trim=start_frame=$start:end_frame=$end,setpts=PTS-STARTPTS[v];[1:a]atrim=start_sample=$((start * 1600)):end_sample=$((end * 1600)),asetpts=PTS-STARTPTS[a]" \
  -map '[v]' -map '[a]' -c:v libaom-av1 -usage realtime -cpu-used 8 -g 100000 -pix_fmt yuv420p \
  -color_primaries bt709 -color_trc bt709 -colorspace bt709 -color_range tv \
  -c:a pcm_f32le -ar 48000 -ac 2 -metadata "MWAV1_JOB=$job" "$out" 2>/dev/null
"#;

/// A fresh job folder under `root` (emptied first) planned with 4 chunks of 30 frames, and the
/// stand-in engine.
pub fn planned(root: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(root);
    let project = root.join("project");
    std::fs::create_dir_all(&project).expect("create the project folder");
    std::fs::write(project.join("project.godot"), "[application]\n").expect("write project.godot");
    let godot = root.join("stand-in-godot");
    std::fs::write(&godot, STAND_IN).expect("write the stand-in");
    let job = root.join("job");
    plan(&mwav1::binary(), &job, &project, &godot, (FRAMES, FPS, 4), &[], "sh");
    job
}

/// A job folder `project/job` that renders demo_project's cutscene (`project` is an imported
/// copy) with the real engine: `frames` at `fps` in a `size` window, 4 chunks on a 30-frame
/// keyframe grid with 5 frames of pre-roll, each engine on an Xvfb of its own (the screen the
/// engine tests use) into `movie.webm`.
pub fn plan_cutscene(godot: &Path, project: &Path, frames: u64, fps: u32, size: (u32, u32)) -> PathBuf {
    plan_cutscene_with(&mwav1::binary(), 4, godot, project, (frames, fps, size))
}

/// [`plan_cutscene`] planned by the `mwav1` at `planner` into `chunks` chunks.
pub fn plan_cutscene_with(
    planner: &Path,
    chunks: u32,
    godot: &Path,
    project: &Path,
    (frames, fps, size): (u64, u32, (u32, u32)),
) -> PathBuf {
    // A script, because the screen argument holds spaces and the plan splits on them. Engines
    // start side by side (a pool, Slurm array tasks), where two `xvfb-run -a` can pick the same
    // display, and a fixed number can be held by an Xvfb another test left: so each takes a
    // display from its own process id, far above the numbers `xvfb-run -a` uses.
    let wrapper = project.join("on-xvfb.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec xvfb-run -n $((1000 + $$ % 30000)) -s '-screen 0 {SCREEN}' \"$@\"\n"),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();
    let job = project.join("job");
    // The window size, which Movie Maker records, for every chunk's engine (the project's
    // override.cfg, read by each engine the plan starts).
    set_window_size(project, size.0, size.1);
    let engine_args: Vec<&str> = COMPATIBILITY.to_vec();
    plan(
        planner,
        &job,
        project,
        godot,
        (frames, fps, chunks),
        &engine_args,
        wrapper.to_str().unwrap(),
    );
    job
}

/// `planner farm plan` of `frames` at `fps` into `job`: `chunks` chunks on a 30-frame keyframe
/// grid with 5 frames of pre-roll, the cutscene scene, `movie.webm`.
fn plan(
    planner: &Path,
    job: &Path,
    project: &Path,
    godot: &Path,
    (frames, fps, chunks): (u64, u32, u32),
    engine_args: &[&str],
    wrapper: &str,
) {
    let (frames, fps, chunks) = (frames.to_string(), fps.to_string(), chunks.to_string());
    let mut args = vec![
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--scene",
        "res://cutscene.tscn",
        "--frames",
        &frames,
        "--fps",
        &fps,
        "--chunks",
        &chunks,
        "--keyframe-frames",
        "30",
        "--preroll",
        "5",
        "--godot",
        godot.to_str().unwrap(),
        "--wrapper",
        wrapper,
        "--output",
        "movie.webm",
    ];
    for arg in engine_args {
        args.extend(["--engine-arg", arg]);
    }
    let done = Command::new(planner)
        .arg("farm")
        .args(&args)
        .output()
        .expect("mwav1 runs");
    assert!(done.status.success(), "farm plan: {}", text(&done));
}

/// The merged file of a finished job: `frames` frames, exactly its chunks' frames (copied, not
/// re-encoded), and every file check passes.
pub fn assert_merged(job: &Path, size: (u32, u32), fps: u32, frames: u64) {
    let merged = job.join("movie.webm");
    assert_eq!(ffprobe(&merged).expect("ffprobe").video[0].packets, frames);
    let mut chunks: Vec<PathBuf> = std::fs::read_dir(job.join("chunks"))
        .expect("the job's chunks folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mkv") && !p.to_string_lossy().contains(".partial."))
        .collect();
    chunks.sort();
    assert!(!chunks.is_empty(), "no chunk in {}", job.display());
    let from_chunks: Vec<u8> = chunks.iter().flat_map(|c| decoded(c)).collect();
    assert!(decoded(&merged) == from_chunks, "the merge is not the chunks' frames");
    let expected = Expected::unknown_source(size.0, size.1, fps, Some(frames));
    check_recording(&merged, &expected).expect("checks run").assert_ok();
}

pub fn farm(args: &[&str]) -> Output {
    farm_env(args, None)
}

pub fn farm_env(args: &[&str], fail_start: Option<&str>) -> Output {
    let mut cmd = Command::new(mwav1::binary());
    cmd.arg("farm").args(args);
    match fail_start {
        Some(s) => cmd.env("MWAV1_STAND_IN_FAIL", s),
        None => cmd.env_remove("MWAV1_STAND_IN_FAIL"),
    };
    cmd.output().expect("mwav1 runs")
}

/// Every frame of the file's video, decoded by libdav1d, as I420 bytes.
pub fn decoded(path: &Path) -> Vec<u8> {
    let done = tool::run(&mut raw_frames(path), Duration::from_secs(300)).expect("ffmpeg decodes");
    assert!(done.status.success(), "decoding {}: {}", path.display(), done.stderr);
    done.stdout
}

/// What a command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
