//! `mwav1 bench --tune`: the sweeps the defaults were chosen from.
//!
//! * "curve": size, time and fidelity across SVT-AV1 presets and CRFs (the speed preset and the
//!   quality mapping's anchor).
//! * "queue": the queue depth (`max_queued_frames`) with the engine thread rendering each frame
//!   before pushing it, as a game does; depths alternate in rounds so that drifting load hits all.
//! * "svt threads": SVT-AV1's own thread count (its `lp` parameter), through the `ffmpeg` CLI
//!   because our backend leaves it at SVT-AV1's default (all CPUs).

use std::path::Path;
use std::time::Instant;

use movie_writer_av1_core::config::{quality_to_qindex, VideoConfig};
use movie_writer_av1_core::scene::TestScene;
use movie_writer_av1_core::{PixelFormat, Recorder, RgbImage};

use super::{config, fidelity, median, record, Clip, FPS, SEED};

pub fn run(quick: bool, dir: &Path) -> Result<(), String> {
    let (w, h, frames) = if quick { (320, 180, 30) } else { (1280, 720, 120) };
    let clip = Clip::render(w, h, frames, frames);
    curve(&clip, quick, dir)?;
    queue(&clip, quick, dir)?;
    Ok(())
}

fn curve(clip: &Clip, quick: bool, dir: &Path) -> Result<(), String> {
    let (presets, crfs): (&[u8], &[u8]) = if quick {
        (&[10, 12], &[32])
    } else {
        (&[8, 10, 12], &[28, 32, 40])
    };
    for &crf in crfs {
        for &preset in presets {
            let path = dir.join(format!("curve-p{preset}-crf{crf}.webm"));
            let r = record(clip, config(&path, clip, preset, crf))?;
            let f = fidelity::measure(&r, clip)?;
            println!(
                "curve {}x{} {} frames preset {preset:>2} crf {crf}: {:.2} s ({:.1} fps), {} bytes, {:.0} kbit/s; luma PSNR {:.2} dB, SSIM {:.4} (worst {:.4})",
                clip.width,
                clip.height,
                clip.frames,
                r.wall.as_secs_f64(),
                clip.frames as f64 / r.wall.as_secs_f64(),
                r.stats.bytes,
                r.stats.bytes as f64 * 8.0 / 1000.0 / clip.seconds(),
                f.psnr_y,
                f.ssim_y_mean,
                f.ssim_y_min,
            );
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

/// Records `clip.frames` frames rendered live by the test scene (the "game") at each queue
/// depth, and prints the wall time, the time the engine thread was held back, and the memory
/// the queue's buffers take.
fn queue(clip: &Clip, quick: bool, dir: &Path) -> Result<(), String> {
    let depths: &[u32] = if quick { &[1, 8] } else { &[1, 2, 4, 8, 16] };
    let rounds = if quick { 1 } else { 2 };
    let scene = TestScene::new(clip.width, clip.height, FPS, SEED);
    let defaults = VideoConfig::default();
    let crf = quality_to_qindex(defaults.quality);
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); depths.len()];
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (&depth, (walls, waits)) in depths.iter().zip(&mut results) {
            let mut config = config(&dir.join("queue.webm"), clip, defaults.preset, crf);
            config.max_queued_frames = depth;
            let started = Instant::now();
            let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
            for i in 0..clip.frames {
                scene.render(i, &mut pixels);
                scene.audio_block(i, &mut audio);
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
    let frame_mb = f64::from(clip.width) * f64::from(clip.height) * 4.0 / 1e6;
    for (&depth, (walls, waits)) in depths.iter().zip(&mut results) {
        let wall = median(walls);
        println!(
            "queue depth {depth:>2} ({}x{}, {} frames rendered live): {wall:.2} s ({:.1} fps), engine held back {:.2} s, frame buffers {:.0} MB (median of {rounds})",
            clip.width,
            clip.height,
            clip.frames,
            clip.frames as f64 / wall,
            median(waits),
            f64::from(depth + 2) * frame_mb,
        );
    }
    Ok(())
}
