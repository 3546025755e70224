//! `mwav1 farm`: plan a chunked render into a job folder, render it with a local pool of engine
//! processes or through Slurm, check the chunks and merge them. The job folder is the only
//! state: a re-run renders just the chunks that are missing or fail their check.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use movie_writer_av1_core::farm::job::{shell_join, SLURM_FILE};
use movie_writer_av1_core::farm::{check_chunk, merge, Job, PlanRequest, Split};

pub const USAGE: &str = "  mwav1 farm plan JOB_DIR --project DIR --frames N --fps N (--chunks N | --chunk-frames N)
               [--scene res://...] [--keyframe-frames N] [--preroll N] [--godot PATH]
               [--engine-args 'ARGS'] [--wrapper 'CMD'] [--output NAME.webm|.mkv|.mp4]
  mwav1 farm run JOB_DIR [--jobs N]
  mwav1 farm check JOB_DIR
  mwav1 farm merge JOB_DIR
  mwav1 farm render-chunk JOB_DIR INDEX
  mwav1 farm submit JOB_DIR [--wait]";

/// Renders a chunk this many times before it is reported as failing.
const ATTEMPTS: u32 = 2;

pub fn run(args: &[String]) -> Result<(), String> {
    let (cmd, rest) = args
        .split_first()
        .ok_or_else(|| format!("farm needs a command\n{USAGE}"))?;
    let dir = rest
        .first()
        .map(PathBuf::from)
        .ok_or_else(|| format!("farm {cmd} needs the job folder\n{USAGE}"))?;
    let rest = &rest[1..];
    match cmd.as_str() {
        "plan" => plan(&dir, rest),
        "run" => pool(&dir, rest),
        "check" => check(&dir),
        "merge" => merge_job(&dir),
        "render-chunk" => {
            let job = load(&dir)?;
            let i = index(&job, rest.first())?;
            render_chunk(&dir, &job, i)
        }
        "submit" => submit(&dir, rest),
        other => Err(format!("farm: unknown command '{other}'\n{USAGE}")),
    }
}

fn load(dir: &Path) -> Result<Job, String> {
    Job::load(dir).map_err(|e| e.to_string())
}

fn index(job: &Job, arg: Option<&String>) -> Result<usize, String> {
    let n = job.chunks.len();
    arg.and_then(|a| a.parse::<usize>().ok())
        .filter(|&i| i < n)
        .ok_or_else(|| format!("render-chunk needs a chunk index from 0 to {}", n - 1))
}

fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number<'a, T: std::str::FromStr>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<T, String> {
    let v = value(flag, it)?;
    v.parse().map_err(|_| format!("{flag}: '{v}' is not a whole number"))
}

