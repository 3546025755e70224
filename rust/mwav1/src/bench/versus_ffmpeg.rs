//! Figure 3: end-to-end throughput of our pipeline against the `ffmpeg` CLI encoding the same
//! pre-rendered RGBA frames with the same encoder (libsvtav1), preset, CRF and keyframe
//! interval. The two alternate (ours, ffmpeg, ours, ffmpeg, …) and each round gives a ratio, so
//! load from other processes, which drifts over seconds, mostly cancels out.
//!
//! Both sides are timed from start to a finished file: ours from `Recorder::start` (backend
//! probes, encoder set-up) to `finish`, ffmpeg from spawning the process to its exit. Ours also
//! encodes the Opus track; ffmpeg gets video only, as in the command line it is compared with.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use movie_writer_av1_core::config::VideoConfig;

use super::{config, median, record, Clip, Recording, FPS};

/// Runs `rounds` A/B rounds and returns our last recording, for the file figures.
pub fn run(clip: &Clip, preset: u8, crf: u8, rounds: usize, dir: &Path) -> Result<Recording, String> {
    let ffmpeg_out = dir.join("ffmpeg.webm");
    let mut ffmpeg = ffmpeg_command(clip, preset, crf, &[], &ffmpeg_out);
    let (mut ours_s, mut theirs_s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..rounds {
        let ours = record(clip, config(&dir.join("ours.webm"), clip, preset, crf))?;
        let theirs = run_ffmpeg(&mut ffmpeg, clip)?;
        let ours_time = ours.wall.as_secs_f64();
        ours_s.push(ours_time);
        theirs_s.push(theirs.as_secs_f64());
        ratios.push(theirs.as_secs_f64() / ours_time);
        last = Some(ours);
    }
    let rounds_text: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let (ours, theirs) = (median(&mut ours_s), median(&mut theirs_s));
    let fps = |s: f64| clip.frames as f64 / s;
    println!(
        "pipeline {}x{} {FPS} fps, {} frames, SVT-AV1 preset {preset} crf {crf}: ours {ours:.2} s ({:.1} fps), ffmpeg {theirs:.2} s ({:.1} fps); throughput ratio ours/ffmpeg {:.2} (per round: {})",
        clip.width,
        clip.height,
        clip.frames,
        fps(ours),
        fps(theirs),
        median(&mut ratios),
        rounds_text.join(" "),
    );
    let theirs_bytes = std::fs::metadata(&ffmpeg_out).map_or(0, |m| m.len());
    println!(
        "pipeline ffmpeg side (video only, {theirs_bytes} bytes): {}",
        describe(&ffmpeg)
    );
    last.ok_or_else(|| "bench: no round was run".to_string())
}

/// `ffmpeg` encoding `clip`'s frames from stdin as our backend would; `svt_params` are added to
/// SVT-AV1's own parameters.
pub fn ffmpeg_command(clip: &Clip, preset: u8, crf: u8, svt_params: &[&str], out: &Path) -> Command {
    let gop = (VideoConfig::default().keyframe_interval_s * FPS as f32).round() as u32;
    // What backend/software.rs passes besides preset, CRF and GOP: closed GOPs and a look-ahead
    // bounded to half a second. Keep the two in step, or the encoders do different work.
    let ours = [
        "irefresh-type=2".to_string(),
        format!("lookahead={}", (FPS / 2).clamp(4, 32)),
    ];
    let svt_params = ours
        .iter()
        .map(String::as_str)
        .chain(svt_params.iter().copied())
        .collect::<Vec<_>>()
        .join(":");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostats", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgba"])
        .args(["-s", &format!("{}x{}", clip.width, clip.height)])
        .args(["-r", &FPS.to_string(), "-i", "-"])
        // The same input for the encoder as ours: BT.709 limited range (swscale's default is
        // BT.601, and on this scene SVT-AV1 then spent over twice the CPU time on a different
        // file) in 8-bit 4:2:0 (ffmpeg would pick 10-bit for RGBA input).
        .args(["-vf", "scale=out_color_matrix=bt709:out_range=tv"])
        .args(["-pix_fmt", "yuv420p", "-c:v", "libsvtav1"])
        .args(["-preset", &preset.to_string(), "-crf", &crf.to_string()])
        .args(["-g", &gop.to_string(), "-svtav1-params", &svt_params])
        .arg(out);
    cmd
}

/// Feeds every frame of `clip` to `cmd`'s stdin and returns the time to its exit.
pub fn run_ffmpeg(cmd: &mut Command, clip: &Clip) -> Result<Duration, String> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("bench: cannot run `ffmpeg` ({e}); install FFmpeg with libsvtav1"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let fed = (0..clip.frames).try_for_each(|i| stdin.write_all(clip.image(i).data));
    drop(stdin);
    let status = child.wait().map_err(|e| format!("bench: waiting for ffmpeg: {e}"))?;
    let took = started.elapsed();
    match fed {
        Ok(()) if status.success() => Ok(took),
        _ => Err(format!("bench: `{}` failed ({status})", describe(cmd))),
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
