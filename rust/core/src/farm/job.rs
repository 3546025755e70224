//! A render job: the description of one recording split into frame-range chunks, and the job
//! folder it is written to (`job.json`, one shell script per chunk, a Slurm array script and an
//! Open Job Description template). Every runner (the local pool, Slurm, OpenJD) reads the same
//! folder, which render nodes share.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Error, Result};

/// What `mwav1 farm plan` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    pub project: PathBuf,
    /// `res://…` scene to render; `None`: the project's main scene.
    pub scene: Option<String>,
    pub frames: u64,
    pub fps: u32,
    pub split: Split,
    /// Chunk starts fall on multiples of this (the encoder's keyframe interval in frames);
    /// `None`: fps × the project's `editor/movie_writer/av1/keyframe_interval` (2 s if unset).
    pub keyframe_frames: Option<u64>,
    pub preroll: u64,
    pub godot: PathBuf,
    /// Further engine arguments, e.g. `--rendering-driver opengl3`.
    pub engine_args: Vec<String>,
    /// A command in front of the engine, e.g. `xvfb-run -a`.
    pub wrapper: Vec<String>,
    /// The merged file's name, inside the job folder unless absolute.
    pub output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Count(u64),
    Length(u64),
}

/// One chunk: scene frames `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

impl ChunkRange {
    pub fn frames(&self) -> u64 {
        self.end - self.start
    }
}

/// `job.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub project: PathBuf,
    pub scene: Option<String>,
    pub frames: u64,
    pub fps: u32,
    pub keyframe_frames: u64,
    pub preroll: u64,
    pub godot: PathBuf,
    pub engine_args: Vec<String>,
    pub wrapper: Vec<String>,
    pub output: String,
    pub chunks: Vec<ChunkRange>,
}

pub const JOB_FILE: &str = "job.json";
pub const SLURM_FILE: &str = "slurm-array.sh";
pub const OPENJD_FILE: &str = "job.openjd.yaml";

