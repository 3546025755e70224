//! `mwav1 bench`: performance figures of the recording pipeline. It prints them and asserts
//! nothing, because every figure depends on the machine and on what else runs on it; ratios taken
//! within one run (A/B rounds) are the numbers meant for comparison.
//!
//! Figures, each printed as lines starting with the word in quotes:
//! 1. "push_frame": the engine thread's cost per `Recorder::push_frame` (see `push.rs`).
//! 2. "colour": RGBA→I420 throughput on one thread and on rayon's pool (`colour.rs`).
//! 3. "pipeline": end-to-end throughput against the `ffmpeg` CLI on the same frames
//!    (`versus_ffmpeg.rs`).
//! 4. "file": size, bitrate, PSNR and SSIM of that recording (`fidelity.rs`).
//! 5. "allocations": Rust heap allocations per frame in steady state (`push.rs`,
//!    `alloc_count.rs`).
//!
//! `--tune` prints the sweeps the defaults were chosen from instead (`tune.rs`); `--quick` makes
//! either mode small enough for a test.

mod alloc_count;
mod colour;
mod fidelity;
mod push;
mod tune;
mod versus_ffmpeg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use movie_writer_av1_core::backend::{self, BackendKind};
use movie_writer_av1_core::config::{quality_to_qindex, SpeedPreset, VideoConfig};
use movie_writer_av1_core::{BackendPreference, PixelFormat, Recorder, RecordingConfig, RecordingStats, RgbImage};
use movie_writer_av1_tools::scene::TestScene;

/// Frame rate of every benchmark recording: Godot's Movie Maker default of 60 fps.
const FPS: u32 = 60;
const SEED: u64 = 1;
/// The SVT-AV1 preset the benchmarks run at: fixed, so that their figures compare across
/// machines (`speed_preset = auto` picks by the cores; 720p at 30 fps on 2 cores gets 10 too).
const PRESET: u8 = 10;

#[derive(clap::Args)]
pub struct Args {
    /// Small enough for a test: seconds instead of a minute.
    #[arg(long)]
    quick: bool,
    /// The sweeps the defaults were chosen from, instead of the figures.
    #[arg(long)]
    tune: bool,
}

pub fn run(&Args { quick, tune }: &Args) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("mwav1-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Instant::now();
    println!("{}", machine());
    let result = if tune {
        tune::run(quick, &dir)
    } else {
        figures(quick, &dir)
    };
    let _ = std::fs::remove_dir_all(&dir);
    println!("load average at end: {}", load_average());
    println!("bench took {:.0} s", started.elapsed().as_secs_f64());
    result
}

/// Figures 1–5.
fn figures(quick: bool, dir: &Path) -> Result<(), String> {
    let push_sizes: &[push::Size] = if quick {
        &[push::Size::new(320, 180, 60, 30)]
    } else {
        // Warm-up outlasts the encoder's start (look-ahead and first mini-GOP, about 50 frames)
        // everywhere, and at 720p the first keyframe interval (2 s) too, so the window measured
        // there holds a second keyframe and cluster changes: the least steady steady state.
        &[
            push::Size::new(1280, 720, 150, 240),
            push::Size::new(1920, 1080, 90, 90),
            push::Size::new(3840, 2160, 60, 40),
        ]
    };
    for size in push_sizes {
        push::run(size, dir)?;
    }
    let colour_sizes: &[(u32, u32)] = if quick {
        &[(320, 180)]
    } else {
        &[(1280, 720), (1920, 1080)]
    };
    for &(w, h) in colour_sizes {
        colour::run(w, h, quick);
    }
    let (w, h, frames, rounds) = if quick { (320, 180, 30, 2) } else { (1280, 720, 120, 3) };
    let clip = Clip::render(w, h, frames, frames);
    let defaults = VideoConfig::default();
    let crf = quality_to_qindex(defaults.quality);
    let ours = versus_ffmpeg::run(&clip, PRESET, crf, rounds, dir)?;
    fidelity::report("file", &ours, &clip)
}

