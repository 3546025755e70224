//! Motion blur by temporal supersampling, on the encode thread: each group of `samples`
//! consecutive engine frames becomes one output frame, the linear-light average of the group's
//! first `used` frames (the shutter). The rest of the group is skipped (its audio is not).
//!
//! Accumulation: sRGB → 16-bit linear through a 256-entry table, summed in `u32` (64 × 65535
//! fits), averaged and turned back into sRGB through a 65536-entry table, or handed to the
//! resampler as linear sums when the output has another size.

use rayon::prelude::*;

use crate::config::MotionBlur;
use crate::frame::{PixelFormat, RgbImage};
use crate::scale::{linear16_from_srgb, srgb_from_linear16, Linear, Resampler};

pub(super) struct Temporal {
    samples: u64,
    used: u64,
    width: u32,
    height: u32,
    /// Three sums of 16-bit linear values per pixel.
    sums: Vec<u32>,
    count: u32,
    group: u64,
    out: Vec<u8>,
    /// Fits a frame whose size changed within a group to the group's size.
    refit: Option<Resampler>,
}

impl Temporal {
    pub fn new(blur: MotionBlur) -> Self {
        Self {
            samples: blur.samples.max(1).into(),
            used: blur.used().into(),
            width: 0,
            height: 0,
            sums: Vec::new(),
            count: 0,
            group: 0,
            out: Vec::new(),
            refit: None,
        }
    }

    /// Whether engine frame `index` is inside the shutter (else only its audio is used).
    pub fn is_used(&self, index: u64) -> bool {
        index % self.samples < self.used
    }

    /// Adds engine frame `index`; true when its group's last used frame is in.
    pub fn add(&mut self, index: u64, image: &RgbImage<'_>) -> bool {
        let group = index / self.samples;
        if self.count == 0 || group != self.group {
            self.group = group;
            self.count = 0;
            (self.width, self.height) = (image.width, image.height);
            self.sums.resize(image.width as usize * image.height as usize * 3, 0);
        }
        if (image.width, image.height) != (self.width, self.height) {
            // The window was resized within a group: fit the frame to the group's size.
            let refit = self
                .refit
                .get_or_insert_with(|| Resampler::new(self.width, self.height));
            if refit.size() != (self.width, self.height) {
                *refit = Resampler::new(self.width, self.height);
            }
            let fitted = refit.fit(Linear::Srgb(image));
            accumulate(&mut self.sums, &fitted, self.count == 0);
        } else {
            accumulate(&mut self.sums, image, self.count == 0);
        }
        self.count += 1;
        index % self.samples + 1 == self.used
    }

    /// The group whose frames are waiting, if any (the recording ended inside a group).
    pub fn pending(&self) -> Option<u64> {
        (self.count > 0).then_some(self.group)
    }

    pub fn group(&self) -> u64 {
        self.group
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Starts the next group.
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The average as linear sums, for the resampler.
    pub fn linear(&self) -> Linear<'_> {
        Linear::Sums {
            width: self.width,
            height: self.height,
            sums: &self.sums,
            scale: 1.0 / (self.count as f32 * 65535.0),
        }
    }

    /// The average as an RGBA8 image at the frames' size.
    pub fn average(&mut self) -> RgbImage<'_> {
        let (w, h) = (self.width as usize, self.height as usize);
        let srgb = srgb_from_linear16();
        let (c, half) = (self.count, self.count / 2);
        self.out.resize(w * h * 4, 255);
        self.out
            .par_chunks_mut(w * 4)
            .zip(self.sums.par_chunks(w * 3))
            .for_each(|(out, sums)| {
                for (px, s) in out.chunks_exact_mut(4).zip(sums.chunks_exact(3)) {
                    px[0] = srgb[((s[0] + half) / c) as usize];
                    px[1] = srgb[((s[1] + half) / c) as usize];
                    px[2] = srgb[((s[2] + half) / c) as usize];
                    px[3] = 255;
                }
            });
        RgbImage {
            width: self.width,
            height: self.height,
            stride: w * 4,
            format: PixelFormat::Rgba8,
            data: &self.out,
        }
    }
}

/// Adds (or with `first`, stores) `image` in linear light into `sums`, one row per task.
fn accumulate(sums: &mut [u32], image: &RgbImage<'_>, first: bool) {
    let lin = linear16_from_srgb();
    let (w, bpp) = (image.width as usize, image.format.bytes_per_pixel());
    sums.par_chunks_mut(w * 3).enumerate().for_each(|(y, s)| {
        let row = image.row(y as u32);
        let pixels = s.chunks_exact_mut(3).zip(row.chunks_exact(bpp));
        if first {
            for (d, p) in pixels {
                d[0] = lin[p[0] as usize].into();
                d[1] = lin[p[1] as usize].into();
                d[2] = lin[p[2] as usize].into();
            }
        } else {
            for (d, p) in pixels {
                d[0] += u32::from(lin[p[0] as usize]);
                d[1] += u32::from(lin[p[1] as usize]);
                d[2] += u32::from(lin[p[2] as usize]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(v: u8, w: u32, h: u32) -> Vec<u8> {
        vec![v; (w * h * 3) as usize]
    }

    #[test]
    fn black_and_white_average_to_linear_half_and_the_shutter_skips_the_rest() {
        let mut t = Temporal::new(MotionBlur {
            samples: 4,
            shutter: 0.5,
        });
        let (white, black) = (grey(255, 3, 2), grey(0, 3, 2));
        let img = |d| RgbImage::packed(3, 2, PixelFormat::Rgb8, d).unwrap();
        assert!(t.is_used(0) && t.is_used(1) && !t.is_used(2) && !t.is_used(3) && t.is_used(4));
        assert!(!t.add(0, &img(&white)));
        assert!(t.add(1, &img(&black)));
        assert_eq!(t.group(), 0);
        assert!(t.average().data.chunks_exact(4).all(|p| p == [188, 188, 188, 255]));
        t.clear();
        assert_eq!(t.pending(), None);
        assert!(!t.add(4, &img(&white)));
        assert_eq!(t.pending(), Some(1));
        assert!(t.average().data.chunks_exact(4).all(|p| p == [255, 255, 255, 255]));
    }
}
