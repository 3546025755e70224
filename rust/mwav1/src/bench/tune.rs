//! `mwav1 bench --tune`: the sweeps the defaults were chosen from.
//!
//! * "curve": size, time and fidelity across SVT-AV1 presets and CRFs (the speed preset and the
//!   quality mapping's anchor).
//! * "queue": the queue depth (`max_queued_frames`) with the engine thread rendering each frame
//!   before pushing it, as a game does; depths alternate in rounds so that drifting load hits all
//!   alike.
//! * "svt threads": SVT-AV1's own thread count (its `lp` parameter), through the `ffmpeg` CLI
//!   because our backend leaves it at SVT-AV1's default (all CPUs).

use std::path::Path;
use std::time::{Duration, Instant};

use movie_writer_av1_core::config::{quality_to_qindex, VideoConfig};
use movie_writer_av1_core::{PixelFormat, Recorder, RgbImage};
use movie_writer_av1_tools::scene::TestScene;

use super::versus_ffmpeg::{ffmpeg_command, run_ffmpeg};
use super::{config, fidelity, median, record, Clip, FPS, PRESET, SEED};

pub fn run(quick: bool, dir: &Path) -> Result<(), String> {
    let (w, h, frames) = if quick { (320, 180, 30) } else { (1280, 720, 120) };
    let clip = Clip::render(w, h, frames, frames);
    curve(&clip, quick, dir)?;
    queue(&clip, quick, dir)?;
    svt_threads(&clip, quick, dir)
}

