//! Luma SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) on 8×8 windows at a 4-pixel stride, the
//! overlapped-block form x264 and FFmpeg's `ssim` filter use, with the paper's constants.

/// A borrowed 8-bit plane; rows are `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// Sums over one 4×4 block: Σa, Σb, Σa² + Σb², Σab.
#[derive(Clone, Copy, Default)]
struct Sums([u64; 4]);

impl std::ops::Add for Sums {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}

fn block_row(a: Plane<'_>, b: Plane<'_>, by: usize, blocks: usize, out: &mut Vec<Sums>) {
    out.clear();
    for bx in 0..blocks {
        let mut s = Sums::default();
        for y in by * 4..by * 4 + 4 {
            let ra = &a.data[y * a.stride + bx * 4..][..4];
            let rb = &b.data[y * b.stride + bx * 4..][..4];
            for (&pa, &pb) in ra.iter().zip(rb) {
                let (pa, pb) = (u64::from(pa), u64::from(pb));
                s.0[0] += pa;
                s.0[1] += pb;
                s.0[2] += pa * pa + pb * pb;
                s.0[3] += pa * pb;
            }
        }
        out.push(s);
    }
}

/// SSIM of one 8×8 window from its sums over 64 pixels.
fn window(s: Sums) -> f64 {
    let n = 64.0;
    let [s1, s2, ss, s12] = s.0.map(|v| v as f64);
    let (ma, mb) = (s1 / n, s2 / n);
    let var_sum = ss / n - ma * ma - mb * mb;
    let cov = s12 / n - ma * mb;
    (2.0 * ma * mb + C1) * (2.0 * cov + C2) / ((ma * ma + mb * mb + C1) * (var_sum + C2))
}

/// Mean SSIM of the top-left `width × height` region of two planes (the last `width % 4`
/// columns and `height % 4` rows fall outside every window, as in FFmpeg). 1.0 means identical.
pub fn ssim(a: Plane<'_>, b: Plane<'_>, width: usize, height: usize) -> f64 {
    let (bw, bh) = (width / 4, height / 4);
    assert!(
        bw >= 2 && bh >= 2,
        "SSIM needs at least 8×8 pixels, got {width}×{height}"
    );
    assert!(a.data.len() >= (height - 1) * a.stride + width && b.data.len() >= (height - 1) * b.stride + width);
    let (mut above, mut below) = (Vec::with_capacity(bw), Vec::with_capacity(bw));
    block_row(a, b, 0, bw, &mut above);
    let mut total = 0.0;
    for by in 1..bh {
        block_row(a, b, by, bw, &mut below);
        for x in 0..bw - 1 {
            total += window(above[x] + above[x + 1] + below[x] + below[x + 1]);
        }
        std::mem::swap(&mut above, &mut below);
    }
    total / ((bw - 1) * (bh - 1)) as f64
}

/// Mean and worst SSIM over a sequence of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsimStats {
    pub frames: u64,
    pub mean: f64,
    pub min: f64,
    pub min_frame: u64,
}

impl Default for SsimStats {
    fn default() -> Self {
        Self {
            frames: 0,
            mean: 0.0,
            min: f64::INFINITY,
            min_frame: 0,
        }
    }
}

impl SsimStats {
    pub fn add(&mut self, frame: u64, value: f64) {
        self.mean = (self.mean * self.frames as f64 + value) / (self.frames + 1) as f64;
        self.frames += 1;
        if value < self.min {
            self.min = value;
            self.min_frame = frame;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use movie_writer_av1_core::scene::TestScene;

    use super::*;
    use crate::tool;

    fn scene_luma(w: u32, h: u32) -> Vec<u8> {
        // Luma-like values straight from the scene's red channel: any detailed image will do.
        let mut rgba = Vec::new();
        TestScene::new(w, h, 30, 3).render(12, &mut rgba);
        rgba.chunks_exact(4).map(|p| p[0]).collect()
    }

    fn degrade(src: &[u8]) -> Vec<u8> {
        src.iter()
            .enumerate()
            .map(|(i, &v)| {
                v.saturating_add(((i * 2_654_435_761) >> 13) as u8 % 24)
                    .saturating_sub(12)
            })
            .collect()
    }

    #[test]
    fn identical_planes_score_one_and_noise_lowers_it() {
        let (w, h) = (96, 64);
        let a = scene_luma(w, h);
        let same = ssim(Plane { data: &a, stride: 96 }, Plane { data: &a, stride: 96 }, 96, 64);
        assert!((same - 1.0).abs() < 1e-12, "{same}");
        let b = degrade(&a);
        let noisy = ssim(Plane { data: &a, stride: 96 }, Plane { data: &b, stride: 96 }, 96, 64);
        assert!(noisy < 0.95 && noisy > 0.3, "{noisy}");
    }

    #[test]
    fn region_and_stride_select_the_top_left_part() {
        // The right column and bottom row differ: outside a 12×12 region they must not count.
        let (w, h) = (13, 13);
        let a: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
        let mut b = a.clone();
        for i in 0..h {
            b[i * w + 12] = 0;
            b[12 * w + i] = 0;
        }
        let s = ssim(Plane { data: &a, stride: w }, Plane { data: &b, stride: w }, 12, 12);
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    /// Cross-check against FFmpeg's `ssim` filter, an independent implementation of the same
    /// windowing. FFmpeg scales C1 slightly differently (inherited from x264), so the two agree
    /// closely but not to the last digit.
    #[test]
    fn agrees_with_ffmpeg_ssim_filter() {
        let (w, h) = (320usize, 180usize);
        let a = scene_luma(w as u32, h as u32);
        let b = degrade(&a);
        let dir = std::env::temp_dir().join(format!("mwav1-ssim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pa, pb) = (dir.join("a.gray"), dir.join("b.gray"));
        std::fs::write(&pa, &a).unwrap();
        std::fs::write(&pb, &b).unwrap();
        let size = format!("{w}x{h}");
        let mut cmd = Command::new("ffmpeg");
        for p in [&pa, &pb] {
            cmd.args([
                "-nostdin",
                "-hide_banner",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
                "-s",
                &size,
                "-i",
            ])
            .arg(p);
        }
        cmd.args(["-lavfi", "ssim", "-f", "null", "-"]);
        let done = tool::run(&mut cmd, Duration::from_secs(60)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let theirs: f64 = done
            .stderr
            .split("SSIM Y:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no SSIM in ffmpeg's output: {}", done.stderr));
        let ours = ssim(Plane { data: &a, stride: w }, Plane { data: &b, stride: w }, w, h);
        println!("SSIM ours {ours:.5}, FFmpeg {theirs:.5}");
        assert!((ours - theirs).abs() < 0.01, "ours {ours}, FFmpeg {theirs}");
    }

    #[test]
    fn stats_track_mean_and_worst_frame() {
        let mut s = SsimStats::default();
        for (i, v) in [0.9, 0.8, 1.0].into_iter().enumerate() {
            s.add(i as u64, v);
        }
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert_eq!((s.min, s.min_frame, s.frames), (0.8, 1, 3));
    }
}
