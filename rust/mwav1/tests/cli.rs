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
    for cmd in ["record", "probe", "bench", "hwcheck", "vulkan-check", "merge", "farm"] {
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
    assert!(stderr(&o).contains("14 is not in 0..=13"), "{}", stderr(&o));
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
