//! The render farm's test fixtures: a job folder planned with `mwav1 farm plan` whose engine is
//! a stand-in script, so that the runners (local pool, Slurm, OpenJD) can be tested without the
//! engine; the stand-in writes chunks in the render range's format (AV1 with one keyframe, 32-bit
//! float PCM, Matroska) with the system FFmpeg, from one continuous test pattern and tone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::decode::raw_frames;
use crate::engine::{COMPATIBILITY, SCREEN};
use crate::{mwav1, tool};

pub const W: u32 = 320;
pub const H: u32 = 240;
pub const FPS: u32 = 30;
pub const FRAMES: u64 = 120;

/// Renders scene frames START..END of `testsrc2` and a 440 Hz tone into the --write-movie path,
/// as the writer's render range would; fails on purpose when START is $MWAV1_STAND_IN_FAIL, and
/// when START is $MWAV1_STAND_IN_HANG writes part of its file and hangs, as an engine killed
/// mid-render would leave it.
pub const STAND_IN: &str = r#"#!/bin/sh
out=""; range=""
while [ $# -gt 0 ]; do
  case "$1" in
    --write-movie) out="$2"; shift ;;
    --movie-range=*) range="${1#--movie-range=}" ;;
  esac
  shift
done
start=${range%:*}; end=${range#*:}
if [ "$start" = "${MWAV1_STAND_IN_FAIL:-none}" ]; then echo "stand-in: chunk at $start fails on purpose"; exit 3; fi
if [ "$start" = "${MWAV1_STAND_IN_HANG:-none}" ]; then head -c 4096 /dev/urandom >"$out"; exec sleep 600; fi
exec ffmpeg -nostdin -hide_banner -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=5 \
  -f lavfi -i sine=frequency=440:sample_rate=48000:duration=5 \
  -filter_complex "[0:v]trim=start_frame=$start:end_frame=$end,setpts=PTS-STARTPTS[v];[1:a]atrim=start_sample=$((start * 1600)):end_sample=$((end * 1600)),asetpts=PTS-STARTPTS[a]" \
  -map '[v]' -map '[a]' -c:v libsvtav1 -preset 12 -g 100000 -pix_fmt yuv420p \
  -c:a pcm_f32le -ar 48000 -ac 2 "$out" 2>/dev/null
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
    let done = farm(&[
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--scene",
        "res://cutscene.tscn",
        "--frames",
        &FRAMES.to_string(),
        "--fps",
        &FPS.to_string(),
        "--chunks",
        "4",
        "--keyframe-frames",
        "30",
        "--preroll",
        "5",
        "--godot",
        godot.to_str().unwrap(),
        "--wrapper",
        "sh",
        "--output",
        "movie.webm",
    ]);
    assert!(done.status.success(), "plan: {}", String::from_utf8_lossy(&done.stderr));
    job
}

/// A job folder `project/job` that renders demo_project's cutscene (`project` is an imported
/// copy) with the real engine: `frames` at `fps` in a `size` window, 4 chunks on a 30-frame
/// keyframe grid with 5 frames of pre-roll, each engine started by `xvfb` (an `xvfb-run` command
/// line without its screen, which is the one the engine tests use) into `movie.webm`.
pub fn plan_cutscene(godot: &Path, project: &Path, xvfb: &str, frames: u64, fps: u32, size: (u32, u32)) -> PathBuf {
    // A script, because the screen argument holds spaces and the plan splits on them.
    let wrapper = project.join("on-xvfb.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {xvfb} -s '-screen 0 {SCREEN}' \"$@\"\n"),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();
    let job = project.join("job");
    let engine_args = format!("{} --resolution {}x{}", COMPATIBILITY.join(" "), size.0, size.1);
    let plan = farm(&[
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--scene",
        "res://cutscene.tscn",
        "--frames",
        &frames.to_string(),
        "--fps",
        &fps.to_string(),
        "--chunks",
        "4",
        "--keyframe-frames",
        "30",
        "--preroll",
        "5",
        "--godot",
        godot.to_str().unwrap(),
        "--engine-args",
        &engine_args,
        "--wrapper",
        wrapper.to_str().unwrap(),
        "--output",
        "movie.webm",
    ]);
    assert!(plan.status.success(), "farm plan: {}", text(&plan));
    job
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
