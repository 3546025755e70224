//! RGB(A)8 → YUV 4:2:0, BT.709 coefficients, limited ("TV") range — the colour space browsers
//! assume for HD video and the one the container's Colour element declares.
//!
//! Runs on the encode thread, never the engine's main thread, split over row pairs with rayon
//! because on large frames it is the biggest CPU cost outside the encoder itself. The image is
//! padded to the encoder's coded size by repeating the last column and row: edge replication
//! keeps the padding cheap to encode and invisible once the container crops it away.

use rayon::prelude::*;

use crate::frame::{I420Image, I420Planes, RgbImage, VideoFrame};

pub(crate) const FRAC: u32 = 16;

/// `coefficient × range / 255` in 16-bit fixed point.
const fn fix(coefficient: f64, range: f64) -> i32 {
    let v = coefficient * range / 255.0 * (1 << FRAC) as f64;
    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
}

const KR: f64 = 0.2126;
const KB: f64 = 0.0722;
const KG: f64 = 1.0 - KR - KB;
pub(crate) const Y_R: i32 = fix(KR, 219.0);
pub(crate) const Y_G: i32 = fix(KG, 219.0);
pub(crate) const Y_B: i32 = fix(KB, 219.0);
pub(crate) const U_R: i32 = fix(-KR / (2.0 * (1.0 - KB)), 224.0);
pub(crate) const U_G: i32 = fix(-KG / (2.0 * (1.0 - KB)), 224.0);
pub(crate) const U_B: i32 = fix(0.5, 224.0);
pub(crate) const V_R: i32 = fix(0.5, 224.0);
pub(crate) const V_G: i32 = fix(-KG / (2.0 * (1.0 - KR)), 224.0);
pub(crate) const V_B: i32 = fix(-KB / (2.0 * (1.0 - KR)), 224.0);
pub(crate) const HALF: i32 = 1 << (FRAC - 1);

#[inline(always)]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    ((Y_R * r + Y_G * g + Y_B * b + HALF) >> FRAC) as u8 + 16
}

/// Chroma from the sum of a 2×2 block (so the inputs are 4× the average).
#[inline(always)]
fn chroma(r4: i32, g4: i32, b4: i32) -> (u8, u8) {
    let u = (U_R * r4 + U_G * g4 + U_B * b4 + (HALF << 2)) >> (FRAC + 2);
    let v = (V_R * r4 + V_G * g4 + V_B * b4 + (HALF << 2)) >> (FRAC + 2);
    ((u + 128) as u8, (v + 128) as u8)
}

/// Converts `src` into `dst`, whose size may exceed the source's (it is then padded by edge
/// replication). Odd sizes are fine: the last chroma row/column then covers one luma row/column,
/// as in every 4:2:0 format. `parallel` = false keeps the work on the calling thread
/// (benchmarks compare both).
pub fn rgb_to_i420(src: &RgbImage<'_>, dst: &mut I420Planes<'_>, parallel: bool) {
    assert!(dst.width >= src.width && dst.height >= src.height);
    let (cw, ch) = (dst.width as usize, dst.height as usize);
    let (ys, us, vs) = (dst.y_stride, dst.u_stride, dst.v_stride);
    type RowPair<'p> = (usize, ((&'p mut [u8], &'p mut [u8]), &'p mut [u8]));
    let convert = |(pair, ((y, u), v)): RowPair<'_>| {
        // The last "pair" of an odd height is a single row; its chroma still reads two rows.
        let (y0, y1) = if y.len() > ys {
            y.split_at_mut(ys)
        } else {
            (y, &mut [][..])
        };
        let top = src.row(((2 * pair) as u32).min(src.height - 1));
        let bottom = src.row(((2 * pair + 1) as u32).min(src.height - 1));
        let cc = cw.div_ceil(2);
        convert_row_pair(
            src,
            top,
            bottom,
            &mut y0[..cw],
            y1.get_mut(..cw),
            &mut u[..cc],
            &mut v[..cc],
        );
    };
    if parallel {
        // Row pairs are independent; rayon's adaptive splitting keeps chunks large enough that
        // scheduling costs nothing measurable even at 720p.
        (dst.y
            .par_chunks_mut(2 * ys)
            .zip(dst.u.par_chunks_mut(us))
            .zip(dst.v.par_chunks_mut(vs)))
        .take(ch.div_ceil(2))
        .enumerate()
        .for_each(convert);
    } else {
        (dst.y
            .chunks_mut(2 * ys)
            .zip(dst.u.chunks_mut(us))
            .zip(dst.v.chunks_mut(vs)))
        .take(ch.div_ceil(2))
        .enumerate()
        .for_each(convert);
    }
}

