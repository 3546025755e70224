//! `mwav1 merge`, without the engine: chunks made here by the system FFmpeg (SVT-AV1 with one
//! keyframe per chunk, 32-bit float PCM, Matroska: the render range's chunk format) from one
//! continuous test pattern and 440 Hz tone are merged, and the result is compared with the chunks:
//! frame count, decoded frames bit for bit (the video is copied, not re-encoded), exact audio
//! length, a tone without a break at the borders, and every independent file check. Chunks that
//! must not be merged (another sequence header, missing, truncated) are refused by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use movie_writer_av1_tests::audio::decode_audio;
use movie_writer_av1_tests::decode::raw_frames;
use movie_writer_av1_tests::{check_recording, mwav1, probe, tool, with_time_limit, Expected};

const W: u32 = 320;
const H: u32 = 240;
const FPS: u32 = 30;
const CHUNK_FRAMES: u64 = 30;
const CHUNKS: u64 = 3;
const SAMPLES_PER_FRAME: u64 = 48_000 / FPS as u64;
const LIMIT: Duration = Duration::from_secs(300);

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Frames `first..first + CHUNK_FRAMES` of the pattern and their tone, as a chunk; `extra`
/// goes to the encoder.
fn make_chunk(index: u64, extra: &[&str], name: &str) -> PathBuf {
    let path = dir().join(name);
    let (start, end) = (index * CHUNK_FRAMES, (index + 1) * CHUNK_FRAMES);
    let seconds = (CHUNKS * CHUNK_FRAMES / u64::from(FPS) + 1).to_string();
    let graph = format!(
        "[0:v]trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS[v];\
         [1:a]atrim=start_sample={}:end_sample={},asetpts=PTS-STARTPTS[a]",
        start * SAMPLES_PER_FRAME,
        end * SAMPLES_PER_FRAME
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={W}x{H}:rate={FPS}:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={seconds}"))
        .args(["-filter_complex", &graph, "-map", "[v]", "-map", "[a]"])
        .args([
            // libaom, not Debian's libsvtav1 (1.4.1 through FFmpeg 5.1): its CodecPrivate is a
            // sequence header other than the one in its stream, which the chunk check refuses.
            "-c:v",
            "libaom-av1",
            "-usage",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "100000",
            "-pix_fmt",
            "yuv420p",
        ])
        // BT.709 limited range, said in the stream and the container, as the recorder's chunks
        // say it: the chunk check runs the bitstream judge.
        .args(tool::FFMPEG_BT709)
        .args(extra)
        .args(["-c:a", "pcm_f32le", "-ar", "48000", "-ac", "2"])
        .arg(&path);
    let done = tool::run(&mut cmd, LIMIT).expect("ffmpeg runs");
    assert!(done.status.success(), "ffmpeg made no chunk: {}", done.stderr);
    path
}

/// The three good chunks, made once per test run.
fn chunks() -> &'static [PathBuf] {
    static CHUNKS_MADE: OnceLock<Vec<PathBuf>> = OnceLock::new();
    CHUNKS_MADE.get_or_init(|| {
        (0..CHUNKS)
            .map(|i| make_chunk(i, &[], &format!("{i:04}.mkv")))
            .collect()
    })
}

fn merge(out: &Path, chunks: &[PathBuf]) -> Output {
    let _ = std::fs::remove_file(out);
    Command::new(mwav1::binary())
        .arg("merge")
        .arg("-o")
        .arg(out)
        .args(chunks)
        .output()
        .expect("mwav1 runs")
}

/// Every frame of the file's video, decoded by libdav1d, as I420 bytes.
fn decoded_frames(path: &Path) -> Vec<u8> {
    let done = tool::run(&mut raw_frames(path), LIMIT).expect("ffmpeg decodes");
    assert!(done.status.success(), "decoding {}: {}", path.display(), done.stderr);
    done.stdout
}