impl Job {
    pub fn plan(req: &PlanRequest) -> Result<Self> {
        if req.frames == 0 {
            return Err(ConfigError::new("--frames", 0, "at least 1").into());
        }
        if req.fps == 0 || req.fps > 1000 {
            return Err(ConfigError::new("--fps", req.fps, "1 to 1000").into());
        }
        let project_file = req.project.join("project.godot");
        let settings = std::fs::read_to_string(&project_file).map_err(|e| {
            ConfigError::new(
                "--project",
                req.project.display(),
                format!("a Godot project folder (reading its project.godot: {e})"),
            )
        })?;
        let keyframe_frames = match req.keyframe_frames {
            Some(0) => return Err(ConfigError::new("--keyframe-frames", 0, "at least 1").into()),
            Some(k) => k,
            None => (f64::from(req.fps) * keyframe_interval_s(&settings)).round().max(1.0) as u64,
        };
        let wanted = match req.split {
            Split::Count(0) | Split::Length(0) => {
                return Err(ConfigError::new("--chunks / --chunk-frames", 0, "at least 1").into())
            }
            Split::Count(n) => req.frames.div_ceil(n),
            Split::Length(len) => len,
        };
        // Each chunk starts with a keyframe; on the keyframe grid, the merged file's GOPs are
        // those of a single-process recording.
        let length = wanted.div_ceil(keyframe_frames) * keyframe_frames;
        let chunks = (0..req.frames.div_ceil(length))
            .map(|i| ChunkRange {
                start: i * length,
                end: ((i + 1) * length).min(req.frames),
            })
            .collect();
        if let Some(scene) = &req.scene {
            if !scene.starts_with("res://") {
                return Err(ConfigError::new("--scene", scene, "a res:// path inside the project").into());
            }
        }
        Ok(Self {
            project: std::path::absolute(&req.project).map_err(|e| Error::io(&req.project, e))?,
            scene: req.scene.clone(),
            frames: req.frames,
            fps: req.fps,
            keyframe_frames,
            preroll: req.preroll,
            godot: req.godot.clone(),
            engine_args: req.engine_args.clone(),
            wrapper: req.wrapper.clone(),
            output: req.output.clone(),
            chunks,
        })
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(JOB_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("'{}' is not a job description: {e}", path.display())))
    }

    /// Where chunk `i` ends up once it passed its check.
    pub fn chunk_path(dir: &Path, i: usize) -> PathBuf {
        dir.join("chunks").join(format!("{i:04}.mkv"))
    }

    /// What the engine writes for chunk `i` while it renders.
    pub fn partial_path(dir: &Path, i: usize) -> PathBuf {
        dir.join("chunks").join(format!("{i:04}.partial.mkv"))
    }

    pub fn log_path(dir: &Path, i: usize) -> PathBuf {
        dir.join("chunks").join(format!("{i:04}.log"))
    }

    pub fn script_path(dir: &Path, i: usize) -> PathBuf {
        dir.join("chunks").join(format!("{i:04}.sh"))
    }

    pub fn output_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.output)
    }

    /// The command that renders chunk `i` into its partial file.
    pub fn chunk_command(&self, dir: &Path, i: usize) -> Vec<String> {
        let c = self.chunks[i];
        let mut cmd = self.wrapper.clone();
        cmd.push(self.godot.display().to_string());
        cmd.extend(["--path".into(), self.project.display().to_string()]);
        cmd.extend(self.scene.clone());
        cmd.extend(self.engine_args.iter().cloned());
        cmd.extend([
            "--write-movie".into(),
            Self::partial_path(dir, i).display().to_string(),
            "--fixed-fps".into(),
            self.fps.to_string(),
            "--".into(),
            format!("--movie-range={}:{}", c.start, c.end),
            // The writer takes no more pre-roll than there are frames before START.
            format!("--movie-preroll={}", self.preroll.min(c.start)),
        ]);
        cmd
    }

    /// Writes the job folder: `job.json`, `chunks/NNNN.sh`, the Slurm array script and the
    /// OpenJD template. `mwav1` is the CLI the farm runners call on the nodes.
    pub fn write(&self, dir: &Path, mwav1: &Path) -> Result<()> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let chunks = dir.join("chunks");
        std::fs::create_dir_all(&chunks).map_err(|e| Error::io(&chunks, e))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Usage(e.to_string()))?;
        write_file(&dir.join(JOB_FILE), &(json + "\n"), false)?;
        for (i, c) in self.chunks.iter().enumerate() {
            let script = format!(
                "#!/bin/sh\n# Chunk {i} of {}: scene frames {}..{} after {} pre-roll frames.\n# Writes {}; `mwav1 farm render-chunk` checks it and renames it to {}.\nexec {}\n",
                self.chunks.len(),
                c.start,
                c.end,
                self.preroll,
                Self::partial_path(&dir, i).display(),
                Self::chunk_path(&dir, i).display(),
                shell_join(&self.chunk_command(&dir, i))
            );
            write_file(&Self::script_path(&dir, i), &script, true)?;
        }
        let (mwav1, jobq) = (
            shell_quote(&mwav1.display().to_string()),
            shell_quote(&dir.display().to_string()),
        );
        let slurm = format!(
            "#!/bin/sh\n# One array task per chunk: sbatch --array=0-{last} {file}\n# (`mwav1 farm submit` does this and queues the merge after it).\n#SBATCH --job-name=mwav1-chunks\n#SBATCH --output={jobq}/chunks/slurm-%a.out\nexec {mwav1} farm render-chunk {jobq} \"$SLURM_ARRAY_TASK_ID\"\n",
            last = self.chunks.len() - 1,
            file = SLURM_FILE,
        );
        write_file(&dir.join(SLURM_FILE), &slurm, true)?;
        write_file(&dir.join(OPENJD_FILE), &self.openjd(&mwav1, &jobq), false)
    }

    /// An Open Job Description (2023-09) template: a render step over the chunk indices and a
    /// merge step that depends on it.
    fn openjd(&self, mwav1: &str, job_dir: &str) -> String {
        let yaml = |s: &str| format!("'{}'", s.replace('\'', "''"));
        format!(
            "specificationVersion: 'jobtemplate-2023-09'
name: 'MovieWriterAV1 render of {output}'
steps:
  - name: RenderChunks
    parameterSpace:
      taskParameterDefinitions:
        - name: Chunk
          type: INT
          range: '0-{last}'
    script:
      actions:
        onRun:
          command: {mwav1}
          args: [farm, render-chunk, {job}, '{{{{Task.Param.Chunk}}}}']
  - name: Merge
    dependencies:
      - dependsOn: RenderChunks
    script:
      actions:
        onRun:
          command: {mwav1}
          args: [farm, merge, {job}]
",
            output = self.output.replace('\'', "''"),
            last = self.chunks.len() - 1,
            mwav1 = yaml(&unquote(mwav1)),
            job = yaml(&unquote(job_dir)),
        )
    }
}

