//! Resampling frames to the recording's output size, in linear light, on the encode thread.
//!
//! - Downscaling averages areas: each output pixel is the coverage-weighted mean of the source
//!   pixels under it, so an integer ratio (3840×2160 → 1920×1080) is an exact 2×2 box. Rendering
//!   larger than the output and downscaling this way is supersampling anti-aliasing.
//! - Upscaling is bilinear.
//! - Another aspect ratio keeps its shape, centred on black (letterbox or pillarbox). The same
//!   path fits frames whose size changed mid-recording (a resized window).
//!
//! Both directions work on linear light: sRGB → linear through a 256-entry table, weighted sums
//! in `f32`, linear → sRGB through a 65536-entry table ([`srgb_from_linear16`]).

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::frame::{PixelFormat, RgbImage};

/// 16-bit linear light (0 – 65535) of each 8-bit sRGB value.
pub fn linear16_from_srgb() -> &'static [u16; 256] {
    static TABLE: OnceLock<[u16; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u16; 256];
        for (v, out) in t.iter_mut().enumerate() {
            *out = (srgb_to_linear(v as f64 / 255.0) * 65535.0).round() as u16;
        }
        t
    })
}

/// 8-bit sRGB of each 16-bit linear value.
pub fn srgb_from_linear16() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=65535u32)
            .map(|l| (linear_to_srgb(f64::from(l) / 65535.0) * 255.0).round() as u8)
            .collect()
    })
}

fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(l: f64) -> f64 {
    if l <= 0.003_130_8 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// 8-bit sRGB of a linear value in 0–1.
#[inline]
pub fn srgb8(linear: f32, table: &[u8]) -> u8 {
    table[(linear * 65535.0 + 0.5).clamp(0.0, 65535.0) as usize]
}

/// A source image in linear light: 8-bit sRGB pixels, or sums of 16-bit linear values (the
/// temporal accumulator's) with the factor that turns a sum into 0–1.
#[derive(Clone, Copy)]
pub enum Linear<'a> {
    Srgb(&'a RgbImage<'a>),
    Sums {
        width: u32,
        height: u32,
        /// Three sums per pixel, rows packed.
        sums: &'a [u32],
        scale: f32,
    },
}

impl Linear<'_> {
    pub fn size(&self) -> (u32, u32) {
        match self {
            Self::Srgb(image) => (image.width, image.height),
            Self::Sums { width, height, .. } => (*width, *height),
        }
    }
}

/// Weighted source indices for each output coordinate along one axis.
type Taps = Vec<Vec<(u32, f32)>>;

/// Area averaging when shrinking, bilinear when enlarging, identity when equal.
fn taps(src: usize, dst: usize) -> Taps {
    if src == dst {
        return (0..dst).map(|x| vec![(x as u32, 1.0)]).collect();
    }
    let s = src as f64 / dst as f64;
    (0..dst)
        .map(|x| {
            if dst < src {
                let (a, b) = (x as f64 * s, (x + 1) as f64 * s);
                let mut t = Vec::new();
                for i in a.floor() as usize..(b.ceil() as usize).min(src) {
                    let cover = b.min((i + 1) as f64) - a.max(i as f64);
                    if cover > 1e-9 {
                        t.push((i as u32, (cover / s) as f32));
                    }
                }
                t
            } else {
                let f = ((x as f64 + 0.5) * s - 0.5).clamp(0.0, (src - 1) as f64);
                let i0 = f.floor() as usize;
                let w = (f - i0 as f64) as f32;
                let i1 = (i0 + 1).min(src - 1);
                if w > 0.0 && i1 != i0 {
                    vec![(i0 as u32, 1.0 - w), (i1 as u32, w)]
                } else {
                    vec![(i0 as u32, 1.0)]
                }
            }
        })
        .collect()
}

/// One row of the horizontal pass: each output pixel's weighted sum of source pixels.
#[inline]
fn hpass(tx: &Taps, read: impl Fn(usize) -> [f32; 3], row: &mut [f32]) {
    for (x, taps) in tx.iter().enumerate() {
        let mut acc = [0f32; 3];
        for &(i, wgt) in taps {
            let p = read(i as usize);
            acc[0] += p[0] * wgt;
            acc[1] += p[1] * wgt;
            acc[2] += p[2] * wgt;
        }
        row[x * 3..x * 3 + 3].copy_from_slice(&acc);
    }
}

/// Scales frames into one output size, reusing its buffers and filter taps from frame to frame.
pub struct Resampler {
    width: u32,
    height: u32,
    /// Source size the taps below were made for, and the picture's place in the output.
    made_for: Option<(u32, u32)>,
    region: (usize, usize, usize, usize),
    tx: Taps,
    ty: Taps,
    /// Horizontal pass: source rows × region width × 3, linear.
    tmp: Vec<f32>,
    out: Vec<u8>,
}

impl Resampler {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            made_for: None,
            region: (0, 0, 0, 0),
            tx: Vec::new(),
            ty: Vec::new(),
            tmp: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The output size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Where a `sw`×`sh` picture lands in the output: (x, y, width, height), aspect kept.
    pub fn region(&self, sw: u32, sh: u32) -> (usize, usize, usize, usize) {
        let (tw, th) = (self.width as usize, self.height as usize);
        let scale = (tw as f64 / f64::from(sw)).min(th as f64 / f64::from(sh));
        let w = ((f64::from(sw) * scale).round() as usize).clamp(1, tw);
        let h = ((f64::from(sh) * scale).round() as usize).clamp(1, th);
        ((tw - w) / 2, (th - h) / 2, w, h)
    }

    /// Whether a `sw`×`sh` source would be enlarged on either axis.
    pub fn upscales(&self, sw: u32, sh: u32) -> bool {
        let (_, _, w, h) = self.region(sw, sh);
        w > sw as usize || h > sh as usize
    }