/// "machine: …" with the CPU, the encoder libraries and the load when the run started.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "machine: {model}, {cpus} CPUs, {}, rayon {} threads, load average at start: {}",
        backend::probe(BackendKind::SvtAv1).version,
        rayon::current_num_threads(),
        load_average()
    )
}

/// The 1-, 5- and 15-minute load averages: other work on the machine skews every timing.
fn load_average() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(text) => text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        Err(_) => "unknown (no /proc/loadavg on this OS)".into(),
    }
}

/// Pre-rendered frames of the seeded test scene with their audio blocks, so that rendering is
/// excluded from every timing. `distinct` frames are rendered and replayed in a loop; enough of
/// them that they do not fit in the CPU's caches, as a frame read back from the GPU would not.
pub struct Clip {
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pixels: Vec<Vec<u8>>,
    audio: Vec<Vec<i32>>,
}

impl Clip {
    pub fn render(width: u32, height: u32, frames: u64, distinct: u64) -> Self {
        let scene = TestScene::new(width, height, FPS, SEED);
        let (mut pixels, mut audio) = (Vec::new(), Vec::new());
        for i in 0..distinct.min(frames) {
            let (mut p, mut a) = (Vec::new(), Vec::new());
            scene.render(i, &mut p);
            scene.audio_block(i, &mut a);
            pixels.push(p);
            audio.push(a);
        }
        Self {
            width,
            height,
            frames,
            pixels,
            audio,
        }
    }

    pub fn image(&self, index: u64) -> RgbImage<'_> {
        let pixels = &self.pixels[index as usize % self.pixels.len()];
        RgbImage::packed(self.width, self.height, PixelFormat::Rgba8, pixels).expect("rendered at the clip's size")
    }

    /// Frame `index`'s audio block. Replayed blocks repeat a stretch of the tone, which costs the
    /// Opus encoder the same as new audio.
    pub fn audio(&self, index: u64) -> &[i32] {
        &self.audio[index as usize % self.audio.len()]
    }

    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(FPS)
    }
}

/// The recording configuration of every benchmark: SVT-AV1 (what the `ffmpeg` comparison runs),
/// 60 fps, the given preset and CRF, everything else at its default.
pub fn config(path: &Path, clip: &Clip, preset: u8, crf: u8) -> RecordingConfig {
    let mut config = RecordingConfig::new(path, clip.width, clip.height, FPS);
    config.backend = BackendPreference::Only(BackendKind::SvtAv1);
    config.video.speed_preset = SpeedPreset::Fixed(preset);
    config.video.quality = quality_for(crf);
    config
}

/// The Godot `video_quality` that maps to `crf` (found by search, so it is exact whatever the
/// mapping's rounding).
fn quality_for(crf: u8) -> f32 {
    (0..=1000)
        .map(|i| i as f32 / 1000.0)
        .find(|&q| quality_to_qindex(q) == crf)
        .unwrap_or_else(|| panic!("no video_quality maps to CRF {crf}"))
}

/// A finished benchmark recording.
pub struct Recording {
    pub path: PathBuf,
    pub stats: RecordingStats,
    /// From `Recorder::start` to the end of `finish`: encoder start-up and flush included.
    pub wall: Duration,
}

/// Records every frame of `clip` with `config`, as fast as the pipeline takes them.
pub fn record(clip: &Clip, config: RecordingConfig) -> Result<Recording, String> {
    let path = config.path.clone();
    let started = Instant::now();
    let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
    for i in 0..clip.frames {
        recorder
            .push_frame(&clip.image(i), clip.audio(i))
            .map_err(|e| e.to_string())?;
    }
    let stats = recorder.finish().map_err(|e| e.to_string())?;
    Ok(Recording {
        path,
        stats,
        wall: started.elapsed(),
    })
}

/// Nearest-rank percentile `p` (0–100) of `values`, which it sorts.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0 * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
