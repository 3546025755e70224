//! The MP4 checks of `check_recording` can fail: a good AV1 + AAC (and AV1 + Opus) file made by
//! the system's FFmpeg passes every check, and files each made wrong in one way (left
//! fragmented, a timescale that cannot hold the frame times, no colour box, no priming edit,
//! cut short, the wrong frame count) are each flagged with their own problem.
//!
//! MP4Box comes from `./dev setup`; without it these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::{check_recording, with_time_limit, Expected, Report};
use movie_writer_av1_tests::{gst, mp4, tool};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// What a recording's colour description must say: BT.709, limited range.
const BT709: [&str; 8] = tool::FFMPEG_BT709;
const FINISHED: [&str; 2] = ["-movflags", "+faststart+write_colr"];

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mp4_checks");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// One second of FFmpeg's test pattern at `fps` and a 48 kHz stereo tone, AV1 from SVT-AV1,
/// written to `name` with the output options `args` (audio codec, colour, mov muxer flags).
fn ffmpeg_mp4(name: &str, fps: u32, args: &[&str]) -> PathBuf {
    let path = out_dir().join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={WIDTH}x{HEIGHT}:rate={fps}"))
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:sample_rate=48000",
            "-t",
            "1",
            "-ac",
            "2",
        ])
        .args(["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"])
        .args(args)
        .arg(&path);
    tool::run_text(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn check(path: &Path, expected: Expected) -> Report {
    let path = path.to_path_buf();
    let report = with_time_limit(Duration::from_secs(300), move || {
        check_recording(&path, &expected).unwrap_or_else(|e| panic!("checking {}: {e}", path.display()))
    });
    println!("{report}");
    report
}

fn one_second(fps: u32) -> Expected {
    Expected::unknown_source(WIDTH, HEIGHT, fps, Some(u64::from(fps)))
}

/// Fails unless some problem contains `text`.
fn assert_flagged(report: &Report, text: &str) {
    assert!(
        report.problems.iter().any(|p| p.contains(text)),
        "no problem says {text:?}; problems: {:#?}",
        report.problems
    );
}

#[test]
fn a_finished_av1_aac_file_passes() {
    let path = ffmpeg_mp4("aac.mp4", 60, &[&BT709[..], &FINISHED, &["-c:a", "aac"]].concat());
    let report = check(
        &path,
        Expected {
            audio_codec: Some("aac"),
            ..one_second(60)
        },
    );
    report.assert_ok();
    let boxes = &report.mp4.as_ref().expect("MP4 figures").boxes;
    assert_eq!(boxes.count("moov"), 1);
    assert_eq!(boxes.track("soun").unwrap().edits[0].media_time, 1024);
}

#[test]
fn a_finished_av1_opus_file_passes() {
    let path = ffmpeg_mp4("opus.mp4", 60, &[&BT709[..], &FINISHED, &["-c:a", "libopus"]].concat());
    let report = check(
        &path,
        Expected {
            audio_codec: Some("opus"),
            ..one_second(60)
        },
    );
    report.assert_ok();
    let audio = report
        .mp4
        .as_ref()
        .expect("MP4 figures")
        .boxes
        .track("soun")
        .unwrap()
        .clone();
    assert_eq!(audio.edits[0].media_time, i64::from(audio.pre_skip.expect("PreSkip")));
}

/// The default audio codec of an MP4 recording is AAC: an Opus file is flagged.
#[test]
fn opus_where_aac_is_expected_is_flagged() {
    let path = ffmpeg_mp4(
        "opus-not-aac.mp4",
        60,
        &[&BT709[..], &FINISHED, &["-c:a", "libopus"]].concat(),
    );
    let report = check(&path, one_second(60));
    assert_flagged(&report, "want exactly one aac");
    assert_flagged(&report, "audio sample entry \"Opus\", want mp4a");
}

/// What a recording killed mid-way leaves: a moov without samples and movie fragments.
#[test]
fn a_fragmented_file_is_flagged_unless_unfinished_is_expected() {
    let frag = ["-movflags", "+frag_keyframe+delay_moov+default_base_moof+write_colr"];
    let args = [&BT709[..], &frag, &["-frag_duration", "250000", "-c:a", "aac"]].concat();
    let path = ffmpeg_mp4("fragmented.mp4", 60, &args);
    let report = check(&path, one_second(60));
    assert_flagged(&report, "moof boxes left");
    let unfinished = check(
        &path,
        Expected {
            fragmented_ok: true,
            ..one_second(60)
        },
    );
    assert!(
        !unfinished.problems.iter().any(|p| p.contains("moof")),
        "{:?}",
        unfinished.problems
    );
    // The samples in the fragments count: the frame count matches.
    assert!(
        !unfinished.problems.iter().any(|p| p.contains("samples")),
        "{:?}",
        unfinished.problems
    );
}

/// 144 fps in milliseconds: frame 1 would lie at 6.94 ms.
#[test]
fn a_timescale_that_is_not_a_multiple_of_the_frame_rate_is_flagged() {
    let args = [
        &BT709[..],
        &FINISHED,
        &["-video_track_timescale", "1000", "-c:a", "aac"],
    ]
    .concat();
    let path = ffmpeg_mp4("timescale-1000.mp4", 144, &args);
    let report = check(&path, one_second(144));
    assert_flagged(&report, "video timescale 1000 is not a multiple of 144 fps");
    assert_flagged(&report, "want exactly 1 × 1000 / (1 × 144)");
}

#[test]
fn a_file_without_colour_description_is_flagged() {
    let path = ffmpeg_mp4("no-colr.mp4", 60, &["-movflags", "+faststart", "-c:a", "aac"]);
    let report = check(&path, one_second(60));
    assert_flagged(
        &report,
        "want colr nclx with primaries 1, transfer 1, matrix 1, full_range 0",
    );
}

#[test]
fn aac_without_a_priming_edit_is_flagged() {
    let args = [&BT709[..], &FINISHED, &["-use_editlist", "0", "-c:a", "aac"]].concat();
    let path = ffmpeg_mp4("no-editlist.mp4", 60, &args);
    let report = check(&path, one_second(60));
    assert_flagged(&report, "want one whose media_time is exactly 1024 (the mp4a priming)");
}

#[test]
fn a_wrong_frame_count_is_flagged() {
    let path = ffmpeg_mp4("frames.mp4", 60, &[&BT709[..], &FINISHED, &["-c:a", "aac"]].concat());
    let report = check(&path, Expected::unknown_source(WIDTH, HEIGHT, 60, Some(61)));
    assert_flagged(
        &report,
        "the video track has 60 samples (sample table 60, fragments 0), want 61",
    );
    assert_flagged(&report, "GStreamer qtdemux delivered 60 video buffers, want 61");
}

#[test]
fn a_wrong_size_is_flagged() {
    let path = ffmpeg_mp4("size.mp4", 60, &[&BT709[..], &FINISHED, &["-c:a", "aac"]].concat());
    let report = check(&path, Expected::unknown_source(WIDTH - 2, HEIGHT, 60, Some(60)));
    assert_flagged(&report, "shown size: tkhd 320x240 (no clap), want 318x240");
}

/// An odd size is coded at the next even size: a clap box (added here by MP4Box, as FFmpeg 5.1
/// writes none) crops 322x242 to 321x241, the size to show.
#[test]
fn an_odd_size_shown_through_clap_passes_and_a_wrong_clap_is_flagged() {
    let path = out_dir().join("coded-322x242.mp4");
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=322x242:rate=60",
        "-t",
        "1",
    ])
    .args(["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"])
    .args(BT709)
    .args(FINISHED)
    .arg(&path);
    tool::run_text(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    let cropped = out_dir().join("clap-321x241.mp4");
    let _ = std::fs::remove_file(&cropped);
    let mut add = Command::new(mp4::mp4box().unwrap_or_else(|e| panic!("{e}")));
    add.arg("-quiet")
        .arg("-add")
        .arg(format!("{}#video:clap=321,1,241,1,-1,2,-1,2", path.display()))
        .arg("-new")
        .arg(&cropped);
    tool::run_text(&mut add, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));

    let report = check(&cropped, Expected::unknown_source(321, 241, 60, Some(60)));
    assert!(
        !report.problems.iter().any(|p| p.contains("shown size")),
        "{:?}",
        report.problems
    );
    let clap = report
        .mp4
        .as_ref()
        .expect("MP4 figures")
        .boxes
        .track("vide")
        .unwrap()
        .clap;
    assert_eq!(clap.and_then(|c| c.size()), Some((321, 241)));
    let report = check(&cropped, Expected::unknown_source(320, 240, 60, Some(60)));
    assert_flagged(
        &report,
        "shown size: tkhd 322x242, coded 322x242 cropped by clap to Some((321, 241)), want 320x240",
    );
}

/// A file cut off inside its mdat: GPAC complains, and qtdemux delivers fewer frames.
#[test]
fn a_truncated_file_is_flagged_by_mp4box_and_qtdemux() {
    let path = ffmpeg_mp4("whole.mp4", 60, &[&BT709[..], &FINISHED, &["-c:a", "aac"]].concat());
    let bytes = std::fs::read(&path).unwrap();
    let cut = out_dir().join("truncated.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let report = check(&cut, one_second(60));
    assert_flagged(
        &report,
        "MP4Box -info exit Some(0), said [\"[iso file] Incomplete box mdat",
    );
    assert_flagged(&report, "GStreamer qtdemux delivered");
}

/// qtdemux gives up on a file that is no MP4 at all: the demux reports it with the error text.
#[test]
fn qtdemux_reports_a_file_that_is_not_mp4() {
    let junk = out_dir().join("junk.mp4");
    std::fs::write(&junk, [0x55u8; 4096]).unwrap();
    let demux = gst::demux(&junk, true, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    println!("{demux:?}");
    assert!(!demux.clean());
    assert!(demux.errors.contains("GstQTDemux"), "{}", demux.errors);
    assert_eq!(demux.video_buffers, 0);
}