fn plan(dir: &Path, args: &[String]) -> Result<(), String> {
    let (mut project, mut frames, mut fps, mut split) = (None, None, None, None);
    let mut req = PlanRequest {
        project: PathBuf::new(),
        scene: None,
        frames: 0,
        fps: 0,
        split: Split::Count(1),
        keyframe_frames: None,
        preroll: 0,
        godot: std::env::var_os("GODOT4_BIN").map_or_else(|| "godot".into(), PathBuf::from),
        engine_args: Vec::new(),
        wrapper: Vec::new(),
        output: "movie.webm".into(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--project" => project = Some(PathBuf::from(value(flag, &mut it)?)),
            "--scene" => req.scene = Some(value(flag, &mut it)?.clone()),
            "--frames" => frames = Some(number(flag, &mut it)?),
            "--fps" => fps = Some(number(flag, &mut it)?),
            "--chunks" => split = Some(Split::Count(number(flag, &mut it)?)),
            "--chunk-frames" => split = Some(Split::Length(number(flag, &mut it)?)),
            "--keyframe-frames" => req.keyframe_frames = Some(number(flag, &mut it)?),
            "--preroll" => req.preroll = number(flag, &mut it)?,
            "--godot" => req.godot = PathBuf::from(value(flag, &mut it)?),
            "--engine-args" => req.engine_args = words(value(flag, &mut it)?),
            "--wrapper" => req.wrapper = words(value(flag, &mut it)?),
            "--output" => req.output = value(flag, &mut it)?.clone(),
            other => return Err(format!("farm plan: unknown option '{other}'\n{USAGE}")),
        }
    }
    req.project = project.ok_or("farm plan needs --project DIR (the Godot project folder)")?;
    req.frames = frames.ok_or("farm plan needs --frames N (the scene frames to render)")?;
    req.fps = fps.ok_or("farm plan needs --fps N")?;
    req.split = split.ok_or("farm plan needs --chunks N or --chunk-frames N")?;
    let job = Job::plan(&req).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find mwav1's own path: {e}"))?;
    job.write(dir, &me).map_err(|e| e.to_string())?;
    println!(
        "planned {} chunks of up to {} frames ({} frames at {} fps, keyframe grid {} frames) in {}",
        job.chunks.len(),
        job.chunks[0].frames(),
        job.frames,
        job.fps,
        job.keyframe_frames,
        dir.display()
    );
    Ok(())
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Where a chunk stands.
enum State {
    Done,
    Missing,
    Broken(String),
}

fn state(dir: &Path, job: &Job, i: usize) -> State {
    let path = Job::chunk_path(dir, i);
    if !path.exists() {
        return State::Missing;
    }
    match check_chunk(&path, Some(job.chunks[i].frames())) {
        Ok(_) => State::Done,
        Err(e) => State::Broken(e.to_string()),
    }
}

fn check(dir: &Path) -> Result<(), String> {
    let job = load(dir)?;
    let mut bad = 0;
    for (i, c) in job.chunks.iter().enumerate() {
        let what = match state(dir, &job, i) {
            State::Done => "done".to_string(),
            State::Missing => {
                bad += 1;
                "missing".to_string()
            }
            State::Broken(why) => {
                bad += 1;
                format!("broken: {why}")
            }
        };
        println!("chunk {i:04} frames {}..{}: {what}", c.start, c.end);
    }
    if bad > 0 {
        return Err(format!("{bad} of {} chunks are not done", job.chunks.len()));
    }
    println!("all {} chunks done", job.chunks.len());
    Ok(())
}

fn merge_job(dir: &Path) -> Result<(), String> {
    let job = load(dir)?;
    let paths: Vec<PathBuf> = (0..job.chunks.len()).map(|i| Job::chunk_path(dir, i)).collect();
    let frames: Vec<u64> = job.chunks.iter().map(|c| c.frames()).collect();
    let out = job.output_path(dir);
    let m = merge(&paths, Some(&frames), &out).map_err(|e| e.to_string())?;
    println!(
        "merged {} chunks: {} frames, {} audio samples per channel, {} bytes to {}",
        paths.len(),
        m.frames,
        m.samples,
        m.bytes,
        out.display()
    );
    Ok(())
}

/// Renders chunk `i` into its partial file, checks it and renames it; a failed attempt is
/// tried once more.
fn render_chunk(dir: &Path, job: &Job, i: usize) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match render_once(dir, job, i, attempt) {
            Ok(()) => return Ok(()),
            Err(e) => {
                println!("chunk {i:04} attempt {attempt} failed: {e}");
                last = e;
            }
        }
    }
    Err(format!(
        "chunk {i} failed {ATTEMPTS} times: {last}; log: {}",
        Job::log_path(dir, i).display()
    ))
}

fn render_once(dir: &Path, job: &Job, i: usize, attempt: u32) -> Result<(), String> {
    let partial = Job::partial_path(dir, i);
    let _ = fs::remove_file(&partial);
    let log_path = Job::log_path(dir, i);
    let log = File::options()
        .create(true)
        .append(attempt > 1)
        .write(true)
        .truncate(attempt == 1)
        .open(&log_path)
        .map_err(|e| format!("cannot write {}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let script = Job::script_path(dir, i);
    let status = Command::new("sh")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("the engine exited with {status}"));
    }
    check_chunk(&partial, Some(job.chunks[i].frames())).map_err(|e| e.to_string())?;
    fs::rename(&partial, Job::chunk_path(dir, i)).map_err(|e| format!("cannot rename {}: {e}", partial.display()))
}