fn merged_and_checked(name: &'static str) {
    with_time_limit(LIMIT * 2, move || {
        let out = dir().join(name);
        let done = merge(&out, chunks());
        assert!(
            done.status.success(),
            "mwav1 merge: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        println!("{}", String::from_utf8_lossy(&done.stdout));

        let frames = CHUNKS * CHUNK_FRAMES;
        let p = probe::ffprobe(&out).expect("ffprobe");
        assert_eq!(p.video[0].packets, frames, "frames = the chunks' sum");

        // Lossless: the merged video decodes to exactly the chunks' frames, in order.
        let from_chunks: Vec<u8> = chunks().iter().flat_map(|c| decoded_frames(c)).collect();
        let merged = decoded_frames(&out);
        assert_eq!(merged.len(), from_chunks.len(), "decoded size");
        assert!(merged == from_chunks, "decoded frames differ from the chunks'");

        // Exact audio length, and the tone runs through every border without a break.
        let audio = decode_audio(&out, LIMIT).expect("audio decodes");
        assert!(audio.clean(), "audio: {}", audio.errors);
        let want = frames * SAMPLES_PER_FRAME;
        if name.ends_with(".mp4") {
            // The MP4 ends its audio with the edit list's length, which Debian's FFmpeg 5.1 does
            // not apply at the end when decoding (check_recording checks the edit list itself):
            // what it decodes is the exact length plus at most the last AAC frame's padding.
            let got = audio.frames() as u64;
            assert!(
                (want..want + 1024).contains(&got),
                "audio samples per channel: {got}, want {want}"
            );
        } else {
            assert_eq!(audio.frames() as u64, want, "audio samples per channel");
        }
        let left = audio.left();
        for border in 1..CHUNKS {
            let at = (border * CHUNK_FRAMES * SAMPLES_PER_FRAME) as usize;
            let worst = (at - 480..at + 480)
                .map(|n| (left[n] - tone(n)).abs())
                .fold(0f32, f32::max);
            assert!(worst < 0.05, "the tone breaks at border {border}: off by {worst}");
        }

        let expected = Expected {
            browser: true,
            ..Expected::unknown_source(W, H, FPS, Some(frames))
        };
        let report = check_recording(&out, &expected).expect("the checks run");
        println!("{report}");
        report.assert_ok();
    });
}

/// The 440 Hz sine FFmpeg's `sine` source makes (amplitude 1/8), at sample `n` of the track.
fn tone(n: usize) -> f32 {
    ((n as f64 * 440.0 / 48_000.0 * std::f64::consts::TAU).sin() / 8.0) as f32
}

#[test]
fn merge_webm_is_lossless_and_continuous() {
    merged_and_checked("merged.webm");
}

#[test]
fn merge_mp4_is_lossless_and_continuous() {
    merged_and_checked("merged.mp4");
}

fn assert_refused(out: &Path, chunks: &[PathBuf], culprit: &Path, why: &str) {
    let done = merge(out, chunks);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "a bad chunk was merged");
    assert!(
        stderr.contains(&culprit.display().to_string()) && stderr.contains(why),
        "the message names {} and says '{why}': {stderr}",
        culprit.display()
    );
    assert!(!out.exists(), "nothing is left behind when the merge is refused");
    println!("refused as expected: {stderr}");
}

#[test]
fn refuses_a_chunk_with_another_sequence_header() {
    with_time_limit(LIMIT, || {
        let odd = make_chunk(1, &["-pix_fmt", "yuv420p10le"], "ten_bit.mkv");
        let list = [chunks()[0].clone(), odd.clone(), chunks()[2].clone()];
        assert_refused(&dir().join("refused_header.webm"), &list, &odd, "sequence header");
    });
}

/// The bitstream judge runs in the chunk check: a chunk whose container says BT.470BG while
/// its stream says BT.709 is refused, naming the judge's check.
#[test]
fn refuses_a_chunk_whose_container_contradicts_its_stream() {
    with_time_limit(LIMIT, || {
        let odd = chunk_copy(1, "contradicted", "0001_bt470bg.mkv");
        let mut edit = Command::new("mkvpropedit");
        edit.arg(&odd)
            .args(["--edit", "track:v1", "--set", "colour-matrix-coefficients=5"]);
        let done = tool::run(&mut edit, LIMIT).expect("mkvpropedit runs");
        assert!(done.status.success(), "mkvpropedit: {}", done.stderr);
        let list = [chunks()[0].clone(), odd.clone(), chunks()[2].clone()];
        assert_refused(&dir().join("refused_colour.webm"), &list, &odd, "container colour");
    });
}

#[test]
fn refuses_a_missing_chunk() {
    with_time_limit(LIMIT, || {
        let missing = dir().join("0001_never_rendered.mkv");
        let list = [chunks()[0].clone(), missing.clone(), chunks()[2].clone()];
        assert_refused(&dir().join("refused_missing.webm"), &list, &missing, "is missing");
    });
}