/// Every preset × CRF point, recorded in `rounds` full passes so that drifting load hits every
/// point alike; the time is the nearest-rank median of the passes (of two, the faster: load from
/// other processes only ever adds time). The file is the same in every pass (the encoder is
/// deterministic), so it is measured once.
fn curve(clip: &Clip, quick: bool, dir: &Path) -> Result<(), String> {
    let (presets, crfs, rounds): (&[u8], &[u8], usize) = if quick {
        (&[10, 12], &[32], 1)
    } else {
        (&[8, 10, 12], &[28, 32, 40], 2)
    };
    let points: Vec<(u8, u8)> = crfs
        .iter()
        .flat_map(|&crf| presets.iter().map(move |&preset| (preset, crf)))
        .collect();
    let mut walls = vec![Vec::new(); points.len()];
    let mut files = Vec::with_capacity(points.len());
    for round in 0..rounds {
        for (&(preset, crf), walls) in points.iter().zip(&mut walls) {
            let path = dir.join(format!("curve-p{preset}-crf{crf}.webm"));
            let r = record(clip, config(&path, clip, preset, crf))?;
            walls.push(r.wall.as_secs_f64());
            if round == 0 {
                files.push((r.stats.bytes, fidelity::measure(&r, clip)?));
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    for ((&(preset, crf), walls), (bytes, f)) in points.iter().zip(&mut walls).zip(files) {
        let wall = median(walls);
        println!(
            "curve {}x{} {} frames preset {preset:>2} crf {crf}: {wall:.2} s ({:.1} fps, median of {rounds}), {bytes} bytes, {:.0} kbit/s; luma PSNR {:.2} dB, SSIM {:.4} (worst {:.4})",
            clip.width,
            clip.height,
            clip.frames,
            clip.frames as f64 / wall,
            bytes as f64 * 8.0 / 1000.0 / clip.seconds(),
            f.psnr_y,
            f.ssim_y_mean,
            f.ssim_y_min,
        );
    }
    Ok(())
}

/// The queue depth sweep, twice: with the game rendering as fast as the encoder takes frames
/// (encoder-bound: the queue is always full), and with each game frame taking a tenth longer
/// than the encoder needs on average, where a queue can only help by absorbing the encoder's
/// uneven pace (SVT-AV1 works in mini-GOPs of 16 frames).
fn queue(clip: &Clip, quick: bool, dir: &Path) -> Result<(), String> {
    let depths: &[u32] = if quick { &[1, 8] } else { &[1, 2, 4, 8, 16] };
    let rounds = if quick { 1 } else { 2 };
    let mut fastest = sweep(clip, depths, rounds, None, dir)?;
    print_sweep(clip, depths, rounds, "rendered as fast as taken", &mut fastest);
    let mut all: Vec<f64> = fastest.iter().flat_map(|(walls, _)| walls.iter().copied()).collect();
    let period = Duration::from_secs_f64(1.1 * median(&mut all) / clip.frames as f64);
    let mut paced = sweep(clip, depths, rounds, Some(period), dir)?;
    let label = format!("game frames of {:.1} ms", period.as_secs_f64() * 1000.0);
    print_sweep(clip, depths, rounds, &label, &mut paced);
    Ok(())
}

/// (wall times, times held back) in seconds for each depth, over `rounds` alternating rounds.
type Sweep = Vec<(Vec<f64>, Vec<f64>)>;

fn sweep(clip: &Clip, depths: &[u32], rounds: usize, period: Option<Duration>, dir: &Path) -> Result<Sweep, String> {
    let scene = TestScene::new(clip.width, clip.height, FPS, SEED);
    let defaults = VideoConfig::default();
    let crf = quality_to_qindex(defaults.quality);
    let mut results: Sweep = vec![(Vec::new(), Vec::new()); depths.len()];
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (&depth, (walls, waits)) in depths.iter().zip(&mut results) {
            let mut config = config(&dir.join("queue.webm"), clip, PRESET, crf);
            config.max_queued_frames = depth;
            let started = Instant::now();
            let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
            for i in 0..clip.frames {
                let frame_started = Instant::now();
                scene.render(i, &mut pixels);
                scene.audio_block(i, &mut audio);
                if let Some(period) = period {
                    // The rest of the game's frame: GPU work, which leaves the CPU to the encoder.
                    std::thread::sleep(period.saturating_sub(frame_started.elapsed()));
                }
                let image = RgbImage::packed(clip.width, clip.height, PixelFormat::Rgba8, &pixels)
                    .map_err(|e| e.to_string())?;
                recorder.push_frame(&image, &audio).map_err(|e| e.to_string())?;
            }
            let waited = recorder.backpressure_wait();
            recorder.finish().map_err(|e| e.to_string())?;
            walls.push(started.elapsed().as_secs_f64());
            waits.push(waited.as_secs_f64());
        }
    }
    Ok(results)
}

fn print_sweep(clip: &Clip, depths: &[u32], rounds: usize, label: &str, results: &mut Sweep) {
    let frame_mb = f64::from(clip.width) * f64::from(clip.height) * 4.0 / 1e6;
    for (&depth, (walls, waits)) in depths.iter().zip(results) {
        let wall = median(walls);
        println!(
            "queue depth {depth:>2} ({}x{}, {} frames, {label}): {wall:.2} s ({:.1} fps), game held back {:.2} s, frame buffers {:.0} MB (median of {rounds})",
            clip.width,
            clip.height,
            clip.frames,
            clip.frames as f64 / wall,
            median(waits),
            f64::from(depth + 2) * frame_mb,
        );
    }
}

/// SVT-AV1 on one thread (`lp=1`) against its default, all CPUs (`lp=0`), alternating.
fn svt_threads(clip: &Clip, quick: bool, dir: &Path) -> Result<(), String> {
    let rounds = if quick { 1 } else { 2 };
    let defaults = VideoConfig::default();
    let crf = quality_to_qindex(defaults.quality);
    let out = dir.join("threads.webm");
    let (mut one, mut all, mut speedup) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let single = run_ffmpeg(&mut ffmpeg_command(clip, PRESET, crf, &["lp=1"], &out), clip)?;
        let every = run_ffmpeg(&mut ffmpeg_command(clip, PRESET, crf, &["lp=0"], &out), clip)?;
        one.push(single.as_secs_f64());
        all.push(every.as_secs_f64());
        speedup.push(single.as_secs_f64() / every.as_secs_f64());
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "svt threads ({}x{}, {} frames, ffmpeg + libsvtav1 preset {} crf {crf}): lp=1 {:.2} s, lp=0 (default, all {cpus} CPUs) {:.2} s, speed-up x{:.2} (median of {rounds})",
        clip.width,
        clip.height,
        clip.frames,
        PRESET,
        median(&mut one),
        median(&mut all),
        median(&mut speedup),
    );
    Ok(())
}
