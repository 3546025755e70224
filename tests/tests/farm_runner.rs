//! `mwav1 farm` plan, local pool, resume, failure report and merge refusal, without the engine:
//! the job's "godot" is a stand-in script that renders its `--movie-range` of a continuous test
//! pattern and tone with the system FFmpeg, in the chunk format the writer's render range
//! produces. What these tests cover is the runner (which chunks run, retries, progress, the
//! job folder), not the engine's render range.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use movie_writer_av1_tests::audio::decode_audio;
use movie_writer_av1_tests::farm::{decoded, farm, farm_env, planned, text, FPS, FRAMES, H, W};
use movie_writer_av1_tests::probe::ffprobe;
use movie_writer_av1_tests::{check_recording, mwav1, probe, with_time_limit, Expected};

const LIMIT: Duration = Duration::from_secs(600);

fn chunk(job: &Path, i: usize) -> PathBuf {
    job.join("chunks").join(format!("{i:04}.mkv"))
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).expect("mtime")
}

#[test]
fn plan_writes_the_job_folder() {
    let job = planned(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("farm_runner").join("plan"));
    for f in [
        "job.json",
        "slurm-array.sh",
        "job.openjd.yaml",
        "chunks/0000.sh",
        "chunks/0003.sh",
    ] {
        assert!(job.join(f).is_file(), "{f} is missing");
    }
    assert!(!job.join("chunks/0004.sh").exists(), "4 chunks of 30 frames, no fifth");
    let script = std::fs::read_to_string(job.join("chunks/0002.sh")).unwrap();
    assert!(script.contains("--movie-range=60:90 --movie-preroll=5"), "{script}");
    assert!(script.contains("res://cutscene.tscn"), "{script}");
    let openjd = std::fs::read_to_string(job.join("job.openjd.yaml")).unwrap();
    assert!(
        openjd.contains("range: '0-3'") && openjd.contains("dependsOn: RenderChunks"),
        "{openjd}"
    );
}

#[test]
fn local_pool_renders_resumes_and_merges() {
    with_time_limit(LIMIT, || {
        let job = planned(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("farm_runner").join("pool"));
        let j = job.to_str().unwrap();
        let run = farm(&["run", j, "--jobs", "2"]);
        let out = text(&run);
        println!("{out}");
        assert!(run.status.success(), "farm run: {out}");
        for i in 0..4 {
            assert!(
                out.contains(&format!("chunk {i:04} start: frames {}..{}", i * 30, i * 30 + 30)),
                "{out}"
            );
            assert!(out.contains(&format!("chunk {i:04} done in ")), "{out}");
        }
        assert!(
            out.contains(&format!("progress: {FRAMES}/{FRAMES} frames, ETA 0 s")),
            "{out}"
        );
        let merged = job.join("movie.webm");
        let first = job.join("first-movie.webm");
        std::fs::copy(&merged, &first).expect("keep the first merge");
        assert_eq!(probe::ffprobe(&merged).expect("ffprobe").video[0].packets, FRAMES);
        let report = check_recording(&merged, &Expected::unknown_source(W, H, FPS, Some(FRAMES))).expect("checks run");
        report.assert_ok();

        // Resume: chunk 2's engine died mid-render (a partial file, no finished chunk); a re-run
        // renders only it, and the merge comes out the same.
        let before: Vec<SystemTime> = (0..4).map(|i| mtime(&chunk(&job, i))).collect();
        let partial = job.join("chunks/0002.partial.mkv");
        std::fs::rename(chunk(&job, 2), &partial).unwrap();
        let bytes = std::fs::read(&partial).unwrap();
        std::fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
        let check = farm(&["check", j]);
        assert!(!check.status.success());
        assert!(
            text(&check).contains("chunk 0002 frames 60..90: missing"),
            "{}",
            text(&check)
        );
        let rerun = farm(&["run", j, "--jobs", "2"]);
        let out = text(&rerun);
        assert!(rerun.status.success(), "farm run again: {out}");
        assert!(out.contains("1 of 4 chunks to render"), "{out}");
        for i in [0, 1, 3] {
            assert_eq!(mtime(&chunk(&job, i)), before[i], "chunk {i} was rendered again");
        }
        assert!(!partial.exists(), "the partial file became the chunk");
        // The same frames and the same audio as the uninterrupted run's merge.
        assert!(
            decoded(&merged) == decoded(&first),
            "decoded frames differ from the first merge"
        );
        let (a, b) = (
            decode_audio(&merged, LIMIT).unwrap(),
            decode_audio(&first, LIMIT).unwrap(),
        );
        assert_eq!(a.frames() as u64, FRAMES * 1600, "audio samples per channel");
        assert!(a.samples == b.samples, "audio differs from the first merge");
    });
}

