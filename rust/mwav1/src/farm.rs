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

use movie_writer_av1_tools::farm::job::{shell_join, JOB_FILE, SLURM_FILE};
use movie_writer_av1_tools::farm::{check_chunk, merge, Expected, Job, PlanRequest, Split};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FarmCommand,
}

#[derive(clap::Subcommand)]
enum FarmCommand {
    /// Writes the job folder: job.json, one script per chunk, the Slurm and OpenJD files.
    Plan(Box<PlanArgs>),
    /// Renders the chunks that are not done with a local pool of engine processes, then merges.
    Run {
        /// The job folder.
        #[arg(value_name = "JOB_DIR")]
        dir: PathBuf,
        /// Engine processes at once.
        #[arg(short, long, value_name = "N", default_value_t = 1)]
        jobs: usize,
    },
    /// Says for each chunk whether it is done, missing or broken (and why).
    Check {
        /// The job folder.
        #[arg(value_name = "JOB_DIR")]
        dir: PathBuf,
    },
    /// Merges the chunks into the job's output; refuses a missing or broken chunk.
    Merge {
        /// The job folder.
        #[arg(value_name = "JOB_DIR")]
        dir: PathBuf,
    },
    /// Renders one chunk, checks it and renames it (what each farm runner calls).
    RenderChunk {
        /// The job folder.
        #[arg(value_name = "JOB_DIR")]
        dir: PathBuf,
        /// The chunk, from 0.
        index: usize,
    },
    /// Submits the chunks as a Slurm array and the merge as a job after it.
    Submit {
        /// The job folder.
        #[arg(value_name = "JOB_DIR")]
        dir: PathBuf,
        /// Waits until the merge has ended.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("split").required(true).args(["chunks", "chunk_frames"])))]
struct PlanArgs {
    /// The job folder to write.
    #[arg(value_name = "JOB_DIR")]
    dir: PathBuf,
    /// The Godot project folder.
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// The scene frames to render.
    #[arg(long, value_name = "N")]
    frames: u64,
    #[arg(long, value_name = "N")]
    fps: u32,
    /// Splits into this many chunks.
    #[arg(long, value_name = "N")]
    chunks: Option<u64>,
    /// Splits into chunks of this many frames.
    #[arg(long, value_name = "N")]
    chunk_frames: Option<u64>,
    /// The scene to render; default: the project's main scene.
    #[arg(long, value_name = "res://...")]
    scene: Option<String>,
    /// Chunk starts fall on multiples of this; default: the project's keyframe interval.
    #[arg(long, value_name = "N")]
    keyframe_frames: Option<u64>,
    /// Frames rendered and thrown away before each chunk, so the scene settles.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preroll: u64,
    /// The engine binary.
    #[arg(long, value_name = "PATH", env = "GODOT4_BIN", default_value = "godot")]
    godot: PathBuf,
    /// One more engine argument, as it is (spaces included); repeat it for each, e.g.
    /// --engine-arg=--rendering-driver --engine-arg=opengl3.
    #[arg(long = "engine-arg", value_name = "ARG", allow_hyphen_values = true)]
    engine_args: Vec<String>,
    /// A command in front of the engine, e.g. 'xvfb-run -a'.
    #[arg(long, value_name = "'CMD'", allow_hyphen_values = true)]
    wrapper: Option<String>,
    /// The merged file's name, inside the job folder unless absolute.
    #[arg(long, value_name = "NAME.webm|.mkv|.mp4", default_value = "movie.webm")]
    output: String,
    /// Plans into a folder that holds another job; its chunks are then rendered again (each
    /// chunk carries its job's identity).
    #[arg(long)]
    force: bool,
}

/// Renders a chunk this many times before it is reported as failing.
const ATTEMPTS: u32 = 2;

pub fn run(args: Args) -> Result<(), String> {
    match args.command {
        FarmCommand::Plan(plan_args) => plan(*plan_args),
        FarmCommand::Run { dir, jobs } => pool(&dir, jobs),
        FarmCommand::Check { dir } => check(&dir),
        FarmCommand::Merge { dir } => merge_job(&dir),
        FarmCommand::RenderChunk { dir, index } => {
            let job = load(&dir)?;
            if index >= job.chunks.len() {
                return Err(format!(
                    "render-chunk needs a chunk index from 0 to {}",
                    job.last_chunk()
                ));
            }
            render_chunk(&dir, &job, index)
        }
        FarmCommand::Submit { dir, wait } => submit(&dir, wait),
    }
}

fn load(dir: &Path) -> Result<Job, String> {
    Job::load(dir).map_err(|e| e.to_string())
}

fn plan(args: PlanArgs) -> Result<(), String> {
    let req = PlanRequest {
        project: args.project,
        scene: args.scene,
        frames: args.frames,
        fps: args.fps,
        split: match (args.chunks, args.chunk_frames) {
            (Some(n), _) => Split::Count(n),
            (None, Some(n)) => Split::Length(n),
            (None, None) => unreachable!("clap requires --chunks or --chunk-frames"),
        },
        keyframe_frames: args.keyframe_frames,
        preroll: args.preroll,
        godot: args.godot,
        engine_args: args.engine_args,
        wrapper: args.wrapper.as_deref().map(words).unwrap_or_default(),
        output: args.output,
    };
    let dir = &args.dir;
    let job = Job::plan(&req).map_err(|e| e.to_string())?;
    if !args.force {
        refuse_another_job(dir, &job)?;
    }
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

/// A folder that holds another job's job.json is refused: its chunks are that job's. The same
/// job planned again (another split, output or wrapper) may reuse the chunks that fit.
fn refuse_another_job(dir: &Path, job: &Job) -> Result<(), String> {
    let file = dir.join(JOB_FILE);
    if !file.exists() {
        return Ok(());
    }
    let why = match Job::load(dir) {
        Ok(old) if old.identity == job.identity => return Ok(()),
        Ok(_) => "another job (another project, scene, frame rate, keyframe grid, pre-roll, engine or its arguments)"
            .to_string(),
        Err(e) => format!("a job.json that does not load ({e})"),
    };
    Err(format!(
        "{} holds {why}; plan into an empty folder, or pass --force to plan over it (its chunks are then rendered again)",
        dir.display()
    ))
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
    match check_chunk(&path, &expected(job, i)) {
        Ok(_) => State::Done,
        Err(e) => State::Broken(e.to_string()),
    }
}

/// What chunk `i` of the job must be: its frame count and its identity.
fn expected(job: &Job, i: usize) -> Expected {
    Expected {
        frames: Some(job.chunks[i].frames()),
        identity: job.chunk_identity(i),
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
    let expected: Vec<Expected> = (0..job.chunks.len()).map(|i| expected(&job, i)).collect();
    let out = job.output_path(dir);
    let m = merge(&paths, Some(&expected), &out).map_err(|e| e.to_string())?;
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
    check_chunk(&partial, &expected(job, i)).map_err(|e| e.to_string())?;
    fs::rename(&partial, Job::chunk_path(dir, i)).map_err(|e| format!("cannot rename {}: {e}", partial.display()))
}

/// The local pool: `--jobs N` engine processes render the chunks that are not done, then the
/// chunks are merged.
fn pool(dir: &Path, jobs: usize) -> Result<(), String> {
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
fn submit(dir: &Path, wait: bool) -> Result<(), String> {
    let job = load(dir)?;
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    // sbatch runs in the job folder, so its jobs start there and their --output patterns name
    // files relative to it: no path goes through Slurm's `%` and `\` patterns.
    let array = sbatch(
        &dir,
        &[format!("--array=0-{}", job.last_chunk()), SLURM_FILE.to_string()],
    )?;
    println!("submitted the chunk array as Slurm job {array}");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut merge_args = vec![
        format!("--dependency=afterok:{array}"),
        // A chunk that fails for good makes `afterok` unsatisfiable; without this the merge
        // would wait in the queue forever (and `--wait` with it) instead of ending as failed.
        "--kill-on-invalid-dep=yes".into(),
        "--job-name=mwav1-merge".into(),
        "--output=merge-slurm.out".into(),
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
    let merged = sbatch(&dir, &merge_args)?;
    println!("submitted the merge as Slurm job {merged} (after job {array} succeeds)");
    if wait {
        println!("merged: {}", job.output_path(&dir).display());
    }
    Ok(())
}

/// Runs `sbatch --parsable ARGS` in `dir` and returns the job id.
fn sbatch(dir: &Path, args: &[String]) -> Result<String, String> {
    let out = Command::new("sbatch")
        .current_dir(dir)
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