/// Fills `dst` (the encoder's coded size) from either kind of frame: RGB is converted, I420
/// converted on the GPU is copied; both are padded by edge replication.
pub fn fill_i420(src: &VideoFrame<'_>, dst: &mut I420Planes<'_>) {
    match src {
        VideoFrame::Rgb(image) => rgb_to_i420(image, dst, true),
        VideoFrame::I420(image) => copy_i420(image, dst),
    }
}

fn copy_i420(src: &I420Image<'_>, dst: &mut I420Planes<'_>) {
    assert!(dst.width >= src.width && dst.height >= src.height);
    let copy_plane =
        |from: &[u8], from_stride: usize, w: usize, h: usize, to: &mut [u8], to_stride: usize, tw: usize, th: usize| {
            for y in 0..th {
                let s = &from[y.min(h - 1) * from_stride..][..w];
                let d = &mut to[y * to_stride..][..tw];
                d[..w].copy_from_slice(s);
                d[w..].fill(s[w - 1]);
            }
        };
    let (w, h) = (src.width as usize, src.height as usize);
    let (tw, th) = (dst.width as usize, dst.height as usize);
    copy_plane(src.y, src.y_stride, w, h, dst.y, dst.y_stride, tw, th);
    let (cw, ch, tcw, tch) = (w.div_ceil(2), h.div_ceil(2), tw.div_ceil(2), th.div_ceil(2));
    copy_plane(src.u, src.uv_stride, cw, ch, dst.u, dst.u_stride, tcw, tch);
    copy_plane(src.v, src.uv_stride, cw, ch, dst.v, dst.v_stride, tcw, tch);
}

fn convert_row_pair(
    src: &RgbImage<'_>,
    top: &[u8],
    bottom: &[u8],
    y0: &mut [u8],
    mut y1: Option<&mut [u8]>,
    u: &mut [u8],
    v: &mut [u8],
) {
    let bpp = src.format.bytes_per_pixel();
    let last = src.width as usize - 1;
    let px = |row: &[u8], x: usize| {
        let i = x.min(last) * bpp;
        (row[i] as i32, row[i + 1] as i32, row[i + 2] as i32)
    };
    let width = y0.len();
    for cx in 0..u.len() {
        let x = 2 * cx;
        let (r00, g00, b00) = px(top, x);
        let (r01, g01, b01) = px(top, x + 1);
        let (r10, g10, b10) = px(bottom, x);
        let (r11, g11, b11) = px(bottom, x + 1);
        y0[x] = luma(r00, g00, b00);
        let second = x + 1 < width;
        if second {
            y0[x + 1] = luma(r01, g01, b01);
        }
        if let Some(y1) = y1.as_deref_mut() {
            y1[x] = luma(r10, g10, b10);
            if second {
                y1[x + 1] = luma(r11, g11, b11);
            }
        }
        let (cu, cv) = chroma(r00 + r01 + r10 + r11, g00 + g01 + g10 + g11, b00 + b01 + b10 + b11);
        u[cx] = cu;
        v[cx] = cv;
    }
}

/// Owned I420 image, used by tests and benchmarks (backends convert straight into their own
/// encoder frames).
pub struct I420Buffer {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Buffer {
    pub fn new(width: u32, height: u32) -> Self {
        let (w, h) = (width as usize, height as usize);
        let chroma = w.div_ceil(2) * h.div_ceil(2);
        Self {
            width,
            height,
            y: vec![0; w * h],
            u: vec![0; chroma],
            v: vec![0; chroma],
        }
    }

    pub fn planes(&mut self) -> I420Planes<'_> {
        let w = self.width as usize;
        I420Planes {
            width: self.width,
            height: self.height,
            y: &mut self.y,
            y_stride: w,
            u: &mut self.u,
            u_stride: w.div_ceil(2),
            v: &mut self.v,
            v_stride: w.div_ceil(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    fn convert_solid(rgb: [u8; 3]) -> (u8, u8, u8) {
        let data: Vec<u8> = (0..16).flat_map(|_| [rgb[0], rgb[1], rgb[2], 255]).collect();
        let img = RgbImage::packed(4, 4, PixelFormat::Rgba8, &data).unwrap();
        let mut out = I420Buffer::new(4, 4);
        rgb_to_i420(&img, &mut out.planes(), false);
        (out.y[5], out.u[1], out.v[1])
    }

    #[test]
    fn bt709_limited_reference_colours() {
        // Reference values from ITU-R BT.709 with 8-bit limited-range quantisation.
        assert_eq!(convert_solid([255, 255, 255]), (235, 128, 128));
        assert_eq!(convert_solid([0, 0, 0]), (16, 128, 128));
        assert_eq!(convert_solid([255, 0, 0]), (63, 102, 240));
        assert_eq!(convert_solid([0, 255, 0]), (173, 42, 26));
        assert_eq!(convert_solid([0, 0, 255]), (32, 240, 118));
    }

    #[test]
    fn rgb8_and_rgba8_agree_and_padding_replicates_edges() {
        let (w, h) = (5u32, 3u32);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i * 13) as u8, (i * 29) as u8, (i * 7) as u8, 0])
            .collect();
        let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let mut a = I420Buffer::new(6, 4);
        let mut b = I420Buffer::new(6, 4);
        rgb_to_i420(
            &RgbImage::packed(w, h, PixelFormat::Rgba8, &rgba).unwrap(),
            &mut a.planes(),
            false,
        );
        rgb_to_i420(
            &RgbImage::packed(w, h, PixelFormat::Rgb8, &rgb).unwrap(),
            &mut b.planes(),
            true,
        );
        assert_eq!(a.y, b.y);
        assert_eq!(a.u, b.u);
        assert_eq!(a.v, b.v);
        for row in 0..4 {
            assert_eq!(a.y[row * 6 + 5], a.y[row * 6 + 4], "padded column repeats the last one");
        }
        assert_eq!(a.y[18..24], a.y[12..18], "padded row repeats the last one");
    }