/// `editor/movie_writer/av1/keyframe_interval` from project.godot's `[editor]` section; 2 s,
/// the setting's default, when it is not set.
fn keyframe_interval_s(project_godot: &str) -> f64 {
    let mut section = "";
    for line in project_godot.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s;
        } else if section == "editor" {
            if let Some(v) = line.strip_prefix("movie_writer/av1/keyframe_interval=") {
                if let Ok(v) = v.trim().parse::<f64>() {
                    if v > 0.0 {
                        return v;
                    }
                }
            }
        }
    }
    2.0
}

fn write_file(path: &Path, text: &str, executable: bool) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    // The chunk scripts are run by sh or Slurm on Unix; Windows has no execute bit.
    #[cfg(not(unix))]
    let _ = executable;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn unquote(s: &str) -> String {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map_or_else(|| s.to_string(), |s| s.replace("'\\''", "'"))
}

pub fn shell_join(args: &[String]) -> String {
    args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(split: Split, keyframe_frames: Option<u64>) -> PlanRequest {
        // A project folder per test: the tests run in parallel.
        let test = std::thread::current().name().unwrap_or("test").replace("::", "-");
        let project = std::env::temp_dir().join(format!("mwav1-plan-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join("project.godot"),
            "[application]\nrun/main_scene=\"res://main.tscn\"\n\n[editor]\n\nmovie_writer/av1/keyframe_interval=0.5\n",
        )
        .unwrap();
        PlanRequest {
            project,
            scene: Some("res://cutscene.tscn".into()),
            frames: 250,
            fps: 60,
            split,
            keyframe_frames,
            preroll: 10,
            godot: "/opt/godot/godot".into(),
            engine_args: vec!["--rendering-driver".into(), "opengl3".into()],
            wrapper: vec!["xvfb-run".into(), "-a".into()],
            output: "movie.webm".into(),
        }
    }

    #[test]
    fn chunks_fall_on_the_keyframe_grid_and_cover_every_frame() {
        // The project's 0.5 s at 60 fps: a 30-frame grid; 4 chunks of 250 frames want 63 each.
        let job = Job::plan(&request(Split::Count(4), None)).unwrap();
        assert_eq!(job.keyframe_frames, 30);
        let starts: Vec<u64> = job.chunks.iter().map(|c| c.start).collect();
        assert_eq!(starts, [0, 90, 180]);
        assert_eq!(job.chunks.last().unwrap().end, 250);
        let job = Job::plan(&request(Split::Length(40), Some(25))).unwrap();
        assert!(job.chunks.iter().all(|c| c.start % 25 == 0 && c.frames() <= 50));
        assert_eq!(job.chunks.iter().map(ChunkRange::frames).sum::<u64>(), 250);
    }

    #[test]
    fn bad_requests_name_the_option() {
        let e = Job::plan(&request(Split::Count(0), None)).unwrap_err();
        assert!(e.to_string().contains("--chunks"), "{e}");
        let mut r = request(Split::Count(2), None);
        r.scene = Some("cutscene.tscn".into());
        assert!(Job::plan(&r).unwrap_err().to_string().contains("res://"));
    }

    #[test]
    fn the_chunk_command_renders_its_range() {
        let job = Job::plan(&request(Split::Count(2), Some(30))).unwrap();
        let cmd = job.chunk_command(Path::new("/jobs/a"), 1).join(" ");
        assert!(cmd.starts_with("xvfb-run -a /opt/godot/godot --path "), "{cmd}");
        assert!(
            cmd.ends_with("--write-movie /jobs/a/chunks/0001.partial.mkv --fixed-fps 60 -- --movie-range=150:250 --movie-preroll=10"),
            "{cmd}"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        let first = job.chunk_command(Path::new("/jobs/a"), 0).join(" ");
        assert!(first.ends_with("--movie-range=0:150 --movie-preroll=0"), "{first}");
    }
}