#[test]
fn a_chunk_that_keeps_failing_is_reported_with_its_log_and_nothing_is_merged() {
    with_time_limit(LIMIT, || {
        let job = planned(
            &Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("farm_runner")
                .join("failing"),
        );
        let j = job.to_str().unwrap();
        let run = farm_env(&["run", j, "--jobs", "2"], Some("30"));
        let out = text(&run);
        println!("{out}");
        assert!(!run.status.success(), "a failing chunk must fail the run");
        let log = job.join("chunks/0001.log");
        assert!(out.contains("chunk 1 failed 2 times"), "{out}");
        assert!(out.contains(&log.display().to_string()), "the log is named: {out}");
        assert!(std::fs::read_to_string(&log).unwrap().contains("fails on purpose"));
        assert!(!job.join("movie.webm").exists(), "nothing merged");
        let merge = farm(&["merge", j]);
        assert!(!merge.status.success());
        assert!(text(&merge).contains("0001.mkv': is missing"), "{}", text(&merge));
    });
}

/// A machine that dies mid-render (the pool and an engine with its half-written chunk, killed
/// with SIGKILL): the next `farm run` finds the partial chunk, renders only it, and merges the
/// same frames and audio as an uninterrupted run.
#[test]
fn a_run_killed_mid_render_resumes_with_only_the_unfinished_chunk() {
    with_time_limit(LIMIT, || {
        let reference = planned(
            &Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("farm_runner")
                .join("uninterrupted"),
        );
        let r = farm(&["run", reference.to_str().unwrap(), "--jobs", "2"]);
        assert!(r.status.success(), "{}", text(&r));

        let job = planned(
            &Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("farm_runner")
                .join("killed"),
        );
        let mut run = Command::new(mwav1::binary());
        run.args(["farm", "run", job.to_str().unwrap(), "--jobs", "2"])
            .env("MWAV1_STAND_IN_HANG", "60")
            .env_remove("MWAV1_STAND_IN_FAIL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = run.spawn().expect("mwav1 starts");
        let partial = job.join("chunks/0002.partial.mkv");
        let started = Instant::now();
        while !([0, 1, 3].iter().all(|&i| chunk(&job, i).exists()) && partial.exists()) {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the other chunks never finished"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: a signal to the process group this test started.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        child.wait().expect("the killed run is reaped");
        assert!(!chunk(&job, 2).exists(), "the killed chunk was not finished");

        let before: Vec<SystemTime> = [0, 1, 3].iter().map(|&i| mtime(&chunk(&job, i))).collect();
        let rerun = farm(&["run", job.to_str().unwrap(), "--jobs", "2"]);
        let out = text(&rerun);
        println!("{out}");
        assert!(rerun.status.success(), "farm run after the kill: {out}");
        assert!(
            out.contains("1 of 4 chunks to render") && out.contains("chunk 0002 start"),
            "{out}"
        );
        let after: Vec<SystemTime> = [0, 1, 3].iter().map(|&i| mtime(&chunk(&job, i))).collect();
        assert_eq!(before, after, "only the killed chunk is rendered again");

        let (merged, uninterrupted) = (job.join("movie.webm"), reference.join("movie.webm"));
        assert!(
            decoded(&merged) == decoded(&uninterrupted),
            "frames differ from the uninterrupted run's"
        );
        let (a, b) = (
            decode_audio(&merged, LIMIT).unwrap(),
            decode_audio(&uninterrupted, LIMIT).unwrap(),
        );
        assert!(a.samples == b.samples, "audio differs from the uninterrupted run's");
    });
}

/// Text that means something to a shell, to Slurm's filename patterns or to OpenJD's format
/// strings, and text that is merely unusual: it must all stay text.
const HOSTILE: &str = "a b $(touch pwned) `touch pwned` 'q' \"d\" 100%a %j {{x}} \\z ünï";

/// Every entry under `root` named `pwned` (what the hostile names would create if they ran).
fn pwned(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name() == "pwned" {
                found.push(e.path());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    found
}

/// `mwav1 farm ARGS` started in `cwd`, where a command hidden in a name would write.
fn farm_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(mwav1::binary())
        .arg("farm")
        .args(args)
        .current_dir(cwd)
        .env_remove("MWAV1_STAND_IN_FAIL")
        .output()
        .expect("mwav1 runs")
}

/// A project, the stand-in engine and the plan arguments for a job folder `job`, all named with
/// `name` in them.
fn hostile_plan(root: &Path, name: &str, job: &Path) -> Vec<String> {
    let project = root.join(format!("project {name}"));
    std::fs::create_dir_all(&project).expect("create the project folder");
    std::fs::write(project.join("project.godot"), "[application]\n").expect("write project.godot");
    let godot = root.join(format!("godot {name}"));
    std::fs::write(&godot, movie_writer_av1_tests::farm::STAND_IN).expect("write the stand-in");
    [
        "plan",
        job.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--scene",
        &format!("res://cut scene {name}.tscn"),
        "--frames",
        &FRAMES.to_string(),
        "--fps",
        &FPS.to_string(),
        "--chunks",
        "2",
        "--keyframe-frames",
        "30",
        "--godot",
        godot.to_str().unwrap(),
        "--wrapper",
        "sh",
        "--output",
        &format!("movie {name}.webm"),
    ]
    .map(String::from)
    .to_vec()
}

/// Issue 25, item 1: paths and arguments with spaces, quotes, `$()`, backquotes, `%`, `{{`, a
/// backslash and non-ASCII go from `farm plan` through the local pool to the merge as text: the
/// engine gets each argument as it was given, the merged file lands where asked, and nothing in
/// a name runs.
#[test]
fn hostile_names_stay_text_from_plan_to_merge() {
    with_time_limit(LIMIT, || {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("farm_runner")
            .join("hostile");
        let _ = std::fs::remove_dir_all(&root);
        let base = root.join(HOSTILE);
        std::fs::create_dir_all(&base).unwrap();
        let job = base.join(format!("job {HOSTILE}"));
        let mut plan = hostile_plan(&base, HOSTILE, &job);
        plan.extend([
            "--engine-arg".into(),
            format!("--an argument {HOSTILE}"),
            "--engine-arg=".into(),
        ]);
        let args: Vec<&str> = plan.iter().map(String::as_str).collect();
        let planned = farm_in(&root, &args);
        assert!(planned.status.success(), "farm plan: {}", text(&planned));
        let run = farm_in(&root, &["run", job.to_str().unwrap(), "--jobs", "2"]);
        let out = text(&run);
        println!("{out}");
        assert!(run.status.success(), "farm run: {out}");
        assert!(pwned(&root).is_empty(), "a name ran as a command: {:?}", pwned(&root));
        let merged = job.join(format!("movie {HOSTILE}.webm"));
        assert_eq!(ffprobe(&merged).expect("ffprobe").video[0].packets, FRAMES);
        let seen = std::fs::read_to_string(base.join("args.txt")).expect("the stand-in's arguments");
        for want in [
            format!("--an argument {HOSTILE}"),
            format!("res://cut scene {HOSTILE}.tscn"),
            job.join("chunks/0001.partial.mkv").display().to_string(),
        ] {
            assert!(
                seen.lines().any(|l| l == want),
                "the engine did not get {want:?}: {seen}"
            );
        }
        assert!(seen.lines().any(str::is_empty), "the empty argument is lost: {seen}");
    });
}

/// Issue 25, item 1: a newline (or any control character) in a path or argument is refused at
/// `farm plan`, naming it. Before, a job folder `x⏎$(touch pwned)⏎` planned, and `farm run`
/// ran `touch pwned` from the scripts' comment lines.
#[test]
fn a_control_character_in_a_name_is_refused_at_plan() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("farm_runner")
        .join("newline");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let job = root.join("x\n$(touch pwned)\n");
    let plan = hostile_plan(&root, "p", &job);
    let args: Vec<&str> = plan.iter().map(String::as_str).collect();
    let planned = farm_in(&root, &args);
    if planned.status.success() {
        let run = farm_in(&root, &["run", job.to_str().unwrap()]);
        assert!(
            pwned(&root).is_empty(),
            "the job folder's name ran as a command: {:?}\n{}",
            pwned(&root),
            text(&run)
        );
    }
    let out = text(&planned);
    assert!(
        !planned.status.success(),
        "a job folder named with a newline was planned: {out}"
    );
    assert!(out.contains("JOB_DIR = ") && out.contains(r"('\n' found)"), "{out}");
    assert!(!job.exists(), "nothing is written: {out}");
    // Each other place a control character could come in.
    for (option, value) in [
        ("--engine-arg", "a\nb"),
        ("--output", "a\rb.webm"),
        ("--scene", "res://a\tb.tscn"),
        ("--wrapper", "sh\u{1b}"),
    ] {
        let mut args = hostile_plan(&root, "p", &root.join("job"));
        args.extend(["--engine-arg".into(), "ok".into()]);
        let at = args.iter().position(|a| a == option).unwrap() + 1;
        args[at] = value.to_string();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let planned = farm_in(&root, &args);
        let out = text(&planned);
        assert!(!planned.status.success(), "{option} {value:?} was planned");
        assert!(
            out.contains(&format!("{option} = ")) && out.contains("control characters"),
            "{out}"
        );
    }
}

/// Issue 25, item 8: a chunk carries its job's identity (its MWAV1_JOB tag, from
/// `--movie-job`), so a chunk of an earlier plan is rendered again rather than merged; planning
/// another job into a used folder needs --force; the same job planned again keeps its chunks.
#[test]
fn chunks_of_another_plan_are_rendered_again() {
    with_time_limit(LIMIT, || {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("farm_runner").join("stale");
        let job = planned(&root);
        let j = job.to_str().unwrap();
        let run = farm(&["run", j, "--jobs", "2"]);
        assert!(run.status.success(), "farm run: {}", text(&run));
        let (project, godot) = (root.join("project"), root.join("stand-in-godot"));
        let plan = |preroll: &str, output: &str, force: bool| {
            let mut args = vec![
                "plan",
                j,
                "--project",
                project.to_str().unwrap(),
                "--scene",
                "res://cutscene.tscn",
                "--frames",
                "120",
                "--fps",
                "30",
                "--chunks",
                "4",
                "--keyframe-frames",
                "30",
                "--preroll",
                preroll,
                "--godot",
                godot.to_str().unwrap(),
                "--wrapper",
                "sh",
                "--output",
                output,
            ];
            if force {
                args.push("--force");
            }
            farm(&args)
        };
        // The same job, another output name: its chunks are its own.
        let same = plan("5", "other.webm", false);
        assert!(same.status.success(), "{}", text(&same));
        let rerun = farm(&["run", j]);
        assert!(text(&rerun).contains("0 of 4 chunks to render"), "{}", text(&rerun));
        // Another job (another pre-roll) into the used folder.
        let other = plan("6", "movie.webm", false);
        let out = text(&other);
        assert!(!other.status.success(), "another job was planned over the first: {out}");
        assert!(out.contains("holds another job") && out.contains("--force"), "{out}");
        let forced = plan("6", "movie.webm", true);
        assert!(forced.status.success(), "{}", text(&forced));
        let check = farm(&["check", j]);
        assert!(!check.status.success());
        assert!(
            text(&check).contains("chunk 0000 frames 0..30: broken:")
                && text(&check).contains("was rendered for another job or range"),
            "{}",
            text(&check)
        );
        let merge = farm(&["merge", j]);
        assert!(!merge.status.success(), "stale chunks were merged: {}", text(&merge));
        let rerun = farm(&["run", j, "--jobs", "2"]);
        let out = text(&rerun);
        assert!(rerun.status.success(), "{out}");
        assert!(out.contains("4 of 4 chunks to render"), "{out}");
    });
}
