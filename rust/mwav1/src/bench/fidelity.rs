//! Figure 4: size, bitrate and fidelity of a recording, scored by FFmpeg: libdav1d decodes the
//! file (no code shared with the encoder side) and FFmpeg's `ssim` and `psnr` filters compare
//! each decoded frame's luma with the source frame of the same index. The source frames are
//! what the encoder was given, our own `rgb_to_i420`, so the figures measure the encoder's loss
//! alone, not the colour conversion's. The SSIM is the filter's, the one the tests use
//! (`tests/src/ssim.rs`); the bench already needs the `ffmpeg` CLI to decode.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use movie_writer_av1_core::color::{rgb_to_i420, I420Buffer};

use super::{Clip, Recording};

pub struct Fidelity {
    pub frames: u64,
    /// From the mean squared error over all frames (as FFmpeg's `psnr` filter averages).
    pub psnr_y: f64,
    pub ssim_y_mean: f64,
    pub ssim_y_min: f64,
}

/// Prints "`label` WxH …" with size, bitrate, PSNR and SSIM of `recording` against `clip`.
pub fn report(label: &str, recording: &Recording, clip: &Clip) -> Result<(), String> {
    let f = measure(recording, clip)?;
    let bytes = recording.stats.bytes;
    println!(
        "{label} {}x{}: {bytes} bytes for {:.2} s, {:.0} kbit/s (Opus 128 kbit/s included); luma PSNR {:.2} dB, SSIM mean {:.4}, worst frame {:.4} ({} frames decoded by libdav1d)",
        clip.width,
        clip.height,
        clip.seconds(),
        bytes as f64 * 8.0 / 1000.0 / clip.seconds(),
        f.psnr_y,
        f.ssim_y_mean,
        f.ssim_y_min,
        f.frames,
    );
    Ok(())
}

pub fn measure(recording: &Recording, clip: &Clip) -> Result<Fidelity, String> {
    let (w, h, fps) = (clip.width, clip.height, super::FPS);
    // Both inputs are numbered frame by frame, so Matroska's millisecond timestamps cannot pair
    // a frame with its neighbour; the decoded frame is cropped to the clip (FFmpeg ignores
    // PixelCrop). `ssim` writes one line per frame to stdout, `psnr` its summary to stderr.
    let by_index = format!("settb=1/{fps},setpts=N");
    let graph = format!(
        "[0:v]crop={w}:{h}:0:0:exact=1,format=yuv420p,{by_index},split[d1][d2];\
         [1:v]{by_index},split[r1][r2];\
         [d1][r1]ssim=stats_file=-:shortest=1;[d2][r2]psnr=shortest=1"
    );
    let mut child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-v",
            "info",
            "-c:v",
            "libdav1d",
            "-i",
        ])
        .arg(&recording.path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", &format!("{w}x{h}")])
        .args(["-framerate", &fps.to_string(), "-i", "pipe:0"])
        .args(["-filter_complex", &graph, "-an", "-f", "null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("bench: cannot run `ffmpeg` to score the file ({e})"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let (read, per_frame, stderr) = thread::scope(|s| {
        s.spawn(|| {
            let mut reference = I420Buffer::new(w, h);
            for i in 0..clip.frames {
                rgb_to_i420(&clip.image(i), &mut reference.planes(), true);
                let frame = [&reference.y[..], &reference.u, &reference.v].concat();
                if stdin.write_all(&frame).is_err() {
                    break; // ffmpeg stopped reading: its error says why
                }
            }
            drop(stdin);
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let summary = s.spawn(move || {
            let mut lines: Vec<String> = BufReader::new(stderr).lines().map_while(Result::ok).collect();
            lines.retain(|l| !l.trim().is_empty());
            lines
        });
        let mut per_frame = String::new();
        let read = child
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut per_frame);
        (
            read,
            per_frame,
            summary.join().expect("the stderr reader does not panic"),
        )
    });
    read.map_err(|e| format!("bench: reading ffmpeg's ssim figures: {e}"))?;
    let status = child.wait().map_err(|e| format!("bench: waiting for ffmpeg: {e}"))?;
    let ssim: Vec<f64> = per_frame.lines().filter_map(|l| field(l, "Y:")).collect();
    let psnr_y = stderr
        .iter()
        .find(|l| l.contains("PSNR y:"))
        .and_then(|l| field(l, "y:"));
    let frames = ssim.len() as u64;
    match psnr_y {
        Some(psnr_y) if status.success() && frames == clip.frames => Ok(Fidelity {
            frames,
            psnr_y,
            ssim_y_mean: ssim.iter().sum::<f64>() / frames as f64,
            ssim_y_min: ssim.iter().copied().fold(f64::INFINITY, f64::min),
        }),
        _ => Err(format!(
            "bench: scoring {} gave {frames} frames, not {} ({status}): {}",
            recording.path.display(),
            clip.frames,
            stderr.join(" | ")
        )),
    }
}

/// The number after `key` in one of the filters' lines: the `ssim` filter's per-frame
/// "n:1 Y:0.987654 U:… V:… All:… (…)" or the `psnr` filter's "PSNR y:41.59 u:… average:…"
/// (`inf` for identical frames).
fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace().find_map(|f| f.strip_prefix(key))?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn reads_the_filters_lines() {
        let ssim = "n:3 Y:0.987654 U:0.991000 V:0.990000 All:0.988000 (19.2)";
        assert_eq!(field(ssim, "Y:"), Some(0.987654));
        let psnr = "[Parsed_psnr_7 @ 0x55] PSNR y:41.59 u:44.10 v:45.00 average:42.30 min:40.1 max:43.2";
        assert_eq!(field(psnr, "y:"), Some(41.59));
        assert_eq!(field("PSNR y:inf u:inf", "y:"), Some(f64::INFINITY));
        assert_eq!(field("n:1 All:0.9", "Y:"), None);
    }
}