/// The local pool: `--jobs N` engine processes render the chunks that are not done, then the
/// chunks are merged.
fn pool(dir: &Path, args: &[String]) -> Result<(), String> {
    let mut jobs = 1usize;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--jobs" | "-j" => jobs = number(flag, &mut it)?,
            other => return Err(format!("farm run: unknown option '{other}'\n{USAGE}")),
        }
    }
    let job = load(dir)?;
    let mut todo = VecDeque::new();
    let mut done_frames = 0;
    for i in 0..job.chunks.len() {
        match state(dir, &job, i) {
            State::Done => done_frames += job.chunks[i].frames(),
            State::Missing => todo.push_back(i),
            State::Broken(why) => {
                println!("chunk {i:04} is rendered again: {why}");
                todo.push_back(i);
            }
        }
    }
    println!(
        "{} of {} chunks to render with {} engine processes",
        todo.len(),
        job.chunks.len(),
        jobs.max(1)
    );
    let queue = Mutex::new(todo);
    let failures = Mutex::new(Vec::new());
    let (done, rendered) = (AtomicU64::new(done_frames), AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some(i) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    return;
                };
                let c = job.chunks[i];
                println!("chunk {i:04} start: frames {}..{}", c.start, c.end);
                let t = Instant::now();
                match render_chunk(dir, &job, i) {
                    Ok(()) => {
                        let all = done.fetch_add(c.frames(), Ordering::SeqCst) + c.frames();
                        let here = rendered.fetch_add(c.frames(), Ordering::SeqCst) + c.frames();
                        let per_frame = started.elapsed().as_secs_f64() / here as f64;
                        println!("chunk {i:04} done in {:.1} s", t.elapsed().as_secs_f64());
                        println!(
                            "progress: {all}/{} frames, ETA {:.0} s",
                            job.frames,
                            per_frame * (job.frames - all) as f64
                        );
                    }
                    Err(e) => {
                        println!("chunk {i:04} FAILED: {e}");
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    if !failures.is_empty() {
        return Err(format!(
            "{} chunk(s) keep failing; nothing was merged:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ));
    }
    merge_job(dir)
}

/// Slurm: one array task per chunk, then the merge once every task succeeded.
fn submit(dir: &Path, args: &[String]) -> Result<(), String> {
    let wait = match args {
        [] => false,
        [w] if w == "--wait" => true,
        _ => return Err(format!("farm submit: unknown options {args:?}\n{USAGE}")),
    };
    let job = load(dir)?;
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let array = sbatch(&[
        format!("--array=0-{}", job.chunks.len() - 1),
        format!("--chdir={}", dir.display()),
        dir.join(SLURM_FILE).display().to_string(),
    ])?;
    println!("submitted the chunk array as Slurm job {array}");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut merge_args = vec![
        format!("--dependency=afterok:{array}"),
        // A chunk that fails for good makes `afterok` unsatisfiable; without this the merge
        // would wait in the queue forever (and `--wait` with it) instead of ending as failed.
        "--kill-on-invalid-dep=yes".into(),
        "--job-name=mwav1-merge".into(),
        format!("--chdir={}", dir.display()),
        format!("--output={}", dir.join("merge-slurm.out").display()),
    ];
    if wait {
        merge_args.push("--wait".into());
    }
    merge_args.push(format!(
        "--wrap={}",
        shell_join(&[
            me.display().to_string(),
            "farm".into(),
            "merge".into(),
            dir.display().to_string()
        ])
    ));
    let merged = sbatch(&merge_args)?;
    println!("submitted the merge as Slurm job {merged} (after job {array} succeeds)");
    if wait {
        println!("merged: {}", job.output_path(&dir).display());
    }
    Ok(())
}

/// Runs `sbatch --parsable ARGS` and returns the job id.
fn sbatch(args: &[String]) -> Result<String, String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run sbatch (is Slurm's client installed?): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "sbatch {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // --parsable prints "id" or "id;cluster".
    let id = stdout
        .lines()
        .next()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if id.is_empty() {
        return Err(format!("sbatch printed no job id: {stdout}"));
    }
    Ok(id.to_string())
}