    fn prepare(&mut self, sw: u32, sh: u32) {
        if self.made_for == Some((sw, sh)) {
            return;
        }
        let (tw, th) = (self.width as usize, self.height as usize);
        self.region = self.region(sw, sh);
        let (_, _, w, h) = self.region;
        self.tx = taps(sw as usize, w);
        self.ty = taps(sh as usize, h);
        self.out.clear();
        self.out.resize(tw * th * 4, 0);
        for px in self.out.chunks_exact_mut(4) {
            px[3] = 255;
        }
        self.made_for = Some((sw, sh));
    }

    /// `src` scaled into an RGBA8 image of the output size.
    pub fn fit(&mut self, src: Linear<'_>) -> RgbImage<'_> {
        let (sw, sh) = src.size();
        self.prepare(sw, sh);
        let (x0, y0, w, h) = self.region;
        let tw = self.width as usize;
        let to_lin = linear16_from_srgb();
        let srgb = srgb_from_linear16();
        self.tmp.resize(sh as usize * w * 3, 0.0);
        let tx = &self.tx;
        // Horizontal pass, one source row at a time.
        self.tmp
            .par_chunks_mut(w * 3)
            .enumerate()
            .for_each(|(y, row)| match src {
                Linear::Srgb(image) => {
                    let bpp = image.format.bytes_per_pixel();
                    let line = image.row(y as u32);
                    let k = 1.0 / 65535.0;
                    let read = |i: usize| {
                        let p = &line[i * bpp..];
                        [
                            f32::from(to_lin[p[0] as usize]) * k,
                            f32::from(to_lin[p[1] as usize]) * k,
                            f32::from(to_lin[p[2] as usize]) * k,
                        ]
                    };
                    hpass(tx, read, row);
                }
                Linear::Sums { sums, scale, .. } => {
                    let line = &sums[y * sw as usize * 3..][..sw as usize * 3];
                    let read = |i: usize| {
                        let p = &line[i * 3..];
                        [p[0] as f32 * scale, p[1] as f32 * scale, p[2] as f32 * scale]
                    };
                    hpass(tx, read, row);
                }
            });
        // Vertical pass into the output rows, then back to sRGB.
        let (tmp, ty) = (&self.tmp, &self.ty);
        self.out[y0 * tw * 4..(y0 + h) * tw * 4]
            .par_chunks_mut(tw * 4)
            .enumerate()
            .for_each(|(y, line)| {
                let out = &mut line[x0 * 4..(x0 + w) * 4];
                let mut acc = vec![0f32; w * 3];
                for &(i, wgt) in &ty[y] {
                    let src = &tmp[i as usize * w * 3..][..w * 3];
                    for (a, s) in acc.iter_mut().zip(src) {
                        *a += s * wgt;
                    }
                }
                for (px, a) in out.chunks_exact_mut(4).zip(acc.chunks_exact(3)) {
                    px[0] = srgb8(a[0], srgb);
                    px[1] = srgb8(a[1], srgb);
                    px[2] = srgb8(a[2], srgb);
                }
            });
        RgbImage {
            width: self.width,
            height: self.height,
            stride: tw * 4,
            format: PixelFormat::Rgba8,
            data: &self.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trips_through_linear16() {
        let (lin, srgb) = (linear16_from_srgb(), srgb_from_linear16());
        for v in 0..=255u8 {
            assert_eq!(srgb[lin[v as usize] as usize], v);
        }
        // Mid-grey in linear light is sRGB 188, not 128.
        assert_eq!(srgb8(0.5, srgb), 188);
    }

    #[test]
    fn wider_source_is_letterboxed_and_centred() {
        let src: Vec<u8> = vec![200; 40 * 10 * 3];
        let img = RgbImage::packed(40, 10, PixelFormat::Rgb8, &src).unwrap();
        let mut lb = Resampler::new(20, 20);
        let out = lb.fit(Linear::Srgb(&img));
        // 40×10 → 20×5 centred vertically: rows 7..12 are picture, the rest black.
        let at = |x: usize, y: usize| out.data[(y * 20 + x) * 4];
        assert_eq!(at(10, 0), 0);
        assert_eq!(at(10, 6), 0);
        assert_eq!(at(10, 7), 200);
        assert_eq!(at(0, 11), 200);
        assert_eq!(at(10, 12), 0);
    }

    #[test]
    fn integer_downscale_is_an_exact_box_in_linear_light() {
        // A 2×2 checker of black and white averages to linear 0.5: sRGB 188.
        let mut src = vec![0u8; 8 * 8 * 4];
        for y in 0..8 {
            for x in 0..8 {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                src[(y * 8 + x) * 4..][..4].copy_from_slice(&[v, v, v, 255]);
            }
        }
        let img = RgbImage::packed(8, 8, PixelFormat::Rgba8, &src).unwrap();
        let mut r = Resampler::new(4, 4);
        assert_eq!(taps(8, 4)[1], vec![(2, 0.5), (3, 0.5)]);
        let out = r.fit(Linear::Srgb(&img));
        assert!(out.data.chunks_exact(4).all(|p| p[..3] == [188, 188, 188]));
        assert!(!r.upscales(8, 8) && r.upscales(3, 3));
    }

    #[test]
    fn taps_sum_to_one() {
        for (s, d) in [(7, 3), (3, 7), (1920, 1280), (1, 5), (5, 1)] {
            for t in taps(s, d) {
                let sum: f32 = t.iter().map(|&(_, w)| w).sum();
                assert!((sum - 1.0).abs() < 1e-5, "{s}→{d}: {t:?}");
            }
        }
    }
}
