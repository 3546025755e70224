//! Fits frames of another size into the recording's size: scaled with the aspect ratio kept,
//! centred on black (letterbox or pillarbox). Happens when the window is resized mid-recording;
//! the file keeps one size so every player handles it.

use crate::frame::{PixelFormat, RgbImage};

pub struct Letterbox {
    width: u32,
    height: u32,
    buf: Vec<u8>,
}

impl Letterbox {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            buf: Vec::new(),
        }
    }

    /// Bilinear scale of `src` into an RGBA8 image of the target size.
    pub fn fit(&mut self, src: &RgbImage<'_>) -> RgbImage<'_> {
        let (tw, th) = (self.width as usize, self.height as usize);
        let scale = (tw as f64 / src.width as f64).min(th as f64 / src.height as f64);
        let w = ((src.width as f64 * scale).round() as usize).clamp(1, tw);
        let h = ((src.height as f64 * scale).round() as usize).clamp(1, th);
        let (x0, y0) = ((tw - w) / 2, (th - h) / 2);
        self.buf.clear();
        self.buf.resize(tw * th * 4, 0);
        for px in self.buf.chunks_exact_mut(4) {
            px[3] = 255;
        }
        let bpp = src.format.bytes_per_pixel();
        let sx = src.width as f64 / w as f64;
        let sy = src.height as f64 / h as f64;
        for y in 0..h {
            let fy = ((y as f64 + 0.5) * sy - 0.5).clamp(0.0, (src.height - 1) as f64);
            let (ya, wy) = (fy as u32, fy.fract() as f32);
            let yb = (ya + 1).min(src.height - 1);
            let (ra, rb) = (src.row(ya), src.row(yb));
            let out = &mut self.buf[((y0 + y) * tw + x0) * 4..][..w * 4];
            for (x, px) in out.chunks_exact_mut(4).enumerate() {
                let fx = ((x as f64 + 0.5) * sx - 0.5).clamp(0.0, (src.width - 1) as f64);
                let (xa, wx) = (fx as usize, fx.fract() as f32);
                let xb = (xa + 1).min(src.width as usize - 1);
                for c in 0..3 {
                    let p = |row: &[u8], x: usize| row[x * bpp + c] as f32;
                    let top = p(ra, xa) + (p(ra, xb) - p(ra, xa)) * wx;
                    let bottom = p(rb, xa) + (p(rb, xb) - p(rb, xa)) * wx;
                    px[c] = (top + (bottom - top) * wy + 0.5) as u8;
                }
            }
        }
        RgbImage {
            width: self.width,
            height: self.height,
            stride: tw * 4,
            format: PixelFormat::Rgba8,
            data: &self.buf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_source_is_letterboxed_and_centred() {
        let src: Vec<u8> = vec![200; 40 * 10 * 3];
        let img = RgbImage::packed(40, 10, PixelFormat::Rgb8, &src).unwrap();
        let mut lb = Letterbox::new(20, 20);
        let out = lb.fit(&img);
        // 40×10 → 20×5 centred vertically: rows 7..12 are picture, the rest black.
        let at = |x: usize, y: usize| out.data[(y * 20 + x) * 4];
        assert_eq!(at(10, 0), 0);
        assert_eq!(at(10, 6), 0);
        assert_eq!(at(10, 7), 200);
        assert_eq!(at(0, 11), 200);
        assert_eq!(at(10, 12), 0);
    }
}
