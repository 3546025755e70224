//! Figure 4: size, bitrate and fidelity of a recording. The file is decoded by FFmpeg with
//! libdav1d (no code shared with the encoder side) and each decoded frame's luma is compared with
//! the source frame of the same index converted by our own `rgb_to_i420`, so the figures measure
//! the encoder's loss alone, not the colour conversion's.

use std::io::Read;
use std::process::{Command, Stdio};

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
    let (w, h) = (clip.width as usize, clip.height as usize);
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-c:v",
            "libdav1d",
            "-i",
        ])
        .arg(&recording.path)
        // passthrough: one output frame per decoded frame, none duplicated or dropped, so
        // frames pair with the source by index.
        .args([
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("bench: cannot run `ffmpeg` to decode ({e})"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut decoded = vec![0u8; w * h + 2 * w.div_ceil(2) * h.div_ceil(2)];
    let mut reference = I420Buffer::new(clip.width, clip.height);
    let (mut frames, mut squared_error) = (0u64, 0u64);
    let (mut ssim_sum, mut ssim_min) = (0.0, f64::INFINITY);
    while stdout.read_exact(&mut decoded).is_ok() {
        rgb_to_i420(&clip.image(frames), &mut reference.planes(), true);
        let luma = &decoded[..w * h];
        squared_error += luma
            .iter()
            .zip(&reference.y)
            .map(|(&a, &b)| u64::from(a.abs_diff(b)).pow(2))
            .sum::<u64>();
        let s = ssim(luma, &reference.y, w, h);
        ssim_sum += s;
        ssim_min = ssim_min.min(s);
        frames += 1;
    }
    drop(stdout);
    let status = child.wait().map_err(|e| format!("bench: waiting for ffmpeg: {e}"))?;
    if frames != clip.frames || !status.success() {
        return Err(format!(
            "bench: decoding {} gave {frames} frames, not {} ({status})",
            recording.path.display(),
            clip.frames
        ));
    }
    let mse = squared_error as f64 / (frames as f64 * (w * h) as f64);
    Ok(Fidelity {
        frames,
        psnr_y: if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0 * 255.0 / mse).log10()
        },
        ssim_y_mean: ssim_sum / frames as f64,
        ssim_y_min: ssim_min,
    })
}

/// Mean SSIM (Wang et al. 2004, the paper's constants) over 8×8 windows at a 4-pixel stride,
/// the form FFmpeg's `ssim` filter and x264 use. Each window is the sum of four 4×4 blocks.
fn ssim(a: &[u8], b: &[u8], width: usize, height: usize) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (bw, bh) = (width / 4, height / 4);
    // Σa, Σb, Σa² + Σb², Σab per 4×4 block.
    let blocks: Vec<[u64; 4]> = (0..bw * bh)
        .map(|i| {
            let (bx, by) = (i % bw, i / bw);
            let mut s = [0u64; 4];
            for y in by * 4..by * 4 + 4 {
                for x in bx * 4..bx * 4 + 4 {
                    let (pa, pb) = (u64::from(a[y * width + x]), u64::from(b[y * width + x]));
                    s[0] += pa;
                    s[1] += pb;
                    s[2] += pa * pa + pb * pb;
                    s[3] += pa * pb;
                }
            }
            s
        })
        .collect();
    let mut total = 0.0;
    for by in 0..bh - 1 {
        for bx in 0..bw - 1 {
            let corners = [
                by * bw + bx,
                by * bw + bx + 1,
                (by + 1) * bw + bx,
                (by + 1) * bw + bx + 1,
            ];
            let s: [f64; 4] = std::array::from_fn(|k| corners.iter().map(|&c| blocks[c][k]).sum::<u64>() as f64);
            let n = 64.0;
            let (ma, mb) = (s[0] / n, s[1] / n);
            let var_sum = s[2] / n - ma * ma - mb * mb;
            let cov = s[3] / n - ma * mb;
            total += (2.0 * ma * mb + C1) * (2.0 * cov + C2) / ((ma * ma + mb * mb + C1) * (var_sum + C2));
        }
    }
    total / ((bw - 1) * (bh - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::ssim;

    #[test]
    fn ssim_is_one_for_identical_planes_and_drops_with_noise() {
        let (w, h) = (32, 24);
        let a: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
        assert!((ssim(&a, &a, w, h) - 1.0).abs() < 1e-12);
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &p)| p.wrapping_add((i % 7) as u8 * 9))
            .collect();
        assert!(ssim(&a, &b, w, h) < 0.9);
    }
}
