//! The judge of a conformance recording: the `ffmpeg` and `ffprobe` command-line tools, which
//! share no code with the recorder. They decode the file (whatever AV1 decoder the FFmpeg on
//! PATH prefers, libdav1d in Debian's), and FFmpeg's `ssim` filter scores Y, U and V against
//! the scene converted by [`super::patches::reference_i420`].

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

use super::patches;

/// What the tools found in one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Frames the decoder produced.
    pub frames: u64,
    /// What FFmpeg printed at `-v error` while decoding: empty for a clean stream.
    pub decode_errors: String,
    /// The track's pixel size as ffprobe reads it (at least the recording's size).
    pub pixel_size: (u32, u32),
    /// Mean SSIM of Y, U and V against the reference, FFmpeg's `ssim` filter.
    pub ssim: [f64; 3],
    /// The largest difference, per channel, between a patch's decoded mean and its expected
    /// BT.709 limited-range value, over all patches and frames; and which patch it was.
    pub patch_error: [f64; 3],
    pub worst_patch: [usize; 3],
}

impl std::fmt::Display for Judgement {
    /// The figures a report line shows (hwcheck and the conformance tests print the same).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ([sy, su, sv], [py, pu, pv]) = (self.ssim, self.patch_error);
        write!(
            f,
            "SSIM Y {sy:.4} U {su:.4} V {sv:.4}, patch error Y {py:.1} U {pu:.1} V {pv:.1}, track {}x{}",
            self.pixel_size.0, self.pixel_size.1
        )
    }
}

