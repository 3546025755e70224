//! Conformance of every encoder backend: each one records the core's conformance cases
//! (`movie_writer_av1_tools::conformance::cases`: every rate control it offers, its slowest and
//! fastest preset, 330 frames in one keyframe interval so order hints wrap, 1080p and an odd
//! size), forced with `BackendPreference::Only`, from the colour-patch scene. Each file must
//! pass two independent judges:
//! - the core's oracle, FFmpeg's command-line tools: a clean decode of every frame, Y, U and V
//!   each close to the scene (FFmpeg's `ssim` filter) and each patch's mean within a few code
//!   values of BT.709 limited range, so a wrong matrix or range fails;
//! - this crate's `check_recording` (ffprobe, mkvmerge, libdav1d): container, crop and display
//!   size, durations; and one packet per frame at its exact millisecond timestamp.
//!
//! The tests are generated from the core's backend table: one per row, named by the backend's
//! id (`./dev test -f svt_av1`), run by `table_tests` (this target has `harness = false`).
//! `mwav1 hwcheck` runs the same cases on a user's hardware. A backend whose probe fails here
//! is a counted skip with its reason. The software backends' share stays within a few minutes
//! on two cores (the slowest-preset case is kept to a few small frames).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use movie_writer_av1_core::backend::probe;
use movie_writer_av1_core::BackendKind;
use movie_writer_av1_tests::probe as file_probe;
use movie_writer_av1_tests::skip::{current_test, skip, Need};
use movie_writer_av1_tests::{check_recording, table_tests, with_time_limit, Expected};
use movie_writer_av1_tools::conformance::{self, bitstream, oracle, Case};

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Everything wrong with one case's recording (empty when it passes), and a line of figures.
fn run_case(case: &Case) -> (Vec<String>, String) {
    let path = out_dir().join(case.file_name());
    let recorded = with_time_limit(Duration::from_secs(300), {
        let (case, path) = (case.clone(), path.clone());
        move || conformance::record(&case, &path)
    });
    let recorded = match recorded {
        Ok(r) => r,
        Err(e) => return (vec![format!("recording {} failed: {e}", path.display())], String::new()),
    };
    let mut problems = Vec::new();
    if recorded.stats.backend != Some(case.backend) {
        problems.push(format!("recorded by {:?}", recorded.stats.backend));
    }
    let bits = match bitstream::judge(&path, (case.width, case.height)) {
        Ok(b) => {
            problems.extend(b.problems(case.frames));
            b.to_string()
        }
        Err(e) => {
            problems.push(format!("the bitstream judge could not run: {e}"));
            String::new()
        }
    };
    let judged = oracle::judge(&path, case.width, case.height, case.fps, case.frames);
    let figures = match &judged {
        Ok(j) => {
            problems.extend(conformance::problems(case, j));
            j.to_string()
        }
        Err(e) => {
            problems.push(format!("FFmpeg could not judge it: {e}"));
            String::new()
        }
    };
    let expected = Expected::unknown_source(case.width, case.height, case.fps, Some(case.frames));
    match check_recording(&path, &expected) {
        Ok(report) => problems.extend(report.problems),
        Err(e) => problems.push(format!("check_recording could not run: {e}")),
    }
    // Matroska stores whole milliseconds: frame i is at round(i × 1000 / fps).
    match file_probe::video_packets(&path) {
        Ok(packets) => {
            let fps = i64::from(case.fps);
            let want: Vec<i64> = (0..case.frames as i64).map(|i| (i * 1000 + fps / 2) / fps).collect();
            let got: Vec<i64> = packets.iter().map(|p| p.pts).collect();
            if got != want {
                problems.push(format!("packet timestamps {got:?}, want {want:?}"));
            }
            if !packets.first().is_some_and(|p| p.keyframe) {
                problems.push("the first packet is not a keyframe".into());
            }
        }
        Err(e) => problems.push(format!("ffprobe could not list the packets: {e}")),
    }
    let s = &recorded.stats;
    let line = format!(
        "{bits}; {figures}; {} bytes ({:.0} kbit/s), encode {:.1} fps, wall {:.1} s",
        s.bytes, s.average_bitrate_kbps, s.encode_fps, recorded.wall_s
    );
    (problems, line)
}

fn conformance(kind: BackendKind) {
    let p = probe(kind);
    if !p.available {
        skip(&current_test(), Need::Backend(kind.id()), &p.reason);
        return;
    }
    let started = Instant::now();
    let mut failures = Vec::new();
    for case in conformance::cases(&p) {
        let (problems, line) = run_case(&case);
        let verdict = if problems.is_empty() { "pass" } else { "FAIL" };
        println!("{verdict} {} {case}: {line}", kind.id());
        failures.extend(problems.into_iter().map(|p| format!("{}: {p}", case.name)));
    }
    println!("{}: all cases in {:.1} s", kind.id(), started.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{kind} failed {} check(s):\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

/// One test per row of the backend table (`backend::BACKENDS`), named by its id: a new backend
/// is in the suite as soon as it has a row.
fn main() -> ExitCode {
    let rows = BackendKind::ALL
        .into_iter()
        .map(|kind| {
            (
                kind.id().to_string(),
                Box::new(move || conformance(kind)) as Box<dyn FnOnce() + Send>,
            )
        })
        .collect();
    table_tests::run(rows)
}