#[test]
fn refuses_a_truncated_chunk() {
    with_time_limit(LIMIT, || {
        let cut = dir().join("0001_cut.mkv");
        let bytes = std::fs::read(&chunks()[1]).expect("read a chunk");
        std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).expect("write the cut copy");
        let list = [chunks()[0].clone(), cut.clone(), chunks()[2].clone()];
        assert_refused(&dir().join("refused_cut.webm"), &list, &cut, "chunk '");
    });
}

/// A copy of chunk `i` named `name` in a folder of its own (a test that edits or overwrites it
/// leaves the shared chunks alone).
fn chunk_copy(i: usize, folder: &str, name: &str) -> PathBuf {
    let d = dir().join(folder);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join(name);
    std::fs::copy(&chunks()[i], &path).expect("copy a chunk");
    path
}

/// Issue 25, item 3: `merge -o a.mkv a.mkv b.mkv` is refused before anything is written, also
/// when the output is the chunk through a hard link or a symlink. Before, the merge truncated
/// chunk a, failed reading it, then deleted it.
#[test]
fn refuses_an_output_that_is_one_of_its_chunks() {
    with_time_limit(LIMIT, || {
        let a = chunk_copy(0, "self", "a.mkv");
        let original = std::fs::read(&a).unwrap();
        let (hard, soft) = (a.with_file_name("hard.mkv"), a.with_file_name("soft.mkv"));
        std::fs::hard_link(&a, &hard).unwrap();
        std::os::unix::fs::symlink(&a, &soft).unwrap();
        for out in [&a, &hard, &soft] {
            let done = Command::new(mwav1::binary())
                .arg("merge")
                .arg("-o")
                .arg(out)
                .args([&a, &chunks()[1]])
                .output()
                .expect("mwav1 runs");
            let stderr = String::from_utf8_lossy(&done.stderr);
            assert!(
                std::fs::read(&a).ok() == Some(original.clone()),
                "chunk a was changed or lost: {stderr}"
            );
            assert!(
                !done.status.success(),
                "merged into one of its chunks ({})",
                out.display()
            );
            assert!(stderr.contains("is not one of the chunks (it is chunk 0"), "{stderr}");
        }
    });
}

/// Issue 25, item 3: a merge that fails while writing (here at a 16 KiB file-size limit) leaves
/// an earlier file of the output's name as it was, and no temporary file. Before, the output
/// was truncated when the merge began and deleted when it failed.
#[test]
fn a_merge_that_fails_leaves_the_existing_output_as_it_was() {
    with_time_limit(LIMIT, || {
        let d = dir().join("failing");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let out = d.join("movie.webm");
        let earlier: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        std::fs::write(&out, &earlier).unwrap();
        // SIGXFSZ ignored: the write fails with EFBIG instead of the process being killed.
        let done = Command::new("bash")
            .arg("-c")
            .arg(r#"trap "" XFSZ; ulimit -f 16; exec "$0" "$@""#)
            .arg(mwav1::binary())
            .arg("merge")
            .arg("-o")
            .arg(&out)
            .args(chunks())
            .output()
            .expect("mwav1 runs");
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!done.status.success(), "the merge passed a 16 KiB file-size limit");
        println!("failed as expected: {stderr}");
        assert!(
            std::fs::read(&out).ok() == Some(earlier),
            "the earlier movie.webm was changed or lost"
        );
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["movie.webm"], "a temporary file was left behind");
    });
}

/// Issue 25, item 6: a chunk's headers are held to what the recorder writes before anything
/// is decoded: a DefaultDuration of 1 ns (10⁹ fps) and a frame width of 65536 are refused
/// by name. Before, the frame size passed the check as long as the frames decoded.
#[test]
fn refuses_a_chunk_whose_headers_pass_the_recorders_limits() {
    with_time_limit(LIMIT, || {
        for (edit, why) in [
            // FFmpeg reads 10⁹ fps as 30000/1, its largest reduced rate.
            ("default-duration=1", "has a frame rate of 30000/1"),
            (
                "pixel-width=65536",
                "has a frame size of 65536x240; chunks are 1x1 to 8192x4320",
            ),
        ] {
            let odd = chunk_copy(1, "headers", "odd.mkv");
            let done = Command::new("mkvpropedit")
                .arg(&odd)
                .args(["--edit", "track:v1", "--set", edit])
                .output()
                .expect("mkvpropedit runs");
            assert!(
                done.status.success(),
                "mkvpropedit: {}",
                String::from_utf8_lossy(&done.stdout)
            );
            let list = [chunks()[0].clone(), odd.clone(), chunks()[2].clone()];
            assert_refused(&dir().join("refused_headers.webm"), &list, &odd, why);
        }
    });
}
