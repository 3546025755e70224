//! `mwav1 check` (the core's bitstream judge) on files that are not ours: a WebM and an MP4 made
//! by the system's FFmpeg with libaom pass every check; the same FFmpeg with SVT-AV1 writes
//! SVT's out-of-band header as av1C, which is not the stream's (the fault our recordings had),
//! and fails; and the libaom files made wrong by the usual tools each fail the check that looks
//! at what the tool changed:
//! - `mkvmerge --colour-matrix-coefficients 0:5`: the container says BT.470BG, the stream BT.709;
//! - `mkvmerge --cropping 0:0,0,0,8`: a crop the stream does not have (DisplayHeight stays);
//! - MP4Box's `clap` cropping 8 rows off a file recorded at its full size.
//!
//! mkvmerge and MP4Box come from `./dev setup`; without them these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use movie_writer_av1_tests::{mp4, mwav1, tool};

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("judge");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

const LIBAOM: [&str; 6] = ["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8"];

/// One second of FFmpeg's test pattern at 320x240, libaom, tagged BT.709 limited range.
fn ffmpeg_file(name: &str, more: &[&str]) -> PathBuf {
    encode(name, &LIBAOM, more)
}

/// The same through `encoder` (FFmpeg's options).
fn encode(name: &str, encoder: &[&str], more: &[&str]) -> PathBuf {
    let path = out_dir().join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-t",
        "1",
    ])
    .args(encoder)
    .args(["-pix_fmt", "yuv420p"])
    .args(tool::FFMPEG_BT709)
    .args(more)
    .arg(&path);
    tool::run_text(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn mkvmerge(from: &Path, name: &str, option: &[&str]) -> PathBuf {
    let path = out_dir().join(name);
    let mut cmd = Command::new("mkvmerge");
    cmd.arg("-q").arg("-o").arg(&path).args(option).arg(from);
    tool::run_text(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn check(files: &[&Path], more: &[&str]) -> Output {
    let out = Command::new(mwav1::binary())
        .arg("check")
        .args(more)
        .args(files)
        .output()
        .expect("mwav1 runs");
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fails unless `mwav1 check` exits 1 and names `check` failed with `problem`.
fn assert_fails(file: &Path, more: &[&str], check_name: &str, problem: &str) {
    let o = check(&[file], more);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains(&format!("FAIL {check_name}: ")), "{out}");
    assert!(out.contains(problem), "no {problem:?} in:\n{out}");
    assert!(err.contains(&format!("failed {check_name}")), "{err}");
}

#[test]
fn ffmpegs_webm_and_mp4_pass() {
    let webm = ffmpeg_file("ffmpeg.webm", &[]);
    let mp4 = ffmpeg_file("ffmpeg.mp4", &["-movflags", "+faststart+write_colr"]);
    let o = check(&[&webm, &mp4], &["--size", "320x240"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 file(s): every check passed"));
}

/// FFmpeg (5.1 here) takes av1C from SVT-AV1's header made before encoding (other coding-tool
/// flags than the stream's): players that trust av1C set up for another stream.
#[test]
fn ffmpegs_svt_av1_av1c_is_not_the_streams_first_sequence_header() {
    let webm = encode("svt.webm", &["-c:v", "libsvtav1", "-preset", "12"], &[]);
    assert_fails(&webm, &[], "av1C", "is not the stream's first");
}

#[test]
fn a_container_matrix_other_than_the_streams_fails() {
    let webm = ffmpeg_file("matrix.webm", &[]);
    let bt470bg = mkvmerge(&webm, "matrix-bt470bg.webm", &["--colour-matrix-coefficients", "0:5"]);
    assert_fails(
        &bt470bg,
        &[],
        "container colour",
        "the Matroska says matrix 5, the stream 1",
    );
}

#[test]
fn a_crop_the_stream_does_not_have_fails() {
    let webm = ffmpeg_file("crop.webm", &[]);
    let cropped = mkvmerge(&webm, "crop-bottom-8.webm", &["--cropping", "0:0,0,0,8"]);
    assert_fails(
        &cropped,
        &[],
        "crop",
        "it crops 0 columns and 8 rows, but the coded 320x240 less the 320x240 to show is 0 and 0",
    );
}

#[test]
fn an_mp4_clap_that_does_not_leave_the_recorded_size_fails() {
    let path = ffmpeg_file("clap.mp4", &["-movflags", "+faststart+write_colr"]);
    let cropped = out_dir().join("clap-320x232.mp4");
    let _ = std::fs::remove_file(&cropped);
    let mut add = Command::new(mp4::mp4box().unwrap_or_else(|e| panic!("{e}")));
    add.arg("-quiet")
        .arg("-add")
        .arg(format!("{}#video:clap=320,1,232,1,0,1,-4,1", path.display()))
        .arg("-new")
        .arg(&cropped);
    tool::run_text(&mut add, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert_fails(
        &cropped,
        &["--size", "320x240"],
        "crop",
        "clap left 0 right 0 top 0 bottom 8",
    );
}
