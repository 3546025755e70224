//! A render job: the description of one recording split into frame-range chunks, and the job
//! folder it is written to (`job.json`, one shell script per chunk, a Slurm array script and an
//! Open Job Description template). Every runner (the local pool, Slurm, OpenJD) reads the same
//! folder, which render nodes share.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::text::{fnv1a, plain_path, plain_text};
use movie_writer_av1_core::error::{ConfigError, Error, Result};

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
    /// Further engine arguments, one each, e.g. `--rendering-driver`, `opengl3`.
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
    /// Frames of the chunk; a job's chunks are checked to have START < END when it is planned
    /// or loaded ([`Job::validate`]).
    pub fn frames(&self) -> u64 {
        self.end.saturating_sub(self.start)
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
    /// What makes this job's chunks its own (see [`Job::chunk_identity`]): a hash of what
    /// decides a chunk's content. Empty in a job planned before chunks carried it.
    #[serde(default)]
    pub identity: String,
}

pub const JOB_FILE: &str = "job.json";
pub const SLURM_FILE: &str = "slurm-array.sh";
pub const OPENJD_FILE: &str = "job.openjd.yaml";
/// More chunks than this is a mistake (`--chunk-frames 1` on a long film), and each chunk is a
/// file and a script.
pub const MAX_CHUNKS: u64 = 10_000;

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
        let (split_option, wanted) = match req.split {
            Split::Count(0) | Split::Length(0) => {
                return Err(ConfigError::new("--chunks / --chunk-frames", 0, "at least 1").into())
            }
            Split::Count(n) => ("--chunks", req.frames.div_ceil(n)),
            Split::Length(len) => ("--chunk-frames", len),
        };
        // Each chunk starts with a keyframe; on the keyframe grid, the merged file's GOPs are
        // those of a single-process recording. A chunk longer than the film is the film.
        let length = wanted
            .min(req.frames)
            .div_ceil(keyframe_frames)
            .checked_mul(keyframe_frames)
            .ok_or_else(|| {
                ConfigError::new(
                    "--keyframe-frames",
                    keyframe_frames,
                    format!(
                        "a grid that {} frames round up to within 64 bits",
                        wanted.min(req.frames)
                    ),
                )
            })?;
        let count = req.frames.div_ceil(length);
        if count > MAX_CHUNKS {
            return Err(ConfigError::new(
                split_option,
                match req.split {
                    Split::Count(n) | Split::Length(n) => n,
                },
                format!("a split into at most {MAX_CHUNKS} chunks ({count} asked for)"),
            )
            .into());
        }
        let chunks = (0..count)
            .map(|i| {
                let start = i * length;
                ChunkRange {
                    start,
                    end: start + length.min(req.frames - start),
                }
            })
            .collect();
        if let Some(scene) = &req.scene {
            if !scene.starts_with("res://") {
                return Err(ConfigError::new("--scene", scene, "a res:// path inside the project").into());
            }
        }
        let mut job = Self {
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
            identity: String::new(),
        };
        job.validate()?;
        job.identity = job.content_hash(&settings);
        Ok(job)
    }

    /// A hash of what decides a chunk's pixels and samples: the project (its path and its
    /// project.godot, where the encoder settings are), the scene, the frame rate, the keyframe
    /// grid, the pre-roll, the engine and its arguments. The wrapper, the output name and the
    /// split are left out: a chunk rendered under another of those is the same chunk (its
    /// range is checked on its own, [`Job::chunk_identity`]).
    fn content_hash(&self, project_godot: &str) -> String {
        let mut text = String::new();
        for part in [
            self.project.display().to_string(),
            project_godot.to_string(),
            self.scene.clone().unwrap_or_default(),
            self.fps.to_string(),
            self.keyframe_frames.to_string(),
            self.preroll.to_string(),
            self.godot.display().to_string(),
        ]
        .iter()
        .chain(&self.engine_args)
        {
            // Length-prefixed, so that no two lists of parts read as one text.
            text += &format!("{}:{part}", part.len());
        }
        format!("{:016x}", fnv1a(text.as_bytes()))
    }

    /// The identity chunk `i` carries (its `MWAV1_JOB` Matroska tag, written by the writer from
    /// `--movie-job`): the job's hash and the chunk's frame range.
    pub fn chunk_identity(&self, i: usize) -> Option<String> {
        let c = self.chunks.get(i)?;
        (!self.identity.is_empty()).then(|| format!("{}:{}:{}", self.identity, c.start, c.end))
    }

    /// Checks what a hand-edited or damaged `job.json` could get wrong: text that would reach a
    /// script with a control character, a frame rate or keyframe grid out of range, chunks that
    /// are empty, overlap, leave a gap or do not end at `frames`.
    pub fn validate(&self) -> Result<()> {
        plain_path("--project", &self.project)?;
        if let Some(scene) = &self.scene {
            plain_text("--scene", scene)?;
        }
        plain_path("--godot", &self.godot)?;
        for arg in &self.engine_args {
            plain_text("--engine-arg", arg)?;
        }
        for word in &self.wrapper {
            plain_text("--wrapper", word)?;
        }
        plain_text("--output", &self.output)?;
        plain_text("the job identity", &self.identity)?;
        if !(1..=1000).contains(&self.fps) {
            return Err(ConfigError::new("job.json fps", self.fps, "1 to 1000").into());
        }
        if self.keyframe_frames == 0 {
            return Err(ConfigError::new("job.json keyframe_frames", 0, "at least 1").into());
        }
        if self.chunks.is_empty() || self.chunks.len() as u64 > MAX_CHUNKS {
            return Err(ConfigError::new(
                "job.json chunks",
                format!("{} chunks", self.chunks.len()),
                format!("1 to {MAX_CHUNKS} chunks (plan the job again with `mwav1 farm plan`)"),
            )
            .into());
        }
        let mut next = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.start != next || c.end <= c.start {
                return Err(ConfigError::new(
                    format!("job.json chunks[{i}]"),
                    format!("{}..{}", c.start, c.end),
                    format!(
                        "a range START..END with START = {next} (where the chunk before ends) and END > START (plan the job again with `mwav1 farm plan`)"
                    ),
                )
                .into());
            }
            next = c.end;
        }
        if next != self.frames {
            return Err(ConfigError::new(
                "job.json frames",
                self.frames,
                format!("{next}, where the last chunk ends (plan the job again with `mwav1 farm plan`)"),
            )
            .into());
        }
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(JOB_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let job: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Usage(format!("'{}' is not a job description: {e}", path.display())))?;
        job.validate()?;
        Ok(job)
    }

    /// The last chunk's index (a validated job has at least one chunk).
    pub fn last_chunk(&self) -> usize {
        self.chunks.len().saturating_sub(1)
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
        cmd.extend(self.chunk_identity(i).map(|id| format!("--movie-job={id}")));
        cmd
    }

    /// Writes the job folder: `job.json`, `chunks/NNNN.sh`, the Slurm array script and the
    /// OpenJD template. `mwav1` is the CLI the farm runners call on the nodes.
    ///
    /// No path goes into a comment, and none into a Slurm filename pattern (`%` and `\` are
    /// Slurm's there): the scripts name files relative to the job folder, where every runner
    /// starts them. Paths reach the shell only single-quoted, and OpenJD only as parameter
    /// values, which are not format strings (a `{{` in a path stays text).
    pub fn write(&self, dir: &Path, mwav1: &Path) -> Result<()> {
        self.validate()?;
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let (dir_text, mwav1_text) = (plain_path("JOB_DIR", &dir)?, plain_path("mwav1's own path", mwav1)?);
        let chunks = dir.join("chunks");
        std::fs::create_dir_all(&chunks).map_err(|e| Error::io(&chunks, e))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Usage(e.to_string()))?;
        write_file(&dir.join(JOB_FILE), &(json + "\n"), false)?;
        for (i, c) in self.chunks.iter().enumerate() {
            let script = format!(
                "#!/bin/sh\n# Chunk {i} of {}: scene frames {}..{} after {} pre-roll frames.\n# Writes chunks/{i:04}.partial.mkv of the job folder; `mwav1 farm render-chunk` checks it and renames it to chunks/{i:04}.mkv.\nexec {}\n",
                self.chunks.len(),
                c.start,
                c.end,
                self.preroll,
                shell_join(&self.chunk_command(&dir, i))
            );
            write_file(&Self::script_path(&dir, i), &script, true)?;
        }
        let slurm = format!(
            "#!/bin/sh\n# One array task per chunk, submitted from the job folder: sbatch --array=0-{last} {file}\n# (`mwav1 farm submit` does this and queues the merge after it).\n#SBATCH --job-name=mwav1-chunks\n#SBATCH --output=chunks/slurm-%a.out\nexec {mwav1} farm render-chunk {job} \"$SLURM_ARRAY_TASK_ID\"\n",
            last = self.last_chunk(),
            file = SLURM_FILE,
            mwav1 = shell_quote(mwav1_text),
            job = shell_quote(dir_text),
        );
        write_file(&dir.join(SLURM_FILE), &slurm, true)?;
        write_file(&dir.join(OPENJD_FILE), &self.openjd(mwav1_text), false)
    }

    /// An Open Job Description (2023-09) template: a render step over the chunk indices and a
    /// merge step that depends on it. The job folder is the template's own (a PATH parameter
    /// of `.`, which OpenJD resolves against the template's folder and path-maps); the paths and
    /// names are parameter defaults, which OpenJD takes as they are.
    fn openjd(&self, mwav1: &str) -> String {
        let yaml = |s: &str| format!("'{}'", s.replace('\'', "''"));
        format!(
            "specificationVersion: 'jobtemplate-2023-09'
name: 'MovieWriterAV1 render of {{{{Param.Output}}}}'
parameterDefinitions:
  - name: JobDir
    type: PATH
    default: '.'
  - name: Mwav1
    type: STRING
    default: {mwav1}
  - name: Output
    type: STRING
    default: {output}
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
          command: '{{{{Param.Mwav1}}}}'
          args: [farm, render-chunk, '{{{{Param.JobDir}}}}', '{{{{Task.Param.Chunk}}}}']
  - name: Merge
    dependencies:
      - dependsOn: RenderChunks
    script:
      actions:
        onRun:
          command: '{{{{Param.Mwav1}}}}'
          args: [farm, merge, '{{{{Param.JobDir}}}}']
",
            output = yaml(&self.output),
            last = self.last_chunk(),
            mwav1 = yaml(mwav1),
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
            cmd.contains("--write-movie /jobs/a/chunks/0001.partial.mkv --fixed-fps 60 -- --movie-range=150:250 --movie-preroll=10 --movie-job="),
            "{cmd}"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        let first = job.chunk_command(Path::new("/jobs/a"), 0).join(" ");
        assert!(first.contains("--movie-range=0:150 --movie-preroll=0 "), "{first}");
    }

    /// Issue 25, item 1: no path is written into a comment, none into a Slurm filename
    /// pattern, and none into an OpenJD format string; each reaches a script single-quoted or as
    /// an OpenJD parameter's default.
    #[test]
    fn paths_reach_the_scripts_only_quoted() {
        let job = Job::plan(&request(Split::Count(2), Some(30))).unwrap();
        let dir = std::env::temp_dir().join(format!("mwav1-job-{} 100%a {{{{x}}}} $(id) \\z", std::process::id()));
        job.write(&dir, Path::new("/opt/mw %j/mwav1")).unwrap();
        let dir_text = dir.display().to_string();
        for file in ["chunks/0000.sh", "chunks/0001.sh", SLURM_FILE] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            for line in text.lines().filter(|l| l.starts_with('#')) {
                assert!(
                    !line.contains(&dir_text) && !line.contains("/opt/mw"),
                    "{file}: a path in {line:?}"
                );
            }
        }
        let chunk = std::fs::read_to_string(dir.join("chunks/0001.sh")).unwrap();
        let partial = Job::partial_path(&dir, 1).display().to_string();
        assert!(
            chunk.contains(&format!(" --write-movie {} ", shell_quote(&partial))),
            "{chunk}"
        );
        let slurm = std::fs::read_to_string(dir.join(SLURM_FILE)).unwrap();
        assert!(
            slurm.contains(&format!(" farm render-chunk {} ", shell_quote(&dir_text))),
            "{slurm}"
        );
        assert!(slurm.contains("\n#SBATCH --output=chunks/slurm-%a.out\n"), "{slurm}");
        assert!(slurm.contains("exec '/opt/mw %j/mwav1' farm render-chunk "), "{slurm}");
        let openjd = std::fs::read_to_string(dir.join(OPENJD_FILE)).unwrap();
        assert!(!openjd.contains(&dir_text), "{openjd}");
        assert!(openjd.contains("    default: '/opt/mw %j/mwav1'\n"), "{openjd}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 25, item 8: the identity changes with what decides a chunk's content (here the
    /// pre-roll) and not with the output's name; each chunk's names its range.
    #[test]
    fn the_identity_follows_what_decides_a_chunk() {
        let a = Job::plan(&request(Split::Count(2), Some(30))).unwrap();
        let mut r = request(Split::Count(2), Some(30));
        r.output = "other.webm".into();
        assert_eq!(Job::plan(&r).unwrap().identity, a.identity);
        r.preroll = 11;
        assert_ne!(Job::plan(&r).unwrap().identity, a.identity);
        assert_eq!(a.chunk_identity(1), Some(format!("{}:150:250", a.identity)));
        let cmd = a.chunk_command(Path::new("/jobs/a"), 1);
        assert_eq!(cmd.last(), Some(&format!("--movie-job={}:150:250", a.identity)));
    }
}