/// The first line of `tool -version`, or why it cannot be run.
pub fn tool_version(tool: &str) -> Result<String, String> {
    let out = Command::new(tool)
        .arg("-version")
        .output()
        .map_err(|e| format!("`{tool}` cannot be run ({e}): install FFmpeg's command-line tools"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

fn spawn_error(tool: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("`{tool}` could not be started: {e}")
}

/// Judges `path`, a recording of `frames` frames of the patch scene at `width × height`.
///
/// Odd sizes are compared on their even part (one column and row less): FFmpeg's crop filter
/// keeps 4:2:0 pictures at even sizes, and every patch lies well inside that part.
pub fn judge(path: &Path, width: u32, height: u32, fps: u32, frames: u64) -> Result<Judgement, String> {
    let pixel_size = pixel_size(path)?;
    let (decoded, decode_errors, patch_error, worst_patch) = decode_patches(path, width & !1, height & !1)?;
    let ssim = ssim(path, (width, height), fps, frames)?;
    Ok(Judgement {
        frames: decoded,
        decode_errors,
        pixel_size,
        ssim,
        patch_error,
        worst_patch,
    })
}

fn pixel_size(path: &Path) -> Result<(u32, u32), String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .map_err(spawn_error("ffprobe"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (w, h) = text
        .trim()
        .split_once(',')
        .ok_or_else(|| format!("ffprobe found no video stream size in {}: {text:?}", path.display()))?;
    let parse = |v: &str| v.trim().parse().map_err(|_| format!("ffprobe size {text:?}"));
    Ok((parse(w)?, parse(h)?))
}

/// Decodes every frame (cropped to `width × height`, even, from the top left: FFmpeg before
/// 7.1 ignores Matroska's PixelCrop) and measures the patches; returns the frame count,
/// FFmpeg's errors and the worst patch error per channel.
fn decode_patches(path: &Path, width: u32, height: u32) -> Result<(u64, String, [f64; 3], [usize; 3]), String> {
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-an", "-vf", &format!("crop={width}:{height}:0:0")])
        .args(["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error("ffmpeg"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut frame = vec![0u8; w * h + 2 * cw * ch];
    let mut out = child.stdout.take().expect("piped");
    let mut frames = 0u64;
    let mut worst = [0f64; 3];
    let mut worst_patch = [0usize; 3];
    while out.read_exact(&mut frame).is_ok() {
        let planes = [
            (&frame[..w * h], w, 1u32),
            (&frame[w * h..w * h + cw * ch], cw, 2),
            (&frame[w * h + cw * ch..], cw, 2),
        ];
        for (i, colour) in patches::COLOURS.iter().enumerate() {
            let expected = patches::bt709_limited(*colour);
            let (x, y, mw, mh) = patches::measured(i, width, height);
            for (c, &(plane, stride, div)) in planes.iter().enumerate() {
                let (x0, y0, pw, ph) = (
                    (x / div) as usize,
                    (y / div) as usize,
                    (mw / div) as usize,
                    (mh / div) as usize,
                );
                let sum: u64 = (y0..y0 + ph)
                    .flat_map(|yy| plane[yy * stride + x0..yy * stride + x0 + pw].iter())
                    .map(|&s| u64::from(s))
                    .sum();
                let error = (sum as f64 / (pw * ph) as f64 - expected[c]).abs();
                if error > worst[c] {
                    worst[c] = error;
                    worst_patch[c] = i;
                }
            }
        }
        frames += 1;
    }
    drop(out);
    let status = child.wait().map_err(|e| format!("waiting for ffmpeg: {e}"))?;
    let mut errors = errors.join().unwrap_or_default();
    if !status.success() && errors.trim().is_empty() {
        errors = format!("ffmpeg exited with {status}");
    }
    Ok((frames, errors.trim().to_string(), worst, worst_patch))
}

/// FFmpeg's `ssim` filter on the decoded file against the reference frames, which are
/// written to its standard input as they are rendered. Both inputs are renumbered frame by
/// frame, so Matroska's millisecond timestamps cannot pair a frame with its neighbour.
fn ssim(path: &Path, (width, height): (u32, u32), fps: u32, frames: u64) -> Result<[f64; 3], String> {
    let size = format!("{width}x{height}");
    let (even_w, even_h) = (width & !1, height & !1);
    let graph = format!(
        "[0:v]crop={even_w}:{even_h}:0:0,format=yuv420p,settb=1/{fps},setpts=N[d];\
         [1:v]crop={even_w}:{even_h}:0:0,settb=1/{fps},setpts=N[r];[d][r]ssim"
    );
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-v", "info", "-i"])
        .arg(path)
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            &size,
            "-r",
            &fps.to_string(),
        ])
        .args(["-i", "pipe:0", "-filter_complex", &graph, "-an", "-f", "null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error("ffmpeg"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let feeder = thread::spawn(move || {
        let (mut rgba, mut yuv) = (Vec::new(), Vec::new());
        for i in 0..frames {
            patches::render(width, height, i, &mut rgba);
            patches::reference_i420(width, height, &rgba, &mut yuv);
            if stdin.write_all(&yuv).is_err() {
                break; // ffmpeg stopped reading: its error says why
            }
        }
    });
    let stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut summary = None;
    let mut last_lines = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        if let Some(at) = line.find("SSIM Y:") {
            summary = Some(line[at..].to_string());
        }
        last_lines.push(line);
        if last_lines.len() > 8 {
            last_lines.remove(0);
        }
    }
    let _ = feeder.join();
    let _ = child.wait();
    let summary =
        summary.ok_or_else(|| format!("ffmpeg's ssim filter printed no result: {}", last_lines.join(" | ")))?;
    parse_ssim(&summary).ok_or_else(|| format!("unreadable ssim line: {summary}"))
}

/// Reads "SSIM Y:0.987 (18.9) U:0.991 (20.5) V:0.990 (20.1) All:0.989 (19.5)".
fn parse_ssim(line: &str) -> Option<[f64; 3]> {
    let value = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some([value("Y:")?, value("U:")?, value("V:")?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ssim_filters_summary() {
        let line = "SSIM Y:0.987654 (19.081470) U:0.991000 (20.457575) V:0.990000 (20.000000) All:0.988000 (19.2)";
        assert_eq!(parse_ssim(line), Some([0.987654, 0.991, 0.99]));
        assert_eq!(parse_ssim("SSIM All:0.9"), None);
    }
}
