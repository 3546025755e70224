//! Helpers for the motion-blur and supersampling tests: synthetic scenes drawn without
//! anti-aliasing, recordings through the core's `Recorder`, and reading decoded frames back
//! with FFmpeg + libdav1d (luma planes, packet checksums, SSIM against raw reference frames).

use std::path::Path;
use std::process::Command;
use std::sync::PoisonError;
use std::time::Duration;

use movie_writer_av1_core::{PixelFormat, Recorder, RecordingConfig, RecordingStats, RgbImage};

use crate::decode;
use crate::record::ONE_RECORDER_AT_A_TIME;
use crate::tool::{self, Error, Result};

/// Records `frames` engine frames drawn by `draw(index, rgba)` at `width`×`height` through
/// [`Recorder`], each with its engine-rate audio block of silence (the audio block size follows
/// `config.engine_fps()`, as the engine's does).
pub fn record_frames(
    config: RecordingConfig,
    width: u32,
    height: u32,
    frames: u64,
    mut draw: impl FnMut(u64, &mut Vec<u8>),
) -> movie_writer_av1_core::Result<RecordingStats> {
    let _one = ONE_RECORDER_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let block = (48_000 / config.engine_fps()) as usize * 2;
    let audio = vec![0i32; block];
    let mut recorder = Recorder::start(config)?;
    let mut rgba = Vec::new();
    for i in 0..frames {
        draw(i, &mut rgba);
        recorder.push_frame(&RgbImage::packed(width, height, PixelFormat::Rgba8, &rgba)?, &audio)?;
    }
    recorder.finish()
}

/// A white `side`×`side` square on black at (`x`, `y`), no anti-aliasing.
pub fn square(width: u32, height: u32, x: i64, y: i64, side: i64, out: &mut Vec<u8>) {
    out.clear();
    out.resize(width as usize * height as usize * 4, 0);
    for py in 0..height as i64 {
        for px in 0..width as i64 {
            let i = (py as usize * width as usize + px as usize) * 4;
            let inside = (x..x + side).contains(&px) && (y..y + side).contains(&py);
            let v = if inside { 255 } else { 0 };
            out[i..i + 4].copy_from_slice(&[v, v, v, 255]);
        }
    }
}

/// Thin spokes rotating about the centre, drawn at `scale` × the `width`×`height` output size
/// with one sample per pixel (aliased). Sizes and angles are in output pixels, so every scale
/// draws the same picture.
pub fn spokes(width: u32, height: u32, scale: u32, frame: u64, out: &mut Vec<u8>) {
    const SPOKES: usize = 24;
    const HALF_THICKNESS: f64 = 0.35;
    let (w, h) = (width * scale, height * scale);
    out.clear();
    out.resize(w as usize * h as usize * 4, 255);
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let turn = frame as f64 * 0.9_f64.to_radians();
    let dirs: Vec<(f64, f64)> = (0..SPOKES)
        .map(|k| {
            let a = turn + k as f64 * std::f64::consts::PI / SPOKES as f64;
            (a.cos(), a.sin())
        })
        .collect();
    for py in 0..h {
        let y = (py as f64 + 0.5) / scale as f64 - cy;
        for px in 0..w {
            let x = (px as f64 + 0.5) / scale as f64 - cx;
            let on = dirs.iter().any(|&(c, s)| (x * s - y * c).abs() < HALF_THICKNESS);
            let v = if on { 255 } else { 16 };
            let i = (py as usize * w as usize + px as usize) * 4;
            out[i..i + 3].copy_from_slice(&[v, v, v]);
        }
    }
}

/// The luma plane of every frame, decoded by libdav1d; `width`×`height` is the decoded size.
pub fn luma_frames(path: &Path, width: u32, height: u32) -> Result<Vec<Vec<u8>>> {
    let mut cmd = decode::raw_frames(path);
    let done = tool::run(&mut cmd, Duration::from_secs(300))?;
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    let (w, h) = (width as usize, height as usize);
    let frame = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
    Ok(done.stdout.chunks_exact(frame).map(|f| f[..w * h].to_vec()).collect())
}

/// The MD5 of every video packet, as FFmpeg's framemd5 muxer lists them.
pub fn packet_md5s(path: &Path) -> Result<Vec<String>> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"]);
    let done = tool::run(&mut cmd, Duration::from_secs(120))?;
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    Ok(String::from_utf8_lossy(&done.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_string()))
        .collect())
}

/// Mean luma SSIM (FFmpeg's `ssim` filter) of the recording at `path` against raw RGBA
/// reference frames in `reference` (`width`×`height`), both taken to BT.709 limited range
/// 4:2:0 as the encoder does.
pub fn ssim_against_raw(path: &Path, reference: &Path, width: u32, height: u32, fps: u32) -> Result<f64> {
    let by_index = format!("settb=1/{fps},setpts=N");
    let graph = format!(
        "[0:v]crop={width}:{height}:0:0:exact=1,{by_index}[decoded];\
         [1:v]scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,\
         format=yuv420p,{by_index}[reference];\
         [decoded][reference]ssim=stats_file=-:shortest=1"
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-c:v", "libdav1d", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-s", &format!("{width}x{height}")])
        .args(["-framerate", &fps.to_string(), "-i"])
        .arg(reference)
        .args(["-lavfi", &graph, "-f", "null", "-"]);
    let done = tool::run(&mut cmd, Duration::from_secs(300))?;
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    let text = String::from_utf8_lossy(&done.stdout);
    let ys: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("Y:")))
        .filter_map(|v| v.parse().ok())
        .collect();
    if ys.is_empty() {
        return Err(Error(format!("no SSIM figures from {}", tool::describe(&cmd))));
    }
    Ok(ys.iter().sum::<f64>() / ys.len() as f64)
}

/// Linear light (0–1) of a decoded BT.709 limited-range luma value, for grey pictures.
pub fn linear_of_luma(y: u8) -> f64 {
    let v = ((f64::from(y) - 16.0) / 219.0).clamp(0.0, 1.0);
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Writes one decoded frame's luma plane as a greyscale PNG (through FFmpeg), cropped to
/// `crop` = (x, y, w, h).
pub fn save_luma_png(luma: &[u8], width: u32, height: u32, crop: (u32, u32, u32, u32), png: &Path) -> Result<()> {
    let raw = png.with_extension("gray");
    std::fs::write(&raw, luma).map_err(|e| Error(format!("{}: {e}", raw.display())))?;
    let (x, y, w, h) = crop;
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
    ])
    .args(["-s", &format!("{width}x{height}"), "-i"])
    .arg(&raw)
    .args([
        "-vf",
        &format!("crop={w}:{h}:{x}:{y},lutyuv=y='clip((val-16)*255/219,0,255)'"),
        "-frames:v",
        "1",
    ])
    .arg(png);
    let done = tool::run(&mut cmd, Duration::from_secs(60))?;
    let _ = std::fs::remove_file(&raw);
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    Ok(())
}