    #[test]
    fn odd_sizes_convert_exactly_with_edge_chroma() {
        for (w, h) in [(1, 1), (3, 1), (1, 5), (7, 3), (1281, 721)] {
            let data: Vec<u8> = (0..(w * h * 3) as usize).map(|i| (i * 31 % 251) as u8).collect();
            let img = RgbImage::packed(w, h, PixelFormat::Rgb8, &data).unwrap();
            let (mut a, mut b) = (I420Buffer::new(w, h), I420Buffer::new(w, h));
            rgb_to_i420(&img, &mut a.planes(), false);
            rgb_to_i420(&img, &mut b.planes(), true);
            assert!(a.y == b.y && a.u == b.u && a.v == b.v, "{w}x{h}");
            let last = ((h - 1) * w + w - 1) as usize;
            let p = &data[last * 3..last * 3 + 3];
            assert_eq!(
                a.y[last],
                luma(p[0] as i32, p[1] as i32, p[2] as i32),
                "{w}x{h}: last pixel"
            );
        }
    }

    #[test]
    fn i420_frames_are_copied_exactly_and_padded_by_edge_replication() {
        let (w, h) = (6u32, 4u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 253) as u8).collect();
        let img = RgbImage::packed(w, h, PixelFormat::Rgb8, &rgb).unwrap();
        let mut exact = I420Buffer::new(w, h);
        rgb_to_i420(&img, &mut exact.planes(), false);
        // The same picture as contiguous I420 with wider strides, as the GPU path lays it out.
        let (ys, cs) = (8usize, 4usize);
        let mut data = vec![0u8; I420Image::contiguous_len(h, ys, cs)];
        for y in 0..h as usize {
            data[y * ys..y * ys + 6].copy_from_slice(&exact.y[y * 6..y * 6 + 6]);
        }
        let (u0, v0) = (ys * 4, ys * 4 + cs * 2);
        for y in 0..2 {
            data[u0 + y * cs..u0 + y * cs + 3].copy_from_slice(&exact.u[y * 3..y * 3 + 3]);
            data[v0 + y * cs..v0 + y * cs + 3].copy_from_slice(&exact.v[y * 3..y * 3 + 3]);
        }
        let yuv = I420Image::contiguous(w, h, ys, cs, &data).unwrap();
        let (mut a, mut b) = (I420Buffer::new(8, 6), I420Buffer::new(8, 6));
        fill_i420(&VideoFrame::I420(yuv), &mut a.planes());
        fill_i420(&VideoFrame::Rgb(img), &mut b.planes());
        for y in 0..4 {
            assert_eq!(a.y[y * 8..y * 8 + 6], b.y[y * 8..y * 8 + 6], "visible luma row {y}");
            assert_eq!(a.y[y * 8 + 7], a.y[y * 8 + 5], "padded luma repeats the last column");
        }
        assert_eq!(a.y[40..48], a.y[24..32], "padded luma row repeats the last row");
        for y in 0..2 {
            assert_eq!(a.u[y * 4..y * 4 + 3], b.u[y * 4..y * 4 + 3], "visible U row {y}");
            assert_eq!(a.v[y * 4..y * 4 + 3], b.v[y * 4..y * 4 + 3], "visible V row {y}");
        }
        assert!(I420Image::contiguous(w, h, ys, cs, &data[1..]).is_err());
    }

    #[test]
    fn parallel_matches_serial_on_large_frame() {
        let (w, h) = (1281u32, 721u32);
        let data: Vec<u8> = (0..(w * h * 3) as usize)
            .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
            .collect();
        let img = RgbImage::packed(w, h, PixelFormat::Rgb8, &data).unwrap();
        let mut a = I420Buffer::new(1282, 722);
        let mut b = I420Buffer::new(1282, 722);
        rgb_to_i420(&img, &mut a.planes(), false);
        rgb_to_i420(&img, &mut b.planes(), true);
        assert!(a.y == b.y && a.u == b.u && a.v == b.v);
    }
}
