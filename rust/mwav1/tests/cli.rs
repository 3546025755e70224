//! `mwav1` as a user runs it: the binary Cargo built from these sources for this test
//! (`CARGO_BIN_EXE_mwav1`), its help, its refusals of bad input, and a few commands that need
//! neither the engine nor FFmpeg's tools. The tests crate (`tests/`) runs the rest.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use movie_writer_av1_core::backend::BackendKind;

fn mwav1(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mwav1"))
        .args(args)
        .output()
        .expect("mwav1 runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh folder for one test.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mwav1-cli").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn help_lists_every_subcommand() {
    let o = mwav1(&["--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for cmd in [
        "record",
        "probe",
        "bench",
        "hwcheck",
        "check",
        "vulkan-check",
        "merge",
        "farm",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "`{cmd}` missing from:\n{out}"
        );
    }
    let farm = stdout(&mwav1(&["farm", "--help"]));
    for cmd in ["plan", "run", "check", "merge", "render-chunk", "submit"] {
        assert!(
            farm.contains(&format!("  {cmd} ")),
            "`farm {cmd}` missing from:\n{farm}"
        );
    }
}

#[test]
fn no_command_prints_the_help_and_fails() {
    let o = mwav1(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage: mwav1 <COMMAND>"), "{}", stderr(&o));
}

#[test]
fn a_setting_out_of_the_tables_range_is_refused_naming_the_range() {
    let o = mwav1(&["record", "--preset", "14"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value '14' for '--preset <PRESET>'") && stderr(&o).contains("auto, 0, 1"),
        "{}",
        stderr(&o)
    );
    let o = mwav1(&["record", "--keyint", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("-1 is not in 0..=300"), "{}", stderr(&o));
}

#[test]
fn an_unknown_backend_is_refused_naming_every_backend_of_the_table() {
    for args in [&["record", "--backend", "nope"][..], &["hwcheck", "--only", "nope"]] {
        let o = mwav1(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        for kind in BackendKind::ALL {
            assert!(err.contains(kind.id()), "{args:?}: {} not named in:\n{err}", kind.id());
        }
    }
}

#[test]
fn an_unknown_option_is_refused() {
    let o = mwav1(&["record", "--no-such-option"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unexpected argument '--no-such-option'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn probe_lists_every_backend_and_the_choice_of_auto() {
    let o = mwav1(&["probe"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for kind in BackendKind::ALL {
        assert!(out.contains(&kind.to_string()), "{kind} missing from:\n{out}");
    }
    assert!(out.contains("auto would use: "), "{out}");
}

/// `mwav1 record` of 10 frames of 320x180 at 30 fps to `path`, with `more` arguments.
fn record_10_frames(path: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "record",
        "--out",
        path.to_str().unwrap(),
        "--size",
        "320x180",
        "--fps",
        "30",
    ];
    args.extend(["--frames", "10"]);
    args.extend_from_slice(more);
    mwav1(&args)
}

#[test]
fn record_writes_the_frames_it_was_asked_for_with_the_settings_given() {
    let path = dir("record").join("short.webm");
    // The settings' own names are aliases of the short options.
    let o = record_10_frames(&path, &["--speed-preset", "12", "--backend", "software"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("10 frames of 320x180 at 30 fps"), "{out}");
    assert!(out.contains("done: 10 frames"), "{out}");
    assert!(out.contains("backend SVT-AV1"), "{out}");
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
}

/// `auto` in a fresh process: the software encoder opens while the probes run, and is the one
/// used (with the note naming why no hardware encoder was) where no hardware backend is
/// usable; where one is, that one is used and the software encoder dropped.
#[test]
fn auto_in_a_fresh_process_records_with_what_the_probes_allow_and_says_why() {
    let probed = movie_writer_av1_core::backend::probe_all();
    let chosen = movie_writer_av1_core::backend::auto_choice(&probed);
    let path = dir("record_auto").join("auto.webm");
    let o = record_10_frames(&path, &[]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("done: 10 frames"), "{out}");
    assert!(
        out.contains(&format!("backend {chosen}")),
        "auto chose {chosen}:\n{out}"
    );
    assert!(out.contains("open: ") && out.contains(&format!("({chosen})")), "{out}");
    let note = out.lines().find(|l| l.starts_with("note: "));
    if chosen.is_hardware() {
        assert!(note.is_none(), "{out}");
    } else {
        let note = note.unwrap_or_else(|| panic!("no note on the fallback:\n{out}"));
        assert!(
            note.starts_with(&format!(
                "note: no hardware AV1 encoder usable, recording with {chosen}. Why: "
            )),
            "{note}"
        );
        for p in probed.iter().filter(|p| p.kind.is_hardware()) {
            assert!(note.contains(&p.kind.to_string()), "{} missing from {note}", p.kind);
        }
    }
}

#[test]
fn a_failure_after_parsing_is_reported_with_the_program_name_and_status_1() {
    let d = dir("merge-missing");
    let o = mwav1(&[
        "merge",
        "-o",
        d.join("out.webm").to_str().unwrap(),
        d.join("0000.mkv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("mwav1: "), "{}", stderr(&o));
}

/// `farm plan` takes engine arguments that start with `--`, and the job's runner scripts call
/// this very binary.
#[test]
fn farm_plan_writes_scripts_with_the_engine_arguments_and_this_binary() {
    let d = dir("farm-plan");
    let project = d.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("project.godot"), "config_version=5\n").unwrap();
    let job = d.join("job");
    let o = mwav1(&[
        "farm",
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--frames",
        "120",
        "--fps",
        "30",
        "--chunks",
        "2",
        "--engine-arg",
        "--rendering-driver",
        "--engine-arg=opengl3",
        "--godot",
        "/opt/engine/godot",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("planned 2 chunks"), "{}", stdout(&o));
    let chunk = std::fs::read_to_string(job.join("chunks/0000.sh")).unwrap();
    assert!(chunk.contains("/opt/engine/godot"), "{chunk}");
    assert!(chunk.contains("--rendering-driver opengl3"), "{chunk}");
    let slurm = std::fs::read_to_string(job.join("slurm-array.sh")).unwrap();
    assert!(
        slurm.contains(&format!("{} farm render-chunk", env!("CARGO_BIN_EXE_mwav1"))),
        "{slurm}"
    );
    let check = mwav1(&["farm", "check", job.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("chunk 0000 frames 0..60: missing"),
        "{}",
        stdout(&check)
    );
    let o = mwav1(&["farm", "render-chunk", job.to_str().unwrap(), "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("render-chunk needs a chunk index from 0 to 1"),
        "{}",
        stderr(&o)
    );
}

/// `farm plan` with the numbers of a project folder, the frames, fps and split given; the
/// process's output.
fn plan_numbers(d: &Path, extra: &[&str]) -> Output {
    let project = d.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("project.godot"), "config_version=5\n").unwrap();
    let job = d.join("job");
    let mut args = vec![
        "farm",
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--fps",
        "30",
    ];
    args.extend(extra);
    mwav1(&args)
}

/// Issue 25, item 7: numbers that wrapped (and then divided by zero) are planned or refused by
/// name. Before, `--chunk-frames 18446744073709551615 --keyframe-frames 2` panicked in div_ceil.
#[test]
fn farm_plan_numbers_that_would_wrap_are_planned_or_refused_by_name() {
    let d = dir("farm-plan-numbers");
    let o = plan_numbers(
        &d,
        &[
            "--frames",
            "100",
            "--chunk-frames",
            "18446744073709551615",
            "--keyframe-frames",
            "2",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("planned 1 chunks of up to 100 frames"),
        "{}",
        stdout(&o)
    );
    for (extra, want) in [
        (
            &[
                "--frames",
                "18446744073709551615",
                "--chunks",
                "1",
                "--keyframe-frames",
                "18446744073709551614",
            ][..],
            "--keyframe-frames = 18446744073709551614 is not allowed",
        ),
        (
            &["--frames", "18446744073709551615", "--chunk-frames", "1"],
            "--chunk-frames = 1 is not allowed: a split into at most 10000 chunks",
        ),
    ] {
        let o = plan_numbers(&d, extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(want), "{extra:?}: {}", stderr(&o));
    }
}

/// Issue 25, item 7: a hand-edited job.json whose chunks run backwards, leave a gap or are
/// empty is refused by every command that loads it, naming the field. Before, `end - start`
/// wrapped and `chunks.len() - 1` underflowed.
#[test]
fn farm_refuses_a_hand_edited_job_json_by_name() {
    let d = dir("farm-job-json");
    let o = plan_numbers(&d, &["--frames", "120", "--chunks", "2", "--keyframe-frames", "30"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let job = d.join("job");
    let file = job.join("job.json");
    for (chunks, want) in [
        (
            r#"[{"start": 60, "end": 30}, {"start": 60, "end": 120}]"#,
            "job.json chunks[0] = 60..30 is not allowed",
        ),
        (
            r#"[{"start": 0, "end": 60}, {"start": 90, "end": 120}]"#,
            "job.json chunks[1] = 90..120 is not allowed",
        ),
        ("[]", "job.json chunks = 0 chunks is not allowed"),
    ] {
        let edited = format!(
            r#"{{"project": "{}", "scene": null, "frames": 120, "fps": 30, "keyframe_frames": 30, "preroll": 0,
            "godot": "godot", "engine_args": [], "wrapper": [], "output": "movie.webm", "chunks": {chunks}}}"#,
            d.join("project").display()
        );
        std::fs::write(&file, edited).unwrap();
        for command in ["check", "merge", "run", "submit"] {
            let o = mwav1(&["farm", command, job.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(1), "farm {command}: {}{}", stdout(&o), stderr(&o));
            assert!(stderr(&o).contains(want), "farm {command}: {}", stderr(&o));
        }
    }
}

const CHECKS: [&str; 6] = ["av1C", "keyframes", "size", "crop", "colour", "container colour"];

/// Where `needle` starts in `haystack`, from `from` on.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Our recordings (SVT-AV1, a keyframe every 3 frames) pass every check of `mwav1 check`, in
/// WebM and MP4, and the output names each check.
#[test]
fn check_passes_our_recordings_naming_every_check() {
    let d = dir("check-ours");
    let (webm, mp4) = (d.join("ours.webm"), d.join("ours.mp4"));
    for path in [&webm, &mp4] {
        let o = record_10_frames(path, &["--keyint", "0.1", "--backend", "software"]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    let o = mwav1(&[
        "check",
        webm.to_str().unwrap(),
        mp4.to_str().unwrap(),
        "--size",
        "320x180",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    for check in CHECKS {
        assert_eq!(out.matches(&format!("pass {check}: ")).count(), 2, "{check}:\n{out}");
    }
    assert!(out.contains("keyframes: 10 frames, 4 keyframes"), "{out}");
    assert!(out.contains("2 file(s): every check passed"), "{out}");
}

/// Files made wrong on purpose fail the check that looks at what was changed, and the status
/// and the error name it: a keyframe's sequence header turned into padding (same length, so
/// the container stays valid), an av1C field altered, and a crop the stream does not have.
#[test]
fn check_fails_files_made_wrong_naming_each_failed_check() {
    let d = dir("check-wrong");
    let good = d.join("good.webm");
    let o = record_10_frames(&good, &["--keyint", "0.1", "--backend", "software"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let bytes = std::fs::read(&good).unwrap();
    // CodecPrivate (63 A2, a one-byte size), then av1C: 81, two field bytes, 00, the OBU.
    let private = find(&bytes, &[0x63, 0xa2], 0).unwrap() + 3;
    assert_eq!(bytes[private], 0x81);
    let obu_len = usize::from(bytes[private + 5]) + 2;
    let seq = bytes[private + 4..private + 4 + obu_len].to_vec();
    let first_key = find(&bytes, &seq, private + 4 + obu_len).unwrap();
    let second_key = find(&bytes, &seq, first_key + obu_len).unwrap();

    let mut stripped = bytes.clone();
    stripped[second_key] = 0x7a; // OBU_PADDING with a size field: the same bytes, ignored
    let mut altered = bytes.clone();
    altered[private + 1] ^= 0x01; // seq_level_idx_0
    let mut taller = bytes.clone();
    // The Video element's PixelHeight (BA 81 B4 = 180) becomes 188: 8 rows the stream lacks.
    let height = find(&taller, &[0xba, 0x81, 180], 0).unwrap();
    taller[height + 2] = 188;

    for (name, bytes, check, problem) in [
        (
            "stripped.webm",
            stripped,
            "keyframes",
            "keyframes without a sequence header: 1 (frames 3)",
        ),
        ("altered.webm", altered, "av1C", "its seq_level_idx_0 is"),
        (
            "taller.webm",
            taller,
            "size",
            "the Matroska track is 320x188 pixels, the sequence header codes 320x180",
        ),
    ] {
        let path = d.join(name);
        std::fs::write(&path, bytes).unwrap();
        let o = mwav1(&["check", path.to_str().unwrap()]);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(1), "{name}: {out}{err}");
        assert!(out.contains(&format!("FAIL {check}: ")), "{name}: {out}");
        assert!(out.contains(problem), "{name}: {out}");
        assert!(err.starts_with("mwav1: 1 of 1 file(s) failed:"), "{name}: {err}");
        assert!(err.contains(&format!("{name}: failed {check}")), "{name}: {err}");
    }
}

#[test]
fn check_refuses_bad_input() {
    let o = mwav1(&["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("<FILE>..."), "{}", stderr(&o));
    let o = mwav1(&["check", "--size", "320", "x.webm"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("takes WxH"), "{}", stderr(&o));
    let d = dir("check-junk");
    let junk = d.join("junk.webm");
    std::fs::write(&junk, [0x55u8; 64]).unwrap();
    let missing = d.join("missing.mp4");
    let o = mwav1(&["check", junk.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("is neither Matroska/WebM nor MP4 (it starts with 55 55"),
        "{err}"
    );
    assert!(err.contains("missing.mp4: not judged: cannot read"), "{err}");
    assert!(
        std::fs::metadata(&junk).unwrap().len() == 64,
        "the file is left as it was"
    );
}

/// `hwcheck` with no FFmpeg command-line tools on PATH still judges every case it records (the
/// bitstream checks and libaom's decode are built in), counts them apart as not judged by
/// their pixels, and never reports them as plain passes.
#[test]
fn hwcheck_without_ffmpeg_judges_every_case_by_its_bitstream() {
    let d = dir("hwcheck-no-ffmpeg");
    let empty_path = d.join("bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let out_dir = d.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_mwav1"))
        .args(["hwcheck", "--only", "svt_av1", "--no-validation", "--out"])
        .arg(&out_dir)
        .env("PATH", &empty_path)
        .output()
        .expect("mwav1 runs");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("pixels: ABSENT, pixels are not judged"), "{out}");
    let cases = out.lines().filter(|l| l.starts_with("pass (bitstream only) ")).count();
    assert!(cases >= 7, "every case judged by its bitstream:\n{out}");
    assert!(
        !out.lines()
            .any(|l| l.starts_with("pass ") && !l.starts_with("pass (bitstream only)")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "0 passed, 0 failed, {cases} passed the bitstream checks and the libaom decode but their pixels were not judged"
        )),
        "{out}"
    );
    assert!(
        out.contains("bitstream checks 6/6 passed, libaom decoded 330 frames"),
        "{out}"
    );
}
